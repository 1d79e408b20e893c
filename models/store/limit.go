package store

import (
	"fmt"
	"sort"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/villagepoints/jifen/apperr"
)

// Subjects of a monthly limit.
const (
	subjectResident  = "resident"
	subjectHousehold = "household"
)

// limitCharge is what one order line counts against one monthly limit
// counter: a reward, a resident or household, a month (YYYYMM).
type limitCharge struct {
	RewardID  int64
	Kind      string
	SubjectID int64
	Month     int
	Quantity  int64
	// Cap is the reward's limit for this kind of subject.
	Cap int
}

// Flags of the counters an order counts against, kept on the order so
// that giving its count back does not depend on the reward's limits then.
const (
	countsResident  = 1
	countsHousehold = 2
)

// limitLine is one order line as the limits see it.
type limitLine struct {
	RewardID    int64
	ResidentID  int64
	HouseholdID int64
	Month       int
	Quantity    int64
	Flags       int
	// CapResident and CapHousehold are the reward's limits when the line
	// is placed; giving back needs none.
	CapResident, CapHousehold int
}

// limitFlags says which counters an order of r counts against: those the
// reward limits, and the household one only for a resident with a
// household.
func limitFlags(r Reward, householdID int64) int {
	f := 0
	if r.LimitResidentMonth > 0 {
		f |= countsResident
	}
	if r.LimitHouseholdMonth > 0 && householdID != 0 {
		f |= countsHousehold
	}
	return f
}

// limitCharges merges lines per counter and sorts the counters in lock
// order (reward, kind, subject), so concurrent orders lock them in one
// order.
func limitCharges(lines []limitLine) []limitCharge {
	type key struct {
		reward int64
		kind   string
		id     int64
		month  int
		cap    int
	}
	byKey := map[key]int64{}
	for _, l := range lines {
		if l.Flags&countsResident != 0 {
			byKey[key{l.RewardID, subjectResident, l.ResidentID, l.Month, l.CapResident}] += l.Quantity
		}
		if l.Flags&countsHousehold != 0 {
			byKey[key{l.RewardID, subjectHousehold, l.HouseholdID, l.Month, l.CapHousehold}] += l.Quantity
		}
	}
	out := make([]limitCharge, 0, len(byKey))
	for k, q := range byKey {
		out = append(out, limitCharge{RewardID: k.reward, Kind: k.kind, SubjectID: k.id, Month: k.month, Quantity: q, Cap: k.cap})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.RewardID != b.RewardID {
			return a.RewardID < b.RewardID
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.SubjectID < b.SubjectID
	})
	return out
}

type counterRow struct {
	RewardID    int64  `gorm:"primaryKey;autoIncrement:false"`
	SubjectKind string `gorm:"primaryKey"`
	SubjectID   int64  `gorm:"primaryKey;autoIncrement:false"`
	Month       int    `gorm:"primaryKey;autoIncrement:false"`
	Quantity    int64
}

func (counterRow) TableName() string { return "store_limit_counters" }

var counterKey = []clause.Column{{Name: "reward_id"}, {Name: "subject_kind"}, {Name: "subject_id"}, {Name: "month"}}

// counterTakeSQL counts an order against an existing counter only if the
// cap still allows it.
const counterTakeSQL = `UPDATE store_limit_counters SET quantity = quantity + ?
	WHERE reward_id = ? AND subject_kind = ? AND subject_id = ? AND month = ? AND quantity + ? <= ?`

// takeLimits counts lines against their counters and refuses with
// CodeLimitReached when one would pass its cap. Each write locks the
// counter row until the transaction ends, so concurrent orders of one
// resident take turns and the cap holds. The common case, a counter that
// exists and has room, is one conditional update; the first order of a
// month (no row yet) and a refusal take the upsert and a read.
func (s *Store) takeLimits(tx *gorm.DB, charges []limitCharge) error {
	for _, c := range charges {
		res, err := s.stmts.Exec(tx, counterTakeSQL, c.Quantity, c.RewardID, c.Kind, c.SubjectID, c.Month, c.Quantity, c.Cap)
		if err != nil {
			return fmt.Errorf("store: count limit: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			continue
		}
		row := counterRow{RewardID: c.RewardID, SubjectKind: c.Kind, SubjectID: c.SubjectID, Month: c.Month, Quantity: c.Quantity}
		if err := tx.Clauses(clause.OnConflict{Columns: counterKey, DoUpdates: clause.Assignments(map[string]any{
			"quantity": gorm.Expr("store_limit_counters.quantity + ?", c.Quantity),
		})}).Create(&row).Error; err != nil {
			return fmt.Errorf("store: count limit: %w", err)
		}
		var used int64
		if err := tx.Raw("SELECT quantity FROM store_limit_counters WHERE reward_id = ? AND subject_kind = ? AND subject_id = ? AND month = ?",
			c.RewardID, c.Kind, c.SubjectID, c.Month).Scan(&used).Error; err != nil {
			return fmt.Errorf("store: read limit: %w", err)
		}
		if used > int64(c.Cap) {
			before := used - c.Quantity
			if c.Kind == subjectHousehold {
				return apperr.Newf(CodeLimitReached, "本月兑换次数已达上限：该商品每户每月限兑 %d 件，本户本月已兑 %d 件", c.Cap, before)
			}
			return apperr.Newf(CodeLimitReached, "本月兑换次数已达上限：该商品每人每月限兑 %d 件，您本月已兑 %d 件", c.Cap, before)
		}
	}
	return nil
}

// giveBackLimits returns what a cancelled, expired or refunded order had
// counted, to the month it was placed in.
func giveBackLimits(tx *gorm.DB, charges []limitCharge) error {
	for _, c := range charges {
		if err := tx.Exec(`UPDATE store_limit_counters SET quantity = quantity - ?
			WHERE reward_id = ? AND subject_kind = ? AND subject_id = ? AND month = ? AND quantity >= ?`,
			c.Quantity, c.RewardID, c.Kind, c.SubjectID, c.Month, c.Quantity).Error; err != nil {
			return fmt.Errorf("store: give back limit: %w", err)
		}
	}
	return nil
}
