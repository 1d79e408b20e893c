package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Kind is what a reward is.
type Kind string

// The reward kinds.
const (
	KindGoods   Kind = "goods"   // 实物：大米、食用油、肥皂…
	KindService Kind = "service" // 服务：理发、家电维修…
	KindVoucher Kind = "voucher" // 券：早餐券、洗车券…（有有效期）
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k == KindGoods || k == KindService || k == KindVoucher }

// Label is the kind's Chinese name for exports.
func (k Kind) Label() string {
	switch k {
	case KindGoods:
		return "实物"
	case KindService:
		return "服务"
	case KindVoucher:
		return "券"
	}
	return string(k)
}

// Reward is a reward 积分超市商品 as staff see it.
type Reward struct {
	ID int64 `json:"id"`
	// RegionID is the village whose store offers it, or the township whose
	// shared store every village of the township may use (RegionLevel).
	RegionID    int64        `json:"region_id"`
	RegionLevel people.Level `json:"region_level"`
	Kind        Kind         `json:"kind"`
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Points      int64        `json:"points"`
	// CostFen is what one costs the village, in fen 分.
	CostFen int64 `json:"cost_fen"`
	// LimitResidentMonth and LimitHouseholdMonth cap how many one resident
	// or one household may redeem per month; 0 means no cap.
	LimitResidentMonth  int  `json:"limit_resident_month"`
	LimitHouseholdMonth int  `json:"limit_household_month"`
	OnShelf             bool `json:"on_shelf"`
	// Tracks are the point tracks 积分类别 that may pay for it, in the
	// ledger's order; empty means every track the customer's village lets
	// be spent. The village's settings bound it (see ledger.HoldRequest).
	Tracks []ledger.Track `json:"tracks"`
	// StockTracked is false for rewards that never run out (most
	// services); Stock and Reserved are then 0.
	StockTracked bool `json:"stock_tracked"`
	// Stock is what new orders may take; Reserved what open orders hold.
	Stock    int64 `json:"stock"`
	Reserved int64 `json:"reserved"`
	// LowStockAt opens a low-stock alert when Stock falls to it; 0 = never.
	LowStockAt int64 `json:"low_stock_at"`
	// ValidFrom and ValidUntil bound when the reward may be ordered and
	// picked up (vouchers); nil = no bound.
	ValidFrom  *time.Time `json:"valid_from,omitempty"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	MerchantID *int64     `json:"merchant_id,omitempty"`
	// Photos are URLs or object keys of photos uploaded elsewhere.
	Photos    []string  `json:"photos"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// revision counts staff edits; an order's stock update checks it.
	revision int64
}

// ShelfItem is a reward as villagers see it in the mini-program: no cost,
// no merchant, no reservations.
type ShelfItem struct {
	ID                  int64      `json:"id"`
	Kind                Kind       `json:"kind"`
	Name                string     `json:"name"`
	Description         string     `json:"description"`
	Points              int64      `json:"points"`
	LimitResidentMonth  int        `json:"limit_resident_month"`
	LimitHouseholdMonth int        `json:"limit_household_month"`
	SoldOut             bool       `json:"sold_out"`
	Stock               *int64     `json:"stock,omitempty"`
	ValidUntil          *time.Time `json:"valid_until,omitempty"`
	Photos              []string   `json:"photos"`
	// Tracks are the point tracks that may pay for it; empty means any
	// the village lets be spent.
	Tracks []ledger.Track `json:"tracks"`
	// Township is true for an item of the township's shared store.
	Township bool `json:"township"`
}

func (r Reward) shelfItem() ShelfItem {
	it := ShelfItem{ID: r.ID, Kind: r.Kind, Name: r.Name, Description: r.Description, Points: r.Points,
		LimitResidentMonth: r.LimitResidentMonth, LimitHouseholdMonth: r.LimitHouseholdMonth,
		ValidUntil: r.ValidUntil, Photos: r.Photos, Tracks: r.Tracks, Township: r.RegionLevel == people.Township}
	if r.StockTracked {
		n := r.Stock
		it.Stock, it.SoldOut = &n, n == 0
	}
	return it
}

// RewardInput is what staff set on a new reward.
type RewardInput struct {
	Kind                Kind
	Name                string
	Description         string
	Points              int64
	CostFen             int64
	LimitResidentMonth  int
	LimitHouseholdMonth int
	OnShelf             bool
	// Tracks may pay for the reward; empty means any the village lets be
	// spent.
	Tracks       []ledger.Track
	StockTracked bool
	// InitialStock is the first restock, recorded as a stock movement.
	InitialStock int64
	LowStockAt   int64
	ValidFrom    *time.Time
	ValidUntil   *time.Time
	MerchantID   *int64
	Photos       []string
}

// RewardPatch changes some fields of a reward; nil leaves a field alone.
// Stock changes only through stock movements and orders, and whether stock
// is tracked is fixed when the reward is created.
type RewardPatch struct {
	Name                *string
	Description         *string
	Points              *int64
	CostFen             *int64
	LimitResidentMonth  *int
	LimitHouseholdMonth *int
	OnShelf             *bool
	// Tracks replaces the tracks that may pay (an empty list: any).
	Tracks     *[]ledger.Track
	LowStockAt *int64
	// ValidFrom and ValidUntil replace both bounds when SetValidity is true.
	SetValidity bool
	ValidFrom   *time.Time
	ValidUntil  *time.Time
	// MerchantID replaces the merchant when SetMerchant is true (nil
	// clears it).
	SetMerchant bool
	MerchantID  *int64
	Photos      *[]string
}

// Limits on reward fields.
const (
	maxNameLen   = 100
	maxDescLen   = 1000
	maxLimit     = 1000
	maxStock     = 10_000_000
	maxPhotos    = 9
	maxPhotoLen  = 500
	maxQuantity  = 100
	maxSaleLines = 20
)

// normalize trims the input and checks every field; the messages name the
// field at fault.
func (in *RewardInput) normalize() error {
	in.Name, in.Description = strings.TrimSpace(in.Name), strings.TrimSpace(in.Description)
	switch {
	case !in.Kind.Valid():
		return apperr.Invalid("kind", "商品类型只能是 goods、service 或 voucher")
	case in.Name == "" || utf8.RuneCountInString(in.Name) > maxNameLen:
		return apperr.Invalid("name", "商品名称不能为空且不超过 100 个字")
	case utf8.RuneCountInString(in.Description) > maxDescLen:
		return apperr.Invalid("description", "商品说明不超过 1000 个字")
	case in.Points <= 0 || in.Points > ledger.MaxAmount:
		return apperr.Invalid("points", fmt.Sprintf("所需积分须在 1 到 %d 之间", ledger.MaxAmount))
	case in.CostFen < 0 || in.CostFen > maxFen:
		return apperr.Invalid("cost_fen", "成本金额无效（单位：分）")
	case in.LimitResidentMonth < 0 || in.LimitResidentMonth > maxLimit:
		return apperr.Invalid("limit_resident_month", "每人每月限兑数量须在 0 到 1000 之间（0 为不限）")
	case in.LimitHouseholdMonth < 0 || in.LimitHouseholdMonth > maxLimit:
		return apperr.Invalid("limit_household_month", "每户每月限兑数量须在 0 到 1000 之间（0 为不限）")
	case in.Kind == KindGoods && !in.StockTracked:
		return apperr.Invalid("stock_tracked", "实物商品必须管理库存")
	case in.InitialStock < 0 || in.InitialStock > maxStock || !in.StockTracked && in.InitialStock != 0:
		return apperr.Invalid("initial_stock", "初始库存无效（不管理库存的商品不能设置库存）")
	case in.LowStockAt < 0 || in.LowStockAt > maxStock || !in.StockTracked && in.LowStockAt != 0:
		return apperr.Invalid("low_stock_at", "库存预警值无效")
	case in.ValidFrom != nil && in.ValidUntil != nil && !in.ValidUntil.After(*in.ValidFrom):
		return apperr.Invalid("valid_until", "有效期结束时间须晚于开始时间")
	case len(in.Photos) > maxPhotos:
		return apperr.Invalid("photos", "最多 9 张图片")
	}
	for i, p := range in.Photos {
		p = strings.TrimSpace(p)
		if p == "" || len(p) > maxPhotoLen {
			return apperr.Invalid(fmt.Sprintf("photos[%d]", i), "图片地址不能为空且不超过 500 个字符")
		}
		in.Photos[i] = p
	}
	if in.Photos == nil {
		in.Photos = []string{}
	}
	tracks, err := normalizeTracks(in.Tracks)
	if err != nil {
		return err
	}
	in.Tracks = tracks
	return nil
}

// normalizeTracks checks a reward's tracks and puts them in the ledger's
// order, so equal sets are stored alike. Naming every track is the same as
// naming none.
func normalizeTracks(ts []ledger.Track) ([]ledger.Track, error) {
	seen := map[ledger.Track]bool{}
	for _, t := range ts {
		if !t.Valid() || seen[t] {
			return nil, apperr.Invalid("tracks", "可用积分类别无效或重复（可选 civic、party、volunteer）")
		}
		seen[t] = true
	}
	out := []ledger.Track{}
	for _, t := range ledger.Tracks {
		if seen[t] {
			out = append(out, t)
		}
	}
	if len(out) == len(ledger.Tracks) {
		out = []ledger.Track{}
	}
	return out, nil
}

func formatTracks(ts []ledger.Track) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = string(t)
	}
	return strings.Join(parts, ",")
}

func parseTracks(s string) []ledger.Track {
	out := []ledger.Track{}
	for t := range strings.SplitSeq(s, ",") {
		if t != "" {
			out = append(out, ledger.Track(t))
		}
	}
	return out
}

// input is the editable state of a reward, for applying a patch.
func (r Reward) input() RewardInput {
	return RewardInput{Kind: r.Kind, Name: r.Name, Description: r.Description, Points: r.Points, CostFen: r.CostFen,
		LimitResidentMonth: r.LimitResidentMonth, LimitHouseholdMonth: r.LimitHouseholdMonth, OnShelf: r.OnShelf,
		Tracks: append([]ledger.Track{}, r.Tracks...), StockTracked: r.StockTracked, LowStockAt: r.LowStockAt, ValidFrom: r.ValidFrom, ValidUntil: r.ValidUntil,
		MerchantID: r.MerchantID, Photos: append([]string{}, r.Photos...)}
}

// apply returns the input with the patch's fields set.
func (p RewardPatch) apply(in RewardInput) RewardInput {
	set := func(dst *int64, v *int64) {
		if v != nil {
			*dst = *v
		}
	}
	if p.Name != nil {
		in.Name = *p.Name
	}
	if p.Description != nil {
		in.Description = *p.Description
	}
	set(&in.Points, p.Points)
	set(&in.CostFen, p.CostFen)
	set(&in.LowStockAt, p.LowStockAt)
	if p.LimitResidentMonth != nil {
		in.LimitResidentMonth = *p.LimitResidentMonth
	}
	if p.LimitHouseholdMonth != nil {
		in.LimitHouseholdMonth = *p.LimitHouseholdMonth
	}
	if p.OnShelf != nil {
		in.OnShelf = *p.OnShelf
	}
	if p.Tracks != nil {
		in.Tracks = append([]ledger.Track{}, (*p.Tracks)...)
	}
	if p.SetValidity {
		in.ValidFrom, in.ValidUntil = p.ValidFrom, p.ValidUntil
	}
	if p.SetMerchant {
		in.MerchantID = p.MerchantID
	}
	if p.Photos != nil {
		in.Photos = append([]string{}, (*p.Photos)...)
	}
	return in
}

// available says whether the reward may be ordered at now, and why not.
func (r Reward) available(now time.Time) error {
	switch {
	case !r.OnShelf:
		return apperr.New(CodeUnavailable, "该商品已下架")
	case r.ValidFrom != nil && now.Before(*r.ValidFrom):
		return apperr.Newf(CodeUnavailable, "该商品 %s 起可兑换", r.ValidFrom.Format("2006-01-02"))
	case r.ValidUntil != nil && !now.Before(*r.ValidUntil):
		return apperr.New(CodeUnavailable, "该商品已过兑换有效期")
	}
	return nil
}

type rewardRow struct {
	ID                  int64 `gorm:"primaryKey"`
	RegionID            int64
	RegionLevel         string
	Kind                string
	Name                string
	Description         string
	Points              int64
	CostFen             int64
	LimitResidentMonth  int
	LimitHouseholdMonth int
	OnShelf             bool
	Tracks              string
	StockTracked        bool
	Stock               int64
	Reserved            int64
	LowStockAt          int64
	ValidFrom           *time.Time
	ValidUntil          *time.Time
	MerchantID          *int64
	Photos              string
	Revision            int64
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

func (rewardRow) TableName() string { return "store_rewards" }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := dbTime(*t)
	return &u
}

func (r rewardRow) reward() Reward {
	out := Reward{ID: r.ID, RegionID: r.RegionID, RegionLevel: people.Level(r.RegionLevel), Kind: Kind(r.Kind), Name: r.Name,
		Description: r.Description, Points: r.Points, CostFen: r.CostFen, LimitResidentMonth: r.LimitResidentMonth,
		LimitHouseholdMonth: r.LimitHouseholdMonth, OnShelf: r.OnShelf, Tracks: parseTracks(r.Tracks), StockTracked: r.StockTracked, Stock: r.Stock,
		Reserved: r.Reserved, LowStockAt: r.LowStockAt, ValidFrom: utcPtr(r.ValidFrom), ValidUntil: utcPtr(r.ValidUntil),
		MerchantID: r.MerchantID, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), revision: r.Revision}
	if err := json.Unmarshal([]byte(r.Photos), &out.Photos); err != nil || out.Photos == nil {
		out.Photos = []string{}
	}
	return out
}

func photosJSON(ps []string) string {
	b, _ := json.Marshal(ps)
	return string(b)
}

// findReward reads one reward with db (a locking query inside a
// transaction, or the plain handle).
func findReward(db *gorm.DB, id int64) (Reward, error) {
	var rows []rewardRow
	if err := db.Table("store_rewards").Where("id = ?", id).Scan(&rows).Error; err != nil {
		return Reward{}, fmt.Errorf("store: load reward: %w", err)
	}
	if len(rows) == 0 {
		return Reward{}, apperr.NotFound("商品")
	}
	return rows[0].reward(), nil
}

// readReward reads one reward outside a transaction with a prepared
// statement: the order paths' first look at it, one round trip.
func (s *Store) readReward(ctx context.Context, id int64) (Reward, error) {
	db := s.db.WithContext(ctx)
	rows, err := s.stmts.Query(db, "SELECT * FROM store_rewards WHERE id = ?", id)
	if err != nil {
		return Reward{}, fmt.Errorf("store: load reward: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Reward{}, fmt.Errorf("store: load reward: %w", err)
		}
		return Reward{}, apperr.NotFound("商品")
	}
	var r rewardRow
	if err := db.ScanRows(rows, &r); err != nil {
		return Reward{}, fmt.Errorf("store: load reward: %w", err)
	}
	return r.reward(), nil
}

// rewardCacheTTL is how long PlaceOrder works from a reward this Store
// read before instead of reading it again. Its stock update checks the
// reward's revision, shelf, validity and stock under the row lock, so a
// stale copy costs at most a retry; a copy that says "sold out" is read
// again before anyone is refused.
const rewardCacheTTL = 2 * time.Second

type cachedReward struct {
	r    Reward
	read time.Time
}

// orderReward is the reward PlaceOrder starts from: a recent read of a
// stock-tracked reward (whose stock update re-checks it), else a fresh
// one. cached says which.
func (s *Store) orderReward(ctx context.Context, c Customer, id int64) (r Reward, cached bool, err error) {
	s.mu.Lock()
	e, ok := s.rewards[id]
	s.mu.Unlock()
	if ok && s.ttl > 0 && time.Since(e.read) < rewardCacheTTL && e.r.StockTracked {
		if err := s.inCustomersStores(ctx, c, e.r); err != nil {
			return Reward{}, false, err
		}
		return e.r, true, nil
	}
	r, err = s.customerReward(ctx, c, id)
	if err == nil && r.StockTracked && s.ttl > 0 {
		s.mu.Lock()
		s.rewards[id] = cachedReward{r: r, read: time.Now()}
		s.mu.Unlock()
	}
	return r, false, err
}

func (s *Store) forgetReward(id int64) {
	s.mu.Lock()
	delete(s.rewards, id)
	s.mu.Unlock()
}

// lockReward reads a reward and locks its row, for edits that decide on
// what they read (staff changes, stock movements).
func lockReward(tx *gorm.DB, id int64) (Reward, error) {
	return findReward(sqldb.ForUpdate(tx), id)
}

// Reward returns one reward if st may see its store.
func (s *Store) Reward(ctx context.Context, st Staff, id int64) (Reward, error) {
	r, err := findReward(s.db.WithContext(ctx), id)
	if err != nil {
		return r, err
	}
	if !st.In(r.RegionID) {
		return Reward{}, apperr.NotFound("商品")
	}
	return r, nil
}

// storeRegion checks that a region can have a store (a village or a
// township) and returns its level.
func (s *Store) storeRegion(ctx context.Context, regionID int64) (people.Level, error) {
	reg, err := s.people.Region(ctx, regionID)
	if errors.Is(err, people.ErrNotFound) {
		return "", apperr.NotFound("区域")
	}
	if err != nil {
		return "", err
	}
	if reg.Level != people.Village && reg.Level != people.Township {
		return "", apperr.Invalid("region_id", "积分超市只能属于村或乡镇")
	}
	return reg.Level, nil
}

// checkMerchant refuses a merchant that does not supply the reward's
// region (its own, or for a village the township above).
func (s *Store) checkMerchant(ctx context.Context, regionID int64, level people.Level, merchantID *int64) error {
	if merchantID == nil {
		return nil
	}
	m, err := findMerchant(s.db.WithContext(ctx), *merchantID)
	if err != nil {
		return apperr.Invalid("merchant_id", "商户不存在")
	}
	if m.RegionID == regionID {
		return nil
	}
	if level == people.Village {
		if t, err := s.township(ctx, regionID); err == nil && t == m.RegionID {
			return nil
		}
	}
	return apperr.Invalid("merchant_id", "该商户不为本超市供货")
}

// CreateReward adds a reward to the store of a village or township
// (audited); an initial stock is recorded as the first restock.
func (s *Store) CreateReward(ctx context.Context, st Staff, regionID int64, in RewardInput) (Reward, error) {
	if err := in.normalize(); err != nil {
		return Reward{}, err
	}
	if !st.In(regionID) {
		return Reward{}, apperr.New(apperr.CodeOutOfScope, "该区域不在您的管理范围内")
	}
	level, err := s.storeRegion(ctx, regionID)
	if err != nil {
		return Reward{}, err
	}
	if err := s.checkMerchant(ctx, regionID, level, in.MerchantID); err != nil {
		return Reward{}, err
	}
	now := s.clock()
	row := rewardRow{RegionID: regionID, RegionLevel: string(level), Kind: string(in.Kind), Name: in.Name, Description: in.Description,
		Points: in.Points, CostFen: in.CostFen, LimitResidentMonth: in.LimitResidentMonth, LimitHouseholdMonth: in.LimitHouseholdMonth,
		OnShelf: in.OnShelf, Tracks: formatTracks(in.Tracks), StockTracked: in.StockTracked, Stock: in.InitialStock, LowStockAt: in.LowStockAt,
		ValidFrom: utcPtr(in.ValidFrom), ValidUntil: utcPtr(in.ValidUntil), MerchantID: in.MerchantID,
		Photos: photosJSON(in.Photos), CreatedAt: now, UpdatedAt: now}
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		row.ID = 0
		if err := tx.Create(&row).Error; err != nil {
			if sqldb.IsDuplicateKey(err) {
				return apperr.Newf(apperr.CodeConflict, "本超市已有名为「%s」的商品", in.Name)
			}
			return fmt.Errorf("store: insert reward: %w", err)
		}
		if in.InitialStock > 0 {
			if err := insertMovement(tx, &movementRow{RewardID: row.ID, Kind: string(MoveRestock), Delta: in.InitialStock,
				StockAfter: in.InitialStock, Reason: "初始库存", StaffID: st.Actor.StaffID, RequestKey: "create", CreatedAt: now}); err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, st.Actor, audit.Change{VillageID: row.reward().auditVillage(), Action: "store.reward.create",
			TargetType: "reward", TargetID: row.ID, After: row.reward()})
	})
	return row.reward(), err
}

// auditVillage is the village an audit entry about the reward is filed
// under; a township store's entries are not tied to one village.
func (r Reward) auditVillage() int64 {
	if r.RegionLevel == people.Village {
		return r.RegionID
	}
	return 0
}

// UpdateReward changes a reward's editable fields (audited). A new price
// applies to orders placed from now on; open orders keep theirs.
func (s *Store) UpdateReward(ctx context.Context, st Staff, id int64, p RewardPatch) (Reward, error) {
	cur, err := s.Reward(ctx, st, id)
	if err != nil {
		return cur, err
	}
	if p.SetMerchant {
		if err := s.checkMerchant(ctx, cur.RegionID, cur.RegionLevel, p.MerchantID); err != nil {
			return cur, err
		}
	}
	var out Reward
	defer s.forgetReward(id)
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		before, err := lockReward(tx, id)
		if err != nil {
			return err
		}
		in := p.apply(before.input())
		if err := in.normalize(); err != nil {
			return err
		}
		now := s.clock()
		if err := tx.Table("store_rewards").Where("id = ?", id).Updates(map[string]any{
			"name": in.Name, "description": in.Description, "points": in.Points, "cost_fen": in.CostFen,
			"limit_resident_month": in.LimitResidentMonth, "limit_household_month": in.LimitHouseholdMonth,
			"on_shelf": in.OnShelf, "tracks": formatTracks(in.Tracks), "low_stock_at": in.LowStockAt, "valid_from": utcPtr(in.ValidFrom),
			"valid_until": utcPtr(in.ValidUntil), "merchant_id": in.MerchantID, "photos": photosJSON(in.Photos), "updated_at": now,
			"revision": gorm.Expr("revision + 1"),
		}).Error; err != nil {
			if sqldb.IsDuplicateKey(err) {
				return apperr.Newf(apperr.CodeConflict, "本超市已有名为「%s」的商品", in.Name)
			}
			return fmt.Errorf("store: update reward: %w", err)
		}
		if out, err = findReward(tx, id); err != nil {
			return err
		}
		return audit.Record(ctx, tx, st.Actor, audit.Change{VillageID: out.auditVillage(), Action: "store.reward.update",
			TargetType: "reward", TargetID: id, Before: before, After: out})
	})
	return out, err
}

// RewardFilter selects rewards for staff lists.
type RewardFilter struct {
	OnShelf *bool
	Kind    Kind
	Query   string // part of the name
}

// VillageRewards lists the rewards a village's residents may see: the
// village's own store and its township's shared one, by id.
func (s *Store) VillageRewards(ctx context.Context, villageID int64, f RewardFilter, offset, limit int) ([]Reward, int64, error) {
	town, err := s.township(ctx, villageID)
	if err != nil {
		return nil, 0, err
	}
	q := s.db.WithContext(ctx).Table("store_rewards").Where("region_id IN ?", []int64{villageID, town})
	if f.OnShelf != nil {
		q = q.Where("on_shelf = ?", *f.OnShelf)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	if f.Query != "" {
		q = q.Where("name LIKE ?", "%"+escapeLike(f.Query)+"%")
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []rewardRow
	if err := q.Order("id").Offset(offset).Limit(limit).Scan(&rows).Error; err != nil {
		return nil, 0, err
	}
	out := make([]Reward, len(rows))
	for i, r := range rows {
		out[i] = r.reward()
	}
	return out, total, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Shelf lists what a customer may order now: rewards on the shelf of their
// village's store and their township's, within their validity.
func (s *Store) Shelf(ctx context.Context, c Customer, offset, limit int) ([]ShelfItem, int64, error) {
	town, err := s.township(ctx, c.VillageID)
	if err != nil {
		return nil, 0, err
	}
	now := s.clock()
	q := s.db.WithContext(ctx).Table("store_rewards").
		Where("region_id IN ? AND on_shelf = ?", []int64{c.VillageID, town}, true).
		Where("(valid_from IS NULL OR valid_from <= ?) AND (valid_until IS NULL OR valid_until > ?)", now, now)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []rewardRow
	if err := q.Order("id").Offset(offset).Limit(limit).Scan(&rows).Error; err != nil {
		return nil, 0, err
	}
	out := make([]ShelfItem, len(rows))
	for i, r := range rows {
		out[i] = r.reward().shelfItem()
	}
	return out, total, nil
}

// ShelfReward returns one reward a customer may see (on or off the shelf,
// so an order's item still shows after it is taken down).
func (s *Store) ShelfReward(ctx context.Context, c Customer, id int64) (ShelfItem, error) {
	r, err := s.customerReward(ctx, c, id)
	if err != nil {
		return ShelfItem{}, err
	}
	return r.shelfItem(), nil
}

// customerReward loads a reward of the customer's village or township
// store; any other is not found.
func (s *Store) customerReward(ctx context.Context, c Customer, id int64) (Reward, error) {
	r, err := s.readReward(ctx, id)
	if err != nil {
		return r, err
	}
	if err := s.inCustomersStores(ctx, c, r); err != nil {
		return Reward{}, err
	}
	return r, nil
}

// inCustomersStores refuses (not found) a reward of neither the customer's
// village store nor its township's.
func (s *Store) inCustomersStores(ctx context.Context, c Customer, r Reward) error {
	if r.RegionID == c.VillageID {
		return nil
	}
	town, err := s.township(ctx, c.VillageID)
	if err != nil {
		return err
	}
	if r.RegionID != town {
		return apperr.NotFound("商品")
	}
	return nil
}
