package ledger

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/sqldb"
)

// TestInCommitsAndRollsBackWithTheCaller proves a view made by In writes in
// the caller's transaction: the caller's own row and the posting commit
// together or not at all, and a retried caller is answered with a replay.
func TestInCommitsAndRollsBackWithTheCaller(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const village = 1
		h := Resident(11)
		award := func(k string) AwardRequest {
			return AwardRequest{VillageID: village, Holder: h, Track: TrackCivic, Amount: 5,
				Source: Source{Type: "award", ID: 1}, Actor: staff, IdempotencyKey: k}
		}
		marker := func(tx *gorm.DB, code string) error {
			return tx.Exec("INSERT INTO regions (level, name, code, path, created_at) VALUES ('county', 'x', ?, '/', CURRENT_TIMESTAMP)", code).Error
		}
		boom := errors.New("caller fails after posting")
		err := sqldb.InTx(ctx, e.db, func(tx *gorm.DB) error {
			if err := marker(tx, "M1"); err != nil {
				return err
			}
			if _, err := e.store.In(tx).Award(ctx, award("in-1")); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if b := mustBalance(t, e, village, h); b.Available != 0 {
			t.Fatalf("a rolled-back caller left %d points", b.Available)
		}
		var first *Result
		for i := range 2 {
			err := sqldb.InTx(ctx, e.db, func(tx *gorm.DB) error {
				if i == 0 {
					if err := marker(tx, "M2"); err != nil {
						return err
					}
				}
				var err error
				r, err := e.store.In(tx).Award(ctx, award("in-2"))
				if i == 0 {
					first = r
				} else if !r.Replayed || r.Postings[0].ID != first.Postings[0].ID {
					t.Errorf("second call with one key: %+v, want a replay of posting %d", r, first.Postings[0].ID)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if b := mustBalance(t, e, village, h); b.Available != 5 {
			t.Fatalf("balance %d, want 5", b.Available)
		}
		var n int64
		e.db.Table("regions").Where("code IN ?", []string{"M1", "M2"}).Count(&n)
		if n != 1 {
			t.Fatalf("caller rows: %d, want only M2", n)
		}
		// A different request under a used key is refused inside the caller too.
		err = sqldb.InTx(ctx, e.db, func(tx *gorm.DB) error {
			r := award("in-2")
			r.Amount = 6
			_, err := e.store.In(tx).Award(ctx, r)
			return err
		})
		if !apperr.Is(err, apperr.CodeIdempotency) {
			t.Fatalf("changed request under a used key: %v", err)
		}
	})
}

// TestInNeverOverspendsUnderConcurrency runs 20 callers that each lock a row
// of their own and redeem 10 of 50 points inside their transaction.
func TestInNeverOverspendsUnderConcurrency(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		h := Resident(12)
		mustAward(t, e, 1, h, TrackCivic, 50)
		var ok, short atomic.Int64
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				err := sqldb.InTx(ctx, e.db, func(tx *gorm.DB) error {
					_, err := e.store.In(tx).Redeem(ctx, RedeemRequest{VillageID: 1, Holder: h, Amount: 10,
						Source: Source{Type: "order", ID: 1}, Actor: staff, IdempotencyKey: key()})
					return err
				})
				switch {
				case err == nil:
					ok.Add(1)
				case apperr.Is(err, apperr.CodePointsShort):
					short.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 5 || short.Load() != 15 {
			t.Fatalf("%d redeemed, %d refused; want 5 and 15", ok.Load(), short.Load())
		}
		if b := mustBalance(t, e, 1, h); b.Available != 0 {
			t.Fatalf("balance %d, want 0", b.Available)
		}
	})
}
