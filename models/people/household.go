package people

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Household is a 户: the unit that some villages score and rank instead of
// single residents.
type Household struct {
	ID        int64     `gorm:"primaryKey" json:"id"`
	VillageID int64     `json:"village_id"`
	GridID    *int64    `json:"grid_id,omitempty"`
	Number    string    `json:"number"`
	Address   string    `json:"address"`
	HeadName  string    `json:"head_name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// HouseholdInput is what staff may set on a household.
type HouseholdInput struct {
	GridID   *int64
	Number   string
	Address  string
	HeadName string
}

func (in *HouseholdInput) normalize() error {
	in.Number, in.Address, in.HeadName = strings.TrimSpace(in.Number), strings.TrimSpace(in.Address), strings.TrimSpace(in.HeadName)
	if in.Number == "" || len([]rune(in.Number)) > 32 {
		return apperr.Invalid("number", "户号不能为空且不超过 32 个字符")
	}
	if len([]rune(in.Address)) > 120 {
		return apperr.Invalid("address", "地址不超过 120 个字")
	}
	if len([]rune(in.HeadName)) > 32 {
		return apperr.Invalid("head_name", "户主姓名不超过 32 个字")
	}
	return nil
}

// CreateHousehold adds a household to a village.
func (s *Store) CreateHousehold(ctx context.Context, who audit.Actor, villageID int64, in HouseholdInput) (Household, error) {
	if err := in.normalize(); err != nil {
		return Household{}, err
	}
	var h Household
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var err error
		h, err = createHousehold(ctx, tx, villageID, in)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, who, audit.Change{VillageID: villageID, Action: "household.create", TargetType: "household", TargetID: h.ID, After: h})
	})
	return h, err
}

func createHousehold(ctx context.Context, tx *gorm.DB, villageID int64, in HouseholdInput) (Household, error) {
	if err := gridInVillage(tx, in.GridID, villageID); err != nil {
		return Household{}, err
	}
	now := time.Now().UTC()
	h := Household{VillageID: villageID, GridID: in.GridID, Number: in.Number, Address: in.Address, HeadName: in.HeadName, CreatedAt: now, UpdatedAt: now}
	if err := tx.WithContext(ctx).Create(&h).Error; err != nil {
		if sqldb.IsDuplicateKey(err) {
			return h, apperr.Newf(apperr.CodeConflict, "户号 %s 在本村已存在", in.Number)
		}
		return h, err
	}
	return h, nil
}

// Household returns one household.
func (s *Store) Household(ctx context.Context, id int64) (Household, error) {
	return byID[Household](ctx, s.db, id)
}

// UpdateHousehold replaces the editable fields of a household.
func (s *Store) UpdateHousehold(ctx context.Context, who audit.Actor, id int64, in HouseholdInput) (Household, error) {
	if err := in.normalize(); err != nil {
		return Household{}, err
	}
	var h Household
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		if err := sqldb.ForUpdate(tx).First(&h, id).Error; err != nil {
			return notFound(err, "户")
		}
		before := h
		if err := gridInVillage(tx, in.GridID, h.VillageID); err != nil {
			return err
		}
		h.GridID, h.Number, h.Address, h.HeadName, h.UpdatedAt = in.GridID, in.Number, in.Address, in.HeadName, time.Now().UTC()
		if err := tx.Save(&h).Error; err != nil {
			if sqldb.IsDuplicateKey(err) {
				return apperr.Newf(apperr.CodeConflict, "户号 %s 在本村已存在", in.Number)
			}
			return err
		}
		return audit.Record(ctx, tx, who, audit.Change{VillageID: h.VillageID, Action: "household.update", TargetType: "household", TargetID: h.ID, Before: before, After: h})
	})
	return h, err
}

// HouseholdFilter selects households for ListHouseholds.
type HouseholdFilter struct {
	VillageIDs []int64
	GridID     int64
	Query      string // matches number, head name or address
}

// ListHouseholds returns one page of households ordered by number.
func (s *Store) ListHouseholds(ctx context.Context, f HouseholdFilter, offset, limit int) ([]Household, int64, error) {
	q := s.db.WithContext(ctx).Model(&Household{}).Where("village_id IN ?", nonEmpty(f.VillageIDs))
	if f.GridID != 0 {
		q = q.Where("grid_id = ?", f.GridID)
	}
	if f.Query != "" {
		like := "%" + escapeLike(f.Query) + "%"
		q = q.Where("number LIKE ? ESCAPE '!' OR head_name LIKE ? ESCAPE '!' OR address LIKE ? ESCAPE '!'", like, like, like)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var out []Household
	err := q.Order("village_id, number").Offset(offset).Limit(limit).Find(&out).Error
	return out, total, err
}

func notFound(err error, what string) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return apperr.NotFound(what)
	}
	return err
}

// escapeLike makes s match literally in a LIKE pattern written with
// ESCAPE '!'. The escape character is spelled out because SQLite has none by
// default, and '!' because a backslash would need escaping in MySQL's SQL
// text but not in SQLite's.
func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}
