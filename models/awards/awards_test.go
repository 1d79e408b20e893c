package awards

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/catalog"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
	"github.com/villagepoints/jifen/rules"
)

func wantCode(t *testing.T, err error, code apperr.Code) {
	t.Helper()
	if !apperr.Is(err, code) {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func mustGive(t *testing.T, f *fixture, who Staff, code string, resident int64, key string) Award {
	t.Helper()
	a, err := f.svc.Give(context.Background(), who, GiveRequest{VillageID: f.village, RuleItemID: f.items[code].ID, ResidentID: resident,
		Photos: []int64{f.mustPhoto(t, f.village)}, IdempotencyKey: key})
	if err != nil {
		t.Fatalf("give %s to %d: %v", code, resident, err)
	}
	return a
}

func TestGiveChecksCapsScopeConflictAndKeys(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := mustFixture(t, db)
		ctx := context.Background()
		photo := f.mustPhoto(t, f.village)
		for i := range 3 {
			a := mustGive(t, f, f.worker, "T-CAP", f.r1, fmt.Sprintf("k%d", i))
			if a.Status != Posted || a.PostingID == nil || a.ItemVersion != 1 {
				t.Fatalf("award %d: %+v", i, a)
			}
		}
		req := GiveRequest{VillageID: f.village, RuleItemID: f.items["T-CAP"].ID, ResidentID: f.r1, Photos: []int64{photo}, IdempotencyKey: "k3"}
		_, err := f.svc.Give(ctx, f.worker, req)
		wantCode(t, err, apperr.CodeRuleCapReached)
		if msg := apperr.From(err).Message; msg != "该村民本月该项已达上限 3 次" {
			t.Fatalf("message %q", msg)
		}
		// A retry replays; a changed request under a used key is refused.
		again, err := f.svc.Give(ctx, f.worker, GiveRequest{VillageID: f.village, RuleItemID: f.items["T-CAP"].ID, ResidentID: f.r1,
			Photos: []int64{}, IdempotencyKey: "k0"})
		wantCode(t, err, apperr.CodeIdempotency)
		_ = again
		n, sum := f.postings(t)
		if n != 3 || sum != 6 {
			t.Fatalf("ledger has %d postings, %d points; want 3, 6", n, sum)
		}
		// Conflict of interest: the admin lives in household one.
		_, err = f.svc.Give(ctx, f.admin, GiveRequest{VillageID: f.village, RuleItemID: f.items["T-CAP"].ID, ResidentID: f.r1, Photos: []int64{photo}, IdempotencyKey: "coi"})
		wantCode(t, err, apperr.CodeConflictInterest)
		// Another village's resident, and a photo of another village.
		_, err = f.svc.Give(ctx, f.worker, GiveRequest{VillageID: f.village, RuleItemID: f.items["T-CAP"].ID, ResidentID: f.outsider, Photos: []int64{photo}, IdempotencyKey: "out"})
		wantCode(t, err, apperr.CodeNotFound)
		_, err = f.svc.Give(ctx, f.worker, GiveRequest{VillageID: f.village, RuleItemID: f.items["T-CAP"].ID, ResidentID: f.r2, Photos: []int64{f.mustPhoto(t, f.other)}, IdempotencyKey: "ph"})
		wantCode(t, err, apperr.CodeInvalid)
		// A deduction without evidence.
		_, err = f.svc.Give(ctx, f.worker, GiveRequest{VillageID: f.village, RuleItemID: f.items["T-DED"].ID, ResidentID: f.r2, IdempotencyKey: "ded"})
		wantCode(t, err, rules.CodeEvidenceRequired)
		// A refused request stores nothing, so its key may be used once it holds.
		f.now = f.now.AddDate(0, 1, 0)
		if a, err := f.svc.Give(ctx, f.worker, req); err != nil || a.Replayed {
			t.Fatalf("next month the refused key works: %+v %v", a, err)
		}
		if a, err := f.svc.Give(ctx, f.worker, req); err != nil || !a.Replayed {
			t.Fatalf("retry replays: %+v %v", a, err)
		}
	})
}

// TestConcurrentAwardsNeverExceedCap has many social workers award the
// same capped item to the same resident (and the household member) at
// once: exactly the cap posts, in the awards table and in the ledger.
func TestConcurrentAwardsNeverExceedCap(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := mustFixture(t, db)
		photo := f.mustPhoto(t, f.village)
		var wg sync.WaitGroup
		errs := make(chan error, 12)
		for i := range 12 {
			who := f.worker
			if i%2 == 1 {
				who = f.worker2
			}
			wg.Go(func() {
				_, err := f.svc.Give(context.Background(), who, GiveRequest{VillageID: f.village, RuleItemID: f.items["T-CAP"].ID,
					ResidentID: f.r1, Photos: []int64{photo}, IdempotencyKey: fmt.Sprintf("c%d", i)})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		ok, capped := 0, 0
		for err := range errs {
			switch {
			case err == nil:
				ok++
			case apperr.Is(err, apperr.CodeRuleCapReached):
				capped++
			default:
				t.Errorf("unexpected: %v", err)
			}
		}
		n, sum := f.postings(t)
		if ok != 3 || capped != 9 || n != 3 || sum != 6 {
			t.Fatalf("%d posted, %d capped, ledger %d postings %d points; want 3, 9, 3, 6", ok, capped, n, sum)
		}
	})
}

func TestBatchIsAllOrNothing(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := mustFixture(t, db)
		ctx := context.Background()
		for i := range 3 {
			mustGive(t, f, f.worker, "T-CAP", f.r2, fmt.Sprintf("pre%d", i))
		}
		req := BatchRequest{VillageID: f.village, RuleItemID: f.items["T-CAP"].ID, ResidentIDs: []int64{f.r1, f.r2, f.outsider},
			Photos: []int64{f.mustPhoto(t, f.village)}, IdempotencyKey: "b1"}
		_, err := f.svc.GiveBatch(ctx, f.worker, req)
		wantCode(t, err, CodeBatchRefused)
		if refusals := apperr.From(err).Details.([]Refusal); len(refusals) != 2 {
			t.Fatalf("refusals %+v, want r2 (cap) and the outsider", refusals)
		}
		if n, _ := f.postings(t); n != 3 {
			t.Fatalf("a refused batch posted: %d postings", n)
		}
		req.ResidentIDs = []int64{f.r1, f.r1b}
		b, err := f.svc.GiveBatch(ctx, f.worker, req)
		if err != nil || len(b.Awards) != 2 || b.Replayed {
			t.Fatalf("batch: %+v %v", b, err)
		}
		if b2, err := f.svc.GiveBatch(ctx, f.worker, req); err != nil || !b2.Replayed || b2.ID != b.ID {
			t.Fatalf("batch retry: %+v %v", b2, err)
		}
		if n, _ := f.postings(t); n != 5 {
			t.Fatalf("want 5 postings, got %d", n)
		}
	})
}

func TestDeductionNeedsASecondStaffMember(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := mustFixture(t, db)
		ctx := context.Background()
		if _, err := f.svc.SaveSettings(ctx, f.admin, f.village, Settings{ConfirmDeductions: true, AppealDays: 15, NoticeDays: 7, ReviewSLAHours: 48}); err != nil {
			t.Fatal(err)
		}
		a := mustGive(t, f, f.worker, "T-DED", f.r1, "d1")
		if a.Status != Pending || a.PostingID != nil {
			t.Fatalf("deduction posted before confirmation: %+v", a)
		}
		if n, _ := f.postings(t); n != 0 {
			t.Fatal("pending deduction reached the ledger")
		}
		_, err := f.svc.Confirm(ctx, f.worker, all, ConfirmRequest{AwardID: a.ID, Approve: true})
		wantCode(t, err, CodeSameStaff)
		_, err = f.svc.Confirm(ctx, f.admin, all, ConfirmRequest{AwardID: a.ID, Approve: true})
		wantCode(t, err, apperr.CodeConflictInterest) // the admin's own household
		c, err := f.svc.Confirm(ctx, f.worker2, all, ConfirmRequest{AwardID: a.ID, Approve: true})
		if err != nil || c.Status != Posted || c.PostingID == nil || *c.ConfirmedBy != f.worker2.ID {
			t.Fatalf("confirm: %+v %v", c, err)
		}
		_, err = f.svc.Confirm(ctx, f.worker2, all, ConfirmRequest{AwardID: a.ID, Approve: true})
		wantCode(t, err, apperr.CodeConflict)
		if _, sum := f.postings(t); sum != -5 {
			t.Fatalf("ledger sum %d, want -5", sum)
		}
		b := mustGive(t, f, f.worker, "T-DED", f.r2, "d2")
		if r, err := f.svc.Confirm(ctx, f.worker2, all, ConfirmRequest{AwardID: b.ID, Approve: false, Note: "证据不足"}); err != nil || r.Status != Rejected {
			t.Fatalf("refuse: %+v %v", r, err)
		}
	})
}

func TestSelfReportReviewAndAppeal(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := mustFixture(t, db)
		ctx := context.Background()
		me := Villager{ResidentID: f.r2, VillageID: f.village}
		_, err := f.svc.SubmitReport(ctx, me, ReportRequest{RuleItemID: f.items["T-DED"].ID, Note: "x", Photos: []int64{f.mustPhoto(t, f.village)}, IdempotencyKey: "s0"})
		wantCode(t, err, rules.CodeNoSelfReport)
		rep, err := f.svc.SubmitReport(ctx, me, ReportRequest{RuleItemID: f.items["T-CAP"].ID, Note: "打扫了村口", Photos: []int64{f.mustPhoto(t, f.village)}, IdempotencyKey: "s1"})
		if err != nil || rep.Status != ReportPending {
			t.Fatalf("submit: %+v %v", rep, err)
		}
		if _, err := f.svc.Review(ctx, f.worker, all, rep.ID, RequestInfo, "请补充照片"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Review(ctx, f.worker, all, rep.ID, Approve, ""); !apperr.Is(err, apperr.CodeConflict) {
			t.Fatalf("approving a report waiting for information: %v", err)
		}
		if _, err := f.svc.SupplyInfo(ctx, me, rep.ID, "补充了照片", []int64{f.mustPhoto(t, f.village)}); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(72 * time.Hour)
		c, err := f.svc.Counts(ctx, f.village)
		if err != nil || c.Pending != 1 || c.Overdue != 1 || c.OldestHours != 72 {
			t.Fatalf("counts %+v %v", c, err)
		}
		q, total, err := f.svc.Queue(ctx, f.village, QueueFilter{Overdue: true}, 0, 10)
		if err != nil || total != 1 || !q[0].Overdue || q[0].AgeHours != 72 {
			t.Fatalf("queue %+v %d %v", q, total, err)
		}
		ok, err := f.svc.Review(ctx, f.worker, all, rep.ID, Approve, "")
		if err != nil || ok.Status != ReportApproved || ok.AwardID == nil {
			t.Fatalf("approve: %+v %v", ok, err)
		}
		// A rejection is appealed and overturned: the report is approved.
		rep2, err := f.svc.SubmitReport(ctx, me, ReportRequest{RuleItemID: f.items["T-CAP"].ID, Note: "又打扫了", Photos: []int64{f.mustPhoto(t, f.village)}, IdempotencyKey: "s2"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Review(ctx, f.worker, all, rep2.ID, Reject, "照片看不清"); err != nil {
			t.Fatal(err)
		}
		ap, err := f.svc.File(ctx, me, AppealRequest{Kind: KindAppeal, TargetType: "self_report", TargetID: rep2.ID, Reason: "照片清楚"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.Decide(ctx, f.worker, all, ap.ID, Decision{Overturn: true, Reason: "自己复核"})
		wantCode(t, err, CodeOwnDecisionAgain)
		d, err := f.svc.Decide(ctx, f.admin, all, ap.ID, Decision{Overturn: true, Reason: "经复核属实"})
		if err != nil || d.Status != "overturned" {
			t.Fatalf("decide: %+v %v", d, err)
		}
		if n, sum := f.postings(t); n != 2 || sum != 4 {
			t.Fatalf("ledger %d/%d, want 2 postings of 4 points", n, sum)
		}
		mustNotified(t, db, f.r2, "appeal_decided")
	})
}

func TestDeductionAppealReversesAndObjection(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := mustFixture(t, db)
		ctx := context.Background()
		ded := mustGive(t, f, f.worker, "T-DED", f.r2, "d1")
		me := Villager{ResidentID: f.r2, VillageID: f.village}
		_, err := f.svc.File(ctx, Villager{ResidentID: f.r1, VillageID: f.village}, AppealRequest{Kind: KindAppeal, TargetType: "award", TargetID: ded.ID, Reason: "不是我"})
		wantCode(t, err, apperr.CodeNotFound) // only the resident concerned appeals
		ap, err := f.svc.File(ctx, me, AppealRequest{Kind: KindAppeal, TargetType: "award", TargetID: ded.ID, Reason: "垃圾不是我倒的"})
		if err != nil {
			t.Fatal(err)
		}
		if again, err := f.svc.File(ctx, me, AppealRequest{Kind: KindAppeal, TargetType: "award", TargetID: ded.ID, Reason: "再次申诉"}); err != nil || !again.Replayed {
			t.Fatalf("second filing: %+v %v", again, err)
		}
		if _, err := f.svc.Decide(ctx, f.admin, all, ap.ID, Decision{Overturn: true, Reason: "监控显示非本人"}); err != nil {
			t.Fatal(err)
		}
		got, _ := f.svc.Get(ctx, ded.ID, all)
		if got.Status != Reversed || got.ReversalID == nil {
			t.Fatalf("award after overturn: %+v", got)
		}
		if _, sum := f.postings(t); sum != 0 {
			t.Fatalf("ledger sum %d after reversal", sum)
		}
		// The appeal window closes.
		late := mustGive(t, f, f.worker, "T-DED", f.r2, "d2")
		f.now = f.now.AddDate(0, 0, 16)
		_, err = f.svc.File(ctx, me, AppealRequest{Kind: KindAppeal, TargetType: "award", TargetID: late.ID, Reason: "晚了"})
		wantCode(t, err, CodeAppealClosed)
		// Objection: any resident of the village, while the notice is open.
		award := mustGive(t, f, f.worker, "T-CAP", f.r1, "a1")
		n, err := f.svc.Notice(ctx, f.village, rules.Month.Key(f.now), 0, 50)
		if err != nil || !n.Open || len(n.Entries) == 0 || n.Entries[len(n.Entries)-1].Name != "张*" {
			t.Fatalf("notice %+v %v", n, err)
		}
		obj, err := f.svc.File(ctx, me, AppealRequest{Kind: KindObjection, TargetType: "award", TargetID: award.ID, Reason: "当天他不在村里"})
		if err != nil {
			t.Fatal(err)
		}
		if d, err := f.svc.Decide(ctx, f.admin, all, obj.ID, Decision{Overturn: true, Reason: "核实属实"}); err != nil || d.Status != "overturned" {
			t.Fatalf("objection: %+v %v", d, err)
		}
		mustNotified(t, db, f.r2, "appeal_decided")
		mustNotified(t, db, f.r1, "points_deducted")
		f.now = rules.NoticeCloses(rules.Month, f.now, 7).Add(time.Second)
		_, err = f.svc.File(ctx, Villager{ResidentID: f.r1, VillageID: f.village}, AppealRequest{Kind: KindObjection, TargetType: "award", TargetID: late.ID, Reason: "过期"})
		wantCode(t, err, CodeAppealClosed)
	})
}

func TestVersionPinningAndVeto(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := mustFixture(t, db)
		ctx := context.Background()
		v1 := f.items["T-CAP"]
		a1 := mustGive(t, f, f.worker, "T-CAP", f.r1, "v1")
		in := catalog.InputOf(v1.Rule())
		in.Points = 3
		v2, err := f.cat.UpdateItem(ctx, auditSystem(), all, v1.ID, in)
		if err != nil || v2.Version != 2 {
			t.Fatalf("edit: %+v %v", v2, err)
		}
		_, err = f.svc.Give(ctx, f.worker, GiveRequest{VillageID: f.village, RuleItemID: v1.ID, ResidentID: f.r1, Photos: []int64{f.mustPhoto(t, f.village)}, IdempotencyKey: "old"})
		wantCode(t, err, catalog.CodeItemChanged)
		f.items["T-CAP"] = v2
		a2 := mustGive(t, f, f.worker, "T-CAP", f.r1, "v2")
		if got, _ := f.svc.Get(ctx, a1.ID, all); got.ItemVersion != 1 || got.Points != 2 || a2.ItemVersion != 2 || a2.Points != 3 {
			t.Fatalf("versions: old %+v new %+v", got, a2)
		}
		veto := mustGive(t, f, f.worker, "T-VETO", f.r1, "veto")
		if len(f.vetoes.record) != 3 || !f.vetoes.record[0].Household || f.vetoes.record[0].SubjectID != f.hh1 || f.vetoes.record[0].PeriodKey != "2026-03" {
			t.Fatalf("vetoes recorded: %+v", f.vetoes.record)
		}
		ap, err := f.svc.File(ctx, Villager{ResidentID: f.r1, VillageID: f.village}, AppealRequest{Kind: KindAppeal, TargetType: "award", TargetID: veto.ID, Reason: "误判"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Decide(ctx, f.worker2, all, ap.ID, Decision{Overturn: true, Reason: "误判"}); err != nil {
			t.Fatal(err)
		}
		if len(f.vetoes.lift) != 3 {
			t.Fatalf("vetoes lifted: %+v", f.vetoes.lift)
		}
		if n, err := f.svc.SyncVetoes(ctx); err != nil || n != 0 {
			t.Fatalf("nothing left to sync: %d %v", n, err)
		}
	})
}

func mustNotified(t *testing.T, db *gorm.DB, resident int64, kind string) {
	t.Helper()
	var n int64
	if err := db.Table("notifications").Where("resident_id = ? AND kind = ?", resident, kind).Count(&n).Error; err != nil || n == 0 {
		t.Fatalf("resident %d has no %s notification (%v)", resident, kind, err)
	}
}
