package ranking

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/rules"
)

// TestReadTopAndMe checks a board read against a hand-made village: ranks
// with ties (1, 2, 2, 4), order inside a tie by who got there first (and
// the same after a rebuild), the caller's rank, gap and neighbours, and
// masked names for villagers.
func TestReadTopAndMe(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villages[0]
		rs := e.residents[v.ID]
		base := time.Now().Add(-time.Hour)
		award := func(i int, amount int64, at time.Duration) {
			e.clock.Set(base.Add(at))
			mustAward(t, e, v.ID, ledger.Resident(rs[i].ID), ledger.TrackCivic, amount)
		}
		award(0, 30, 0)             // 30
		award(1, 20, time.Minute)   // 20, reached first
		award(2, 15, 2*time.Minute) // 15 …
		award(2, 5, 3*time.Minute)  // … 20, reached second
		award(3, 10, 4*time.Minute) // 10
		award(4, 5, 5*time.Minute)  // 5
		mustSync(t, e)
		b, err := e.svc.VillageBoard(ctx, v.ID, SubjectResident, ScopeVillage, rules.Month, rules.Month.Key(base), ledger.TrackCivic)
		if err != nil {
			t.Fatal(err)
		}
		check := func(what string) {
			t.Helper()
			page, err := e.svc.Read(ctx, ReadRequest{Board: b, Limit: 10, Me: rs[3].ID, Around: 1, Viewer: Villager})
			if err != nil {
				t.Fatal(err)
			}
			wantIDs := []int64{rs[0].ID, rs[1].ID, rs[2].ID, rs[3].ID, rs[4].ID}
			wantRanks := []int64{1, 2, 2, 4, 5}
			wantPts := []int64{30, 20, 20, 10, 5}
			if page.Total != 5 || len(page.Entries) != 5 {
				t.Fatalf("%s: %+v", what, page)
			}
			for i, s := range page.Entries {
				if s.MemberID != wantIDs[i] || s.Rank != wantRanks[i] || s.Points != wantPts[i] {
					t.Fatalf("%s: entry %d = %+v, want id %d rank %d points %d", what, i, s, wantIDs[i], wantRanks[i], wantPts[i])
				}
			}
			if page.Entries[0].Name != "张*" && page.Entries[0].Name == rs[0].Name {
				t.Fatalf("%s: villager sees the full name %q", what, page.Entries[0].Name)
			}
			me := page.Me
			if me == nil || !me.Ranked || me.Rank != 4 || me.Points != 10 || me.Gap != 10 || len(me.Neighbours) != 3 {
				t.Fatalf("%s: me = %+v", what, me)
			}
			if me.Neighbours[0].MemberID != rs[2].ID || me.Neighbours[0].Rank != 2 || me.Neighbours[2].Rank != 5 {
				t.Fatalf("%s: neighbours %+v", what, me.Neighbours)
			}
			// A page that starts inside the tie gets the tie's rank.
			p2, err := e.svc.Read(ctx, ReadRequest{Board: b, Offset: 2, Limit: 2, Viewer: Villager})
			if err != nil || p2.Entries[0].Rank != 2 || p2.Entries[1].Rank != 4 {
				t.Fatalf("%s: page 2 %+v %v", what, p2.Entries, err)
			}
			// The leader has no gap; someone not on the board is unranked.
			top, _ := e.svc.Read(ctx, ReadRequest{Board: b, Me: rs[0].ID, Viewer: Villager})
			if top.Me.Rank != 1 || top.Me.Gap != 0 || len(top.Entries) != 0 {
				t.Fatalf("%s: leader %+v", what, top.Me)
			}
			none, _ := e.svc.Read(ctx, ReadRequest{Board: b, Me: rs[7].ID, Viewer: Villager})
			if none.Me.Ranked {
				t.Fatalf("%s: resident without points is ranked: %+v", what, none.Me)
			}
		}
		check("live")
		if _, err := e.svc.RebuildVillage(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
		check("rebuilt")
		staff, err := e.svc.Read(ctx, ReadRequest{Board: b, Limit: 1, Viewer: Staff})
		if err != nil || staff.Entries[0].Name != rs[0].Name {
			t.Fatalf("staff see %+v (%v), want the full name %q", staff.Entries, err, rs[0].Name)
		}
	})
}

// TestLargestPoints drives a member to MaxPoints through real postings and
// ties another at the same points later: both stay exact in Redis (live
// and rebuilt) and in order.
func TestLargestPoints(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villages[1]
		a, b := e.residents[v.ID][0], e.residents[v.ID][1]
		e.clock.Set(time.Now().Add(-time.Hour))
		for range MaxPoints / ledger.MaxAmount {
			mustAward(t, e, v.ID, ledger.Resident(a.ID), ledger.TrackVolunteer, ledger.MaxAmount)
		}
		mustAward(t, e, v.ID, ledger.Resident(a.ID), ledger.TrackVolunteer, MaxPoints%ledger.MaxAmount)
		e.clock.Set(time.Now().Add(-time.Minute))
		for range MaxPoints / ledger.MaxAmount {
			mustAward(t, e, v.ID, ledger.Resident(b.ID), ledger.TrackVolunteer, ledger.MaxAmount)
		}
		mustAward(t, e, v.ID, ledger.Resident(b.ID), ledger.TrackVolunteer, MaxPoints%ledger.MaxAmount)
		mustSync(t, e)
		board, err := e.svc.VillageBoard(ctx, v.ID, SubjectResident, ScopeCounty, rules.AllTime, "", ledger.TrackVolunteer)
		if err != nil {
			t.Fatal(err)
		}
		check := func(what string) {
			t.Helper()
			page, err := e.svc.Read(ctx, ReadRequest{Board: board, Limit: 5, Me: b.ID, Viewer: Staff})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Entries) != 2 || page.Entries[0].MemberID != a.ID || page.Entries[0].Points != MaxPoints ||
				page.Entries[1].Points != MaxPoints || page.Entries[1].Rank != 1 || page.Me.Gap != 0 {
				t.Fatalf("%s: %+v me %+v", what, page.Entries, page.Me)
			}
		}
		check("live")
		live := dumpBoards(t, e)
		if _, err := e.svc.RebuildVillage(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
		check("rebuilt")
		diffBoards(t, "largest", live, dumpBoards(t, e))
	})
}

func TestParticipation(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villages[0]
		e.clock.Set(time.Now().Add(-time.Minute))
		// Two of village 1's four households take part; a redemption
		// counts as a posting too.
		rs := e.residents[v.ID]
		mustAward(t, e, v.ID, ledger.Resident(rs[0].ID), ledger.TrackCivic, 5)
		mustAward(t, e, v.ID, ledger.Resident(rs[len(rs)-1].ID), ledger.TrackCivic, 5)
		mustAward(t, e, e.villages[2].ID, ledger.Household(e.households[e.villages[2].ID][1].ID), ledger.TrackCivic, 5)
		got, err := e.svc.Participation(ctx, e.county.ID, rules.Month, rules.Month.Key(e.clock.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].VillageID != v.ID || got[0].Active != 2 || got[0].Households != 4 || got[0].Permille != 500 ||
			got[1].Permille != 250 || got[2].Active != 0 {
			t.Fatalf("%+v", got)
		}
		town, err := e.svc.Participation(ctx, e.townB.ID, rules.Month, "")
		if err != nil || len(town) != 1 {
			t.Fatalf("%+v %v", town, err)
		}
	})
}

// TestCachedPagesAndBatchedStandings reads with the page cache on, from
// many goroutines at once, so standings are batched: every villager gets
// the same answer as an uncached read.
func TestCachedPagesAndBatchedStandings(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		randomWorkload(t, e, 120, 5)
		cached := New(e.db, e.kv, e.ledger, Options{PageTTL: time.Minute})
		var wg sync.WaitGroup
		for _, v := range e.villages[:2] {
			for _, r := range e.residents[v.ID] {
				for _, scope := range Scopes {
					wg.Go(func() {
						b, err := e.svc.VillageBoard(ctx, v.ID, SubjectResident, scope, rules.AllTime, "", TrackTotal)
						if err != nil {
							t.Error(err)
							return
						}
						req := ReadRequest{Board: b, Limit: 5, Me: r.ID, Around: 1, Viewer: Villager}
						want, err := e.svc.Read(ctx, req)
						if err != nil {
							t.Error(err)
							return
						}
						for range 3 {
							got, err := cached.Read(ctx, req)
							if err != nil {
								t.Error(err)
								return
							}
							if fmt.Sprint(got.Me, got.Entries, got.Total) != fmt.Sprint(want.Me, want.Entries, want.Total) {
								t.Errorf("cached read %+v %+v, uncached %+v %+v", got.Me, got.Entries, want.Me, want.Entries)
								return
							}
						}
					})
				}
			}
		}
		wg.Wait()
	})
}

// TestPageJSONIsEncodingJSON checks the hand-written encoding of a board
// page against what encoding/json makes of the same fields, names with
// characters that need escaping included.
func TestPageJSONIsEncodingJSON(t *testing.T) {
	names := []string{"张*三", "", `a"b\c`, "<&>", "tab\there\nnl\r\b\f\x01\x1f", "bad\xffutf8", "sep\u2028\u2029", "欧阳**户", "12号"}
	var entries []Standing
	for i, n := range names {
		entries = append(entries, Standing{Rank: int64(i + 1), MemberID: int64(100 + i), Name: n, Points: int64(-5 + i*1000)})
	}
	entries[2].PerMemberText = "12.34"
	pages := []BoardPage{
		{Subject: SubjectResident, Scope: ScopeVillage, ScopeID: 42, Period: rules.Month, Key: "2026-03", Track: TrackTotal, Total: 9, Entries: entries,
			Me: &MyStanding{MemberID: 101, Ranked: true, Rank: 2, Points: 995, Gap: 1000, Neighbours: entries[:3]}},
		{Subject: SubjectHouseholdPerMember, Scope: ScopeCounty, ScopeID: 1, Period: rules.AllTime, Key: "all", Track: TrackTotal,
			Entries: []Standing{}, Me: &MyStanding{MemberID: 7, Neighbours: []Standing{}}},
		{Subject: SubjectParty, Scope: ScopeTownship, Period: rules.Year, Key: "2026", Track: ledger.TrackParty, Entries: []Standing{}},
	}
	// (Empty lists are [] here: the hand-written encoding never writes
	// null for a list, which encoding/json would for a nil slice.)
	for i, p := range pages {
		got, err := p.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		type plain BoardPage // the same fields without the MarshalJSON method
		want, err := json.Marshal(plain(p))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("page %d:\n got %s\nwant %s", i, got, want)
		}
		// A page served from the cache encodes the same.
		p.entriesJSON = appendStandings(nil, p.Entries)
		if again, _ := p.MarshalJSON(); !bytes.Equal(again, want) {
			t.Fatalf("cached page %d:\n got %s\nwant %s", i, again, want)
		}
	}
}
