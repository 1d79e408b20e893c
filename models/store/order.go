package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Status is where a redemption order 兑换单 stands.
type Status string

// The order statuses. Only an open order changes to completed, cancelled
// or expired, and only once; only a completed one to refunded.
const (
	StatusOpen      Status = "open"      // 待领取: points held, stock reserved
	StatusCompleted Status = "completed" // 已核销
	StatusCancelled Status = "cancelled" // 已取消
	StatusExpired   Status = "expired"   // 已过期
	StatusRefunded  Status = "refunded"  // 已退款
)

// Label is the status's Chinese name.
func (s Status) Label() string {
	switch s {
	case StatusOpen:
		return "待领取"
	case StatusCompleted:
		return "已核销"
	case StatusCancelled:
		return "已取消"
	case StatusExpired:
		return "已过期"
	case StatusRefunded:
		return "已退款"
	}
	return string(s)
}

// Channel is how an order was placed.
type Channel string

// The channels.
const (
	ChannelOnline  Channel = "online"  // 小程序下单，到柜台领取
	ChannelCounter Channel = "counter" // 柜台现场兑换
)

// sourceType names store orders as the cause of ledger postings.
const sourceType = "store_order"

// holdGrace keeps a ledger hold open this long past its order's pickup
// deadline, so the store's expiry (which also returns the stock) settles it
// rather than the ledger's own hold timeout.
const holdGrace = 7 * 24 * time.Hour

// Order is one line of a redemption: a quantity of one reward for one
// holder, as staff see it.
type Order struct {
	ID          int64             `json:"id"`
	VillageID   int64             `json:"village_id"`
	RewardID    int64             `json:"reward_id"`
	RewardName  string            `json:"reward_name"`
	MerchantID  *int64            `json:"merchant_id,omitempty"`
	Quantity    int64             `json:"quantity"`
	UnitPoints  int64             `json:"unit_points"`
	UnitCostFen int64             `json:"unit_cost_fen"`
	Points      int64             `json:"points"`
	CostFen     int64             `json:"cost_fen"`
	HolderKind  ledger.HolderKind `json:"holder_kind"`
	HolderID    int64             `json:"holder_id"`
	ResidentID  int64             `json:"resident_id"`
	HouseholdID *int64            `json:"household_id,omitempty"`
	Channel     Channel           `json:"channel"`
	Status      Status            `json:"status"`
	// PickupBy is an online order's pickup deadline.
	PickupBy *time.Time `json:"pickup_by,omitempty"`
	// HoldID is the ledger hold of an online order, recorded when the
	// order closes.
	HoldID      *int64     `json:"hold_id,omitempty"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	CompletedBy *int64     `json:"completed_by,omitempty"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	ClosedBy    string     `json:"closed_by,omitempty"`
	CloseReason string     `json:"close_reason,omitempty"`
	RefundedAt  *time.Time `json:"refunded_at,omitempty"`
	Restocked   bool       `json:"restocked"`

	// pickupCode is the six-digit code while the order is open; only the
	// customer is shown it.
	pickupCode string
	// capturePostings are the ledger postings that spent the points.
	capturePostings []int64
	month           int
	limitFlags      int
	requestHash     int64
}

// CustomerOrder is an order as the villager sees it in the mini-program.
type CustomerOrder struct {
	ID          int64      `json:"id"`
	RewardID    int64      `json:"reward_id"`
	RewardName  string     `json:"reward_name"`
	Quantity    int64      `json:"quantity"`
	Points      int64      `json:"points"`
	Channel     Channel    `json:"channel"`
	Status      Status     `json:"status"`
	StatusLabel string     `json:"status_label"`
	PickupCode  string     `json:"pickup_code,omitempty"`
	PickupBy    *time.Time `json:"pickup_by,omitempty"`
	PickupPlace string     `json:"pickup_place,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	CloseReason string     `json:"close_reason,omitempty"`
	// Replayed is true when the request repeated an earlier one's
	// idempotency key and this is that request's order.
	Replayed bool `json:"replayed,omitempty"`
}

func (o Order) customerView(place string) CustomerOrder {
	v := CustomerOrder{ID: o.ID, RewardID: o.RewardID, RewardName: o.RewardName, Quantity: o.Quantity, Points: o.Points,
		Channel: o.Channel, Status: o.Status, StatusLabel: o.Status.Label(), PickupCode: o.pickupCode, PickupBy: o.PickupBy,
		CreatedAt: o.CreatedAt, CompletedAt: o.CompletedAt, ClosedAt: o.ClosedAt, CloseReason: o.CloseReason}
	if o.Status == StatusOpen {
		v.PickupPlace = place
	}
	return v
}

type orderRow struct {
	ID              int64 `gorm:"primaryKey"`
	VillageID       int64
	RewardID        int64
	RewardName      string
	MerchantID      *int64
	Quantity        int64
	UnitPoints      int64
	UnitCostFen     int64
	Points          int64
	CostFen         int64
	HolderKind      string
	HolderID        int64
	ResidentID      int64
	HouseholdID     *int64
	Channel         string
	Status          string
	PickupCode      *string
	ExpiresAt       *time.Time
	HoldID          *int64
	CapturePostings string
	RequestID       int64
	LineNo          int
	RequestHash     int64
	Month           int
	LimitFlags      int
	CreatedBy       string
	CreatedAt       time.Time
	CompletedAt     *time.Time
	CompletedBy     *int64
	ClosedAt        *time.Time
	ClosedBy        string
	CloseReason     string
	RefundedAt      *time.Time
	Restocked       bool
}

func (orderRow) TableName() string { return "store_orders" }

func (r orderRow) order() Order {
	o := Order{ID: r.ID, VillageID: r.VillageID, RewardID: r.RewardID, RewardName: r.RewardName, MerchantID: r.MerchantID,
		Quantity: r.Quantity, UnitPoints: r.UnitPoints, UnitCostFen: r.UnitCostFen, Points: r.Points, CostFen: r.CostFen,
		HolderKind: ledger.HolderKind(r.HolderKind), HolderID: r.HolderID, ResidentID: r.ResidentID, HouseholdID: r.HouseholdID,
		Channel: Channel(r.Channel), Status: Status(r.Status), PickupBy: utcPtr(r.ExpiresAt), HoldID: r.HoldID,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), CompletedAt: utcPtr(r.CompletedAt), CompletedBy: r.CompletedBy,
		ClosedAt: utcPtr(r.ClosedAt), ClosedBy: r.ClosedBy, CloseReason: r.CloseReason, RefundedAt: utcPtr(r.RefundedAt),
		Restocked: r.Restocked, month: r.Month, limitFlags: r.LimitFlags, requestHash: r.RequestHash}
	if r.PickupCode != nil {
		o.pickupCode = *r.PickupCode
	}
	o.capturePostings = parseIDs(r.CapturePostings)
	return o
}

func (o Order) holder() ledger.Holder { return ledger.Holder{Kind: o.HolderKind, ID: o.HolderID} }

// limitLine is what the order counted against its monthly limits.
func (o Order) limitLine() limitLine {
	l := limitLine{RewardID: o.RewardID, ResidentID: o.ResidentID, Month: o.month, Quantity: o.Quantity, Flags: o.limitFlags}
	if o.HouseholdID != nil {
		l.HouseholdID = *o.HouseholdID
	}
	return l
}

// ledgerKey derives the ledger idempotency key of an order's step from the
// order, the idempotency anchor.
func (o Order) ledgerKey(step string) string {
	return "store-order:" + strconv.FormatInt(o.ID, 10) + ":" + step
}

func (o Order) source() ledger.Source { return ledger.Source{Type: sourceType, ID: o.ID} }

// item names the order's goods in messages: "大米 ×2".
func (o Order) item() string {
	if o.Quantity == 1 {
		return o.RewardName
	}
	return fmt.Sprintf("%s ×%d", o.RewardName, o.Quantity)
}

func formatIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}

func parseIDs(s string) []int64 {
	var out []int64
	for p := range strings.SplitSeq(s, ",") {
		if id, err := strconv.ParseInt(p, 10, 64); err == nil {
			out = append(out, id)
		}
	}
	return out
}

func postingIDs(res *ledger.Result) []int64 {
	ids := make([]int64, len(res.Postings))
	for i, p := range res.Postings {
		ids[i] = p.ID
	}
	return ids
}

// errDuplicate means an insert hit the request's idempotency index: the
// key was used meanwhile, and the request is answered by a replay.
var errDuplicate = errors.New("store: duplicate request")

const orderInsertSQL = `INSERT INTO store_orders (village_id, reward_id, reward_name, merchant_id, quantity, unit_points,
	unit_cost_fen, points, cost_fen, holder_kind, holder_id, resident_id, household_id, channel, status, pickup_code, expires_at,
	hold_id, capture_postings, request_id, line_no, request_hash, month, limit_flags, created_by, created_at, completed_at,
	completed_by, closed_at, closed_by, close_reason, refunded_at, restocked)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insertOrder writes a new order row. An open order draws six-digit pickup
// codes until one is free among the village's open orders (a clash fails
// only that statement, so the transaction goes on).
func (s *Store) insertOrder(tx *gorm.DB, row *orderRow) error {
	for range 8 {
		if row.Status == string(StatusOpen) {
			c := newNumericCode()
			row.PickupCode = &c
		}
		row.ID = 0
		res, err := s.stmts.Exec(tx, orderInsertSQL, row.VillageID, row.RewardID, row.RewardName, row.MerchantID, row.Quantity,
			row.UnitPoints, row.UnitCostFen, row.Points, row.CostFen, row.HolderKind, row.HolderID, row.ResidentID, row.HouseholdID,
			row.Channel, row.Status, row.PickupCode, row.ExpiresAt, row.HoldID, row.CapturePostings, row.RequestID, row.LineNo,
			row.RequestHash, row.Month, row.LimitFlags, row.CreatedBy, row.CreatedAt, row.CompletedAt, row.CompletedBy, row.ClosedAt,
			row.ClosedBy, row.CloseReason, row.RefundedAt, row.Restocked)
		if err == nil {
			row.ID, err = res.LastInsertId()
		}
		switch {
		case err == nil:
			return nil
		case sqldb.IsDuplicateKey(err) && strings.Contains(err.Error(), "pickup"):
			continue
		case sqldb.IsDuplicateKey(err):
			return errDuplicate
		default:
			return fmt.Errorf("store: insert order: %w", err)
		}
	}
	return errors.New("store: no free pickup code after 8 draws")
}

func scanOrders(q *gorm.DB) ([]Order, error) {
	var rows []orderRow
	if err := q.Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: load orders: %w", err)
	}
	out := make([]Order, len(rows))
	for i, r := range rows {
		out[i] = r.order()
	}
	return out, nil
}

func findOrder(db *gorm.DB, id int64) (Order, error) {
	os, err := scanOrders(db.Table("store_orders").Where("id = ?", id))
	if err != nil {
		return Order{}, err
	}
	if len(os) == 0 {
		return Order{}, apperr.NotFound("兑换单")
	}
	return os[0], nil
}

// lockOrder reads an order and locks its row: whoever locks it first
// decides its fate (pickup, cancellation, expiry or refund).
func lockOrder(tx *gorm.DB, id int64) (Order, error) {
	return findOrder(sqldb.ForUpdate(tx), id)
}

// requestOrders loads the orders a request wrote, in line order.
func (s *Store) requestOrders(ctx context.Context, villageID, requestID int64) ([]Order, error) {
	return scanOrders(s.db.WithContext(ctx).Table("store_orders").
		Where("village_id = ? AND request_id = ?", villageID, requestID).Order("line_no"))
}

// replay answers a request whose key has been used: the earlier request's
// orders when the request is the same, CodeIdempotency when it is not;
// ok is false when the key is unused.
func (s *Store) replay(ctx context.Context, villageID, requestID, hash int64) ([]Order, bool, error) {
	prev, err := s.requestOrders(ctx, villageID, requestID)
	if err != nil || len(prev) == 0 {
		return nil, false, err
	}
	if prev[0].requestHash != hash {
		return nil, true, apperr.New(apperr.CodeIdempotency, "该幂等键已用于另一次兑换，请勿更改后重复提交")
	}
	return prev, true, nil
}

// afterRefusal turns a failed order transaction into its answer: a replay
// when the key was used meanwhile (a concurrent retry won), else err.
func (s *Store) afterRefusal(ctx context.Context, villageID, requestID, hash int64, err error) ([]Order, error) {
	var refusal *apperr.Error
	if !errors.Is(err, errDuplicate) && !errors.As(err, &refusal) {
		return nil, err
	}
	prev, used, rerr := s.replay(ctx, villageID, requestID, hash)
	switch {
	case rerr != nil:
		return nil, rerr
	case used:
		return prev, nil
	case errors.Is(err, errDuplicate):
		return nil, apperr.New(apperr.CodeConflict, "请求冲突，请重试")
	}
	return nil, err
}

// stockShort is the refusal of an order the stock cannot cover.
func stockShort(name string, stock int64) error {
	if stock <= 0 {
		return apperr.Newf(apperr.CodeStockShort, "「%s」已兑完", name)
	}
	return apperr.Newf(apperr.CodeStockShort, "「%s」库存不足：仅剩 %d 件", name, stock)
}

// OrderRequest is a villager's order in the mini-program.
type OrderRequest struct {
	RewardID int64
	Quantity int64
	// IdempotencyKey makes a retried order a replay; it is scoped to the
	// resident who sends it.
	IdempotencyKey string
}

// PlaceOrder orders a reward for the customer's points (their own, or
// their household's in a village that keeps points per household), drawn
// only from the tracks the reward accepts. In one transaction it counts
// the monthly limits, writes the order with its pickup code, holds the
// points in the ledger and reserves the stock; a refusal (已兑完, limit
// reached, points short, points only on tracks the reward does not take)
// leaves nothing behind. The "ready for pickup" message follows from the
// hold's posting (ReadyNotices), off this path. A retry with the same key
// returns the first order with Replayed set.
func (s *Store) PlaceOrder(ctx context.Context, c Customer, r OrderRequest) (CustomerOrder, error) {
	if r.Quantity <= 0 || r.Quantity > maxQuantity {
		return CustomerOrder{}, apperr.Invalid("quantity", "数量须在 1 到 100 之间")
	}
	if err := checkKey(r.IdempotencyKey); err != nil {
		return CustomerOrder{}, err
	}
	vc, err := s.village(ctx, c.VillageID)
	if err != nil {
		return CustomerOrder{}, err
	}
	holder, err := c.holder(vc.mode)
	if err != nil {
		return CustomerOrder{}, err
	}
	key := requestID(residentActor(c.ResidentID), r.IdempotencyKey)
	hash := requestHash("order", holder, r.RewardID, r.Quantity)
	answer := func(os []Order, replayed bool) CustomerOrder {
		v := os[0].customerView(vc.settings.PickupPlace)
		v.Replayed = replayed
		return v
	}
	seen, cached, err := s.orderReward(ctx, c, r.RewardID)
	if err != nil {
		return CustomerOrder{}, err
	}
	if cached && (seen.Stock < r.Quantity || seen.available(s.clock()) != nil) {
		// Nobody is refused from a copy: read it again.
		s.forgetReward(r.RewardID)
		if seen, _, err = s.orderReward(ctx, c, r.RewardID); err != nil {
			return CustomerOrder{}, err
		}
		cached = false
	}
	for {
		o, err := s.placeOrder(ctx, c, r, vc, holder, seen, key, hash)
		if cached && staleRefusal(err) {
			// The copy may be stale (its stock update found another
			// revision, or it said what the reward no longer says): once
			// more from a fresh read, so the customer is answered about
			// the reward as it is.
			s.forgetReward(r.RewardID)
			if seen, _, err = s.orderReward(ctx, c, r.RewardID); err != nil {
				return CustomerOrder{}, err
			}
			cached = false
			continue
		}
		if err != nil {
			prev, err := s.afterRefusal(ctx, c.VillageID, key, hash, err)
			if err != nil {
				return CustomerOrder{}, err
			}
			return answer(prev, true), nil
		}
		return answer([]Order{o}, false), nil
	}
}

// staleRefusal reports refusals that a stale copy of the reward may have
// caused: a changed revision or price, the shelf or validity, a monthly
// limit, the stock.
func staleRefusal(err error) bool {
	for _, c := range []apperr.Code{apperr.CodeConflict, CodeUnavailable, CodeLimitReached, apperr.CodeStockShort} {
		if apperr.Is(err, c) {
			return true
		}
	}
	return false
}

// placeOrder is PlaceOrder's transaction, from the reward as seen.
func (s *Store) placeOrder(ctx context.Context, c Customer, r OrderRequest, vc cachedVillage, holder ledger.Holder, seen Reward, key, hash int64) (Order, error) {
	// A sold-out reward is refused without a transaction, so a rush on it
	// does not queue behind its row lock; a retry of an order that got the
	// last one still gets its order (afterRefusal).
	if seen.StockTracked && seen.Stock < r.Quantity {
		return Order{}, stockShort(seen.Name, seen.Stock)
	}
	var out Order
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		now := s.clock()
		if err := seen.available(now); err != nil {
			return err
		}
		row := newOrderRow(seen, c, holder, r.Quantity, now, s.monthOf(now))
		row.Channel, row.Status, row.CreatedBy = string(ChannelOnline), string(StatusOpen), residentActor(c.ResidentID)
		row.RequestID, row.RequestHash = key, hash
		deadline := now.Add(time.Duration(vc.settings.PickupDays) * 24 * time.Hour)
		if seen.ValidUntil != nil && seen.ValidUntil.Before(deadline) {
			deadline = *seen.ValidUntil
		}
		row.ExpiresAt = &deadline
		if err := s.takeLimits(tx, limitCharges([]limitLine{lineOf(row, seen)})); err != nil {
			return err
		}
		if err := s.insertOrder(tx, &row); err != nil {
			return err
		}
		o := row.order()
		// The hold names the order as its source; the order learns the
		// hold's id when it closes (holdOf), which spares this, the hot
		// path, a write.
		if _, err := s.points(tx).PlaceHold(ctx, ledger.HoldRequest{
			VillageID: c.VillageID, Holder: holder, Amount: o.Points, Tracks: seen.Tracks, Source: o.source(),
			ExpiresAt: deadline.Add(holdGrace), Actor: ledger.ResidentActor(c.ResidentID), IdempotencyKey: o.ledgerKey("hold"),
		}); err != nil {
			return err
		}
		out = o
		// Last, so the reward's row (the store's hottest) is locked only
		// from here to the commit.
		return s.takeStock(tx, seen, r.Quantity, true, now)
	})
	return out, err
}

// newOrderRow fills what every order of reward rw by customer c has.
func newOrderRow(rw Reward, c Customer, holder ledger.Holder, qty int64, now time.Time, month int) orderRow {
	row := orderRow{VillageID: c.VillageID, RewardID: rw.ID, RewardName: rw.Name, MerchantID: rw.MerchantID,
		Quantity: qty, UnitPoints: rw.Points, UnitCostFen: rw.CostFen, Points: rw.Points * qty, CostFen: rw.CostFen * qty,
		HolderKind: string(holder.Kind), HolderID: holder.ID, ResidentID: c.ResidentID, Month: month,
		LimitFlags: limitFlags(rw, c.HouseholdID), CreatedAt: now}
	if c.HouseholdID != 0 {
		h := c.HouseholdID
		row.HouseholdID = &h
	}
	return row
}

// lineOf is what a new order row counts against its limits, with the
// reward's caps.
func lineOf(row orderRow, rw Reward) limitLine {
	l := row.order().limitLine()
	l.CapResident, l.CapHousehold = rw.LimitResidentMonth, rw.LimitHouseholdMonth
	return l
}

// OrderFilter selects orders for staff lists.
type OrderFilter struct {
	Status     Status
	ResidentID int64
	RewardID   int64
	Channel    Channel
}

// VillageOrders lists a village's orders, newest first.
func (s *Store) VillageOrders(ctx context.Context, villageID int64, f OrderFilter, offset, limit int) ([]Order, int64, error) {
	q := s.db.WithContext(ctx).Table("store_orders").Where("village_id = ?", villageID)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.ResidentID != 0 {
		q = q.Where("resident_id = ?", f.ResidentID)
	}
	if f.RewardID != 0 {
		q = q.Where("reward_id = ?", f.RewardID)
	}
	if f.Channel != "" {
		q = q.Where("channel = ?", f.Channel)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	os, err := scanOrders(q.Order("id DESC").Offset(offset).Limit(limit))
	return os, total, err
}

// Order returns one order if st may act in its village.
func (s *Store) Order(ctx context.Context, st Staff, id int64) (Order, error) {
	o, err := findOrder(s.db.WithContext(ctx), id)
	if err != nil {
		return o, err
	}
	if !st.In(o.VillageID) {
		return Order{}, apperr.NotFound("兑换单")
	}
	return o, nil
}

// customerOrder loads an order of the customer's holder; any other is not
// found.
func (s *Store) customerOrder(ctx context.Context, c Customer, id int64) (Order, cachedVillage, error) {
	vc, err := s.village(ctx, c.VillageID)
	if err != nil {
		return Order{}, vc, err
	}
	holder, err := c.holder(vc.mode)
	if err != nil {
		return Order{}, vc, err
	}
	o, err := findOrder(s.db.WithContext(ctx), id)
	if err != nil {
		return o, vc, err
	}
	if o.VillageID != c.VillageID || o.holder() != holder {
		return Order{}, vc, apperr.NotFound("兑换单")
	}
	return o, vc, nil
}

// CustomerOrder returns one of the customer's orders.
func (s *Store) CustomerOrder(ctx context.Context, c Customer, id int64) (CustomerOrder, error) {
	o, vc, err := s.customerOrder(ctx, c, id)
	if err != nil {
		return CustomerOrder{}, err
	}
	return o.customerView(vc.settings.PickupPlace), nil
}

// CustomerOrders lists the orders of the customer's holder (their own, or
// their household's), newest first.
func (s *Store) CustomerOrders(ctx context.Context, c Customer, status Status, offset, limit int) ([]CustomerOrder, int64, error) {
	vc, err := s.village(ctx, c.VillageID)
	if err != nil {
		return nil, 0, err
	}
	holder, err := c.holder(vc.mode)
	if err != nil {
		return nil, 0, err
	}
	q := s.db.WithContext(ctx).Table("store_orders").
		Where("village_id = ? AND holder_kind = ? AND holder_id = ?", c.VillageID, holder.Kind, holder.ID)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	os, err := scanOrders(q.Order("id DESC").Offset(offset).Limit(limit))
	if err != nil {
		return nil, 0, err
	}
	out := make([]CustomerOrder, len(os))
	for i, o := range os {
		out[i] = o.customerView(vc.settings.PickupPlace)
	}
	return out, total, nil
}

// PickupCode issues the current pickup codes of one of the customer's
// open orders.
func (s *Store) PickupCode(ctx context.Context, c Customer, id int64) (PickupCode, error) {
	o, _, err := s.customerOrder(ctx, c, id)
	if err != nil {
		return PickupCode{}, err
	}
	if o.Status != StatusOpen {
		return PickupCode{}, apperr.Newf(apperr.CodeConflict, "该兑换单%s，无需出示取货码", o.Status.Label())
	}
	now := s.now().UTC()
	exp := now.Add(s.qrTTL).Truncate(time.Second)
	return PickupCode{
		OrderID: o.ID, QR: signPickup(s.key, pickupClaims{OrderID: o.ID, VillageID: o.VillageID, Expires: exp}),
		Code: o.pickupCode, ExpiresAt: exp, RefreshAfter: exp.Add(-s.qrTTL / 6), PickupBy: *o.PickupBy,
	}, nil
}
