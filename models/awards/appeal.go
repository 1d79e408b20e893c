package awards

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/notify"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/rules"
)

// Refusals of appeals and objections.
const (
	CodeAppealClosed     apperr.Code = "APPEAL_WINDOW_CLOSED"
	CodeNotAppealable    apperr.Code = "NOT_APPEALABLE"
	CodeAlreadyAppealed  apperr.Code = "ALREADY_APPEALED"
	CodeOwnDecisionAgain apperr.Code = "OWN_DECISION"
)

// AppealKind tells an appeal 申诉 (by the resident concerned) from an
// objection 异议 (by any resident of the village, against a public notice).
type AppealKind string

// The kinds.
const (
	KindAppeal    AppealKind = "appeal"
	KindObjection AppealKind = "objection"
)

// Appeal is an appeal or objection.
type Appeal struct {
	ID             int64      `json:"id"`
	VillageID      int64      `json:"village_id"`
	Kind           AppealKind `json:"kind"`
	ResidentID     int64      `json:"resident_id"`
	TargetType     string     `json:"target_type"` // "award" or "self_report"
	TargetID       int64      `json:"target_id"`
	Reason         string     `json:"reason"`
	Status         string     `json:"status"` // pending, upheld, overturned
	DecidedBy      *int64     `json:"decided_by,omitempty"`
	DecisionReason string     `json:"decision_reason,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	DecidedAt      *time.Time `json:"decided_at,omitempty"`
	Replayed       bool       `json:"replayed,omitempty"`
}

type appealRow struct {
	ID             int64 `gorm:"primaryKey"`
	VillageID      int64
	Kind           string
	ResidentID     int64
	TargetType     string
	TargetID       int64
	Reason         string
	Status         string
	DecidedBy      *int64
	DecisionReason string
	CreatedAt      time.Time
	DecidedAt      *time.Time
}

func (appealRow) TableName() string { return "appeals" }

func (r appealRow) appeal() Appeal {
	return Appeal{ID: r.ID, VillageID: r.VillageID, Kind: AppealKind(r.Kind), ResidentID: r.ResidentID, TargetType: r.TargetType,
		TargetID: r.TargetID, Reason: r.Reason, Status: r.Status, DecidedBy: r.DecidedBy, DecisionReason: r.DecisionReason,
		CreatedAt: r.CreatedAt.UTC(), DecidedAt: utc(r.DecidedAt)}
}

// AppealRequest files an appeal or an objection against one target.
type AppealRequest struct {
	Kind       AppealKind
	TargetType string
	TargetID   int64
	Reason     string
}

// File files a resident's appeal (a posted deduction of theirs, or their
// rejected self-report, within the village's appeal window) or objection
// (a posted award of their village while its notice is open). Filing the
// same again returns the first one.
func (s *Service) File(ctx context.Context, v Villager, r AppealRequest) (Appeal, error) {
	r.Reason = strings.TrimSpace(r.Reason)
	if r.Reason == "" || utf8.RuneCountInString(r.Reason) > 500 {
		return Appeal{}, apperr.Invalid("reason", "请写明理由（不超过 500 字）")
	}
	st, err := s.Settings(ctx, v.VillageID)
	if err != nil {
		return Appeal{}, err
	}
	now := s.clock()
	var out appealRow
	replayed := false
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		replayed = false
		var prev []appealRow
		if err := tx.Where("target_type = ? AND target_id = ? AND resident_id = ?", r.TargetType, r.TargetID, v.ResidentID).Limit(1).Find(&prev).Error; err != nil {
			return fmt.Errorf("awards: read appeal: %w", err)
		}
		if len(prev) == 1 {
			out, replayed = prev[0], true
			return nil
		}
		if err := checkAppealable(tx, v, r, st, now); err != nil {
			return err
		}
		out = appealRow{VillageID: v.VillageID, Kind: string(r.Kind), ResidentID: v.ResidentID, TargetType: r.TargetType, TargetID: r.TargetID,
			Reason: r.Reason, Status: "pending", CreatedAt: now}
		return tx.Create(&out).Error
	})
	if err != nil {
		if sqldb.IsDuplicateKey(err) {
			return Appeal{}, apperr.New(CodeAlreadyAppealed, "您已就此提出过申诉或异议")
		}
		return Appeal{}, err
	}
	a := out.appeal()
	a.Replayed = replayed
	return a, nil
}

// checkAppealable applies the rules of who may appeal what, and when.
func checkAppealable(tx *gorm.DB, v Villager, r AppealRequest, st Settings, now time.Time) error {
	switch {
	case r.Kind == KindAppeal && r.TargetType == "award":
		var rows []awardRow
		if err := tx.Where("id = ? AND resident_id = ?", r.TargetID, v.ResidentID).Limit(1).Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return apperr.NotFound("积分记录")
		}
		a := rows[0]
		if a.Points >= 0 || Status(a.Status) != Posted || a.PostedAt == nil {
			return apperr.New(CodeNotAppealable, "只能对已生效的扣分提出申诉")
		}
		if now.After(rules.AppealDeadline(*a.PostedAt, st.AppealDays)) {
			return apperr.Newf(CodeAppealClosed, "已超过 %d 天申诉期", st.AppealDays)
		}
	case r.Kind == KindAppeal && r.TargetType == "self_report":
		var rows []reportRow
		if err := tx.Where("id = ? AND resident_id = ?", r.TargetID, v.ResidentID).Limit(1).Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return apperr.NotFound("申报")
		}
		if ReportStatus(rows[0].Status) != ReportRejected || rows[0].DecidedAt == nil {
			return apperr.New(CodeNotAppealable, "只能对被驳回的申报提出申诉")
		}
		if now.After(rules.AppealDeadline(*rows[0].DecidedAt, st.AppealDays)) {
			return apperr.Newf(CodeAppealClosed, "已超过 %d 天申诉期", st.AppealDays)
		}
	case r.Kind == KindObjection && r.TargetType == "award":
		var rows []awardRow
		if err := tx.Where("id = ? AND village_id = ?", r.TargetID, v.VillageID).Limit(1).Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 || Status(rows[0].Status) != Posted || rows[0].PostedAt == nil {
			return apperr.NotFound("公示的积分记录")
		}
		if now.After(rules.NoticeCloses(rules.Month, *rows[0].PostedAt, st.NoticeDays)) {
			return apperr.New(CodeAppealClosed, "该记录的公示期已结束")
		}
	default:
		return apperr.Invalid("target_type", "申诉对象只能是扣分记录或被驳回的申报；异议对象只能是公示的积分记录")
	}
	return nil
}

// Decision is a village admin's ruling on an appeal or objection.
type Decision struct {
	Overturn bool
	Reason   string
}

// Decide rules on a pending appeal or objection. Upholding leaves the
// decision standing; overturning reverses the award in the ledger (or, for
// a rejected self-report, approves it). The resident who filed is told
// either way, in the same transaction. Staff never rule on their own
// award or review.
func (s *Service) Decide(ctx context.Context, who Staff, scope func(int64) bool, id int64, d Decision) (Appeal, error) {
	d.Reason = strings.TrimSpace(d.Reason)
	if d.Reason == "" || utf8.RuneCountInString(d.Reason) > 500 {
		return Appeal{}, apperr.Invalid("reason", "请写明处理理由（不超过 500 字）")
	}
	var village int64
	if err := s.db.WithContext(ctx).Model(&appealRow{}).Where("id = ?", id).Limit(1).Pluck("village_id", &village).Error; err != nil {
		return Appeal{}, fmt.Errorf("awards: read appeal: %w", err)
	}
	if village == 0 || !scope(village) {
		return Appeal{}, apperr.NotFound("申诉")
	}
	env, err := s.env(ctx, village)
	if err != nil {
		return Appeal{}, err
	}
	var out appealRow
	var changed *awardRow
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		changed = nil
		var rows []appealRow
		if err := sqldb.ForUpdate(tx).Where("id = ? AND village_id = ?", id, village).Limit(1).Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return apperr.NotFound("申诉")
		}
		ap := rows[0]
		if ap.Status != "pending" {
			return apperr.New(apperr.CodeConflict, "该申诉已处理")
		}
		now := s.clock()
		if d.Overturn {
			if changed, err = s.overturn(ctx, tx, env, who, ap, d.Reason); err != nil {
				return err
			}
		} else if err := s.checkNotOwn(tx, who, ap); err != nil {
			return err
		}
		ap.Status, ap.DecidedBy, ap.DecisionReason, ap.DecidedAt = "upheld", &who.ID, d.Reason, &now
		result := "维持原决定"
		if d.Overturn {
			ap.Status, result = "overturned", "申诉成立，已撤销原决定"
			if ap.Kind == string(KindObjection) {
				result = "异议成立，已撤销该积分记录"
			}
		} else if ap.Kind == string(KindObjection) {
			result = "异议不成立，维持原记录"
		}
		if err := tx.Model(&appealRow{}).Where("id = ?", ap.ID).Updates(map[string]any{"status": ap.Status, "decided_by": who.ID,
			"decision_reason": d.Reason, "decided_at": now}).Error; err != nil {
			return err
		}
		if _, err := notify.Enqueue(ctx, tx, notify.Message{ResidentID: ap.ResidentID, Kind: notify.AppealDecided,
			DedupKey: "appeal:" + strconv.FormatInt(ap.ID, 10), Data: map[string]string{"result": result, "note": d.Reason}}); err != nil {
			return err
		}
		out = ap
		return record(ctx, tx, who, village, "appeal.decide", "appeal", ap.ID, nil, ap.appeal())
	})
	if err != nil {
		return Appeal{}, err
	}
	if changed != nil {
		s.afterCommit(ctx, *changed)
	}
	return out.appeal(), nil
}

// checkNotOwn refuses a ruling by the staff member whose decision is
// appealed.
func (s *Service) checkNotOwn(tx *gorm.DB, who Staff, ap appealRow) error {
	var by []int64
	var err error
	if ap.TargetType == "award" {
		err = tx.Model(&awardRow{}).Where("id = ?", ap.TargetID).Pluck("actor_staff_id", &by).Error
	} else {
		err = tx.Model(&reportRow{}).Where("id = ?", ap.TargetID).Pluck("reviewer_id", &by).Error
	}
	if err != nil {
		return err
	}
	if len(by) == 1 && by[0] == who.ID {
		return apperr.New(CodeOwnDecisionAgain, "不能处理针对本人所作决定的申诉，请由其他村干部处理")
	}
	return nil
}

// overturn undoes the appealed decision in tx: a posted award is reversed
// in the ledger, a rejected self-report is approved.
func (s *Service) overturn(ctx context.Context, tx *gorm.DB, env villageEnv, who Staff, ap appealRow, reason string) (*awardRow, error) {
	if err := s.checkNotOwn(tx, who, ap); err != nil {
		return nil, err
	}
	if ap.TargetType == "self_report" {
		row, err := lockReport(tx, ap.TargetID, func(r reportRow) bool { return r.VillageID == ap.VillageID })
		if err != nil {
			return nil, err
		}
		if ReportStatus(row.Status) != ReportRejected {
			return nil, apperr.New(apperr.CodeConflict, "该申报已不是驳回状态")
		}
		row.Status = string(ReportPending) // decideReport approves a pending report
		return s.decideReport(ctx, tx, env, who, &row, Approve, "申诉成立："+reason)
	}
	row, err := lockAward(tx, ap.TargetID, ap.VillageID)
	if err != nil {
		return nil, err
	}
	if Status(row.Status) != Posted || row.PostingID == nil {
		return nil, apperr.New(apperr.CodeConflict, "该积分记录已撤销或未生效")
	}
	res, err := s.opts.Ledger(tx).Reverse(ctx, ledger.ReverseRequest{VillageID: row.VillageID, PostingID: *row.PostingID,
		Actor: ledger.StaffActor(who.ID), Reason: "申诉/异议成立：" + reason, IdempotencyKey: "appeal:" + strconv.FormatInt(ap.ID, 10)})
	if err != nil {
		return nil, err
	}
	now := s.clock()
	rid := res.Postings[0].ID
	row.Status, row.ReversalPostingID, row.VetoPending = string(Reversed), &rid, row.VetoSubject != ""
	if err := tx.Model(&awardRow{}).Where("id = ?", row.ID).Updates(map[string]any{"status": row.Status, "reversal_posting_id": rid,
		"veto_pending": row.VetoPending, "decision_note": reason, "decided_at": now}).Error; err != nil {
		return nil, err
	}
	if ap.Kind == string(KindObjection) && row.Points > 0 {
		// The awarded resident loses the points an objection struck out.
		if _, err := notify.Enqueue(ctx, tx, notify.Message{ResidentID: row.ResidentID, Kind: notify.PointsDeducted,
			DedupKey: "reversal:" + strconv.FormatInt(row.ID, 10), Data: map[string]string{"points": strconv.FormatInt(row.Points, 10),
				"reason": "公示异议成立，撤销「" + row.ItemTitle + "」"}}); err != nil {
			return nil, err
		}
	}
	return &row, nil
}

// AppealFilter narrows a village's appeals.
type AppealFilter struct {
	Status string
	Kind   AppealKind
}

// Appeals lists a village's appeals and objections, oldest pending first.
func (s *Service) Appeals(ctx context.Context, village int64, f AppealFilter, offset, limit int) ([]Appeal, int64, error) {
	q := s.db.WithContext(ctx).Model(&appealRow{}).Where("village_id = ?", village)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	return listAppeals(q, offset, limit, "id")
}

// MyAppeals lists what a resident filed, newest first.
func (s *Service) MyAppeals(ctx context.Context, v Villager, offset, limit int) ([]Appeal, int64, error) {
	return listAppeals(s.db.WithContext(ctx).Model(&appealRow{}).Where("resident_id = ?", v.ResidentID), offset, limit, "id DESC")
}

func listAppeals(q *gorm.DB, offset, limit int, order string) ([]Appeal, int64, error) {
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("awards: count appeals: %w", err)
	}
	var rows []appealRow
	if err := q.Order(order).Offset(offset).Limit(limit).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("awards: list appeals: %w", err)
	}
	out := make([]Appeal, len(rows))
	for i, r := range rows {
		out[i] = r.appeal()
	}
	return out, total, nil
}
