package store

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
)

// parallel runs n calls of fn at once and waits for them.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// A rush of 1,000 residents on a reward with stock 10 gets exactly 10
// orders; the other 990 are told it is sold out and hold no points.
func TestRushNeverOversells(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		const n = 1000
		parallel(32, func(i int) {
			for r := int64(i); r < n; r += 32 {
				mustAward(t, e, v, ledger.Resident(r+1), 100)
			}
		})
		rw := mustReward(t, e, v, func(in *RewardInput) { in.InitialStock = 10; in.Points = 30 })
		var won, soldOut atomic.Int64
		errs := make(chan error, n)
		parallel(n, func(i int) {
			_, err := e.store.PlaceOrder(ctx, Customer{VillageID: v, ResidentID: int64(i + 1)}, OrderRequest{RewardID: rw.ID, Quantity: 1, IdempotencyKey: "rush"})
			switch {
			case err == nil:
				won.Add(1)
			case apperr.Is(err, apperr.CodeStockShort) && strings.Contains(err.Error(), "已兑完"):
				soldOut.Add(1)
			default:
				errs <- err
			}
		})
		close(errs)
		for err := range errs {
			t.Errorf("unexpected refusal: %v", err)
		}
		if won.Load() != 10 || soldOut.Load() != n-10 {
			t.Fatalf("%d orders and %d sold-out refusals, want 10 and %d", won.Load(), soldOut.Load(), n-10)
		}
		got := mustFindReward(t, e, rw.ID)
		if got.Stock != 0 || got.Reserved != 10 {
			t.Fatalf("stock %d reserved %d, want 0 and 10", got.Stock, got.Reserved)
		}
		// One read of every account of the village: ten residents hold 30,
		// the other 990 still have all their 100 points free.
		bs, err := e.ledger.Balances(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		held, free := map[int64]int64{}, map[int64]int64{}
		for k, b := range bs {
			switch k.Kind {
			case ledger.KindResidentHeld:
				held[k.Owner] += b
			case ledger.KindResident:
				free[k.Owner] += b
			}
		}
		holding := 0
		for r := int64(1); r <= n; r++ {
			switch {
			case held[r] == 30 && free[r] == 70:
				holding++
			case held[r] != 0 || free[r] != 100:
				t.Fatalf("resident %d: held %d free %d", r, held[r], free[r])
			}
		}
		if holding != 10 {
			t.Fatalf("%d residents hold points, want 10", holding)
		}
		mustVerifyLedger(t, e, v)
	})
}

// A resident with 100 points placing 10 orders of 30 at once gets exactly
// 3; the others are refused for points and leave nothing behind.
func TestOneResidentCannotOverspend(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		c := Customer{VillageID: v, ResidentID: 1}
		mustAward(t, e, v, ledger.Resident(1), 100)
		rw := mustReward(t, e, v, func(in *RewardInput) { in.Points = 30 })
		var won, short atomic.Int64
		parallel(10, func(i int) {
			_, err := e.store.PlaceOrder(ctx, c, OrderRequest{RewardID: rw.ID, Quantity: 1, IdempotencyKey: key()})
			switch {
			case err == nil:
				won.Add(1)
			case apperr.Is(err, apperr.CodePointsShort):
				short.Add(1)
			default:
				t.Errorf("unexpected refusal: %v", err)
			}
		})
		if won.Load() != 3 || short.Load() != 7 {
			t.Fatalf("%d won, %d refused for points; want 3 and 7", won.Load(), short.Load())
		}
		if b := mustBalance(t, e, v, ledger.Resident(1)); b.Held != 90 || b.Spendable != 10 {
			t.Fatalf("held %d spendable %d, want 90 and 10", b.Held, b.Spendable)
		}
		if got := mustFindReward(t, e, rw.ID); got.Stock != 97 || got.Reserved != 3 {
			t.Fatalf("stock %d reserved %d, want 97 and 3", got.Stock, got.Reserved)
		}
		os, total, err := e.store.CustomerOrders(ctx, c, "", 0, 100)
		if err != nil || total != 3 || len(os) != 3 {
			t.Fatalf("%d orders (%v), want 3", total, err)
		}
		mustVerifyLedger(t, e, v)
	})
}

// Pickup, cancellation and expiry racing on one order: exactly one wins,
// and stock, points and the order agree on which.
func TestPickupCancelExpiryRace(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		c := Customer{VillageID: v, ResidentID: 1}
		mustAward(t, e, v, ledger.Resident(1), 1000)
		rw := mustReward(t, e, v, func(in *RewardInput) { in.Points = 10; in.InitialStock = 50 })
		wins := map[Status]int{}
		const rounds = 12
		for range rounds {
			placed := mustOrder(t, e, c, rw.ID, 1)
			// The QR code names the order, so a losing pickup learns what
			// happened to it (the six-digit code is freed on closing).
			pc, err := e.store.PickupCode(ctx, c, placed.ID)
			if err != nil {
				t.Fatal(err)
			}
			var won atomic.Int64
			var winner atomic.Value
			later := e.clock.Now().Add(30 * 24 * time.Hour)
			parallel(3, func(i int) {
				var err error
				switch i {
				case 0:
					_, err = e.store.Verify(ctx, clerk, v, pc.QR)
				case 1:
					_, err = e.store.Cancel(ctx, c, placed.ID)
				case 2:
					var n int
					n, err = e.store.ExpireDue(ctx, later)
					if err == nil && n == 0 {
						return // found it closed: lost
					}
				}
				switch {
				case err == nil:
					won.Add(1)
					winner.Store([]Status{StatusCompleted, StatusCancelled, StatusExpired}[i])
				case !apperr.Is(err, apperr.CodeConflict):
					t.Errorf("racer %d: %v", i, err)
				}
			})
			if won.Load() != 1 {
				t.Fatalf("%d racers won, want exactly 1", won.Load())
			}
			o := mustStaffOrder(t, e, placed.ID)
			if o.Status != winner.Load().(Status) {
				t.Fatalf("order is %s, winner was %s", o.Status, winner.Load())
			}
			wantHold := map[Status]ledger.HoldStatus{StatusCompleted: ledger.HoldCaptured, StatusCancelled: ledger.HoldReleased, StatusExpired: ledger.HoldReleased}[o.Status]
			if h := mustHold(t, e, o); h.Status != wantHold {
				t.Fatalf("order %s but hold %s", o.Status, h.Status)
			}
			wins[o.Status]++
		}
		got := mustFindReward(t, e, rw.ID)
		if got.Reserved != 0 || got.Stock != 50-int64(wins[StatusCompleted]) {
			t.Fatalf("stock %d reserved %d after %v", got.Stock, got.Reserved, wins)
		}
		b := mustBalance(t, e, v, ledger.Resident(1))
		if b.Held != 0 || b.Spendable != 1000-10*int64(wins[StatusCompleted]) {
			t.Fatalf("held %d spendable %d after %v", b.Held, b.Spendable, wins)
		}
		t.Logf("winners over %d rounds: %v", rounds, wins)
		mustVerifyLedger(t, e, v)
	})
}

// Monthly limits hold when a household's members order at once: each
// resident gets at most their cap, the household exactly its cap.
func TestMonthlyLimitsUnderConcurrency(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		rw := mustReward(t, e, v, func(in *RewardInput) { in.Points = 5; in.LimitResidentMonth = 2; in.LimitHouseholdMonth = 3 })
		members := []Customer{{v, 1, 50}, {v, 2, 50}, {v, 3, 50}}
		for _, m := range members {
			mustAward(t, e, v, ledger.Resident(m.ResidentID), 100)
		}
		perResident := make([]atomic.Int64, len(members))
		parallel(15, func(i int) {
			m := members[i%3]
			_, err := e.store.PlaceOrder(ctx, m, OrderRequest{RewardID: rw.ID, Quantity: 1, IdempotencyKey: key()})
			switch {
			case err == nil:
				perResident[i%3].Add(1)
			case apperr.Is(err, CodeLimitReached) && strings.Contains(err.Error(), "本月兑换次数已达上限"):
			default:
				t.Errorf("unexpected refusal: %v", err)
			}
		})
		total := int64(0)
		for i := range perResident {
			n := perResident[i].Load()
			if n > 2 {
				t.Fatalf("resident %d got %d, cap 2", i+1, n)
			}
			total += n
		}
		if total != 3 {
			t.Fatalf("household got %d, want exactly its cap 3", total)
		}
		// A cancelled order gives its count back; next month starts afresh.
		os, _, err := e.store.CustomerOrders(ctx, members[0], StatusOpen, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		buyer := members[0]
		if len(os) == 0 {
			buyer = members[1]
			if os, _, err = e.store.CustomerOrders(ctx, buyer, StatusOpen, 0, 10); err != nil || len(os) == 0 {
				t.Fatalf("no open order to cancel: %v", err)
			}
		}
		if _, err := e.store.Cancel(ctx, buyer, os[0].ID); err != nil {
			t.Fatal(err)
		}
		mustOrder(t, e, buyer, rw.ID, 1)
		_, err = e.store.PlaceOrder(ctx, buyer, OrderRequest{RewardID: rw.ID, Quantity: 1, IdempotencyKey: key()})
		wantCode(t, err, CodeLimitReached)
		e.clock.Advance(25 * 24 * time.Hour) // April in China time
		mustOrder(t, e, buyer, rw.ID, 2)
	})
}

// Concurrent retries of one order with one key place it once.
func TestSameKeyOrdersOnce(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		c := Customer{VillageID: v, ResidentID: 1}
		mustAward(t, e, v, ledger.Resident(1), 100)
		rw := mustReward(t, e, v, nil)
		ids := make([]int64, 8)
		parallel(8, func(i int) {
			o, err := e.store.PlaceOrder(ctx, c, OrderRequest{RewardID: rw.ID, Quantity: 1, IdempotencyKey: "same"})
			if err != nil {
				t.Errorf("retry %d: %v", i, err)
				return
			}
			ids[i] = o.ID
		})
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("retries answered with orders %v", ids)
			}
		}
		if b := mustBalance(t, e, v, ledger.Resident(1)); b.Held != 30 {
			t.Fatalf("held %d, want 30 (one order)", b.Held)
		}
		_, err := e.store.PlaceOrder(ctx, c, OrderRequest{RewardID: rw.ID, Quantity: 2, IdempotencyKey: "same"})
		wantCode(t, err, apperr.CodeIdempotency)
		// Another resident's key space is their own.
		mustAward(t, e, v, ledger.Resident(2), 100)
		if o, err := e.store.PlaceOrder(ctx, Customer{VillageID: v, ResidentID: 2}, OrderRequest{RewardID: rw.ID, Quantity: 1, IdempotencyKey: "same"}); err != nil || o.ID == ids[0] || o.Replayed {
			t.Fatalf("other resident's order %+v, %v", o, err)
		}
	})
}
