package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
)

// busyVillage writes a mix of postings to a village from a few goroutines.
func busyVillage(t *testing.T, ctx context.Context, e *env, village int64, writers, each int, seed uint64) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for range each {
				r := Resident(int64(rng.IntN(5) + 1))
				var err error
				switch rng.IntN(4) {
				case 0, 1:
					_, err = e.store.Award(ctx, AwardRequest{VillageID: village, Holder: r, Track: Tracks[rng.IntN(3)],
						Amount: int64(rng.IntN(20) + 1), Actor: staff, IdempotencyKey: key()})
				case 2:
					_, err = e.store.Redeem(ctx, RedeemRequest{VillageID: village, Holder: r, Amount: int64(rng.IntN(15) + 1),
						Actor: staff, IdempotencyKey: key()})
				case 3:
					var res *Result
					res, err = e.store.PlaceHold(ctx, HoldRequest{VillageID: village, Holder: r, Amount: int64(rng.IntN(10) + 1),
						Actor: staff, IdempotencyKey: key()})
					if err == nil && rng.IntN(2) == 0 {
						_, err = e.store.Capture(ctx, CaptureRequest{VillageID: village, HoldID: res.Hold.ID, Actor: staff, IdempotencyKey: key()})
					}
				}
				if err != nil && !apperr.Is(err, apperr.CodePointsShort) && ctx.Err() == nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

func TestRelayDeliversBalancesToRedis(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		busyVillage(t, ctx, e, 1, 3, 15, 1)
		busyVillage(t, ctx, e, 2, 2, 10, 2)
		// Nothing reaches consumers before it is sealed into the chain.
		if n, _ := e.relay.Drain(ctx); n != 0 {
			t.Fatalf("delivered %d unsealed postings", n)
		}
		total := countRows(t, e.db, "SELECT COUNT(*) FROM ledger_postings")
		if n, err := e.store.Pending(ctx, BalancesConsumer); err != nil || n != total {
			t.Fatalf("%d pending of %d (%v)", n, total, err)
		}
		mustSeal(t, e)
		if n, err := e.relay.Drain(ctx); err != nil || int64(n) != total {
			t.Fatalf("delivered %d of %d (%v)", n, total, err)
		}
		if n, err := e.store.Pending(ctx, BalancesConsumer); err != nil || n != 0 {
			t.Fatalf("%d pending (%v)", n, err)
		}
		mustRedisMatches(t, e, 1)
		mustRedisMatches(t, e, 2)
		// The fast read agrees with the SQL one.
		fast, err := e.cache.Holder(ctx, 1, Resident(1))
		if err != nil {
			t.Fatal(err)
		}
		b := mustBalance(t, e, 1, Resident(1))
		for i := range Tracks {
			if fast[i].Available != b.Tracks[i].Available || fast[i].Held != b.Tracks[i].Held {
				t.Fatalf("redis %+v, sql %+v", fast, b.Tracks)
			}
		}
		// Delivering again changes nothing.
		if err := e.store.inTx(ctx, func(tx *gorm.DB) error { return setCursor(tx, BalancesConsumer, 1, 0, t0) }); err != nil {
			t.Fatal(err)
		}
		if _, err := e.relay.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		mustRedisMatches(t, e, 1)
	})
}

// TestRebuildAfterRedisFlush loses the Redis cache, keeps writing, and
// rebuilds: the cache equals the SQL balances, and the SQL balances needed
// no correction. Then it loses it again mid-run, while the Sealer and Relay
// are running.
func TestRebuildAfterRedisFlush(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		busyVillage(t, ctx, e, 1, 3, 15, 3)
		before := mustRedisMatches(t, e, 1)

		flush := func() {
			if err := e.kv.Del(ctx, e.cache.key(1)).Err(); err != nil {
				t.Fatal(err)
			}
		}
		flush()
		rep, err := e.store.Rebuild(ctx, 1, e.cache)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Corrected) != 0 || len(rep.Rebuilt) != 1 {
			t.Fatalf("rebuild %+v", rep)
		}
		after, _, err := e.cache.Balances(ctx, 1)
		if err != nil || fmtBalances(after) != fmtBalances(before) {
			t.Fatalf("rebuild changed balances:\n%s\n%s (%v)", fmtBalances(before), fmtBalances(after), err)
		}

		// Mid-run: Redis is flushed while postings are written, sealed and
		// relayed, and rebuilt while they still are.
		runCtx, stop := context.WithCancel(ctx)
		var bg sync.WaitGroup
		bg.Go(func() { e.relay.Run(runCtx, time.Millisecond) })
		bg.Go(func() { e.sealer.Run(runCtx, time.Millisecond) })
		var writers sync.WaitGroup
		writers.Go(func() { busyVillage(t, ctx, e, 1, 2, 20, 4) })
		time.Sleep(20 * time.Millisecond)
		flush()
		if _, err := e.store.Rebuild(ctx, 1, e.cache); err != nil {
			t.Fatal(err)
		}
		writers.Wait()
		stop()
		bg.Wait()
		mustRedisMatches(t, e, 1)

		// Without an explicit Rebuild, a reader is told the cache is gone,
		// and the next delivery notices it and rebuilds.
		flush()
		if _, err := e.cache.Holder(ctx, 1, Resident(1)); !errors.Is(err, ErrStale) {
			t.Fatalf("reading a flushed cache: %v", err)
		}
		mustAward(t, e, 1, Resident(1), TrackCivic, 1)
		mustRedisMatches(t, e, 1)
		mustVerify(t, e, 1)

		// A corrupted SQL cache is corrected from the postings.
		e.db.Exec("UPDATE ledger_accounts SET balance = balance + 5 WHERE village_id = 1 AND kind = 'resident' AND owner_id = 1 AND track = 'civic'")
		e.db.Exec("DELETE FROM ledger_accounts WHERE village_id = 1 AND kind = 'issued' AND track = 'party'")
		rep, err = e.store.Rebuild(ctx, 1)
		if err != nil || len(rep.Corrected) != 2 {
			t.Fatalf("rebuild %+v %v", rep, err)
		}
		mustVerify(t, e, 1)
	})
}

// crashingConsumer applies events to Redis and then fails before the
// relay can record the delivery: the state a crash between the two leaves.
type crashingConsumer struct {
	*RedisBalances
	crashes atomic.Int64
}

func (c *crashingConsumer) Deliver(ctx context.Context, villageID int64, events []Event) error {
	if err := c.RedisBalances.Deliver(ctx, villageID, events); err != nil {
		return err
	}
	if c.crashes.Add(-1) >= 0 {
		return errors.New("simulated crash after applying to redis")
	}
	return nil
}

// TestCrashRecovery cancels writers mid-load, makes a relay die between
// applying events to Redis and recording them, and cancels another relay
// mid-run. A fresh relay then delivers everything, exactly once in effect,
// and no posting is half written.
func TestCrashRecovery(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()

		// Writers whose requests are cancelled mid-flight once some
		// postings are in.
		loadCtx, cancelLoad := context.WithCancel(ctx)
		var writers sync.WaitGroup
		writers.Go(func() { busyVillage(t, loadCtx, e, 1, 3, 200, 5) })
		for countRows(t, e.db, "SELECT COUNT(*) FROM ledger_postings") < 40 {
			time.Sleep(2 * time.Millisecond)
		}
		cancelLoad()
		writers.Wait()

		// Nothing half-written: every request has all its legs, and (by
		// Verify) every balance its postings and every open hold its held
		// points.
		if n := countRows(t, e.db, `SELECT COUNT(*) FROM (SELECT village_id, request_id FROM ledger_postings
			GROUP BY village_id, request_id HAVING COUNT(*) <> MAX(leg) + 1) broken`); n != 0 {
			t.Fatalf("%d requests with missing postings", n)
		}
		mustVerify(t, e, 1)
		mustSeal(t, e)
		postings := countRows(t, e.db, "SELECT COUNT(*) FROM ledger_postings")

		// A relay that applies to Redis and dies before recording it.
		crashing := &crashingConsumer{RedisBalances: e.cache}
		crashing.crashes.Store(3)
		crashRelay := NewRelay(e.store, crashing)
		crashRelay.Batch = 7
		for range 3 {
			if _, err := crashRelay.DeliverBatch(ctx); err == nil {
				t.Fatal("the crashing relay recorded a delivery")
			}
		}
		if n, _ := e.store.Pending(ctx, BalancesConsumer); n != postings {
			t.Fatalf("%d of %d events pending after crashes", n, postings)
		}
		if _, seq, _ := e.cache.Balances(ctx, 1); seq != 7 {
			t.Fatalf("redis is at chain_seq %d after the crashes, want 7", seq)
		}
		// A relay whose context ends mid-run.
		runCtx, stop := context.WithCancel(ctx)
		slowRelay := NewRelay(e.store, e.cache)
		slowRelay.Batch = 5
		var bg sync.WaitGroup
		bg.Go(func() { slowRelay.Run(runCtx, time.Millisecond) })
		time.Sleep(5 * time.Millisecond)
		stop()
		bg.Wait()

		// A fresh relay finishes the job; redelivered events count once.
		if _, err := NewRelay(e.store, e.cache).Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := e.store.Pending(ctx, BalancesConsumer); n != 0 {
			t.Fatalf("%d pending", n)
		}
		mustRedisMatches(t, e, 1)
		mustVerify(t, e, 1)
	})
}

// TestConsumersAreIndependent adds a second consumer later, as
// leaderboards will be: it gets every posting from the start, in chain
// order, without disturbing the first.
func TestConsumersAreIndependent(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for i := range 5 {
			mustAward(t, e, 1, Resident(1), TrackCivic, int64(i+1))
		}
		mustAward(t, e, 2, Resident(1), TrackCivic, 9)
		mustRedisMatches(t, e, 1)
		var got []int64
		board := consumerFunc{name: "leaderboard", fn: func(village int64, evs []Event) {
			for _, ev := range evs {
				got = append(got, village*100+ev.Posting.ChainSeq*10+ev.Posting.Amount)
			}
		}}
		if n, err := NewRelay(e.store, board).Drain(ctx); err != nil || n != 6 || fmt.Sprint(got) != "[111 122 133 144 155 219]" {
			t.Fatalf("leaderboard got %v (%d, %v)", got, n, err)
		}
		if n, _ := e.store.Pending(ctx, "leaderboard"); n != 0 {
			t.Fatalf("%d pending for the leaderboard", n)
		}
	})
}

type consumerFunc struct {
	name string
	fn   func(int64, []Event)
}

func (c consumerFunc) Name() string { return c.name }
func (c consumerFunc) Deliver(_ context.Context, village int64, evs []Event) error {
	c.fn(village, evs)
	return nil
}
