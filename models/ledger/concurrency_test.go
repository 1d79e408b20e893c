package ledger

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/villagepoints/jifen/apperr"
)

// TestConcurrentRedemptionsNeverOverspend sends 200 redemptions of one
// point at a balance of 37: half as direct redemptions, half as hold then
// capture. Exactly 37 may succeed and the balance must end at zero.
func TestConcurrentRedemptionsNeverOverspend(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := Resident(11)
		mustAward(t, e, 1, r, TrackCivic, 20)
		mustAward(t, e, 1, r, TrackVolunteer, 17)
		var ok, short atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for i := range 200 {
			wg.Go(func() {
				var err error
				if i%2 == 0 {
					_, err = e.store.Redeem(ctx, RedeemRequest{VillageID: 1, Holder: r, Amount: 1, Actor: ResidentActor(11), IdempotencyKey: key()})
				} else {
					var res *Result
					res, err = e.store.PlaceHold(ctx, HoldRequest{VillageID: 1, Holder: r, Amount: 1, Actor: ResidentActor(11), IdempotencyKey: key()})
					if err == nil {
						if _, err := e.store.Capture(ctx, CaptureRequest{VillageID: 1, HoldID: res.Hold.ID, Actor: staff, IdempotencyKey: key()}); err != nil {
							errs <- err
							return
						}
					}
				}
				switch {
				case err == nil:
					ok.Add(1)
				case apperr.Is(err, apperr.CodePointsShort):
					short.Add(1)
				default:
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if ok.Load() != 37 || short.Load() != 163 {
			t.Fatalf("%d succeeded, %d refused; want 37 and 163", ok.Load(), short.Load())
		}
		if b := mustBalance(t, e, 1, r); b.Available != 0 || b.Held != 0 || b.Spendable != 0 {
			t.Fatalf("balance %+v", b)
		}
		if n := countRows(t, e.db, "SELECT COALESCE(SUM(amount), 0) FROM ledger_postings WHERE to_kind = ?", KindRedeemed); n != 37 {
			t.Fatalf("%d points redeemed", n)
		}
		mustVerify(t, e, 1)
	})
}

// TestSameKeyConcurrentlyPostsOnce sends one award 50 times at once with
// one idempotency key: one posting, and every caller gets it back.
func TestSameKeyConcurrentlyPostsOnce(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		req := AwardRequest{VillageID: 1, Holder: Resident(12), Track: TrackCivic, Amount: 5, Actor: staff, IdempotencyKey: "scan-once"}
		ids := make(chan int64, 50)
		var fresh atomic.Int64
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				res, err := e.store.Award(ctx, req)
				if err != nil {
					t.Error(err)
					return
				}
				if !res.Replayed {
					fresh.Add(1)
				}
				ids <- res.Postings[0].ID
			})
		}
		wg.Wait()
		close(ids)
		var first int64
		for id := range ids {
			if first == 0 {
				first = id
			}
			if id != first {
				t.Fatalf("callers got postings %d and %d", first, id)
			}
		}
		if fresh.Load() != 1 {
			t.Fatalf("%d callers posted", fresh.Load())
		}
		if n := countRows(t, e.db, "SELECT COUNT(*) FROM ledger_postings"); n != 1 {
			t.Fatalf("%d postings", n)
		}
		if b := mustBalance(t, e, 1, Resident(12)); b.Available != 5 {
			t.Fatalf("%+v", b)
		}
	})
}

// TestConcurrentReversalsReverseOnce reverses one posting from 10
// goroutines with different keys: one reversal, nine refusals.
func TestConcurrentReversalsReverseOnce(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		award := mustAward(t, e, 1, Resident(13), TrackCivic, 9).Postings[0]
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				_, err := e.store.Reverse(ctx, ReverseRequest{VillageID: 1, PostingID: award.ID, Actor: staff, Reason: "录入错误", IdempotencyKey: key()})
				switch {
				case err == nil:
					ok.Add(1)
				case apperr.Is(err, apperr.CodeAlreadyReversed):
					refused.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || refused.Load() != 9 {
			t.Fatalf("%d reversals, %d refused", ok.Load(), refused.Load())
		}
		if n := countRows(t, e.db, "SELECT COUNT(*) FROM ledger_postings WHERE reverses_id = ?", award.ID); n != 1 {
			t.Fatalf("%d reversals stored", n)
		}
		if b := mustBalance(t, e, 1, Resident(13)); b.Available != 0 {
			t.Fatalf("%+v", b)
		}
	})
}

// TestReversalUniqueIndex shows the database itself refuses a second
// reversal, whatever the code above it checks.
func TestReversalUniqueIndex(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		award := mustAward(t, e, 1, Resident(1), TrackCivic, 9).Postings[0]
		insert := func() error {
			return e.db.Exec(`INSERT INTO ledger_postings (village_id, request_id, leg, request_hash, type, track, from_kind, from_owner, to_kind, to_owner, holder_kind, holder_id, amount, actor, reverses_id, created_at)
				VALUES (1, ?, 0, 0, 'reversal', 'civic', 'resident', 1, 'issued', 0, 'resident', 1, 9, 'staff:7', ?, ?)`, keySeq.Add(1), award.ID, t0).Error
		}
		if err := insert(); err != nil {
			t.Fatal(err)
		}
		if err := insert(); err == nil {
			t.Fatal("a second reversal of one posting was stored")
		}
	})
}

// TestCaptureRacesExpiry runs Capture and ExpireHolds on the same holds at
// once: each hold is settled exactly once, one way or the other.
func TestCaptureRacesExpiry(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := Resident(14)
		mustAward(t, e, 1, r, TrackCivic, 100)
		const n = 10
		holds := make([]int64, n)
		for i := range holds {
			res, err := e.store.PlaceHold(ctx, HoldRequest{VillageID: 1, Holder: r, Amount: 10, ExpiresAt: t0.Add(time.Minute), Actor: staff, IdempotencyKey: key()})
			if err != nil {
				t.Fatal(err)
			}
			holds[i] = res.Hold.ID
		}
		var captured, expired atomic.Int64
		var wg sync.WaitGroup
		for _, id := range holds {
			wg.Go(func() {
				_, err := e.store.Capture(ctx, CaptureRequest{VillageID: 1, HoldID: id, Actor: staff, IdempotencyKey: key()})
				switch {
				case err == nil:
					captured.Add(1)
				case !apperr.Is(err, apperr.CodeConflict):
					t.Error(err)
				}
			})
		}
		for range 3 {
			wg.Go(func() {
				got, err := e.store.ExpireHolds(ctx, t0.Add(2*time.Minute))
				if err != nil {
					t.Error(err)
				}
				expired.Add(int64(got))
			})
		}
		wg.Wait()
		if captured.Load()+expired.Load() != n {
			t.Fatalf("%d captured + %d expired != %d holds", captured.Load(), expired.Load(), n)
		}
		b := mustBalance(t, e, 1, r)
		if b.Held != 0 || b.Available != 100-10*captured.Load() {
			t.Fatalf("%d captured, balance %+v", captured.Load(), b)
		}
		mustVerify(t, e, 1)
	})
}
