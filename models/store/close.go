package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/notify"
	"github.com/villagepoints/jifen/models/sqldb"
)

// closing is one way an open order ends: picked up (verified), cancelled
// or expired, and who ends it.
type closing struct {
	to Status
	// actor is stored as closed_by; ledgerActor causes the postings.
	actor       string
	ledgerActor ledger.Actor
	reason      string
	// staff is set when a staff member acts (audited).
	staff *Staff
	// now is the expiry's instant; the other closings use the clock.
	now time.Time
}

// holdOf finds the open ledger hold of an open online order, by the source
// the hold names; 0 when there is none. It is read before the closing
// transaction: only closings of the same order (which its lock puts in
// turn) and the ledger's own hold timeout can close the hold meanwhile.
func (s *Store) holdOf(ctx context.Context, orderID int64) (int64, error) {
	o, err := findOrder(s.db.WithContext(ctx), orderID)
	if err != nil || o.Status != StatusOpen || o.Channel != ChannelOnline {
		return 0, err
	}
	hs, err := s.openHolds(ctx, o.VillageID, o.holder())
	if err != nil {
		return 0, err
	}
	for _, h := range hs {
		if h.Source == o.source() {
			return h.ID, nil
		}
	}
	return 0, nil
}

// errNothing means an expiry found its order no longer due.
var errNothing = errors.New("store: nothing to do")

// closeOrder ends an open order in one transaction: it locks the order,
// gives back the monthly limits of an order that did not happen, settles
// the ledger hold (capture on pickup, release otherwise), consumes or
// returns the reserved stock and records who closed it. Pickup,
// cancellation and expiry all come through here, so whichever locks the
// order first wins and the others find it closed. The same closing sent
// again by the same person answers with the closed order.
func (s *Store) closeOrder(ctx context.Context, id int64, cl closing) (Order, error) {
	holdID, err := s.holdOf(ctx, id)
	if err != nil {
		return Order{}, err
	}
	var out Order
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		now := s.clock()
		if cl.to == StatusExpired {
			now = dbTime(cl.now)
		}
		o, err := lockOrder(tx, id)
		if err != nil {
			return err
		}
		if o.Status != StatusOpen {
			if o.Status == cl.to && o.ClosedBy == cl.actor && cl.to != StatusExpired {
				out = o
				return nil
			}
			if cl.to == StatusExpired {
				return errNothing
			}
			return apperr.Newf(apperr.CodeConflict, "该兑换单%s", o.Status.Label())
		}
		due := !now.Before(*o.PickupBy)
		switch {
		case cl.to == StatusExpired && !due:
			return errNothing
		case cl.to == StatusCompleted && due:
			return apperr.New(apperr.CodeConflict, "该兑换单已超过领取期限，请重新兑换")
		}
		if cl.to != StatusCompleted {
			if err := giveBackLimits(tx, limitCharges([]limitLine{o.limitLine()})); err != nil {
				return err
			}
		}
		pts := s.points(tx)
		var captured []int64
		// No open hold means the ledger timed it out (the store's expiry
		// was down for longer than holdGrace): the points are back. So
		// does a release the ledger refuses because its timeout got there
		// since holdOf looked.
		switch {
		case cl.to == StatusCompleted && holdID == 0:
			return apperr.New(apperr.CodeConflict, "该兑换单的积分冻结已失效，请取消后重新兑换")
		case cl.to == StatusCompleted:
			res, err := pts.Capture(ctx, ledger.CaptureRequest{VillageID: o.VillageID, HoldID: holdID, Actor: cl.ledgerActor, IdempotencyKey: o.ledgerKey("capture")})
			if err != nil {
				return err
			}
			captured = postingIDs(res)
		case holdID != 0:
			_, err := pts.Release(ctx, ledger.ReleaseRequest{VillageID: o.VillageID, HoldID: holdID, Actor: cl.ledgerActor, Reason: cl.reason, IdempotencyKey: o.ledgerKey("release")})
			if err != nil && !apperr.Is(err, apperr.CodeConflict) {
				return err
			}
		}
		// Consumed on pickup; back on the shelf otherwise. The reward's row
		// is locked after the ledger's, as when the order was placed.
		back := int64(0)
		if cl.to != StatusCompleted {
			back = o.Quantity
		}
		if err := tx.Exec("UPDATE store_rewards SET reserved = reserved - ?, stock = stock + ?, updated_at = ? WHERE id = ? AND stock_tracked = ?",
			o.Quantity, back, now, o.RewardID, true).Error; err != nil {
			return fmt.Errorf("store: settle stock: %w", err)
		}
		set := map[string]any{"status": cl.to, "pickup_code": nil, "closed_at": now, "closed_by": cl.actor, "close_reason": cl.reason}
		if holdID != 0 {
			set["hold_id"] = holdID
		}
		if cl.to == StatusCompleted {
			set["completed_at"], set["capture_postings"] = now, formatIDs(captured)
			if cl.staff != nil {
				set["completed_by"] = cl.staff.Actor.StaffID
			}
		}
		if err := tx.Table("store_orders").Where("id = ?", o.ID).Updates(set).Error; err != nil {
			return fmt.Errorf("store: close order: %w", err)
		}
		if out, err = findOrder(tx, o.ID); err != nil {
			return err
		}
		if cl.to == StatusExpired {
			if _, err := notify.Enqueue(ctx, tx, notify.Message{ResidentID: o.ResidentID, Kind: notify.RedemptionExpired,
				Data: map[string]string{"item": o.item(), "points": strconv.FormatInt(o.Points, 10)}}); err != nil {
				return err
			}
		}
		if cl.staff != nil {
			action := map[Status]string{StatusCompleted: "store.order.verify", StatusCancelled: "store.order.cancel"}[cl.to]
			return audit.Record(ctx, tx, cl.staff.Actor, audit.Change{VillageID: o.VillageID, Action: action,
				TargetType: "order", TargetID: o.ID, Before: o, After: out})
		}
		return nil
	})
	return out, err
}

// Verify completes the open order a clerk scanned (the rotating QR code)
// or typed (the six-digit code) at the counter of a village 核销: the
// reserved stock is consumed and the held points captured. It is refused
// once the pickup deadline has passed.
func (s *Store) Verify(ctx context.Context, st Staff, villageID int64, code string) (Order, error) {
	if !st.In(villageID) {
		return Order{}, apperr.New(apperr.CodeOutOfScope, "该村不在您的管理范围内")
	}
	code = strings.TrimSpace(code)
	var id int64
	switch {
	case isNumericCode(code):
		var ids []int64
		if err := s.db.WithContext(ctx).Raw("SELECT id FROM store_orders WHERE village_id = ? AND pickup_code = ?", villageID, code).Scan(&ids).Error; err != nil {
			return Order{}, err
		}
		if len(ids) == 0 {
			return Order{}, apperr.New(apperr.CodeNotFound, "没有待领取的兑换单使用该取货码")
		}
		id = ids[0]
	case strings.HasPrefix(code, qrPrefix):
		c, err := verifyPickup(s.key, code, s.now())
		if err != nil {
			return Order{}, err
		}
		if c.VillageID != villageID {
			return Order{}, apperr.New(apperr.CodeNotFound, "该兑换单不属于本村，请到下单村的积分超市领取")
		}
		id = c.OrderID
	default:
		return Order{}, apperr.Invalid("code", "请扫描兑换单的取货二维码，或输入 6 位取货码")
	}
	return s.closeOrder(ctx, id, closing{to: StatusCompleted, actor: staffActor(st.Actor.StaffID), ledgerActor: st.ledgerActor(), staff: &st})
}

// Cancel cancels one of the customer's open orders before pickup: the
// points are released, the stock and the monthly limit given back.
func (s *Store) Cancel(ctx context.Context, c Customer, id int64) (CustomerOrder, error) {
	o, vc, err := s.customerOrder(ctx, c, id)
	if err != nil {
		return CustomerOrder{}, err
	}
	if o.Channel != ChannelOnline {
		return CustomerOrder{}, apperr.New(apperr.CodeConflict, "现场兑换的订单不能取消")
	}
	out, err := s.closeOrder(ctx, id, closing{to: StatusCancelled, actor: residentActor(c.ResidentID),
		ledgerActor: ledger.ResidentActor(c.ResidentID), reason: "村民取消"})
	if err != nil {
		return CustomerOrder{}, err
	}
	return out.customerView(vc.settings.PickupPlace), nil
}

// CancelByStaff cancels an open order for the village (audited), e.g.
// when the goods turned out to be spoiled; a reason is required.
func (s *Store) CancelByStaff(ctx context.Context, st Staff, id int64, reason string) (Order, error) {
	reason = strings.TrimSpace(reason)
	if err := checkReason(reason); err != nil {
		return Order{}, err
	}
	if _, err := s.Order(ctx, st, id); err != nil {
		return Order{}, err
	}
	return s.closeOrder(ctx, id, closing{to: StatusCancelled, actor: staffActor(st.Actor.StaffID), ledgerActor: st.ledgerActor(), reason: reason, staff: &st})
}

func checkReason(reason string) error {
	if reason == "" {
		return apperr.Invalid("reason", "请填写原因")
	}
	if utf8.RuneCountInString(reason) > 500 {
		return apperr.Invalid("reason", "原因不超过 500 个字")
	}
	return nil
}

// ExpireDue expires every open order whose pickup deadline has passed by
// now, each in its own transaction, and reports how many it expired. It is
// safe on several replicas and alongside pickups and cancellations: each
// order is closed once.
func (s *Store) ExpireDue(ctx context.Context, now time.Time) (int, error) {
	expired := 0
	skip := map[int64]bool{}
	for {
		var due []int64
		if err := s.db.WithContext(ctx).Raw("SELECT id FROM store_orders WHERE status = ? AND expires_at <= ? ORDER BY expires_at, id LIMIT 200",
			StatusOpen, dbTime(now)).Scan(&due).Error; err != nil {
			return expired, fmt.Errorf("store: find due orders: %w", err)
		}
		progress := false
		for _, id := range due {
			if skip[id] {
				continue
			}
			skip[id], progress = true, true
			_, err := s.closeOrder(ctx, id, closing{to: StatusExpired, actor: systemActor, ledgerActor: ledger.SystemActor,
				reason: "超过领取期限未领取", now: now})
			switch {
			case errors.Is(err, errNothing):
			case err != nil:
				return expired, err
			default:
				expired++
			}
		}
		if !progress {
			return expired, nil
		}
	}
}

// Run expires due orders every interval until ctx ends.
func (s *Store) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.ExpireDue(ctx, s.now()); err != nil && ctx.Err() == nil {
			s.log.Error("store: expire orders", "err", err)
		} else if n > 0 {
			s.log.Info("store: expired orders", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Refund undoes a completed order for the village (退款, audited): the
// monthly limit is given back, each capture posting reversed and, when the
// goods came back (restock), the stock returned. A reason is required.
func (s *Store) Refund(ctx context.Context, st Staff, id int64, reason string, restock bool) (Order, error) {
	reason = strings.TrimSpace(reason)
	if err := checkReason(reason); err != nil {
		return Order{}, err
	}
	if _, err := s.Order(ctx, st, id); err != nil {
		return Order{}, err
	}
	actor := staffActor(st.Actor.StaffID)
	var out Order
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		now := s.clock()
		o, err := lockOrder(tx, id)
		if err != nil {
			return err
		}
		switch {
		case o.Status == StatusRefunded && o.ClosedBy == actor:
			out = o
			return nil
		case o.Status != StatusCompleted:
			return apperr.Newf(apperr.CodeConflict, "该兑换单%s，只有已核销的兑换单可以退款", o.Status.Label())
		}
		if err := giveBackLimits(tx, limitCharges([]limitLine{o.limitLine()})); err != nil {
			return err
		}
		pts := s.points(tx)
		for _, pid := range o.capturePostings {
			if _, err := pts.Reverse(ctx, ledger.ReverseRequest{VillageID: o.VillageID, PostingID: pid, Actor: st.ledgerActor(),
				Reason: "积分超市退款：" + reason, IdempotencyKey: o.ledgerKey("refund:" + strconv.FormatInt(pid, 10))}); err != nil {
				return err
			}
		}
		restocked := false
		if restock {
			if restocked, err = returnStock(tx, o, reason, st.Actor.StaffID, now); err != nil {
				return err
			}
		}
		if err := tx.Table("store_orders").Where("id = ?", o.ID).Updates(map[string]any{
			"status": StatusRefunded, "refunded_at": now, "closed_at": now, "closed_by": actor, "close_reason": reason, "restocked": restocked,
		}).Error; err != nil {
			return fmt.Errorf("store: refund order: %w", err)
		}
		if out, err = findOrder(tx, o.ID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, st.Actor, audit.Change{VillageID: o.VillageID, Action: "store.order.refund",
			TargetType: "order", TargetID: o.ID, Before: o, After: out})
	})
	return out, err
}

// returnStock puts a refunded order's goods back on the shelf, recorded as
// a return in the reward's stock book; false for a reward without stock.
func returnStock(tx *gorm.DB, o Order, reason string, staffID int64, now time.Time) (bool, error) {
	res := tx.Exec("UPDATE store_rewards SET stock = stock + ?, updated_at = ? WHERE id = ? AND stock_tracked = ?", o.Quantity, now, o.RewardID, true)
	if res.Error != nil {
		return false, fmt.Errorf("store: return stock: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	rw, err := findReward(tx, o.RewardID)
	if err != nil {
		return false, err
	}
	oid := o.ID
	if err := insertMovement(tx, &movementRow{RewardID: rw.ID, Kind: string(MoveReturn), Delta: o.Quantity, StockAfter: rw.Stock,
		Reason: reason, OrderID: &oid, StaffID: staffID, RequestKey: "order:" + strconv.FormatInt(o.ID, 10), CreatedAt: now}); err != nil {
		return false, err
	}
	return true, stockChanged(tx, rw, rw.Stock-o.Quantity, rw.Stock, now)
}
