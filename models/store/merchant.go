package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Merchant is a shop 商户 that supplies a store's rewards and is settled
// with for what was handed over.
type Merchant struct {
	ID        int64     `json:"id" gorm:"primaryKey"`
	RegionID  int64     `json:"region_id"`
	Name      string    `json:"name"`
	Contact   string    `json:"contact"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// TableName pins the table name.
func (Merchant) TableName() string { return "store_merchants" }

func findMerchant(db *gorm.DB, id int64) (Merchant, error) {
	var ms []Merchant
	if err := db.Raw("SELECT * FROM store_merchants WHERE id = ?", id).Scan(&ms).Error; err != nil {
		return Merchant{}, fmt.Errorf("store: load merchant: %w", err)
	}
	if len(ms) == 0 {
		return Merchant{}, apperr.NotFound("商户")
	}
	return ms[0], nil
}

// Merchant returns one merchant if st may see its region.
func (s *Store) Merchant(ctx context.Context, st Staff, id int64) (Merchant, error) {
	m, err := findMerchant(s.db.WithContext(ctx), id)
	if err != nil {
		return m, err
	}
	if !st.In(m.RegionID) {
		return Merchant{}, apperr.NotFound("商户")
	}
	return m, nil
}

// CreateMerchant adds a merchant supplying the store of a village or
// township (audited). Names are unique per region, so a retried request
// is answered with a conflict rather than a second merchant.
func (s *Store) CreateMerchant(ctx context.Context, st Staff, regionID int64, name, contact string) (Merchant, error) {
	name, contact = strings.TrimSpace(name), strings.TrimSpace(contact)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return Merchant{}, apperr.Invalid("name", "商户名称不能为空且不超过 100 个字")
	}
	if utf8.RuneCountInString(contact) > 100 {
		return Merchant{}, apperr.Invalid("contact", "联系方式不超过 100 个字")
	}
	if !st.In(regionID) {
		return Merchant{}, apperr.New(apperr.CodeOutOfScope, "该区域不在您的管理范围内")
	}
	level, err := s.storeRegion(ctx, regionID)
	if err != nil {
		return Merchant{}, err
	}
	now := s.clock()
	m := Merchant{RegionID: regionID, Name: name, Contact: contact, CreatedAt: now, UpdatedAt: now}
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		m.ID = 0
		if err := tx.Create(&m).Error; err != nil {
			if sqldb.IsDuplicateKey(err) {
				return apperr.Newf(apperr.CodeConflict, "已有名为「%s」的商户", name)
			}
			return fmt.Errorf("store: insert merchant: %w", err)
		}
		village := int64(0)
		if level == people.Village {
			village = regionID
		}
		return audit.Record(ctx, tx, st.Actor, audit.Change{VillageID: village, Action: "store.merchant.create",
			TargetType: "merchant", TargetID: m.ID, After: m})
	})
	return m, err
}

// VillageMerchants lists the merchants supplying a village's store and its
// township's.
func (s *Store) VillageMerchants(ctx context.Context, villageID int64) ([]Merchant, error) {
	town, err := s.township(ctx, villageID)
	if err != nil {
		return nil, err
	}
	var ms []Merchant
	err = s.db.WithContext(ctx).Where("region_id IN ?", []int64{villageID, town}).Order("id").Find(&ms).Error
	return ms, err
}
