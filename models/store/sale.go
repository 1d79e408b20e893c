package store

import (
	"context"
	"fmt"
	"sort"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/sqldb"
)

// SaleItem is one reward a villager picked at the counter.
type SaleItem struct {
	RewardID int64
	Quantity int64
}

// SaleRequest is a counter sale 现场兑换: a clerk scanned the personal code
// of the villager standing at the counter, and they picked items.
type SaleRequest struct {
	VillageID int64
	// Code is the villager's personal code 个人码 as scanned.
	Code  string
	Items []SaleItem
	// IdempotencyKey makes a retried sale a replay; it is scoped to the
	// clerk.
	IdempotencyKey string
}

// saleLine is an item with its reward, in the transaction.
type saleLine struct {
	reward   Reward
	quantity int64
}

// checkItems refuses an empty or oversized basket and one naming a reward
// twice, and returns the items in reward id order (the lock order).
func checkItems(items []SaleItem) ([]SaleItem, error) {
	if len(items) == 0 || len(items) > maxSaleLines {
		return nil, apperr.Invalid("items", "请选择 1 到 20 种商品")
	}
	out := append([]SaleItem{}, items...)
	sort.Slice(out, func(i, j int) bool { return out[i].RewardID < out[j].RewardID })
	for i, it := range out {
		if it.RewardID <= 0 {
			return nil, apperr.Invalid("items", "商品编号无效")
		}
		if it.Quantity <= 0 || it.Quantity > maxQuantity {
			return nil, apperr.Invalid("items", "每种商品数量须在 1 到 100 之间")
		}
		if i > 0 && out[i-1].RewardID == it.RewardID {
			return nil, apperr.Invalid("items", "同一商品请合并为一行")
		}
	}
	return out, nil
}

// Sell redeems items on the spot for the villager whose personal code the
// clerk scanned 现场兑换, in one transaction: the monthly limits counted,
// the points spent (one completed order and one ledger redemption per
// item) and every item's stock taken. Nothing happens
// unless every item can be had. It is audited.
func (s *Store) Sell(ctx context.Context, st Staff, r SaleRequest) ([]Order, error) {
	items, err := checkItems(r.Items)
	if err != nil {
		return nil, err
	}
	if err := checkKey(r.IdempotencyKey); err != nil {
		return nil, err
	}
	if !st.In(r.VillageID) {
		return nil, apperr.New(apperr.CodeOutOfScope, "该村不在您的管理范围内")
	}
	scan, err := s.scanner.ResolveScan(ctx, func(v int64) bool { return v == r.VillageID }, r.Code)
	if err != nil {
		return nil, err
	}
	if scan.Kind != "resident" || scan.Resident == nil {
		return nil, apperr.Invalid("code", "请扫描村民的个人码")
	}
	c := Customer{VillageID: r.VillageID, ResidentID: scan.Resident.ID}
	if scan.Resident.HouseholdID != nil {
		c.HouseholdID = *scan.Resident.HouseholdID
	}
	vc, err := s.village(ctx, c.VillageID)
	if err != nil {
		return nil, err
	}
	holder, err := c.holder(vc.mode)
	if err != nil {
		return nil, err
	}
	actor := staffActor(st.Actor.StaffID)
	key := requestID(actor, r.IdempotencyKey)
	hash := requestHash("sale", holder, items)
	rewards := make([]Reward, len(items))
	for i, it := range items {
		if rewards[i], err = s.customerReward(ctx, c, it.RewardID); err != nil {
			return nil, err
		}
		// A first look, so a basket with a sold-out item is refused at
		// once; takeStock decides under the lock.
		if rewards[i].StockTracked && rewards[i].Stock < it.Quantity {
			return s.afterRefusal(ctx, r.VillageID, key, hash, stockShort(rewards[i].Name, rewards[i].Stock))
		}
	}
	var out []Order
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		out = nil
		now := s.clock()
		lines := make([]limitLine, len(items))
		rows := make([]orderRow, len(items))
		for i, it := range items {
			rw := rewards[i]
			if err := rw.available(now); err != nil {
				return err
			}
			row := newOrderRow(rw, c, holder, it.Quantity, now, s.monthOf(now))
			row.Channel, row.Status, row.CreatedBy = string(ChannelCounter), string(StatusCompleted), actor
			row.RequestID, row.LineNo, row.RequestHash = key, i, hash
			row.CompletedAt, row.CompletedBy, row.ClosedAt, row.ClosedBy = &now, &st.Actor.StaffID, &now, actor
			rows[i], lines[i] = row, lineOf(row, rw)
		}
		if err := s.takeLimits(tx, limitCharges(lines)); err != nil {
			return err
		}
		pts := s.points(tx)
		for i := range rows {
			if err := s.insertOrder(tx, &rows[i]); err != nil {
				return err
			}
			o := rows[i].order()
			res, err := pts.Redeem(ctx, ledger.RedeemRequest{VillageID: c.VillageID, Holder: holder, Amount: o.Points, Tracks: rewards[i].Tracks,
				Source: o.source(), Actor: st.ledgerActor(), Reason: "积分超市现场兑换：" + o.item(), IdempotencyKey: o.ledgerKey("redeem")})
			if err != nil {
				return err
			}
			o.capturePostings = postingIDs(res)
			if err := tx.Exec("UPDATE store_orders SET capture_postings = ? WHERE id = ?", formatIDs(o.capturePostings), o.ID).Error; err != nil {
				return fmt.Errorf("store: link postings: %w", err)
			}
			out = append(out, o)
		}
		if err := audit.Record(ctx, tx, st.Actor, audit.Change{VillageID: c.VillageID, Action: "store.order.sell",
			TargetType: "order", TargetID: out[0].ID, After: out}); err != nil {
			return err
		}
		// Last and in reward id order (items are sorted), like every
		// transaction that locks reward rows.
		for i, it := range items {
			if err := s.takeStock(tx, rewards[i], it.Quantity, false, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.afterRefusal(ctx, r.VillageID, key, hash, err)
	}
	return out, nil
}
