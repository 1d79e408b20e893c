// Package people owns the population the product serves: regions (county
// 县 → township 乡镇 → village 村 → grid 网格), households (户) and residents
// (村民, registered or not). Personal data is sealed by a pii.Vault before it
// is stored and masked when it is shown.
package people

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Level is a region's place in the hierarchy.
type Level string

// The region levels, top down.
const (
	County   Level = "county"
	Township Level = "township"
	Village  Level = "village"
	Grid     Level = "grid"
)

// childLevel says what a region of each level may contain.
var childLevel = map[Level]Level{County: Township, Township: Village, Village: Grid}

// Region is one node of the administrative tree. Path lists the ids from
// the root ("/1/4/9/"), so "everything under a township" is a prefix match.
type Region struct {
	ID        int64     `gorm:"primaryKey" json:"id"`
	ParentID  *int64    `json:"parent_id,omitempty"`
	Level     Level     `json:"level"`
	Name      string    `json:"name"`
	Code      string    `json:"code"`
	Path      string    `json:"path"`
	CreatedAt time.Time `json:"created_at"`
}

// Within reports whether the region is ancestor or the region itself.
func (r Region) Within(ancestor int64) bool {
	return strings.Contains(r.Path, "/"+strconv.FormatInt(ancestor, 10)+"/")
}

// RegionInput is what a caller may set on a new region.
type RegionInput struct {
	ParentID *int64
	Level    Level
	Name     string
	Code     string
}

// ErrNotFound is returned when a requested record does not exist.
var ErrNotFound = errors.New("people: not found")

// Store reads and writes regions, households and residents.
type Store struct {
	db    *gorm.DB
	vault Vault
}

// Vault is the part of pii.Vault the store needs.
type Vault interface {
	Seal(plain string) string
	Open(sealed string) (string, error)
	Index(plain string) string
}

// NewStore returns a Store over db that protects personal data with vault.
func NewStore(db *gorm.DB, vault Vault) *Store { return &Store{db: db, vault: vault} }

// CreateRegion adds a region under its parent; a county has no parent.
func (s *Store) CreateRegion(ctx context.Context, who audit.Actor, in RegionInput) (Region, error) {
	in.Name, in.Code = strings.TrimSpace(in.Name), strings.TrimSpace(in.Code)
	if in.Name == "" {
		return Region{}, apperr.Invalid("name", "区域名称不能为空")
	}
	if in.Code == "" || len(in.Code) > 32 {
		return Region{}, apperr.Invalid("code", "区域编码不能为空且不超过 32 个字符")
	}
	r := Region{Level: in.Level, Name: in.Name, Code: in.Code, ParentID: in.ParentID, CreatedAt: time.Now().UTC()}
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		parentPath := "/"
		if in.Level == County {
			if in.ParentID != nil {
				return apperr.Invalid("parent_id", "县（区）不能有上级区域")
			}
		} else {
			if in.ParentID == nil {
				return apperr.Invalid("parent_id", "缺少上级区域")
			}
			var parent Region
			if err := tx.First(&parent, *in.ParentID).Error; err != nil {
				if errors.Is(err, gorm.ErrRecordNotFound) {
					return apperr.NotFound("上级区域")
				}
				return err
			}
			if childLevel[parent.Level] != in.Level {
				return apperr.Invalid("level", fmt.Sprintf("%s 下不能直接建立 %s", parent.Level, in.Level))
			}
			parentPath = parent.Path
		}
		r.Path = "pending"
		if err := tx.Create(&r).Error; err != nil {
			if sqldb.IsDuplicateKey(err) {
				return apperr.Newf(apperr.CodeConflict, "区域编码 %s 已存在", in.Code)
			}
			return err
		}
		r.Path = fmt.Sprintf("%s%d/", parentPath, r.ID)
		if err := tx.Model(&r).Update("path", r.Path).Error; err != nil {
			return err
		}
		var village int64
		if in.Level == Village {
			village = r.ID
		} else if in.Level == Grid {
			village = *in.ParentID
		}
		return audit.Record(ctx, tx, who, audit.Change{VillageID: village, Action: "region.create", TargetType: "region", TargetID: r.ID, After: r})
	})
	return r, err
}

// Region returns one region.
func (s *Store) Region(ctx context.Context, id int64) (Region, error) {
	return byID[Region](ctx, s.db, id)
}

// VillagesUnder returns the ids of the villages at or below each region.
func (s *Store) VillagesUnder(ctx context.Context, regionIDs []int64) ([]int64, error) {
	if len(regionIDs) == 0 {
		return nil, nil
	}
	var regions []Region
	if err := s.db.WithContext(ctx).Where("id IN ?", regionIDs).Find(&regions).Error; err != nil {
		return nil, err
	}
	q := s.db.WithContext(ctx).Model(&Region{}).Where("level = ?", Village)
	var conds []string
	var args []any
	for _, r := range regions {
		conds = append(conds, "path LIKE ?")
		args = append(args, r.Path+"%")
	}
	if len(conds) == 0 {
		return nil, nil
	}
	var ids []int64
	err := q.Where(strings.Join(conds, " OR "), args...).Order("id").Pluck("id", &ids).Error
	return ids, err
}

// ListRegions returns the regions under any of roots (inclusive), at most
// one level deeper than the deepest level asked for, ordered by path.
func (s *Store) ListRegions(ctx context.Context, villageIDs []int64, level Level) ([]Region, error) {
	q := s.db.WithContext(ctx).Model(&Region{})
	switch level {
	case Village:
		q = q.Where("id IN ?", nonEmpty(villageIDs))
	case Grid:
		q = q.Where("level = ? AND parent_id IN ?", Grid, nonEmpty(villageIDs))
	default:
		return nil, apperr.Invalid("level", "只能按 village 或 grid 列出区域")
	}
	var out []Region
	err := q.Order("path").Find(&out).Error
	return out, err
}

// byID loads one row by primary key; a missing row is ErrNotFound.
func byID[T any](ctx context.Context, db *gorm.DB, id int64) (T, error) {
	var v T
	err := db.WithContext(ctx).First(&v, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return v, ErrNotFound
	}
	return v, err
}

// gridInVillage checks that grid belongs to village.
func gridInVillage(tx *gorm.DB, gridID *int64, villageID int64) error {
	if gridID == nil {
		return nil
	}
	var n int64
	if err := tx.Model(&Region{}).Where("id = ? AND level = ? AND parent_id = ?", *gridID, Grid, villageID).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return apperr.Invalid("grid_id", "网格不属于本村")
	}
	return nil
}

// lockVillage locks a village's region row until tx ends and reports
// whether the village exists. Writers that check something across a whole
// village (ID numbers are unique per village, which no index enforces) take
// it first, so two of them cannot both pass the check.
func lockVillage(tx *gorm.DB, villageID int64) (bool, error) {
	var ids []int64
	err := sqldb.ForUpdate(tx.Model(&Region{}).Where("id = ? AND level = ?", villageID, Village)).Pluck("id", &ids).Error
	return len(ids) > 0, err
}

func nonEmpty(ids []int64) []int64 {
	if len(ids) == 0 {
		return []int64{-1}
	}
	return ids
}
