package store

import (
	"strings"
	"testing"
	"time"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/notify"
)

// An order holds points and reserves stock; pickup by QR code captures the
// points and consumes the stock; the clerk's retry is answered, another
// clerk's is refused.
func TestOrderPickedUp(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		c := Customer{VillageID: v, ResidentID: 1}
		mustAward(t, e, v, ledger.Resident(1), 100)
		if _, err := e.store.SaveSettings(ctx, admin, v, Settings{PickupDays: 3, PickupPlace: "村委会一楼"}); err != nil {
			t.Fatal(err)
		}
		rw := mustReward(t, e, v, func(in *RewardInput) { in.Points = 20; in.InitialStock = 5 })
		placed := mustOrder(t, e, c, rw.ID, 2)
		if placed.Points != 40 || placed.Status != StatusOpen || len(placed.PickupCode) != 6 || placed.PickupPlace != "村委会一楼" ||
			!placed.PickupBy.Equal(t0.Add(72*time.Hour)) {
			t.Fatalf("placed %+v", placed)
		}
		if got := mustFindReward(t, e, rw.ID); got.Stock != 3 || got.Reserved != 2 {
			t.Fatalf("after order: stock %d reserved %d", got.Stock, got.Reserved)
		}
		if b := mustBalance(t, e, v, ledger.Resident(1)); b.Held != 40 || b.Spendable != 60 {
			t.Fatalf("after order: %+v", b)
		}
		mustDeliverNotices(t, e)
		mustDeliverNotices(t, e) // delivered again: still one message
		items, _, err := notify.NewInbox(e.db).List(ctx, 1, false, 0, 10)
		if err != nil || len(items) != 1 || items[0].Kind != notify.RedemptionReady || !strings.Contains(items[0].Body, "村委会一楼") {
			t.Fatalf("inbox %+v %v", items, err)
		}

		pc, err := e.store.PickupCode(ctx, c, placed.ID)
		if err != nil || pc.Code != placed.PickupCode || !strings.HasPrefix(pc.QR, qrPrefix) {
			t.Fatalf("pickup code %+v %v", pc, err)
		}
		_, err = e.store.Verify(ctx, clerk, e.villageB.ID, pc.QR)
		wantCode(t, err, apperr.CodeNotFound) // another village's counter
		done, err := e.store.Verify(ctx, clerk, v, pc.QR)
		if err != nil || done.Status != StatusCompleted || *done.CompletedBy != clerk.Actor.StaffID || len(done.capturePostings) == 0 {
			t.Fatalf("verify: %+v %v", done, err)
		}
		if again, err := e.store.Verify(ctx, clerk, v, pc.QR); err != nil || again.ID != done.ID {
			t.Fatalf("the clerk's retry: %+v %v", again, err)
		}
		_, err = e.store.Verify(ctx, admin, v, pc.QR)
		wantCode(t, err, apperr.CodeConflict)
		_, err = e.store.Verify(ctx, clerk, v, placed.PickupCode)
		wantCode(t, err, apperr.CodeNotFound) // the six digits are freed
		if got := mustFindReward(t, e, rw.ID); got.Stock != 3 || got.Reserved != 0 {
			t.Fatalf("after pickup: stock %d reserved %d", got.Stock, got.Reserved)
		}
		if b := mustBalance(t, e, v, ledger.Resident(1)); b.Held != 0 || b.Available != 60 {
			t.Fatalf("after pickup: %+v", b)
		}
		if h := mustHold(t, e, done); h.Status != ledger.HoldCaptured {
			t.Fatalf("hold %s", h.Status)
		}
		_, err = e.store.PickupCode(ctx, c, placed.ID)
		wantCode(t, err, apperr.CodeConflict)
		mustVerifyLedger(t, e, v)
	})
}

// The six-digit code works for counters without a scanner; a QR code
// expires after a minute and cannot be forged.
func TestPickupCodes(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		c := Customer{VillageID: v, ResidentID: 1}
		mustAward(t, e, v, ledger.Resident(1), 100)
		rw := mustReward(t, e, v, nil)
		placed := mustOrder(t, e, c, rw.ID, 1)
		pc, err := e.store.PickupCode(ctx, c, placed.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.store.Verify(ctx, clerk, v, pc.QR[:len(pc.QR)-2]+"xx")
		wantCode(t, err, apperr.CodeInvalid)
		e.clock.Advance(61 * time.Second)
		_, err = e.store.Verify(ctx, clerk, v, pc.QR)
		wantCode(t, err, apperr.CodeInvalid)
		_, err = e.store.Verify(ctx, clerk, v, "hello")
		wantCode(t, err, apperr.CodeInvalid)
		// Another resident cannot see or show it.
		_, err = e.store.PickupCode(ctx, Customer{VillageID: v, ResidentID: 2}, placed.ID)
		wantCode(t, err, apperr.CodeNotFound)
		if o, err := e.store.Verify(ctx, clerk, v, " "+placed.PickupCode+" "); err != nil || o.Status != StatusCompleted {
			t.Fatalf("six digits: %+v %v", o, err)
		}
	})
}

// An order nobody picks up expires: points released, stock back, limit
// given back, the villager told; a late pickup is refused.
func TestOrderExpires(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		c := Customer{VillageID: v, ResidentID: 1}
		mustAward(t, e, v, ledger.Resident(1), 100)
		rw := mustReward(t, e, v, func(in *RewardInput) { in.InitialStock = 5; in.LimitResidentMonth = 1 })
		placed := mustOrder(t, e, c, rw.ID, 1)
		mustDeliverNotices(t, e) // the "ready for pickup" message
		if n, err := e.store.ExpireDue(ctx, e.clock.Now()); err != nil || n != 0 {
			t.Fatalf("expired %d before the deadline: %v", n, err)
		}
		e.clock.Advance(7*24*time.Hour + time.Second)
		_, err := e.store.Verify(ctx, clerk, v, placed.PickupCode)
		wantCode(t, err, apperr.CodeConflict)
		if n, err := e.store.ExpireDue(ctx, e.clock.Now()); err != nil || n != 1 {
			t.Fatalf("expired %d: %v", n, err)
		}
		if n, err := e.store.ExpireDue(ctx, e.clock.Now()); err != nil || n != 0 {
			t.Fatalf("expired %d again: %v", n, err)
		}
		o := mustStaffOrder(t, e, placed.ID)
		if o.Status != StatusExpired || o.ClosedBy != systemActor {
			t.Fatalf("order %+v", o)
		}
		if h := mustHold(t, e, o); h.Status != ledger.HoldReleased {
			t.Fatalf("hold %s", h.Status)
		}
		if got := mustFindReward(t, e, rw.ID); got.Stock != 5 || got.Reserved != 0 {
			t.Fatalf("stock %d reserved %d", got.Stock, got.Reserved)
		}
		if b := mustBalance(t, e, v, ledger.Resident(1)); b.Held != 0 || b.Spendable != 100 {
			t.Fatalf("balance %+v", b)
		}
		mustDeliverNotices(t, e) // the order is closed: no second "ready"
		items, _, err := notify.NewInbox(e.db).List(ctx, 1, false, 0, 10)
		if err != nil || len(items) != 2 || items[0].Kind != notify.RedemptionExpired || items[0].Data["points"] != "30" ||
			items[1].Kind != notify.RedemptionReady {
			t.Fatalf("inbox %+v %v", items, err)
		}
		mustOrder(t, e, c, rw.ID, 1) // the month's limit was given back
	})
}

// A villager cancels their own open order; nobody else can.
func TestCustomerCancels(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		c := Customer{VillageID: v, ResidentID: 1}
		mustAward(t, e, v, ledger.Resident(1), 100)
		rw := mustReward(t, e, v, nil)
		placed := mustOrder(t, e, c, rw.ID, 3)
		_, err := e.store.Cancel(ctx, Customer{VillageID: v, ResidentID: 2}, placed.ID)
		wantCode(t, err, apperr.CodeNotFound)
		_, err = e.store.Cancel(ctx, Customer{VillageID: e.villageC.ID, ResidentID: 1}, placed.ID)
		wantCode(t, err, apperr.CodeNotFound)
		got, err := e.store.Cancel(ctx, c, placed.ID)
		if err != nil || got.Status != StatusCancelled || got.PickupCode != "" {
			t.Fatalf("cancel: %+v %v", got, err)
		}
		if again, err := e.store.Cancel(ctx, c, placed.ID); err != nil || again.Status != StatusCancelled {
			t.Fatalf("retry: %+v %v", again, err)
		}
		if b := mustBalance(t, e, v, ledger.Resident(1)); b.Held != 0 || b.Spendable != 100 {
			t.Fatalf("balance %+v", b)
		}
		if r := mustFindReward(t, e, rw.ID); r.Stock != 100 || r.Reserved != 0 {
			t.Fatalf("stock %d reserved %d", r.Stock, r.Reserved)
		}
		_, err = e.store.CancelByStaff(ctx, admin, placed.ID, "")
		wantCode(t, err, apperr.CodeInvalid)
		_, err = e.store.CancelByStaff(ctx, admin, placed.ID, "货已损坏")
		wantCode(t, err, apperr.CodeConflict)
	})
}

// In a village that keeps points per household, an order spends the
// household's points and every member sees and may cancel it.
func TestHouseholdMode(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageB.ID
		mum, son := Customer{VillageID: v, ResidentID: 11, HouseholdID: 5}, Customer{VillageID: v, ResidentID: 12, HouseholdID: 5}
		mustAward(t, e, v, ledger.Household(5), 50)
		rw := mustReward(t, e, e.township.ID, func(in *RewardInput) { in.Points = 20 }) // the township's shared store
		placed := mustOrder(t, e, mum, rw.ID, 1)
		if b := mustBalance(t, e, v, ledger.Household(5)); b.Held != 20 {
			t.Fatalf("household balance %+v", b)
		}
		os, total, err := e.store.CustomerOrders(ctx, son, "", 0, 10)
		if err != nil || total != 1 || os[0].ID != placed.ID {
			t.Fatalf("son sees %+v (%d) %v", os, total, err)
		}
		if _, err := e.store.Cancel(ctx, son, placed.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.store.PlaceOrder(ctx, Customer{VillageID: v, ResidentID: 13}, OrderRequest{RewardID: rw.ID, Quantity: 1, IdempotencyKey: key()})
		wantCode(t, err, apperr.CodeConflict) // no household
		_, err = e.store.PlaceOrder(ctx, Customer{VillageID: e.villageC.ID, ResidentID: 14}, OrderRequest{RewardID: rw.ID, Quantity: 1, IdempotencyKey: key()})
		wantCode(t, err, apperr.CodeNotFound) // another township's villager
	})
}

// Refunds reverse the captured points once; the stock comes back only with
// the goods; only completed orders are refunded.
func TestRefund(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		c := Customer{VillageID: v, ResidentID: 1}
		mustAward(t, e, v, ledger.Resident(1), 100)
		rw := mustReward(t, e, v, func(in *RewardInput) { in.Points = 25; in.InitialStock = 10; in.LimitResidentMonth = 2 })
		first := mustOrder(t, e, c, rw.ID, 2)
		_, err := e.store.Refund(ctx, admin, first.ID, "退货", true)
		wantCode(t, err, apperr.CodeConflict) // not picked up yet
		if _, err := e.store.Verify(ctx, clerk, v, first.PickupCode); err != nil {
			t.Fatal(err)
		}
		_, err = e.store.Refund(ctx, admin, first.ID, " ", true)
		wantCode(t, err, apperr.CodeInvalid)
		got, err := e.store.Refund(ctx, admin, first.ID, "大米受潮，退货", true)
		if err != nil || got.Status != StatusRefunded || !got.Restocked || got.RefundedAt == nil {
			t.Fatalf("refund: %+v %v", got, err)
		}
		if again, err := e.store.Refund(ctx, admin, first.ID, "大米受潮，退货", true); err != nil || again.ID != got.ID {
			t.Fatalf("retry: %+v %v", again, err)
		}
		_, err = e.store.Refund(ctx, clerk, first.ID, "再退一次", false)
		wantCode(t, err, apperr.CodeConflict)
		if b := mustBalance(t, e, v, ledger.Resident(1)); b.Available != 100 || b.Held != 0 {
			t.Fatalf("balance after refund %+v", b)
		}
		if r := mustFindReward(t, e, rw.ID); r.Stock != 10 || r.Reserved != 0 {
			t.Fatalf("stock %d reserved %d after a refund with return", r.Stock, r.Reserved)
		}
		ms, _, err := e.store.Movements(ctx, admin, rw.ID, 0, 10)
		if err != nil || len(ms) != 2 || ms[0].Kind != MoveReturn || ms[0].Delta != 2 || *ms[0].OrderID != first.ID {
			t.Fatalf("movements %+v %v", ms, err)
		}
		// The limit came back too; a refund without the goods leaves stock.
		second := mustOrder(t, e, c, rw.ID, 2)
		if _, err := e.store.Verify(ctx, clerk, v, second.PickupCode); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Refund(ctx, admin, second.ID, "服务未提供", false); err != nil {
			t.Fatal(err)
		}
		if r := mustFindReward(t, e, rw.ID); r.Stock != 8 {
			t.Fatalf("stock %d after a refund without return", r.Stock)
		}
		mustVerifyLedger(t, e, v)
	})
}

// A clerk redeems several items for the villager at the counter in one
// transaction: all of them or none.
func TestCounterSale(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		c := Customer{VillageID: v, ResidentID: 1, HouseholdID: 9}
		code := e.scanner.code(c)
		mustAward(t, e, v, ledger.Resident(1), 100)
		rice := mustReward(t, e, v, func(in *RewardInput) { in.Points = 30; in.InitialStock = 3 })
		soap := mustReward(t, e, v, func(in *RewardInput) { in.Points = 5; in.InitialStock = 1 })
		haircut := mustReward(t, e, e.township.ID, func(in *RewardInput) {
			in.Kind = KindService
			in.Points = 10
			in.StockTracked = false
			in.InitialStock = 0
		})
		req := SaleRequest{VillageID: v, Code: code, IdempotencyKey: "sale-1",
			Items: []SaleItem{{haircut.ID, 1}, {rice.ID, 2}, {soap.ID, 2}}}
		_, err := e.store.Sell(ctx, clerk, req)
		wantCode(t, err, apperr.CodeStockShort) // two soaps, one left: nothing happens
		if r := mustFindReward(t, e, rice.ID); r.Stock != 3 {
			t.Fatalf("rice stock %d after a refused sale", r.Stock)
		}
		if b := mustBalance(t, e, v, ledger.Resident(1)); b.Available != 100 {
			t.Fatalf("balance %+v after a refused sale", b)
		}
		req.Items[2].Quantity = 1
		req.IdempotencyKey = "sale-2"
		os, err := e.store.Sell(ctx, clerk, req)
		if err != nil || len(os) != 3 {
			t.Fatalf("sale: %+v %v", os, err)
		}
		for _, o := range os {
			if o.Status != StatusCompleted || o.Channel != ChannelCounter || len(o.capturePostings) == 0 || o.HoldID != nil {
				t.Fatalf("sold order %+v", o)
			}
		}
		if b := mustBalance(t, e, v, ledger.Resident(1)); b.Available != 100-10-60-5 || b.Held != 0 {
			t.Fatalf("balance %+v", b)
		}
		if r := mustFindReward(t, e, rice.ID); r.Stock != 1 || r.Reserved != 0 {
			t.Fatalf("rice stock %d reserved %d", r.Stock, r.Reserved)
		}
		again, err := e.store.Sell(ctx, clerk, req)
		if err != nil || len(again) != 3 || again[0].ID != os[0].ID {
			t.Fatalf("retry: %+v %v", again, err)
		}
		req.Items = req.Items[:1]
		_, err = e.store.Sell(ctx, clerk, req)
		wantCode(t, err, apperr.CodeIdempotency)
		_, err = e.store.Sell(ctx, clerk, SaleRequest{VillageID: e.villageB.ID, Code: code, IdempotencyKey: key(), Items: []SaleItem{{rice.ID, 1}}})
		wantCode(t, err, apperr.CodeNotFound) // the villager belongs to another village
		_, err = e.store.Sell(ctx, clerk, SaleRequest{VillageID: v, Code: code, IdempotencyKey: key(), Items: []SaleItem{{rice.ID, 1}, {rice.ID, 1}}})
		wantCode(t, err, apperr.CodeInvalid)
		mustVerifyLedger(t, e, v)
	})
}

// Rewards off the shelf or outside their validity cannot be ordered.
func TestUnavailableRewards(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		c := Customer{VillageID: v, ResidentID: 1}
		mustAward(t, e, v, ledger.Resident(1), 100)
		until := t0.Add(24 * time.Hour)
		voucher := mustReward(t, e, v, func(in *RewardInput) {
			in.Kind, in.Name, in.ValidUntil = KindVoucher, "早餐券", &until
		})
		o := mustOrder(t, e, c, voucher.ID, 1)
		if !o.PickupBy.Equal(until) {
			t.Fatalf("a voucher's pickup deadline is its validity: %v", o.PickupBy)
		}
		off := false
		if _, err := e.store.UpdateReward(ctx, admin, voucher.ID, RewardPatch{OnShelf: &off}); err != nil {
			t.Fatal(err)
		}
		_, err := e.store.PlaceOrder(ctx, c, OrderRequest{RewardID: voucher.ID, Quantity: 1, IdempotencyKey: key()})
		wantCode(t, err, CodeUnavailable)
		on := true
		if _, err := e.store.UpdateReward(ctx, admin, voucher.ID, RewardPatch{OnShelf: &on}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(25 * time.Hour)
		_, err = e.store.PlaceOrder(ctx, c, OrderRequest{RewardID: voucher.ID, Quantity: 1, IdempotencyKey: key()})
		wantCode(t, err, CodeUnavailable)
		items, _, err := e.store.Shelf(ctx, c, 0, 10)
		if err != nil || len(items) != 0 {
			t.Fatalf("shelf %+v %v", items, err)
		}
	})
}

// When the store's expiry was down so long that the ledger timed the hold
// out itself, the order still expires once, its stock comes back, and the
// points are not given back twice.
func TestHoldTimedOutByLedger(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		c := Customer{VillageID: v, ResidentID: 1}
		mustAward(t, e, v, ledger.Resident(1), 100)
		rw := mustReward(t, e, v, func(in *RewardInput) { in.InitialStock = 5 })
		placed := mustOrder(t, e, c, rw.ID, 1)
		later := e.clock.Advance(7*24*time.Hour + holdGrace + time.Minute)
		if n, err := e.ledger.ExpireHolds(ctx, later); err != nil || n != 1 {
			t.Fatalf("ledger released %d holds: %v", n, err)
		}
		_, err := e.store.Verify(ctx, clerk, v, placed.PickupCode)
		wantCode(t, err, apperr.CodeConflict)
		if n, err := e.store.ExpireDue(ctx, later); err != nil || n != 1 {
			t.Fatalf("expired %d: %v", n, err)
		}
		if b := mustBalance(t, e, v, ledger.Resident(1)); b.Held != 0 || b.Spendable != 100 {
			t.Fatalf("balance %+v", b)
		}
		if r := mustFindReward(t, e, rw.ID); r.Stock != 5 || r.Reserved != 0 {
			t.Fatalf("stock %d reserved %d", r.Stock, r.Reserved)
		}
		mustVerifyLedger(t, e, v)
	})
}
