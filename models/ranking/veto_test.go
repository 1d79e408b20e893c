package ranking

import (
	"testing"
	"time"

	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/rules"
)

// TestVetoLeavesSubjectOutOfThatPeriod vetoes a resident for this month and
// a household for all time: they leave exactly those boards at once, later
// postings of the period do not bring them back, a rebuild agrees, and
// lifting the veto restores every point.
func TestVetoLeavesSubjectOutOfThatPeriod(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villages[0]
		rs := e.residents[v.ID]
		hh := e.households[v.ID][3]
		e.clock.Set(time.Now().Add(-time.Minute))
		for _, r := range rs {
			mustAward(t, e, v.ID, ledger.Resident(r.ID), ledger.TrackCivic, 10)
		}
		mustSync(t, e)
		month := rules.Month.Key(e.clock.Now())
		victim := rs[0] // a party member, in household 0
		if _, err := e.svc.RecordVeto(ctx, VetoRequest{VillageID: v.ID, Subject: VetoResident, SubjectID: victim.ID, PeriodKey: month, Reason: "违章建房", By: "staff:1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.RecordVeto(ctx, VetoRequest{VillageID: v.ID, Subject: VetoHousehold, SubjectID: hh.ID, PeriodKey: "all", By: "staff:1"}); err != nil {
			t.Fatal(err)
		}
		on := func(sub Subject, scope ScopeKind, p rules.Period, id int64) bool {
			t.Helper()
			b, err := e.svc.VillageBoard(ctx, v.ID, sub, scope, p, "", TrackTotal)
			if err != nil {
				t.Fatal(err)
			}
			page, err := e.svc.Read(ctx, ReadRequest{Board: b, Me: id, Viewer: Staff})
			if err != nil {
				t.Fatal(err)
			}
			return page.Me.Ranked
		}
		for _, sc := range Scopes {
			if on(SubjectResident, sc, rules.Month, victim.ID) || on(SubjectParty, sc, rules.Month, victim.ID) {
				t.Fatalf("vetoed resident still on the %s month board", sc)
			}
			if !on(SubjectResident, sc, rules.Year, victim.ID) || !on(SubjectResident, sc, rules.AllTime, victim.ID) {
				t.Fatalf("a month's veto removed the resident from the %s year or all-time board", sc)
			}
			if on(SubjectHousehold, sc, rules.AllTime, hh.ID) || on(SubjectHouseholdPerMember, sc, rules.AllTime, hh.ID) {
				t.Fatalf("vetoed household still on the %s all-time board", sc)
			}
			if !on(SubjectHousehold, sc, rules.Month, hh.ID) {
				t.Fatalf("an all-time veto removed the household from the %s month board", sc)
			}
		}
		// The victim's household still counts their points.
		mustAward(t, e, v.ID, ledger.Resident(victim.ID), ledger.TrackCivic, 7)
		mustSync(t, e)
		if on(SubjectResident, ScopeVillage, rules.Month, victim.ID) {
			t.Fatal("a posting brought the vetoed resident back")
		}
		live := dumpBoards(t, e)
		if _, err := e.svc.RebuildRegion(ctx, admin, e.county.ID); err != nil {
			t.Fatal(err)
		}
		diffBoards(t, "vetoes", live, dumpBoards(t, e))
		if err := e.svc.LiftVeto(ctx, v.ID, VetoResident, victim.ID, month); err != nil {
			t.Fatal(err)
		}
		b, _ := e.svc.VillageBoard(ctx, v.ID, SubjectResident, ScopeVillage, rules.Month, "", TrackTotal)
		page, err := e.svc.Read(ctx, ReadRequest{Board: b, Me: victim.ID, Viewer: Staff})
		if err != nil || !page.Me.Ranked || page.Me.Points != 17 {
			t.Fatalf("after lifting: %+v %v", page.Me, err)
		}
		vs, err := e.svc.Vetoes(ctx, v.ID)
		if err != nil || len(vs) != 1 || vs[0].Subject != VetoHousehold {
			t.Fatalf("standing vetoes %+v %v", vs, err)
		}
		if _, err := e.svc.RecordVeto(ctx, VetoRequest{VillageID: v.ID, Subject: VetoResident, SubjectID: 1, PeriodKey: "2026-13"}); err == nil {
			t.Fatal("a bad period key was accepted")
		}
		// Recorded and lifted by the awards' sync worker: the system's, in
		// the audit log, naming the staff member whose award decided it.
		entries := mustAudit(t, e)
		if len(entries) != 4 {
			t.Fatalf("audit entries %+v", entries)
		}
		wantAudit(t, entries[0], "ranking.veto.record", audit.System, v.ID, victim.ID, nil, []string{`"period_key":"` + month, "违章建房", `"by":"staff:1"`})
		wantAudit(t, entries[1], "ranking.veto.record", audit.System, v.ID, hh.ID, nil, []string{`"period_key":"all"`})
		wantAudit(t, entries[2], "ranking.rebuild", admin, 0, e.county.ID, nil, []string{`"villages":3`})
		wantAudit(t, entries[3], "ranking.veto.lift", audit.System, v.ID, victim.ID, []string{`"period_key":"` + month}, nil)
		if entries[0].TargetType != "resident" || entries[1].TargetType != "household" || entries[2].TargetType != "region" {
			t.Fatalf("target types %+v", entries)
		}
	})
}
