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
	"github.com/villagepoints/jifen/models/sqldb"
)

// MoveKind is why stock changed by hand.
type MoveKind string

// The movement kinds.
const (
	MoveRestock  MoveKind = "restock"   // 入库
	MoveWriteOff MoveKind = "write_off" // 报损 (reason required)
	MoveReturn   MoveKind = "return"    // 退货入库, with a refund
)

// Movement is one entry of a reward's stock book.
type Movement struct {
	ID         int64     `json:"id"`
	RewardID   int64     `json:"reward_id"`
	Kind       MoveKind  `json:"kind"`
	Delta      int64     `json:"delta"`
	StockAfter int64     `json:"stock_after"`
	Reason     string    `json:"reason"`
	OrderID    *int64    `json:"order_id,omitempty"`
	StaffID    int64     `json:"staff_id"`
	CreatedAt  time.Time `json:"created_at"`
}

type movementRow struct {
	ID         int64 `gorm:"primaryKey"`
	RewardID   int64
	Kind       string
	Delta      int64
	StockAfter int64
	Reason     string
	OrderID    *int64
	StaffID    int64
	RequestKey string
	CreatedAt  time.Time
}

func (movementRow) TableName() string { return "store_stock_movements" }

func (r movementRow) movement() Movement {
	return Movement{ID: r.ID, RewardID: r.RewardID, Kind: MoveKind(r.Kind), Delta: r.Delta, StockAfter: r.StockAfter,
		Reason: r.Reason, OrderID: r.OrderID, StaffID: r.StaffID, CreatedAt: r.CreatedAt.UTC()}
}

func insertMovement(tx *gorm.DB, r *movementRow) error {
	if err := tx.Create(r).Error; err != nil {
		return fmt.Errorf("store: insert stock movement: %w", err)
	}
	return nil
}

// MoveRequest restocks or writes off a reward's stock by hand.
type MoveRequest struct {
	Kind     MoveKind
	Quantity int64
	Reason   string
	// IdempotencyKey makes a retried movement a replay.
	IdempotencyKey string
}

func (r *MoveRequest) normalize() error {
	r.Reason = strings.TrimSpace(r.Reason)
	switch {
	case r.Kind != MoveRestock && r.Kind != MoveWriteOff:
		return apperr.Invalid("kind", "库存变动只能是 restock（入库）或 write_off（报损）")
	case r.Quantity <= 0 || r.Quantity > maxStock:
		return apperr.Invalid("quantity", "数量须为正整数")
	case r.Kind == MoveWriteOff && r.Reason == "":
		return apperr.Invalid("reason", "报损须填写原因")
	case utf8.RuneCountInString(r.Reason) > 500:
		return apperr.Invalid("reason", "原因不超过 500 个字")
	}
	return checkKey(r.IdempotencyKey)
}

// MoveStock restocks or writes off a reward (audited). A write-off cannot
// take more than the free stock: what open orders reserved is theirs. A
// restock that lifts the stock above the alert mark closes the alert; a
// write-off that takes it there opens one.
func (s *Store) MoveStock(ctx context.Context, st Staff, rewardID int64, r MoveRequest) (Movement, error) {
	if err := r.normalize(); err != nil {
		return Movement{}, err
	}
	if _, err := s.Reward(ctx, st, rewardID); err != nil {
		return Movement{}, err
	}
	key := scopedKey(staffActor(st.Actor.StaffID), r.IdempotencyKey)
	var out Movement
	defer s.forgetReward(rewardID)
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		rw, err := lockReward(tx, rewardID)
		if err != nil {
			return err
		}
		// Under the reward's lock, so a concurrent retry waits and then
		// finds the first one's movement here.
		var prev []movementRow
		if err := tx.Raw("SELECT * FROM store_stock_movements WHERE reward_id = ? AND request_key = ?", rewardID, key).Scan(&prev).Error; err != nil {
			return err
		}
		if len(prev) > 0 {
			p := prev[0]
			if MoveKind(p.Kind) != r.Kind || abs(p.Delta) != r.Quantity || p.Reason != r.Reason {
				return apperr.New(apperr.CodeIdempotency, "该幂等键已用于另一次库存变动，请勿更改后重复提交")
			}
			out = p.movement()
			return nil
		}
		if !rw.StockTracked {
			return apperr.New(apperr.CodeConflict, "该商品不管理库存")
		}
		delta := r.Quantity
		if r.Kind == MoveWriteOff {
			if rw.Stock < r.Quantity {
				return apperr.Newf(apperr.CodeStockShort, "库存不足：可报损 %d 件（已被兑换单预留的不能报损）", rw.Stock)
			}
			delta = -r.Quantity
		}
		now := s.clock()
		after := rw.Stock + delta
		if err := tx.Exec("UPDATE store_rewards SET stock = ?, updated_at = ? WHERE id = ?", after, now, rewardID).Error; err != nil {
			return fmt.Errorf("store: move stock: %w", err)
		}
		row := movementRow{RewardID: rewardID, Kind: string(r.Kind), Delta: delta, StockAfter: after, Reason: r.Reason,
			StaffID: st.Actor.StaffID, RequestKey: key, CreatedAt: now}
		if err := insertMovement(tx, &row); err != nil {
			return err
		}
		if err := stockChanged(tx, rw, rw.Stock, after, now); err != nil {
			return err
		}
		out = row.movement()
		return audit.Record(ctx, tx, st.Actor, audit.Change{VillageID: rw.auditVillage(), Action: "store.stock." + string(r.Kind),
			TargetType: "reward", TargetID: rewardID, Before: map[string]int64{"stock": rw.Stock}, After: out})
	})
	return out, err
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// Movements lists a reward's stock book, newest first.
func (s *Store) Movements(ctx context.Context, st Staff, rewardID int64, offset, limit int) ([]Movement, int64, error) {
	if _, err := s.Reward(ctx, st, rewardID); err != nil {
		return nil, 0, err
	}
	q := s.db.WithContext(ctx).Table("store_stock_movements").Where("reward_id = ?", rewardID)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []movementRow
	if err := q.Order("id DESC").Offset(offset).Limit(limit).Scan(&rows).Error; err != nil {
		return nil, 0, err
	}
	out := make([]Movement, len(rows))
	for i, r := range rows {
		out[i] = r.movement()
	}
	return out, total, nil
}

// Alert is an open low-stock alert 库存预警.
type Alert struct {
	ID         int64     `json:"id"`
	RewardID   int64     `json:"reward_id"`
	RewardName string    `json:"reward_name"`
	RegionID   int64     `json:"region_id"`
	Threshold  int64     `json:"threshold"`
	Stock      int64     `json:"stock"` // now, not when the alert opened
	CreatedAt  time.Time `json:"created_at"`
}

// takeStock takes qty of a reward's free stock, for an open order
// (reserve) or handed over at once, as the last lock of its transaction:
// a reward's row is what every order of it waits for, so it is locked
// only from here to the commit, and no order holds it while the ledger
// works. The conditional update re-checks what the caller read without a
// lock (on the shelf, within its validity, at the price charged, paid with
// the tracks it takes), so
// nothing is oversold or sold at a stale price; when it matches nothing,
// the reward is read again to say why. Rewards that do not track stock
// are not touched.
func (s *Store) takeStock(tx *gorm.DB, seen Reward, qty int64, reserve bool, now time.Time) error {
	if !seen.StockTracked {
		return nil
	}
	reserved := int64(0)
	if reserve {
		reserved = qty
	}
	res, err := s.stmts.Exec(tx, `UPDATE store_rewards SET stock = stock - ?, reserved = reserved + ?, updated_at = ?
		WHERE id = ? AND stock >= ? AND revision = ? AND on_shelf = ? AND (valid_until IS NULL OR valid_until > ?)`,
		qty, reserved, now, seen.ID, qty, seen.revision, true, now)
	if err != nil {
		return fmt.Errorf("store: take stock: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return fmt.Errorf("store: take stock: %w", err)
		}
		cur, err := findReward(tx, seen.ID)
		if err != nil {
			return err
		}
		if err := cur.available(now); err != nil {
			return err
		}
		if cur.Points != seen.Points {
			return apperr.Newf(apperr.CodeConflict, "「%s」的兑换积分已调整为 %d 分，请刷新后重试", cur.Name, cur.Points)
		}
		if formatTracks(cur.Tracks) != formatTracks(seen.Tracks) {
			return apperr.Newf(apperr.CodeConflict, "「%s」可用的积分类别已调整，请刷新后重试", cur.Name)
		}
		if cur.revision != seen.revision {
			return errRewardChanged
		}
		s.forgetReward(seen.ID) // its stock is not what was read
		return stockShort(cur.Name, cur.Stock)
	}
	if seen.LowStockAt <= 0 {
		return nil
	}
	var after int64
	if err := tx.Raw("SELECT stock FROM store_rewards WHERE id = ?", seen.ID).Scan(&after).Error; err != nil {
		return err
	}
	return stockChanged(tx, seen, after+qty, after, now)
}

// errRewardChanged refuses an order whose reward staff edited since it was
// read (in a way that does not change what the customer pays); PlaceOrder
// reads it again and retries once.
var errRewardChanged = apperr.New(apperr.CodeConflict, "商品信息已更新，请刷新后重试")

// stockChanged opens a low-stock alert when stock falls from above the
// reward's mark to it or below, and closes open alerts when it rises above
// the mark. It runs in the transaction that changed the stock, under the
// reward's lock, so crossings are seen once.
func stockChanged(tx *gorm.DB, r Reward, before, after int64, now time.Time) error {
	if !r.StockTracked || r.LowStockAt <= 0 {
		return nil
	}
	switch {
	case before > r.LowStockAt && after <= r.LowStockAt:
		var open []int64
		if err := tx.Raw("SELECT id FROM store_stock_alerts WHERE reward_id = ? AND resolved_at IS NULL", r.ID).Scan(&open).Error; err != nil {
			return err
		}
		if len(open) > 0 {
			return nil
		}
		return tx.Exec("INSERT INTO store_stock_alerts (reward_id, region_id, stock, threshold, created_at) VALUES (?, ?, ?, ?, ?)",
			r.ID, r.RegionID, after, r.LowStockAt, now).Error
	case before <= r.LowStockAt && after > r.LowStockAt:
		return tx.Exec("UPDATE store_stock_alerts SET resolved_at = ? WHERE reward_id = ? AND resolved_at IS NULL", now, r.ID).Error
	}
	return nil
}

// Alerts lists the open low-stock alerts of a village's store and its
// township's, oldest first.
func (s *Store) Alerts(ctx context.Context, villageID int64) ([]Alert, error) {
	town, err := s.township(ctx, villageID)
	if err != nil {
		return nil, err
	}
	var out []Alert
	err = s.db.WithContext(ctx).Raw(`SELECT a.id, a.reward_id, r.name AS reward_name, a.region_id, a.threshold, r.stock, a.created_at
		FROM store_stock_alerts a JOIN store_rewards r ON r.id = a.reward_id
		WHERE a.region_id IN ? AND a.resolved_at IS NULL ORDER BY a.id`, []int64{villageID, town}).Scan(&out).Error
	if out == nil {
		out = []Alert{}
	}
	return out, err
}
