package ledger

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

func TestSealerBuildsAVerifiableChain(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for i := range 7 {
			mustAward(t, e, 1, Resident(int64(i%3+1)), TrackCivic, int64(i+1))
		}
		mustAward(t, e, 2, Resident(1), TrackParty, 5)
		rep := mustVerify(t, e, 1)
		if rep.Postings != 7 || rep.Sealed != 0 || rep.Unsealed != 7 || rep.HeadSeq != 0 {
			t.Fatalf("before sealing %+v", rep)
		}
		e.sealer.Batch = 3 // several batches
		if n, err := e.sealer.SealAll(ctx); err != nil || n != 8 {
			t.Fatalf("sealed %d: %v", n, err)
		}
		rep = mustVerify(t, e, 1)
		if rep.Sealed != 7 || rep.Unsealed != 0 || rep.HeadSeq != 7 {
			t.Fatalf("after sealing %+v", rep)
		}
		if rep2 := mustVerify(t, e, 2); rep2.HeadSeq != 1 {
			t.Fatalf("village 2 %+v", rep2)
		}
		// System balances were folded in by the Sealer.
		b, err := e.store.Balances(ctx, 1)
		if err != nil || b[AccountKey{KindIssued, 0, TrackCivic}] != -28 || b.Sum() != 0 {
			t.Fatalf("balances %v %v", b, err)
		}
		if n := countRows(t, e.db, "SELECT balance FROM ledger_accounts WHERE village_id = 1 AND kind = 'issued'"); n != -28 {
			t.Fatalf("issued row %d", n)
		}
		// Sealing again finds nothing; new postings extend the chain.
		if n, _ := e.sealer.SealVillage(ctx, 1); n != 0 {
			t.Fatalf("resealed %d", n)
		}
		mustAward(t, e, 1, Resident(1), TrackCivic, 1)
		mustSeal(t, e)
		if rep := mustVerify(t, e, 1); rep.HeadSeq != 8 {
			t.Fatalf("%+v", rep)
		}
	})
}

func TestVerifyNamesTamperedPosting(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		var ids []int64
		for i := range 5 {
			ids = append(ids, mustAward(t, e, 1, Resident(1), TrackCivic, int64(10+i)).Postings[0].ID)
		}
		mustSeal(t, e)
		mustVerify(t, e, 1)
		for _, tc := range []struct {
			name, tamper, undo string
			broken             int64
			says               string
		}{
			{"amount changed", "UPDATE ledger_postings SET amount = 99 WHERE id = ?", "UPDATE ledger_postings SET amount = 12 WHERE id = ?", ids[2], "内容与其哈希不符"},
			{"reason changed", "UPDATE ledger_postings SET reason = '改过' WHERE id = ?", "UPDATE ledger_postings SET reason = '' WHERE id = ?", ids[2], "内容与其哈希不符"},
			{"hash rewritten to match", "UPDATE ledger_postings SET hash = ? WHERE id = ?", "", ids[3], "前一哈希"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.undo == "" {
					// Recompute the tampered posting's own hash, as a forger
					// would: the next posting's link gives it away.
					p, err := e.store.Posting(context.Background(), 1, ids[2])
					if err != nil {
						t.Fatal(err)
					}
					p.Amount = 99
					e.db.Exec("UPDATE ledger_postings SET amount = 99 WHERE id = ?", ids[2])
					e.db.Exec(tc.tamper, HashPosting(p), ids[2])
				} else {
					e.db.Exec(tc.tamper, ids[2])
					defer e.db.Exec(tc.undo, ids[2])
				}
				rep, err := e.store.Verify(context.Background(), 1)
				if err != nil {
					t.Fatal(err)
				}
				if rep.OK || rep.BrokenPostingID != tc.broken || !strings.Contains(rep.Problem, tc.says) {
					t.Fatalf("got %+v, want posting %d named", rep, tc.broken)
				}
			})
		}
	})
}

func TestVerifyCatchesDeletedAndMiscachedRows(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		var ids []int64
		for i := range 4 {
			ids = append(ids, mustAward(t, e, 1, Resident(1), TrackCivic, int64(1+i)).Postings[0].ID)
		}
		mustSeal(t, e)
		e.db.Exec("UPDATE ledger_accounts SET balance = balance + 1 WHERE village_id = 1 AND kind = 'resident'")
		rep, _ := e.store.Verify(context.Background(), 1)
		if rep.OK || !strings.Contains(rep.Problem, "resident:1:civic") {
			t.Fatalf("a wrong cached balance passed: %+v", rep)
		}
		e.db.Exec("UPDATE ledger_accounts SET balance = balance - 1 WHERE village_id = 1 AND kind = 'resident'")
		mustVerify(t, e, 1)
		// The holder columns are not hashed (they repeat the accounts), but
		// must agree with them.
		e.db.Exec("UPDATE ledger_postings SET holder_id = 99 WHERE id = ?", ids[0])
		rep, _ = e.store.Verify(context.Background(), 1)
		if rep.OK || rep.BrokenPostingID != ids[0] {
			t.Fatalf("a posting filed under the wrong resident passed: %+v", rep)
		}
		e.db.Exec("UPDATE ledger_postings SET holder_id = 1 WHERE id = ?", ids[0])
		mustVerify(t, e, 1)
		e.db.Exec("DELETE FROM ledger_postings WHERE id = ?", ids[3])
		rep, _ = e.store.Verify(context.Background(), 1)
		if rep.OK || !strings.Contains(rep.Problem, "链头") {
			t.Fatalf("deleting the last posting passed: %+v", rep)
		}
		e.db.Exec("DELETE FROM ledger_postings WHERE id = ?", ids[1])
		rep, _ = e.store.Verify(context.Background(), 1)
		if rep.OK || rep.BrokenPostingID != ids[2] {
			t.Fatalf("deleting a middle posting passed: %+v", rep)
		}
	})
}

// TestSealersRaceWriters runs two Sealers (two replicas) while postings
// are written: the chain still verifies, in seal order.
func TestSealersRaceWriters(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		sealCtx, stop := context.WithCancel(ctx)
		var sealers sync.WaitGroup
		for range 2 {
			z := NewSealer(e.store)
			z.Batch = 7
			sealers.Go(func() { z.Run(sealCtx, time.Millisecond) })
		}
		var writers sync.WaitGroup
		for w := range 4 {
			writers.Go(func() {
				for i := range 15 {
					if _, err := e.store.Award(ctx, AwardRequest{VillageID: int64(1 + w%2), Holder: Resident(int64(i%4 + 1)),
						Track: TrackCivic, Amount: 1, Actor: staff, IdempotencyKey: key()}); err != nil {
						t.Error(err)
					}
				}
			})
		}
		writers.Wait()
		stop()
		sealers.Wait()
		mustSeal(t, e)
		for v := int64(1); v <= 2; v++ {
			if rep := mustVerify(t, e, v); rep.Sealed != 30 || rep.HeadSeq != 30 {
				t.Fatalf("village %d: %+v", v, rep)
			}
		}
	})
}

func TestMonthTotalsAndExport(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := Resident(1)
		mustAward(t, e, 1, r, TrackCivic, 10)
		mustAward(t, e, 1, r, TrackCivic, 5)
		mustAward(t, e, 1, r, TrackParty, 3)
		if _, err := e.store.Redeem(ctx, RedeemRequest{VillageID: 1, Holder: r, Amount: 4, Actor: staff, IdempotencyKey: key()}); err != nil {
			t.Fatal(err)
		}
		mustSeal(t, e)
		e.clock.Advance(31 * 24 * time.Hour) // April
		mustAward(t, e, 1, r, TrackCivic, 100)
		totals, err := e.store.MonthTotals(ctx, 1, 2024, time.March)
		if err != nil {
			t.Fatal(err)
		}
		want := []MonthTotal{{TypeRedemptionCapture, TrackCivic, 1, 4}, {TypeRuleAward, TrackCivic, 2, 15}, {TypeRuleAward, TrackParty, 1, 3}}
		if len(totals) != len(want) {
			t.Fatalf("totals %+v", totals)
		}
		for i := range want {
			if totals[i] != want[i] {
				t.Fatalf("totals[%d] = %+v, want %+v", i, totals[i], want[i])
			}
		}
		var buf bytes.Buffer
		if err := e.store.ExportMonth(ctx, 1, 2024, time.March, &buf); err != nil {
			t.Fatal(err)
		}
		f, err := excelize.OpenReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := f.GetRows("流水")
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 5 || rows[0][15] != "本条哈希" || rows[1][0] != "1" || len(rows[1][15]) != 64 || rows[4][3] != "兑换核销" {
			t.Fatalf("posting sheet %v", rows)
		}
		p, _ := e.store.Posting(ctx, 1, 1)
		if rows[1][15] != p.Hash || rows[2][14] != p.Hash {
			t.Fatal("exported hashes do not match the chain")
		}
		summary, err := f.GetRows("汇总")
		if err != nil || len(summary) < 10 || summary[6][1] != "通过" {
			t.Fatalf("summary %v %v", summary, err)
		}
	})
}
