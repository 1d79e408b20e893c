package ranking

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/rules"
)

// randomWorkload writes n random postings over the last 45 days: awards,
// deductions, manual adjustments both ways, reversals of earlier ones
// (some weeks later, so they count back in an earlier month), and
// redemptions, which must not move any board. Village 3 keeps points per
// household.
func randomWorkload(t *testing.T, e *env, n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	start := time.Now().Add(-45 * 24 * time.Hour)
	var reversible []ledger.Posting
	for i := range n {
		e.clock.Set(start.Add(time.Duration(i) * 45 * 24 * time.Hour / time.Duration(n)))
		v := e.villages[rng.IntN(len(e.villages))]
		var h ledger.Holder
		if v.ID == e.villages[2].ID {
			hs := e.households[v.ID]
			h = ledger.Household(hs[rng.IntN(len(hs))].ID)
		} else {
			rs := e.residents[v.ID]
			h = ledger.Resident(rs[rng.IntN(len(rs))].ID)
		}
		track := ledger.Tracks[rng.IntN(len(ledger.Tracks))]
		amount := int64(rng.IntN(20) + 1)
		var res *ledger.Result
		var err error
		switch op := rng.IntN(10); {
		case op < 5:
			res, err = e.ledger.Award(ctx, ledger.AwardRequest{VillageID: v.ID, Holder: h, Track: track, Amount: amount, Actor: ledger.StaffActor(1), IdempotencyKey: key()})
		case op < 7:
			res, err = e.ledger.Deduct(ctx, ledger.DeductRequest{VillageID: v.ID, Holder: h, Track: track, Amount: amount, Actor: ledger.StaffActor(1), IdempotencyKey: key()})
		case op < 8:
			if rng.IntN(2) == 0 {
				amount = -amount
			}
			res, err = e.ledger.Adjust(ctx, ledger.AdjustRequest{VillageID: v.ID, Holder: h, Track: track, Amount: amount, Reason: "调整", Actor: ledger.StaffActor(1), IdempotencyKey: key()})
		case op < 9 && len(reversible) > 0:
			j := rng.IntN(len(reversible))
			p := reversible[j]
			reversible = append(reversible[:j], reversible[j+1:]...)
			_, err = e.ledger.Reverse(ctx, ledger.ReverseRequest{VillageID: p.VillageID, PostingID: p.ID, Actor: ledger.StaffActor(1), Reason: "更正", IdempotencyKey: key()})
		default:
			_, err = e.ledger.Redeem(ctx, ledger.RedeemRequest{VillageID: v.ID, Holder: h, Amount: amount, Actor: ledger.StaffActor(1), IdempotencyKey: key()})
		}
		if err != nil && !apperr.Is(err, apperr.CodePointsShort) && !apperr.Is(err, apperr.CodeAlreadyReversed) {
			t.Fatalf("op %d: %v", i, err)
		}
		if res != nil {
			reversible = append(reversible, res.Postings...)
		}
		if i%40 == 39 {
			mustSync(t, e) // deliver as we go, like the relay would
		}
	}
	mustSync(t, e)
}

// TestRebuildEqualsLiveBoards runs a random workload through the live
// delivery, then rebuilds the county, a township and a village from the
// ledger: every board is identical, scores (points and tie-break) included.
func TestRebuildEqualsLiveBoards(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		randomWorkload(t, e, 300, 1)
		live := dumpBoards(t, e)
		if len(live) < 50 {
			t.Fatalf("only %d boards after the workload", len(live))
		}
		for _, region := range []int64{e.county.ID, e.townA.ID, e.villages[0].ID, e.villages[2].ID} {
			rep, err := e.svc.RebuildRegion(ctx, admin, region)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Postings == 0 || rep.Entries == 0 {
				t.Fatalf("rebuild of %d read nothing: %+v", region, rep)
			}
			diffBoards(t, "rebuild", live, dumpBoards(t, e))
		}
		// Deliveries after a rebuild go on from where it left off.
		randomWorkload(t, e, 60, 2)
		live = dumpBoards(t, e)
		if _, err := e.svc.RebuildRegion(ctx, admin, e.county.ID); err != nil {
			t.Fatal(err)
		}
		diffBoards(t, "rebuild after more postings", live, dumpBoards(t, e))
	})
}

// TestRedisLossIsRebuilt flushes the boards: the next delivery notices and
// rebuilds them, identical to what they were.
func TestRedisLossIsRebuilt(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		randomWorkload(t, e, 150, 3)
		live := dumpBoards(t, e)
		iter := e.kv.Scan(ctx, 0, e.kv.Key("rank", "*"), 1000).Iterator()
		for iter.Next(ctx) {
			e.kv.Del(ctx, iter.Val())
		}
		// A new posting in every village makes each delivery find its
		// state gone.
		e.clock.Set(time.Now())
		var extra []ledger.Posting
		extra = append(extra, mustDeduct(t, e, e.villages[0].ID, ledger.Resident(e.residents[e.villages[0].ID][0].ID), ledger.TrackCivic, 3))
		extra = append(extra, mustDeduct(t, e, e.villages[1].ID, ledger.Resident(e.residents[e.villages[1].ID][0].ID), ledger.TrackCivic, 3))
		extra = append(extra, mustDeduct(t, e, e.villages[2].ID, ledger.Household(e.households[e.villages[2].ID][0].ID), ledger.TrackCivic, 3))
		for _, p := range extra {
			mustReverse(t, e, p.VillageID, p)
		}
		mustSync(t, e)
		got := dumpBoards(t, e)
		// The extra postings changed the tie-break ticks of three members;
		// a rebuild from scratch must agree with the repaired boards.
		if _, err := e.svc.RebuildRegion(ctx, admin, e.county.ID); err != nil {
			t.Fatal(err)
		}
		diffBoards(t, "after loss", got, dumpBoards(t, e))
		if len(got) < len(live) {
			t.Fatalf("%d boards after repair, %d before the loss", len(got), len(live))
		}
	})
}

// TestReadsContinueDuringRebuild reads the county board over and over
// while the county is rebuilt: every read sees the whole board, never a
// half-built one.
func TestReadsContinueDuringRebuild(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		randomWorkload(t, e, 120, 4)
		b, err := e.svc.VillageBoard(ctx, e.villages[0].ID, SubjectResident, ScopeCounty, rules.AllTime, "", TrackTotal)
		if err != nil {
			t.Fatal(err)
		}
		want, err := e.svc.Read(ctx, ReadRequest{Board: b, Limit: 100, Viewer: Staff})
		if err != nil || want.Total == 0 {
			t.Fatalf("%+v %v", want, err)
		}
		var stop atomic.Bool
		var reads atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for !stop.Load() {
					got, err := e.svc.Read(ctx, ReadRequest{Board: b, Limit: 100, Viewer: Staff})
					if err != nil {
						t.Error(err)
						return
					}
					if got.Total != want.Total || len(got.Entries) != len(want.Entries) || got.Entries[0] != want.Entries[0] {
						t.Errorf("read during rebuild saw %d members, want %d", got.Total, want.Total)
						return
					}
					reads.Add(1)
				}
			})
		}
		for range 2 {
			if _, err := e.svc.RebuildRegion(ctx, admin, e.county.ID); err != nil {
				t.Fatal(err)
			}
		}
		stop.Store(true)
		wg.Wait()
		if reads.Load() == 0 {
			t.Fatal("no read completed during the rebuilds")
		}
	})
}

// TestPeopleChangeRebuildsVillage makes a resident a party member and moves
// another to a different household: once the relay loop reloads the
// village's people it rebuilds the village, and the boards again equal a
// rebuild from scratch (the new party member with all their points of the
// period).
func TestPeopleChangeRebuildsVillage(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		e.svc = New(e.db, e.kv, e.ledger, Options{PeopleTTL: time.Millisecond, PageTTL: -1})
		v := e.villages[1]
		rs := e.residents[v.ID]
		e.clock.Set(time.Now().Add(-time.Minute))
		for _, r := range rs {
			mustAward(t, e, v.ID, ledger.Resident(r.ID), ledger.TrackCivic, 4)
		}
		mustSync(t, e)
		newMember := rs[1] // not a party member yet
		in := people.ResidentInput{Name: newMember.Name, HouseholdID: newMember.HouseholdID, Registered: true, PartyMember: true}
		if _, err := e.people.UpdateResident(ctx, audit.System, newMember.ID, in); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		mustAward(t, e, v.ID, ledger.Resident(rs[0].ID), ledger.TrackCivic, 1) // any posting wakes the loop
		mustSync(t, e)
		b, _ := e.svc.VillageBoard(ctx, v.ID, SubjectParty, ScopeVillage, rules.Month, rules.Month.Key(e.clock.Now()), TrackTotal)
		page, err := e.svc.Read(ctx, ReadRequest{Board: b, Me: newMember.ID, Viewer: Staff})
		if err != nil || !page.Me.Ranked || page.Me.Points != 4 {
			t.Fatalf("new party member: %+v %v", page.Me, err)
		}
		live := dumpBoards(t, e)
		if _, err := e.svc.RebuildRegion(ctx, admin, e.county.ID); err != nil {
			t.Fatal(err)
		}
		diffBoards(t, "after people change", live, dumpBoards(t, e))
	})
}
