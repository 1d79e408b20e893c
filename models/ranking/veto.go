package ranking

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/sqldb"
)

// VetoSubject says whom a veto 一票否决 strikes.
type VetoSubject string

// The veto subjects. A resident's veto leaves them out of the resident and
// party boards of the period; a household's leaves it out of the household
// boards (total and per member). The points themselves stay in the ledger
// and count everywhere else (a vetoed resident's points still add to their
// household's total).
const (
	VetoResident  VetoSubject = "resident"
	VetoHousehold VetoSubject = "household"
)

// Veto is one standing veto: the subject is left out of the boards of the
// period named by PeriodKey (2026-03, 2026-Q1, 2026 or all) — that period
// only: a month's veto does not touch the quarter or the year, and a
// year's veto does not touch its months.
type Veto struct {
	ID        int64       `json:"id"`
	VillageID int64       `json:"village_id"`
	Subject   VetoSubject `json:"subject"`
	SubjectID int64       `json:"subject_id"`
	PeriodKey string      `json:"period_key"`
	Reason    string      `json:"reason"`
	// Source names what decided it (the awards feature's record, e.g.
	// "rule_item:12").
	Source    string    `json:"source"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

type vetoRow struct {
	ID        int64 `gorm:"primaryKey"`
	VillageID int64
	Subject   string
	SubjectID int64
	PeriodKey string
	Reason    string
	Source    string
	CreatedBy string
	CreatedAt time.Time
	RevokedAt *time.Time
}

func (vetoRow) TableName() string { return "ranking_vetoes" }

func (r vetoRow) veto() Veto {
	return Veto{ID: r.ID, VillageID: r.VillageID, Subject: VetoSubject(r.Subject), SubjectID: r.SubjectID, PeriodKey: r.PeriodKey,
		Reason: r.Reason, Source: r.Source, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC()}
}

// VetoRequest records a veto.
type VetoRequest struct {
	VillageID int64
	Subject   VetoSubject
	SubjectID int64
	PeriodKey string
	Reason    string
	Source    string
	// By names who decided it ("staff:7", "system").
	By string
}

func (r VetoRequest) validate() error {
	switch {
	case r.VillageID <= 0:
		return apperr.Invalid("village_id", "村编号无效")
	case r.Subject != VetoResident && r.Subject != VetoHousehold:
		return apperr.Invalid("subject", "否决对象只能是村民或户")
	case r.SubjectID <= 0:
		return apperr.Invalid("subject_id", "否决对象编号无效")
	case utf8.RuneCountInString(r.Reason) > 500 || len(r.Source) > 64 || len(r.By) > 64:
		return apperr.Invalid("reason", "原因不能超过 500 字")
	}
	if _, ok := periodOf(r.PeriodKey); !ok {
		return apperr.Invalid("period_key", "周期应为 2026-03、2026-Q1、2026 或 all")
	}
	return nil
}

// RecordVeto records (or renews) a veto and rebuilds the village's boards
// so the subject leaves them at once; later postings of the period skip it
// (the live delivery checks the village's veto set in Redis). Vetoes come
// from the awards' sync worker, not from a staff member's request: the
// audit entry (same transaction) names the system as actor and r.By, the
// staff member whose award decided it, in the entry.
func (s *Service) RecordVeto(ctx context.Context, r VetoRequest) (Veto, error) {
	if err := r.validate(); err != nil {
		return Veto{}, err
	}
	row := vetoRow{VillageID: r.VillageID, Subject: string(r.Subject), SubjectID: r.SubjectID, PeriodKey: r.PeriodKey,
		Reason: strings.TrimSpace(r.Reason), Source: r.Source, CreatedBy: r.By, CreatedAt: s.now().UTC()}
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "village_id"}, {Name: "subject"}, {Name: "subject_id"}, {Name: "period_key"}},
			DoUpdates: clause.Assignments(map[string]any{"reason": row.Reason, "source": row.Source, "created_by": row.CreatedBy, "created_at": row.CreatedAt, "revoked_at": nil}),
		}).Create(&row).Error; err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.System, audit.Change{VillageID: r.VillageID, Action: "ranking.veto.record", TargetType: string(r.Subject),
			TargetID: r.SubjectID, After: map[string]any{"period_key": r.PeriodKey, "reason": row.Reason, "source": r.Source, "by": r.By}})
	})
	if err != nil {
		return Veto{}, fmt.Errorf("ranking: record veto: %w", err)
	}
	var rows []vetoRow
	if err := s.db.WithContext(ctx).Where("village_id = ? AND subject = ? AND subject_id = ? AND period_key = ?",
		r.VillageID, r.Subject, r.SubjectID, r.PeriodKey).Find(&rows).Error; err != nil || len(rows) == 0 {
		return Veto{}, fmt.Errorf("ranking: read veto back: %v", err)
	}
	if _, err := s.RebuildVillage(ctx, r.VillageID); err != nil {
		return Veto{}, err
	}
	return rows[0].veto(), nil
}

// LiftVeto lifts a standing veto and rebuilds the village's boards, which
// brings the subject back with every point of the period. Like
// RecordVeto it runs for the awards' sync worker and is audited as the
// system's, in the same transaction.
func (s *Service) LiftVeto(ctx context.Context, village int64, sub VetoSubject, id int64, periodKey string) error {
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		res := tx.Model(&vetoRow{}).
			Where("village_id = ? AND subject = ? AND subject_id = ? AND period_key = ? AND revoked_at IS NULL", village, sub, id, periodKey).
			Update("revoked_at", s.now().UTC())
		if res.Error != nil {
			return fmt.Errorf("ranking: lift veto: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.NotFound("一票否决记录")
		}
		return audit.Record(ctx, tx, audit.System, audit.Change{VillageID: village, Action: "ranking.veto.lift", TargetType: string(sub), TargetID: id,
			Before: map[string]any{"period_key": periodKey}})
	})
	if err != nil {
		return err
	}
	_, err = s.RebuildVillage(ctx, village)
	return err
}

// Vetoes lists a village's standing vetoes.
func (s *Service) Vetoes(ctx context.Context, village int64) ([]Veto, error) {
	var rows []vetoRow
	if err := s.db.WithContext(ctx).Where("village_id = ? AND revoked_at IS NULL", village).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("ranking: list vetoes: %w", err)
	}
	out := make([]Veto, len(rows))
	for i, r := range rows {
		out[i] = r.veto()
	}
	return out, nil
}
