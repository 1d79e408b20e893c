package ledger

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/sqldb"
)

// The tracks a spend draws on are the village's spendable ones, in its
// order, narrowed to the request's.
func TestPayingTracks(t *testing.T) {
	civicVol := []Track{TrackCivic, TrackVolunteer}
	cases := []struct {
		name      string
		spendable []Track
		only      []Track
		want      []Track
	}{
		{"no filter: the village's tracks", civicVol, nil, civicVol},
		{"a filter narrows", civicVol, []Track{TrackVolunteer}, []Track{TrackVolunteer}},
		{"the village's order, not the request's", []Track{TrackVolunteer, TrackCivic}, []Track{TrackCivic, TrackVolunteer}, []Track{TrackVolunteer, TrackCivic}},
		{"a track the village does not spend never pays", civicVol, []Track{TrackParty, TrackCivic}, []Track{TrackCivic}},
		{"nothing left", civicVol, []Track{TrackParty}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := payingTracks(c.spendable, c.only); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

// A hold with a track filter draws only on the tracks it names, split in
// the village's order; capture and release move exactly those legs; points
// only on other tracks get their own refusal.
func TestHoldDrawsOnlyAllowedTracks(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := Resident(3)
		mustSettings(t, e, 1, func(s *Settings) { s.Spendable = []Track{TrackVolunteer, TrackCivic, TrackParty} })
		mustAward(t, e, 1, r, TrackCivic, 50)
		mustAward(t, e, 1, r, TrackVolunteer, 40)
		mustAward(t, e, 1, r, TrackParty, 100)
		hold := func(amount int64, tracks ...Track) (*Result, error) {
			return e.store.PlaceHold(ctx, HoldRequest{VillageID: 1, Holder: r, Amount: amount, Tracks: tracks,
				Source: Source{"redemption", 1}, Actor: ResidentActor(3), IdempotencyKey: key()})
		}
		before := dumpState(t, e.db, 1)
		_, err := hold(60, TrackCivic)
		wantCode(t, err, CodeTrackNotAccepted)
		if msg := apperr.From(err).Message; msg != "该商品只能用村规民约积分兑换：可用 50 分，需要 60 分（志愿积分、党员积分不能用于兑换该商品）" {
			t.Fatalf("message %q", msg)
		}
		_, err = hold(200, TrackCivic)
		wantCode(t, err, apperr.CodePointsShort) // even every track would not do
		_, err = hold(5, TrackParty, "gold")
		wantCode(t, err, apperr.CodeInvalid)
		if after := dumpState(t, e.db, 1); after != before {
			t.Fatalf("a refusal changed the ledger:\n%s\n%s", before, after)
		}

		// Civic before volunteer? No: the village's order is volunteer
		// first, whatever order the request names them in.
		res, err := hold(70, TrackCivic, TrackVolunteer)
		if err != nil {
			t.Fatal(err)
		}
		if got := formatLegs(res.Hold.Legs); got != "volunteer=40,civic=30" {
			t.Fatalf("legs %s", got)
		}
		wantTracks := func(when string, civic, vol, party, held int64) {
			t.Helper()
			b := mustBalance(t, e, 1, r)
			got := map[Track]int64{}
			for _, tb := range b.Tracks {
				got[tb.Track] = tb.Available
			}
			if got[TrackCivic] != civic || got[TrackVolunteer] != vol || got[TrackParty] != party || b.Held != held {
				t.Fatalf("%s: %+v", when, b)
			}
		}
		wantTracks("held", 20, 0, 100, 70)
		if _, err := e.store.Release(ctx, ReleaseRequest{VillageID: 1, HoldID: res.Hold.ID, Actor: staff, IdempotencyKey: key()}); err != nil {
			t.Fatal(err)
		}
		wantTracks("released", 50, 40, 100, 0)

		// The first track covering it all gives it all, one leg; capture
		// spends that leg.
		res, err = hold(35, TrackCivic, TrackVolunteer)
		if err != nil || formatLegs(res.Hold.Legs) != "volunteer=35" {
			t.Fatalf("%+v %v", res, err)
		}
		wantTracks("held again", 50, 5, 100, 35)
		capt, err := e.store.Capture(ctx, CaptureRequest{VillageID: 1, HoldID: res.Hold.ID, Actor: staff, IdempotencyKey: key()})
		if err != nil || len(capt.Postings) != 1 || capt.Postings[0].Track != TrackVolunteer || capt.Postings[0].Amount != 35 {
			t.Fatalf("capture %+v %v", capt, err)
		}
		wantTracks("captured", 50, 5, 100, 0)
		// The refund of a capture goes back to the track it came from.
		if _, err := e.store.Reverse(ctx, ReverseRequest{VillageID: 1, PostingID: capt.Postings[0].ID, Actor: staff, Reason: "退货", IdempotencyKey: key()}); err != nil {
			t.Fatal(err)
		}
		wantTracks("refunded", 50, 40, 100, 0)

		// A redemption at the counter takes the same filter.
		red, err := e.store.Redeem(ctx, RedeemRequest{VillageID: 1, Holder: r, Amount: 30, Tracks: []Track{TrackParty},
			Source: Source{"redemption", 2}, Actor: staff, IdempotencyKey: key()})
		if err != nil || len(red.Postings) != 1 || red.Postings[0].Track != TrackParty {
			t.Fatalf("redeem %+v %v", red, err)
		}
		wantTracks("redeemed", 50, 40, 70, 0)

		// The first track falls short while its held account exists: the
		// one-statement move puts nothing in the held account, and the
		// split takes what each track has.
		res, err = hold(45, TrackCivic, TrackVolunteer)
		if err != nil || formatLegs(res.Hold.Legs) != "volunteer=40,civic=5" {
			t.Fatalf("%+v %v", res, err)
		}
		wantTracks("split with a held account", 45, 0, 70, 45)
		held := func(track Track) int64 {
			t.Helper()
			var b int64
			e.db.Raw("SELECT balance FROM ledger_accounts WHERE village_id = 1 AND kind = ? AND owner_id = 3 AND track = ?", KindResidentHeld, track).Scan(&b)
			return b
		}
		if held(TrackVolunteer) != 40 || held(TrackCivic) != 5 {
			t.Fatalf("held volunteer %d civic %d, want 40 and 5", held(TrackVolunteer), held(TrackCivic))
		}
		before = dumpState(t, e.db, 1)
		_, err = hold(46, TrackCivic, TrackVolunteer)
		wantCode(t, err, CodeTrackNotAccepted) // the party points would cover it
		if after := dumpState(t, e.db, 1); after != before {
			t.Fatalf("a refusal with held accounts changed the ledger:\n%s\n%s", before, after)
		}
		// A holder's first hold creates their held account.
		fresh := Resident(5)
		mustAward(t, e, 1, fresh, TrackCivic, 30)
		if _, err := e.store.PlaceHold(ctx, HoldRequest{VillageID: 1, Holder: fresh, Amount: 10, Source: Source{"redemption", 3},
			Actor: ResidentActor(5), IdempotencyKey: key()}); err != nil {
			t.Fatal(err)
		}
		if b := mustBalance(t, e, 1, fresh); b.Available != 20 || b.Held != 10 {
			t.Fatalf("first hold: %+v", b)
		}
		mustVerify(t, e, 1)
		mustRedisMatches(t, e, 1)
		mustRebuildAgrees(t, e, 1)
	})
}

// A reward that takes only tracks the village does not let be spent is
// refused with the track code and says so.
func TestHoldOnTracksTheVillageDoesNotSpend(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		r := Resident(4)
		mustAward(t, e, 1, r, TrackParty, 100) // party is not spendable by default
		_, err := e.store.PlaceHold(context.Background(), HoldRequest{VillageID: 1, Holder: r, Amount: 10, Tracks: []Track{TrackParty},
			Source: Source{"redemption", 1}, Actor: ResidentActor(4), IdempotencyKey: key()})
		wantCode(t, err, CodeTrackNotAccepted)
		if msg := apperr.From(err).Message; msg != "该商品只能用党员积分兑换，本村暂未开放这类积分兑换" {
			t.Fatalf("message %q", msg)
		}
		// Without a filter the party points are not spendable either: the
		// plain refusal.
		_, err = e.store.PlaceHold(context.Background(), HoldRequest{VillageID: 1, Holder: r, Amount: 10,
			Source: Source{"redemption", 1}, Actor: ResidentActor(4), IdempotencyKey: key()})
		wantCode(t, err, apperr.CodePointsShort)
	})
}

// Concurrent holds on the same tracks never overdraw one: with 50 civic
// and 50 volunteer points, eight holds of 25 on both get exactly four
// through (some split over the two tracks), and every track ends at zero
// with the holds' legs adding up to what each track had. Holds limited to
// volunteer points never touch civic ones.
func TestConcurrentHoldsOnTracksNeverOverdraw(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for round := range 3 {
			r := Resident(int64(100 + round))
			mustAward(t, e, 1, r, TrackCivic, 50)
			mustAward(t, e, 1, r, TrackVolunteer, 50)
			var ok, short atomic.Int64
			var mu sync.Mutex
			legs := map[Track]int64{}
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					res, err := e.store.PlaceHold(ctx, HoldRequest{VillageID: 1, Holder: r, Amount: 25, Tracks: []Track{TrackVolunteer, TrackCivic},
						Source: Source{"redemption", 1}, Actor: ResidentActor(r.ID), IdempotencyKey: key()})
					switch {
					case err == nil:
						ok.Add(1)
						mu.Lock()
						for _, l := range res.Hold.Legs {
							legs[l.Track] += l.Amount
						}
						mu.Unlock()
					case apperr.Is(err, apperr.CodePointsShort):
						short.Add(1)
					default:
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if ok.Load() != 4 || short.Load() != 4 || legs[TrackCivic] != 50 || legs[TrackVolunteer] != 50 {
				t.Fatalf("round %d: %d held, %d short, legs %v", round, ok.Load(), short.Load(), legs)
			}
			if b := mustBalance(t, e, 1, r); b.Spendable != 0 || b.Held != 100 {
				t.Fatalf("round %d: %+v", round, b)
			}
		}

		r := Resident(200)
		mustAward(t, e, 1, r, TrackCivic, 100)
		mustAward(t, e, 1, r, TrackVolunteer, 100)
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				_, err := e.store.PlaceHold(ctx, HoldRequest{VillageID: 1, Holder: r, Amount: 30, Tracks: []Track{TrackVolunteer},
					Source: Source{"redemption", 1}, Actor: ResidentActor(200), IdempotencyKey: key()})
				switch {
				case err == nil:
					ok.Add(1)
				case apperr.Is(err, CodeTrackNotAccepted):
					refused.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		b := mustBalance(t, e, 1, r)
		if ok.Load() != 3 || refused.Load() != 7 || b.Held != 90 || b.Spendable != 110 {
			t.Fatalf("%d held, %d refused; %+v", ok.Load(), refused.Load(), b)
		}
		for _, tb := range b.Tracks {
			if tb.Track == TrackCivic && tb.Available != 100 {
				t.Fatalf("civic points were touched: %+v", b)
			}
		}
		mustVerify(t, e, 1)
		mustRebuildAgrees(t, e, 1)
	})
}

// A hold inside the caller's transaction whose key was used before is a
// replay that leaves no trace of the second attempt: no debit, no hold.
func TestInReplayedHoldUndoesItsDebit(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := Resident(5)
		mustAward(t, e, 1, r, TrackCivic, 100)
		req := HoldRequest{VillageID: 1, Holder: r, Amount: 30, Source: Source{"redemption", 9}, Actor: ResidentActor(5), IdempotencyKey: "same"}
		var first, again *Result
		for _, out := range []**Result{&first, &again} {
			if err := sqldb.InTx(ctx, e.db, func(tx *gorm.DB) error {
				var err error
				*out, err = e.store.In(tx).PlaceHold(ctx, req)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		if !again.Replayed || again.Hold.ID != first.Hold.ID {
			t.Fatalf("second: %+v", again)
		}
		if b := mustBalance(t, e, 1, r); b.Spendable != 70 || b.Held != 30 {
			t.Fatalf("balance %+v", b)
		}
		if n := countRows(t, e.db, "SELECT COUNT(*) FROM ledger_holds WHERE village_id = 1"); n != 1 {
			t.Fatalf("%d holds", n)
		}
		mustVerify(t, e, 1)
	})
}

// mustRebuildAgrees rebuilds the village's cached balances from its
// postings and fails unless they are what was cached.
func mustRebuildAgrees(t testing.TB, e *env, village int64) {
	t.Helper()
	before := holderRows(t, e.db, village)
	mustSeal(t, e)
	rep, err := e.store.Rebuild(context.Background(), village)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Corrected) > 0 {
		t.Fatalf("rebuild corrected %+v", rep.Corrected)
	}
	if a, b := fmtBalances(before), fmtBalances(holderRows(t, e.db, village)); a != b {
		t.Fatalf("rebuild differs:\nbefore %s\nafter  %s", a, b)
	}
}
