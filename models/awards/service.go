// Package awards turns rule items into points: staff awards and deductions
// (single or as an all-or-nothing batch), the second staff member's
// confirmation of a deduction, residents' self-reports 自主申报 and their
// review queue, appeals 申诉, the public notice 公示 of a period's awards and
// the objections 异议 raised against it.
//
// Every write that posts points is one transaction: the award row (the
// idempotency anchor), the lock row that serialises awards of one item to
// one subject, the cap and cooldown check by rules.Decide, the ledger
// posting (through the ledger's in-transaction API), the resident's
// notification and the audit entry commit together or not at all.
package awards

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/sqldb"
)

// LedgerTx is the ledger's write API bound to one transaction: the
// operations run in the caller's tx, without their own retry or replay.
// The award row is then the idempotency anchor, and the ledger keys are
// derived from it ("award:<id>").
type LedgerTx interface {
	Award(ctx context.Context, r ledger.AwardRequest) (*ledger.Result, error)
	Deduct(ctx context.Context, r ledger.DeductRequest) (*ledger.Result, error)
	Reverse(ctx context.Context, r ledger.ReverseRequest) (*ledger.Result, error)
}

// Ledger opens the ledger inside tx; the app wires it to the ledger
// store's In method.
type Ledger func(tx *gorm.DB) LedgerTx

// LedgerSettings reads a village's ledger settings (whether points are
// kept per resident or per household).
type LedgerSettings interface {
	Settings(ctx context.Context, villageID int64) (ledger.Settings, error)
}

// Veto is a 一票否决 the rankings must apply or lift: the subject is left
// out of the boards and titles of the period PeriodKey.
type Veto struct {
	VillageID int64
	Household bool // the household SubjectID, else the resident
	SubjectID int64
	PeriodKey string
	Reason    string
	Source    string // "award:<id>"
	By        string // "staff:<id>"
}

// VetoRecorder is the rankings' side of a veto. Both methods must be
// idempotent: a veto may be told again after a crash.
type VetoRecorder interface {
	RecordVeto(ctx context.Context, v Veto) error
	LiftVeto(ctx context.Context, v Veto) error
}

// Options configure a Service.
type Options struct {
	Ledger   Ledger
	Settings LedgerSettings
	// Vetoes may be nil: veto awards then stay marked pending until a
	// recorder is wired and SyncVetoes runs.
	Vetoes VetoRecorder
	// Now is the clock (default time.Now).
	Now func() time.Time
	Log *slog.Logger
}

// Service is the awards use cases.
type Service struct {
	db   *gorm.DB
	opts Options
}

// New returns a Service over a migrated database.
func New(db *gorm.DB, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{db: db, opts: opts}
}

func (s *Service) clock() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// Settings are a village's choices for awards.
type Settings struct {
	// ConfirmDeductions makes a deduction wait for a second staff member
	// before it posts (against 人情分, favouritism).
	ConfirmDeductions bool `json:"confirm_deductions"`
	// AppealDays is how long a resident may appeal a deduction or a
	// rejected self-report.
	AppealDays int `json:"appeal_days"`
	// NoticeDays is how long after a month ends its awards stay on public
	// notice and open to objections.
	NoticeDays int `json:"notice_days"`
	// ReviewSLAHours is how long a self-report may wait before the queue
	// marks it overdue.
	ReviewSLAHours int `json:"review_sla_hours"`
}

// DefaultSettings apply to a village that saved none.
func DefaultSettings() Settings {
	return Settings{AppealDays: 15, NoticeDays: 7, ReviewSLAHours: 48}
}

func (st Settings) validate() error {
	switch {
	case st.AppealDays < 1 || st.AppealDays > 90:
		return apperr.Invalid("appeal_days", "申诉期须在 1 到 90 天之间")
	case st.NoticeDays < 0 || st.NoticeDays > 30:
		return apperr.Invalid("notice_days", "公示期须在 0 到 30 天之间")
	case st.ReviewSLAHours < 1 || st.ReviewSLAHours > 720:
		return apperr.Invalid("review_sla_hours", "审核时限须在 1 到 720 小时之间")
	}
	return nil
}

type settingsRow struct {
	VillageID         int64 `gorm:"primaryKey;autoIncrement:false"`
	ConfirmDeductions bool
	AppealDays        int
	NoticeDays        int
	ReviewSLAHours    int `gorm:"column:review_sla_hours"`
	UpdatedBy         int64
	UpdatedAt         time.Time
}

func (settingsRow) TableName() string { return "award_settings" }

func loadSettings(db *gorm.DB, village int64) (Settings, error) {
	var rows []settingsRow
	if err := db.Where("village_id = ?", village).Limit(1).Find(&rows).Error; err != nil {
		return Settings{}, fmt.Errorf("awards: load settings: %w", err)
	}
	if len(rows) == 0 {
		return DefaultSettings(), nil
	}
	r := rows[0]
	return Settings{ConfirmDeductions: r.ConfirmDeductions, AppealDays: r.AppealDays, NoticeDays: r.NoticeDays, ReviewSLAHours: r.ReviewSLAHours}, nil
}

// Settings returns a village's award settings.
func (s *Service) Settings(ctx context.Context, village int64) (Settings, error) {
	return loadSettings(s.db.WithContext(ctx), village)
}

// SaveSettings replaces a village's award settings.
func (s *Service) SaveSettings(ctx context.Context, who Staff, village int64, st Settings) (Settings, error) {
	if err := st.validate(); err != nil {
		return Settings{}, err
	}
	row := settingsRow{VillageID: village, ConfirmDeductions: st.ConfirmDeductions, AppealDays: st.AppealDays, NoticeDays: st.NoticeDays,
		ReviewSLAHours: st.ReviewSLAHours, UpdatedBy: who.ID, UpdatedAt: s.clock()}
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		before, err := loadSettings(tx, village)
		if err != nil {
			return err
		}
		if err := tx.Save(&row).Error; err != nil {
			return fmt.Errorf("awards: save settings: %w", err)
		}
		return record(ctx, tx, who, village, "award_settings.save", "village", village, before, st)
	})
	return st, err
}
