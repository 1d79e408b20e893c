package catalog

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

// DefaultCategories are the categories of 村规民约 clauses in county plans;
// a village starts with them when it adopts a template and edits them
// freely afterwards.
var DefaultCategories = []string{"社会公德", "环境卫生", "邻里和谐", "移风易俗", "孝老爱亲", "遵纪守法", "平安建设", "公益志愿", "村务参与", "党员模范"}

type categoryRow struct {
	ID        int64 `gorm:"primaryKey"`
	VillageID int64
	Name      string
	Position  int
	CreatedAt time.Time
}

func (categoryRow) TableName() string { return "rule_categories" }

// Categories lists a village's categories in display order.
func (s *Store) Categories(ctx context.Context, village int64) ([]string, error) {
	var names []string
	if err := s.db.WithContext(ctx).Model(&categoryRow{}).Where("village_id = ?", village).Order("position, id").Pluck("name", &names).Error; err != nil {
		return nil, fmt.Errorf("catalog: list categories: %w", err)
	}
	if names == nil {
		names = []string{}
	}
	return names, nil
}

// SetCategories replaces a village's category list. A category still used
// by a current item cannot be dropped, or the item would have none.
func (s *Store) SetCategories(ctx context.Context, who audit.Actor, village int64, names []string) ([]string, error) {
	seen := map[string]bool{}
	var clean []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" || utf8.RuneCountInString(n) > 32 {
			return nil, apperr.Invalid("categories", "类别名称不能为空且不超过 32 个字")
		}
		if !seen[n] {
			seen[n] = true
			clean = append(clean, n)
		}
	}
	if len(clean) == 0 || len(clean) > 50 {
		return nil, apperr.Invalid("categories", "类别须有 1 到 50 个")
	}
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var used []string
		if err := tx.Model(&itemRow{}).Where("village_id = ? AND superseded_at IS NULL", village).Distinct().Pluck("category", &used).Error; err != nil {
			return fmt.Errorf("catalog: used categories: %w", err)
		}
		for _, u := range used {
			if !seen[u] {
				return apperr.Newf(apperr.CodeConflict, "类别“%s”下还有条目，不能删除", u)
			}
		}
		before, err := categoriesTx(tx, village)
		if err != nil {
			return err
		}
		if err := tx.Where("village_id = ?", village).Delete(&categoryRow{}).Error; err != nil {
			return fmt.Errorf("catalog: clear categories: %w", err)
		}
		if err := insertCategories(tx, village, clean, 0, time.Now().UTC()); err != nil {
			return err
		}
		return audit.Record(ctx, tx, who, audit.Change{VillageID: village, Action: "rule_categories.set", TargetType: "village", TargetID: village, Before: before, After: clean})
	})
	return clean, err
}

func categoriesTx(tx *gorm.DB, village int64) ([]string, error) {
	var names []string
	if err := tx.Model(&categoryRow{}).Where("village_id = ?", village).Order("position, id").Pluck("name", &names).Error; err != nil {
		return nil, fmt.Errorf("catalog: list categories: %w", err)
	}
	return names, nil
}

// insertCategories adds names not yet present, after position from.
func insertCategories(tx *gorm.DB, village int64, names []string, from int, now time.Time) error {
	for i, n := range names {
		row := categoryRow{VillageID: village, Name: n, Position: from + i, CreatedAt: now}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
			return fmt.Errorf("catalog: add category: %w", err)
		}
	}
	return nil
}

// checkCategory refuses a category the village does not have.
func checkCategory(tx *gorm.DB, village int64, name string) error {
	var n int64
	if err := tx.Model(&categoryRow{}).Where("village_id = ? AND name = ?", village, name).Count(&n).Error; err != nil {
		return fmt.Errorf("catalog: check category: %w", err)
	}
	if n == 0 {
		return apperr.Invalid("category", fmt.Sprintf("本村没有类别“%s”，请先在类别中添加", name))
	}
	return nil
}
