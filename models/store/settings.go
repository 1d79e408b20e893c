package store

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

// Settings are a village's store choices.
type Settings struct {
	// PickupDays is how long an order waits at the counter before it
	// expires: its points are released and its stock returned.
	PickupDays int `json:"pickup_days"`
	// PickupPlace tells villagers where to collect (e.g. 村委会一楼积分超市).
	PickupPlace string `json:"pickup_place"`
}

// DefaultSettings apply to a village that saved none.
func DefaultSettings() Settings { return Settings{PickupDays: 7} }

// Validate checks the settings a village admin sends.
func (st Settings) Validate() error {
	if st.PickupDays < 1 || st.PickupDays > 90 {
		return apperr.Invalid("pickup_days", "领取期限须在 1 到 90 天之间")
	}
	if utf8.RuneCountInString(st.PickupPlace) > 100 {
		return apperr.Invalid("pickup_place", "领取地点不超过 100 个字")
	}
	return nil
}

type settingsRow struct {
	VillageID   int64 `gorm:"primaryKey;autoIncrement:false"`
	PickupDays  int
	PickupPlace string
	UpdatedBy   int64
	UpdatedAt   time.Time
}

func (settingsRow) TableName() string { return "store_settings" }

func loadSettings(db *gorm.DB, villageID int64) (Settings, error) {
	var rows []settingsRow
	if err := db.Raw("SELECT * FROM store_settings WHERE village_id = ?", villageID).Scan(&rows).Error; err != nil {
		return Settings{}, fmt.Errorf("store: load settings: %w", err)
	}
	if len(rows) == 0 {
		return DefaultSettings(), nil
	}
	return Settings{PickupDays: rows[0].PickupDays, PickupPlace: rows[0].PickupPlace}, nil
}

// Settings returns a village's store settings.
func (s *Store) Settings(ctx context.Context, villageID int64) (Settings, error) {
	return loadSettings(s.db.WithContext(ctx), villageID)
}

// SaveSettings replaces a village's store settings (audited). Orders
// already placed keep the pickup deadline they were given.
func (s *Store) SaveSettings(ctx context.Context, st Staff, villageID int64, set Settings) (Settings, error) {
	set.PickupPlace = strings.TrimSpace(set.PickupPlace)
	if err := set.Validate(); err != nil {
		return set, err
	}
	if !st.In(villageID) {
		return set, apperr.New(apperr.CodeOutOfScope, "该村不在您的管理范围内")
	}
	defer s.forget(villageID)
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		old, err := loadSettings(tx, villageID)
		if err != nil {
			return err
		}
		row := settingsRow{VillageID: villageID, PickupDays: set.PickupDays, PickupPlace: set.PickupPlace, UpdatedBy: st.Actor.StaffID, UpdatedAt: s.clock()}
		if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&row).Error; err != nil {
			return fmt.Errorf("store: save settings: %w", err)
		}
		return audit.Record(ctx, tx, st.Actor, audit.Change{VillageID: villageID, Action: "store.settings", TargetType: "village", TargetID: villageID, Before: old, After: set})
	})
	return set, err
}

// Budget is a village's store budget 年度预算 for one year, in fen.
type Budget struct {
	VillageID int64 `json:"village_id"`
	Year      int   `json:"year"`
	AmountFen int64 `json:"amount_fen"`
}

// maxFen bounds money amounts (10 million yuan), far above any village
// budget, so sums stay far from overflow.
const maxFen = 1_000_000_000

type budgetRow struct {
	VillageID int64 `gorm:"primaryKey;autoIncrement:false"`
	Year      int   `gorm:"primaryKey;autoIncrement:false"`
	AmountFen int64
	UpdatedBy int64
	UpdatedAt time.Time
}

func (budgetRow) TableName() string { return "store_budgets" }

// SetBudget sets a village's store budget for a year (audited).
func (s *Store) SetBudget(ctx context.Context, st Staff, villageID int64, year int, amountFen int64) (Budget, error) {
	b := Budget{VillageID: villageID, Year: year, AmountFen: amountFen}
	if year < 2000 || year > 2100 {
		return b, apperr.Invalid("year", "年份无效")
	}
	if amountFen < 0 || amountFen > maxFen {
		return b, apperr.Invalid("amount_fen", "预算金额须在 0 到 1000 万元之间（单位：分）")
	}
	if !st.In(villageID) {
		return b, apperr.New(apperr.CodeOutOfScope, "该村不在您的管理范围内")
	}
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var before []budgetRow
		if err := tx.Raw("SELECT * FROM store_budgets WHERE village_id = ? AND year = ?", villageID, year).Scan(&before).Error; err != nil {
			return err
		}
		row := budgetRow{VillageID: villageID, Year: year, AmountFen: amountFen, UpdatedBy: st.Actor.StaffID, UpdatedAt: s.clock()}
		if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&row).Error; err != nil {
			return fmt.Errorf("store: save budget: %w", err)
		}
		var old any
		if len(before) > 0 {
			old = Budget{VillageID: villageID, Year: year, AmountFen: before[0].AmountFen}
		}
		return audit.Record(ctx, tx, st.Actor, audit.Change{VillageID: villageID, Action: "store.budget", TargetType: "village", TargetID: villageID, Before: old, After: b})
	})
	return b, err
}

// budgetOf returns a village's budget for a year, 0 when none is set.
func budgetOf(db *gorm.DB, villageID int64, year int) (int64, error) {
	var amounts []int64
	if err := db.Raw("SELECT amount_fen FROM store_budgets WHERE village_id = ? AND year = ?", villageID, year).Scan(&amounts).Error; err != nil {
		return 0, fmt.Errorf("store: load budget: %w", err)
	}
	if len(amounts) == 0 {
		return 0, nil
	}
	return amounts[0], nil
}
