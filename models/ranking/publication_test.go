package ranking

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/rules"
)

// lastMonth is a time in the middle of the previous month.
func lastMonth() time.Time {
	return rules.Month.Start(rules.Month.Start(time.Now()).Add(-time.Hour)).Add(10*24*time.Hour + 3*time.Hour)
}

// TestMonthlyPublication walks a month's ranking through its life: frozen
// from the ledger (equal to the live board), published, objected to,
// corrected by a reversal (a new version, never an edit), finalised after
// the notice window with titles awarded; then exported.
func TestMonthlyPublication(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villages[0]
		rs := e.residents[v.ID]
		at := lastMonth()
		month := rules.Month.Key(at)
		var wrong ledger.Posting
		for i, r := range rs {
			e.clock.Set(at.Add(time.Duration(i) * time.Minute))
			p := mustAward(t, e, v.ID, ledger.Resident(r.ID), ledger.TrackCivic, int64(10+i%4*5))
			if i == 5 {
				wrong = p
			}
		}
		e.clock.Set(at.Add(time.Hour))
		mustDeduct(t, e, v.ID, ledger.Resident(rs[2].ID), ledger.TrackCivic, 4)
		mustDeduct(t, e, v.ID, ledger.Resident(rs[7].ID), ledger.TrackCivic, 9)
		mustSync(t, e)
		if _, err := e.svc.SaveSettings(ctx, admin, v.ID, Settings{HouseholdBasis: BasisTotal, RedBlack: true, NoticeDays: 7,
			Titles: []TitleRule{{Subject: SubjectResident, Track: TrackTotal, TopN: 2, Title: "文明村民"}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Freeze(ctx, admin, FreezeRequest{VillageID: v.ID, PeriodKey: rules.Month.Key(time.Now())}); !apperr.Is(err, apperr.CodeConflict) {
			t.Fatalf("froze a month that has not ended: %v", err)
		}
		v1, err := e.svc.Freeze(ctx, admin, FreezeRequest{VillageID: v.ID, PeriodKey: month})
		if err != nil {
			t.Fatal(err)
		}
		if v1.Version != 1 || v1.Status != StatusFrozen || v1.Subject != SubjectResident || len(v1.Entries) != len(rs) || len(v1.Black) != 2 {
			t.Fatalf("v1 %+v", v1)
		}
		// The frozen ranking is the live board of that month, line by line.
		b, _ := e.svc.VillageBoard(ctx, v.ID, SubjectResident, ScopeVillage, rules.Month, month, TrackTotal)
		board, err := e.svc.Read(ctx, ReadRequest{Board: b, Limit: 100, Viewer: Staff})
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range board.Entries {
			got := v1.Entries[i]
			if got.SubjectID != s.MemberID || got.Rank != s.Rank || got.Points != s.Points || got.Name != s.Name {
				t.Fatalf("line %d: frozen %+v, board %+v", i, got, s)
			}
		}
		if v1.Black[0].SubjectID != rs[7].ID || v1.Black[0].Points != 9 {
			t.Fatalf("black side %+v", v1.Black)
		}
		if v1.RecomputeDigest() != v1.Digest {
			t.Fatal("digest does not recompute from the stored entries")
		}
		// Villagers see nothing until it is published, then masked names.
		if _, err := e.svc.Publication(ctx, v1.ID, Villager); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("villager sees a frozen ranking: %v", err)
		}
		if _, err := e.svc.Object(ctx, v1.ID, v.ID, rs[1].ID, "我的分数不对"); err == nil {
			t.Fatal("objection to an unpublished ranking accepted")
		}
		pub, err := e.svc.Publish(ctx, admin, v1.ID, 0)
		if err != nil || pub.Status != StatusPublished || pub.NoticeEndsAt.Sub(*pub.PublishedAt) != 7*24*time.Hour {
			t.Fatalf("publish %+v %v", pub, err)
		}
		seen, err := e.svc.Publication(ctx, v1.ID, Villager)
		if err != nil || strings.Contains(seen.Entries[0].Name, rs[0].Name[3:]) && len([]rune(rs[0].Name)) > 1 {
			t.Fatalf("villager view %+v %v", seen.Entries, err)
		}
		o1, err := e.svc.Object(ctx, v1.ID, v.ID, rs[5].ID, "这条加分不是我的")
		if err != nil {
			t.Fatal(err)
		}
		o2, err := e.svc.Object(ctx, v1.ID, v.ID, rs[1].ID, "希望复核")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Object(ctx, v1.ID, v.ID, rs[1].ID, "再提一次"); !apperr.Is(err, apperr.CodeConflict) {
			t.Fatalf("second open objection: %v", err)
		}
		if _, err := e.svc.Object(ctx, v1.ID, e.villages[1].ID, rs[1].ID, "别村的人"); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("objection from another village: %v", err)
		}
		// The committee finds the award was wrong: it is reversed in the
		// ledger (now, in this month) and counts back in last month.
		e.clock.Set(time.Now())
		mustReverse(t, e, v.ID, wrong)
		mustSync(t, e)
		_, v2, err := e.svc.Resolve(ctx, admin, o1.ID, Resolution{Corrected: true, Reply: "已冲正错误加分"})
		if err != nil {
			t.Fatal(err)
		}
		if v2 == nil || v2.Version != 2 || v2.Status != StatusPublished || *v2.SupersedesID != v1.ID || v2.Digest == v1.Digest ||
			!v2.NoticeEndsAt.Equal(*pub.NoticeEndsAt) {
			t.Fatalf("correction %+v", v2)
		}
		for _, en := range v2.Entries {
			if en.SubjectID == rs[5].ID && en.Points != 0 {
				t.Fatalf("corrected ranking still counts the reversed award: %+v", en)
			}
		}
		old, _ := e.svc.Publication(ctx, v1.ID, Staff)
		if old.Status != StatusSuperseded || old.Digest != v1.Digest || len(old.Entries) != len(v1.Entries) {
			t.Fatalf("v1 was edited: %+v", old)
		}
		if _, err := e.svc.Finalize(ctx, admin, v2.ID); !apperr.Is(err, apperr.CodeConflict) {
			t.Fatalf("finalised during the notice window: %v", err)
		}
		later := New(e.db, e.kv, e.ledger, Options{Now: func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }})
		if _, err := later.Finalize(ctx, admin, v2.ID); !apperr.Is(err, apperr.CodeConflict) {
			t.Fatalf("finalised with an open objection: %v", err)
		}
		if _, _, err := e.svc.Resolve(ctx, admin, o2.ID, Resolution{Reply: "经核实无误"}); err != nil {
			t.Fatal(err)
		}
		final, err := later.Finalize(ctx, admin, v2.ID)
		if err != nil {
			t.Fatal(err)
		}
		if final.Status != StatusFinal || len(final.Titles) < 2 {
			t.Fatalf("final %+v", final)
		}
		for _, ti := range final.Titles {
			if ti.Rank > 2 || ti.Title != "文明村民" {
				t.Fatalf("title %+v", ti)
			}
		}
		objs, err := e.svc.Objections(ctx, v2.ID)
		if err != nil || len(objs) != 2 || objs[0].Status != ObjectionCorrected || *objs[0].CorrectionID != v2.ID || objs[1].Status != ObjectionRejected {
			t.Fatalf("objections %+v %v", objs, err)
		}

		// Every staff write is in the audit log, as the admin's, in order;
		// the refused ones (an unfinished month, finalising early) are not.
		entries := mustAudit(t, e)
		if len(entries) != 8 {
			t.Fatalf("audit entries: %+v", entries)
		}
		id := func(n int64) string { return fmt.Sprint(n) }
		wantAudit(t, entries[0], "ranking.settings.update", admin, v.ID, v.ID, []string{`"household_basis":"total"`, `"red_black_enabled":false`},
			[]string{`"red_black_enabled":true`, "文明村民"})
		wantAudit(t, entries[1], "ranking.freeze", admin, v.ID, v1.ID, nil, []string{`"version":1`, v1.Digest, `"period_key":"` + month})
		wantAudit(t, entries[2], "ranking.publish", admin, v.ID, v1.ID, []string{`"status":"frozen"`}, []string{`"status":"published"`, `"notice_days":7`})
		wantAudit(t, entries[3], "ranking.correct", admin, v.ID, v2.ID, []string{`"id":` + id(v1.ID)},
			[]string{`"version":2`, `"supersedes_id":` + id(v1.ID), v2.Digest})
		wantAudit(t, entries[4], "ranking.objection.resolve", admin, v.ID, o1.ID, []string{`"status":"open"`},
			[]string{`"status":"corrected"`, `"correction_id":` + id(v2.ID), "已冲正错误加分"})
		wantAudit(t, entries[5], "ranking.objection.resolve", admin, v.ID, o2.ID, []string{`"status":"open"`}, []string{`"status":"rejected"`, "经核实无误"})
		wantAudit(t, entries[6], "ranking.finalize", admin, v.ID, v2.ID, []string{`"status":"published"`}, []string{`"status":"final"`, v2.Digest})
		wantAudit(t, entries[7], "ranking.titles.award", admin, v.ID, v2.ID, nil, []string{"文明村民", `"subject_id":`})
		for _, en := range entries {
			if en.TargetType == "" {
				t.Fatalf("entry without a target type: %+v", en)
			}
		}

		view, err := e.svc.Publication(ctx, v2.ID, Villager)
		if err != nil {
			t.Fatal(err)
		}
		xlsx, err := ExportExcel(view, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		f, err := excelize.OpenReader(bytes.NewReader(xlsx))
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := f.GetRows("排名")
		var text strings.Builder
		for _, r := range rows {
			text.WriteString(strings.Join(r, "|") + "\n")
		}
		if !strings.Contains(text.String(), v2.Digest) || strings.Contains(text.String(), rs[3].Name) && len([]rune(rs[3].Name)) > 1 {
			t.Fatalf("workbook lacks the digest or shows a full name:\n%s", text.String())
		}
		for name, render := range map[string]func(Publication, int, string, time.Time) ([]byte, error){"notice": RenderNotice, "redblack": RenderRedBlack} {
			img, err := render(view, 30, "", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := png.DecodeConfig(bytes.NewReader(img))
			if err != nil || cfg.Width != pageW || cfg.Height != pageH {
				t.Fatalf("%s: %+v %v", name, cfg, err)
			}
			if dir := os.Getenv("RANKING_NOTICE_DIR"); dir != "" {
				_ = os.WriteFile(filepath.Join(dir, name+".png"), img, 0o644)
			}
		}
	})
}

// TestHouseholdPerMemberRanking freezes the household ranking of a village
// that ranks households per member: the same points spread over more
// members rank lower.
func TestHouseholdPerMemberRanking(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villages[1]
		hs := e.households[v.ID] // 1, 2, 3 and 4 members
		at := lastMonth()
		e.clock.Set(at)
		for _, r := range e.residents[v.ID] {
			if r.HouseholdID != nil && (*r.HouseholdID == hs[0].ID || *r.HouseholdID == hs[3].ID) {
				mustAward(t, e, v.ID, ledger.Resident(r.ID), ledger.TrackVolunteer, 10)
			}
		}
		mustSync(t, e)
		if _, err := e.svc.SaveSettings(ctx, admin, v.ID, Settings{HouseholdBasis: BasisPerMember, NoticeDays: 3}); err != nil {
			t.Fatal(err)
		}
		p, err := e.svc.Freeze(ctx, admin, FreezeRequest{VillageID: v.ID, PeriodKey: rules.Month.Key(at), Subject: SubjectHousehold})
		if err != nil {
			t.Fatal(err)
		}
		// Household 3 has 40 points over 4 members (10.00), household 0
		// 10 points over 1 (10.00): a tie, the earlier first.
		if p.Subject != SubjectHouseholdPerMember || len(p.Entries) != 2 || p.Entries[0].PointsText != "10.00" || p.Entries[1].Rank != 1 {
			t.Fatalf("%+v", p.Entries)
		}
		b, _ := e.svc.VillageBoard(ctx, v.ID, SubjectHouseholdPerMember, ScopeVillage, rules.Month, rules.Month.Key(at), TrackTotal)
		board, _ := e.svc.Read(ctx, ReadRequest{Board: b, Limit: 10, Viewer: Staff})
		if len(board.Entries) != 2 || board.Entries[0].MemberID != p.Entries[0].SubjectID || board.Entries[0].PerMemberText != "10.00" {
			t.Fatalf("board %+v, frozen %+v", board.Entries, p.Entries)
		}
	})
}

// TestNoticePages prints a ranking of 130 names on 3 pages of 50: every
// page is a whole A4 notice, the last lists the remaining 30, and a page
// past the last is refused.
func TestNoticePages(t *testing.T) {
	p := Publication{VillageName: "示范村", PeriodLabel: "2026年3月", Subject: SubjectResident, Track: TrackTotal, Version: 1,
		Digest: strings.Repeat("ab", 32), Committee: "示范村村民委员会", NoticeDays: 7}
	for i := range 130 {
		p.Entries = append(p.Entries, PubEntry{Rank: int64(i + 1), SubjectID: int64(i + 1), Name: "张*" + fmt.Sprint(i), PointsText: fmt.Sprint(200 - i)})
	}
	if n := NoticePages(p); n != 3 {
		t.Fatalf("pages = %d", n)
	}
	var images [][]byte
	for page := 1; page <= 3; page++ {
		img, err := RenderNoticePage(p, page, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(img))
		if err != nil || cfg.Width != pageW || cfg.Height != pageH {
			t.Fatalf("page %d: %+v %v", page, cfg, err)
		}
		for _, prev := range images {
			if bytes.Equal(prev, img) {
				t.Fatalf("page %d repeats an earlier page", page)
			}
		}
		images = append(images, img)
		if dir := os.Getenv("RANKING_NOTICE_DIR"); dir != "" {
			_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("notice-page%d.png", page)), img, 0o644)
		}
	}
	for _, page := range []int{0, 4} {
		if _, err := RenderNoticePage(p, page, "", time.Now()); !apperr.Is(err, apperr.CodeInvalid) {
			t.Fatalf("page %d: %v", page, err)
		}
	}
	if n := NoticePages(Publication{}); n != 1 {
		t.Fatalf("an empty ranking prints on %d pages", n)
	}
	if _, err := RenderNoticePage(Publication{Digest: strings.Repeat("0", 64)}, 1, "", time.Now()); err != nil {
		t.Fatalf("empty ranking: %v", err)
	}
}
