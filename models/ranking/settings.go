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
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Basis is how a village's household board ranks.
type Basis string

// The bases.
const (
	// BasisTotal ranks households by their total points.
	BasisTotal Basis = "total"
	// BasisPerMember ranks them by points per active member, so large
	// families do not dominate.
	BasisPerMember Basis = "per_member"
)

// TitleRule awards Title to the first TopN (by rank, so a tie at the
// boundary is included) of a final ranking of Subject and Track with
// positive points: e.g. households, total, 10, 文明之星户.
type TitleRule struct {
	Subject Subject      `json:"subject"`
	Track   ledger.Track `json:"track"`
	TopN    int          `json:"top_n"`
	Title   string       `json:"title"`
}

// Settings are a village's ranking choices.
type Settings struct {
	HouseholdBasis Basis `json:"household_basis"`
	// RedBlack enables the 红黑榜: a published ranking may then also show
	// a black side listing (masked) who had points deducted in the month.
	RedBlack bool `json:"red_black_enabled"`
	// NoticeDays is the default notice window 公示期 in days.
	NoticeDays int `json:"notice_days"`
	// Committee signs the notices (default: the village's name + 村民委员会).
	Committee string      `json:"committee"`
	Titles    []TitleRule `json:"title_rules"`
}

// DefaultSettings apply to a village that saved none.
func DefaultSettings() Settings {
	return Settings{HouseholdBasis: BasisTotal, NoticeDays: 7, Titles: []TitleRule{}}
}

type settingsRow struct {
	VillageID       int64 `gorm:"primaryKey;autoIncrement:false"`
	HouseholdBasis  string
	RedBlackEnabled bool
	NoticeDays      int
	Committee       string
	UpdatedBy       string
	UpdatedAt       time.Time
}

func (settingsRow) TableName() string { return "ranking_settings" }

type titleRuleRow struct {
	ID        int64 `gorm:"primaryKey"`
	VillageID int64
	Subject   string
	Track     string
	TopN      int
	Title     string
	CreatedAt time.Time
}

func (titleRuleRow) TableName() string { return "ranking_title_rules" }

func (st Settings) validate() error {
	if st.HouseholdBasis != BasisTotal && st.HouseholdBasis != BasisPerMember {
		return apperr.Invalid("household_basis", "户排名方式只能是 total 或 per_member")
	}
	if st.NoticeDays < 1 || st.NoticeDays > 30 {
		return apperr.Invalid("notice_days", "公示期须在 1 到 30 天之间")
	}
	if utf8.RuneCountInString(st.Committee) > 50 {
		return apperr.Invalid("committee", "落款不超过 50 字")
	}
	if len(st.Titles) > 20 {
		return apperr.Invalid("title_rules", "评选规则最多 20 条")
	}
	for _, t := range st.Titles {
		if !t.Subject.Valid() || t.Subject == SubjectHouseholdPerMember || !validTrack(t.Track) {
			return apperr.Invalid("title_rules", "评选规则的对象或积分类别无效")
		}
		if t.TopN < 1 || t.TopN > 1000 || strings.TrimSpace(t.Title) == "" || utf8.RuneCountInString(t.Title) > 16 {
			return apperr.Invalid("title_rules", "评选规则须有 1 到 1000 名的名额和不超过 16 字的称号")
		}
	}
	return nil
}

// Settings returns a village's ranking settings.
func (s *Service) Settings(ctx context.Context, village int64) (Settings, error) {
	return loadSettings(s.db.WithContext(ctx), village)
}

func loadSettings(db *gorm.DB, village int64) (Settings, error) {
	st := DefaultSettings()
	var rows []settingsRow
	if err := db.Where("village_id = ?", village).Find(&rows).Error; err != nil {
		return st, fmt.Errorf("ranking: load settings: %w", err)
	}
	if len(rows) == 1 {
		r := rows[0]
		st.HouseholdBasis, st.RedBlack, st.NoticeDays, st.Committee = Basis(r.HouseholdBasis), r.RedBlackEnabled, r.NoticeDays, r.Committee
	}
	var rules []titleRuleRow
	if err := db.Where("village_id = ?", village).Order("id").Find(&rules).Error; err != nil {
		return st, fmt.Errorf("ranking: load title rules: %w", err)
	}
	for _, r := range rules {
		st.Titles = append(st.Titles, TitleRule{Subject: Subject(r.Subject), Track: ledger.Track(r.Track), TopN: r.TopN, Title: r.Title})
	}
	return st, nil
}

// SaveSettings replaces a village's ranking settings and title rules,
// audited as who's with the settings before and after.
func (s *Service) SaveSettings(ctx context.Context, who audit.Actor, village int64, st Settings) (Settings, error) {
	st.Committee = strings.TrimSpace(st.Committee)
	if st.Titles == nil {
		st.Titles = []TitleRule{}
	}
	if err := st.validate(); err != nil {
		return st, err
	}
	now := s.now().UTC()
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		before, err := loadSettings(tx, village)
		if err != nil {
			return err
		}
		row := settingsRow{VillageID: village, HouseholdBasis: string(st.HouseholdBasis), RedBlackEnabled: st.RedBlack,
			NoticeDays: st.NoticeDays, Committee: st.Committee, UpdatedBy: byOf(who), UpdatedAt: now}
		if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&row).Error; err != nil {
			return err
		}
		if err := tx.Where("village_id = ?", village).Delete(&titleRuleRow{}).Error; err != nil {
			return err
		}
		for _, t := range st.Titles {
			r := titleRuleRow{VillageID: village, Subject: string(t.Subject), Track: string(t.Track), TopN: t.TopN, Title: strings.TrimSpace(t.Title), CreatedAt: now}
			if err := tx.Create(&r).Error; err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, who, audit.Change{VillageID: village, Action: "ranking.settings.update", TargetType: "village", TargetID: village,
			Before: before, After: st})
	})
	if err != nil {
		return st, fmt.Errorf("ranking: save settings: %w", err)
	}
	return st, nil
}

// HouseholdSubject is the household board subject a village's setting
// selects.
func (st Settings) HouseholdSubject() Subject {
	if st.HouseholdBasis == BasisPerMember {
		return SubjectHouseholdPerMember
	}
	return SubjectHousehold
}
