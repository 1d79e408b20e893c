package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/villagepoints/jifen/apperr"
)

// Settings are a village's ledger choices.
type Settings struct {
	// HolderMode says whether points are kept per resident (the default) or
	// per household 户; postings to the other kind are refused.
	HolderMode HolderKind
	// Spendable lists the tracks that may be redeemed, in the order a
	// redemption draws on them.
	Spendable []Track
	// AllowNegativeDeduction lets a rule deduction 扣分 take a holder below
	// zero. Nothing else ever does.
	AllowNegativeDeduction bool
	// Expiry is when earned points lapse.
	Expiry Expiry
}

// DefaultSettings apply to a village that has saved none: points per
// resident, civic and volunteer points spendable (party points rank but are
// not spent), no negative balances, no expiry.
func DefaultSettings() Settings {
	return Settings{
		HolderMode: HolderResident,
		Spendable:  []Track{TrackCivic, TrackVolunteer},
		Expiry:     Expiry{Policy: ExpiryNone},
	}
}

// spends reports whether track t is spendable.
func (s Settings) spends(t Track) bool {
	for _, x := range s.Spendable {
		if x == t {
			return true
		}
	}
	return false
}

func (s Settings) validate() error {
	if s.HolderMode != HolderResident && s.HolderMode != HolderHousehold {
		return apperr.Invalid("holder_mode", "积分归属只能是村民或户")
	}
	seen := map[Track]bool{}
	for _, t := range s.Spendable {
		if !t.Valid() || seen[t] {
			return apperr.Invalid("spendable", "可兑换积分类别无效或重复")
		}
		seen[t] = true
	}
	switch s.Expiry.Policy {
	case ExpiryNone, ExpiryYearEnd:
	case ExpiryMonths:
		if s.Expiry.Months < 1 || s.Expiry.Months > 120 {
			return apperr.Invalid("expiry_months", "有效期月数须在 1 到 120 之间")
		}
	default:
		return apperr.Invalid("expiry_policy", "过期规则无效")
	}
	return nil
}

// checkHolder refuses a holder of the kind the village does not keep.
func (s Settings) checkHolder(h Holder) error {
	if err := h.validate(); err != nil {
		return err
	}
	if h.Kind != s.HolderMode {
		if s.HolderMode == HolderHousehold {
			return apperr.Invalid("holder", "本村积分按户记账，请选择户")
		}
		return apperr.Invalid("holder", "本村积分按人记账，请选择村民")
	}
	return nil
}

type settingsRow struct {
	VillageID              int64 `gorm:"primaryKey;autoIncrement:false"`
	HolderMode             string
	SpendableTracks        string
	AllowNegativeDeduction bool
	ExpiryPolicy           string
	ExpiryMonths           int
	UpdatedBy              string
	UpdatedAt              time.Time
}

func (settingsRow) TableName() string { return "ledger_settings" }

// loadSettings reads a village's settings with the given handle (a
// transaction on write paths).
func loadSettings(db *gorm.DB, villageID int64) (Settings, error) {
	var rows []settingsRow
	if err := db.Raw("SELECT * FROM ledger_settings WHERE village_id = ?", villageID).Scan(&rows).Error; err != nil {
		return Settings{}, fmt.Errorf("ledger: load settings: %w", err)
	}
	if len(rows) == 0 {
		return DefaultSettings(), nil
	}
	r := rows[0]
	s := Settings{
		HolderMode:             HolderKind(r.HolderMode),
		AllowNegativeDeduction: r.AllowNegativeDeduction,
		Expiry:                 Expiry{Policy: ExpiryPolicy(r.ExpiryPolicy), Months: r.ExpiryMonths},
	}
	for t := range strings.SplitSeq(r.SpendableTracks, ",") {
		if t != "" {
			s.Spendable = append(s.Spendable, Track(t))
		}
	}
	return s, nil
}

// settingsFor returns a village's settings for a write, from the Store's
// cache while it is fresh (wall time, not the ledger clock), else read with
// tx.
func (s *Store) settingsFor(tx *gorm.DB, villageID int64) (Settings, error) {
	if s.settingsTTL > 0 {
		s.cache.mu.Lock()
		c, ok := s.cache.m[villageID]
		s.cache.mu.Unlock()
		if ok && time.Since(c.read) < s.settingsTTL {
			return c.s, nil
		}
	}
	st, err := loadSettings(tx, villageID)
	if err != nil {
		return st, err
	}
	if s.settingsTTL > 0 {
		s.cache.mu.Lock()
		s.cache.m[villageID] = cachedSettings{s: st, read: time.Now()}
		s.cache.mu.Unlock()
	}
	return st, nil
}

func (s *Store) forgetSettings(villageID int64) {
	s.cache.mu.Lock()
	delete(s.cache.m, villageID)
	s.cache.mu.Unlock()
}

// Settings returns a village's ledger settings (the defaults if it saved
// none).
func (s *Store) Settings(ctx context.Context, villageID int64) (Settings, error) {
	return loadSettings(s.db.WithContext(ctx), villageID)
}

// SaveSettings replaces a village's ledger settings. The holder mode cannot
// change once the village has postings, because balances would then be
// split between residents and households.
func (s *Store) SaveSettings(ctx context.Context, villageID int64, set Settings, actor Actor) error {
	if err := validateVillage(villageID); err != nil {
		return err
	}
	if err := actor.validate(); err != nil {
		return err
	}
	if err := set.validate(); err != nil {
		return err
	}
	tracks := make([]string, len(set.Spendable))
	for i, t := range set.Spendable {
		tracks[i] = string(t)
	}
	months := set.Expiry.Months
	if set.Expiry.Policy != ExpiryMonths {
		months = 0
	}
	row := settingsRow{
		VillageID:              villageID,
		HolderMode:             string(set.HolderMode),
		SpendableTracks:        strings.Join(tracks, ","),
		AllowNegativeDeduction: set.AllowNegativeDeduction,
		ExpiryPolicy:           string(set.Expiry.Policy),
		ExpiryMonths:           months,
		UpdatedBy:              string(actor),
		UpdatedAt:              s.clock(),
	}
	defer s.forgetSettings(villageID)
	return s.inTx(ctx, func(tx *gorm.DB) error {
		old, err := loadSettings(tx, villageID)
		if err != nil {
			return err
		}
		if old.HolderMode != set.HolderMode {
			var found []int64
			if err := tx.Raw("SELECT id FROM ledger_postings WHERE village_id = ? LIMIT 1", villageID).Scan(&found).Error; err != nil {
				return err
			}
			if len(found) > 0 {
				return apperr.New(apperr.CodeConflict, "本村已有积分流水，不能再改变积分归属方式")
			}
		}
		if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&row).Error; err != nil {
			return fmt.Errorf("ledger: save settings: %w", err)
		}
		return nil
	})
}
