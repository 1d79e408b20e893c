package duty

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/notify"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
	"github.com/villagepoints/jifen/rules"
)

var branch = audit.Actor{StaffID: 1, Name: "支部书记"}

// mustResident inserts a resident row and returns its id.
func mustResident(t *testing.T, db *gorm.DB, village int64, party bool, status string) int64 {
	t.Helper()
	now := time.Now().UTC()
	row := map[string]any{"village_id": village, "name": "党员", "party_member": party, "status": status, "created_at": now, "updated_at": now}
	if err := db.Table("residents").Create(row).Error; err != nil {
		t.Fatal(err)
	}
	var id int64
	db.Table("residents").Order("id DESC").Limit(1).Pluck("id", &id)
	return id
}

func mustMembers(t *testing.T, db *gorm.DB, village int64, n int) []int64 {
	t.Helper()
	var ids []int64
	for range n {
		ids = append(ids, mustResident(t, db, village, true, "active"))
	}
	return ids
}

// fixture is a service over db with a movable clock.
type fixture struct {
	svc *Service
	db  *gorm.DB
	now *time.Time
}

func mustFixture(t *testing.T, db *gorm.DB, start time.Time) fixture {
	t.Helper()
	now := start
	clock := func() time.Time { return now }
	ls := ledger.New(db, ledger.Options{Now: clock, SettingsTTL: -1})
	return fixture{svc: New(db, func(tx *gorm.DB) LedgerTx { return ls.In(tx) }, clock), db: db, now: &now}
}

func (f fixture) mustPost(t *testing.T, village int64, name string, capacity int) Post {
	t.Helper()
	p, err := f.svc.CreatePost(context.Background(), branch, village, PostInput{Name: name, Duties: "职责", Capacity: capacity, BasePoints: 10})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mustApproved claims post for each member and approves the claims.
func (f fixture) mustApproved(t *testing.T, village, post int64, members ...int64) {
	t.Helper()
	for _, m := range members {
		c, err := f.svc.ClaimPost(context.Background(), village, m, post, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.DecideClaim(context.Background(), branch, c.ID, true, "", nil); err != nil {
			t.Fatal(err)
		}
	}
}

func partyPoints(t *testing.T, db *gorm.DB) (sum, n int64) {
	t.Helper()
	db.Table("ledger_postings").Where("type = ? AND track = ?", ledger.TypeDutyAssessment, ledger.TrackParty).Select("COALESCE(SUM(amount),0)").Scan(&sum)
	db.Table("ledger_postings").Where("type = ? AND track = ?", ledger.TypeDutyAssessment, ledger.TrackParty).Count(&n)
	return sum, n
}

func TestDutyClaimsAndAssessmentFlow(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := mustFixture(t, db, time.Date(2026, 4, 15, 2, 0, 0, 0, time.UTC))
		const village = 7
		members := mustMembers(t, db, village, 6)
		post := f.mustPost(t, village, "环境整治岗", 2)
		other := f.mustPost(t, village, "政策宣传岗", 5)

		// Six members race for two seats.
		var wg sync.WaitGroup
		for _, m := range members {
			wg.Go(func() {
				if _, err := f.svc.ClaimPost(ctx, village, m, post.ID, ""); err != nil && !apperr.Is(err, CodePostFull) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		var claims []Claim
		db.Where("post_id = ?", post.ID).Order("id").Find(&claims)
		var p Post
		db.Where("id = ?", post.ID).Take(&p)
		if len(claims) != 2 || p.Claimed != 2 {
			t.Fatalf("%d claims, claimed %d on a 2-seat post", len(claims), p.Claimed)
		}
		// One active post per member by default.
		if _, err := f.svc.ClaimPost(ctx, village, claims[0].ResidentID, other.ID, ""); !apperr.Is(err, CodePostLimit) {
			t.Fatalf("second post: %v", err)
		}
		for _, c := range claims {
			if _, err := f.svc.DecideClaim(ctx, branch, c.ID, true, "", nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.svc.FileReport(ctx, ReportInput{VillageID: village, ResidentID: claims[0].ResidentID, PostID: post.ID, Date: *f.now, Content: "清理河道垃圾"}); err != nil {
			t.Fatal(err)
		}
		missing, err := f.svc.MissingReports(ctx, village, *f.now)
		if err != nil || len(missing.Members) != 1 || missing.Members[0].ResidentID != claims[1].ResidentID || missing.PeriodKey != "2026-04" {
			t.Fatalf("missing reports %+v %v", missing, err)
		}

		a, err := f.svc.OpenAssessment(ctx, branch, village, *f.now)
		if err != nil {
			t.Fatal(err)
		}
		items, _ := f.svc.Items(ctx, a.ID)
		if len(items) != 2 {
			t.Fatalf("%d items", len(items))
		}
		// Self-assessment, then the branch, which locks the self stage.
		if _, err := f.svc.SelfScore(ctx, village, items[0].ResidentID, a.ID, Score{Grade: rules.Excellent}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ScoreItem(ctx, branch, items[0].ID, Score{Stage: StageBranch, Grade: rules.Qualified}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.SelfScore(ctx, village, items[0].ResidentID, a.ID, Score{Grade: rules.Excellent}); !apperr.Is(err, CodeStageLocked) {
			t.Fatalf("self score after branch: %v", err)
		}
		if _, err := f.svc.ScoreItem(ctx, branch, items[0].ID, Score{Stage: StageGroup, Grade: rules.Excellent}, nil); !apperr.Is(err, CodeStageLocked) {
			t.Fatalf("group score after branch: %v", err)
		}
		if _, err := f.svc.SelfScore(ctx, village, items[1].ResidentID, a.ID, Score{Grade: rules.Excellent}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Advance(ctx, branch, a.ID, StatusReview, nil); !apperr.Is(err, CodeUnscored) {
			t.Fatalf("review with a self-assessment only: %v", err)
		}
		if _, err := f.svc.ScoreItem(ctx, branch, items[1].ID, Score{Stage: StageGroup, Scores: []int64{30, 30}}, nil); err != nil {
			t.Fatal(err)
		}
		// A member cannot self-score someone else's batch item: theirs only.
		if _, err := f.svc.SelfScore(ctx, village, mustMembers(t, db, village, 1)[0], a.ID, Score{Grade: rules.Excellent}); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("self score without an item: %v", err)
		}
		if _, err := f.svc.Advance(ctx, branch, a.ID, StatusNotice, nil); !apperr.Is(err, CodeWrongStatus) {
			t.Fatalf("skip review: %v", err)
		}
		if _, err := f.svc.Advance(ctx, branch, a.ID, StatusReview, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.SelfScore(ctx, village, items[1].ResidentID, a.ID, Score{Grade: rules.Excellent}); !apperr.Is(err, CodeWrongStatus) {
			t.Fatalf("self score in review: %v", err)
		}
		// Nobody objects before publication.
		if _, err := f.svc.Object(ctx, village, items[1].ResidentID, items[1].ID, "分数偏低"); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("objection in review: %v", err)
		}
		if _, err := f.svc.Advance(ctx, branch, a.ID, StatusNotice, nil); err != nil {
			t.Fatal(err)
		}

		// Notice: an objection, which blocks final until resolved.
		obj, err := f.svc.Object(ctx, village, items[1].ResidentID, items[1].ID, "我本月多次巡河，分数偏低")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Object(ctx, village, items[1].ResidentID, items[1].ID, "再提一次"); !apperr.Is(err, apperr.CodeConflict) {
			t.Fatalf("second open objection: %v", err)
		}
		if _, err := f.svc.Advance(ctx, branch, a.ID, StatusFinal, nil); !apperr.Is(err, CodeNoticeActive) {
			t.Fatalf("final during notice: %v", err)
		}
		*f.now = f.now.AddDate(0, 0, 6)
		if _, err := f.svc.Object(ctx, village, members[0], items[1].ID, "过期"); !apperr.Is(err, apperr.CodeConflict) {
			t.Fatalf("objection after the window: %v", err)
		}
		if _, err := f.svc.Advance(ctx, branch, a.ID, StatusFinal, nil); !apperr.Is(err, CodeOpenObjection) {
			t.Fatalf("final with an open objection: %v", err)
		}
		resolved, err := f.svc.ResolveObjection(ctx, branch, obj.ID, Resolution{Reply: "经核实，更正为优秀", Rescore: &Score{Grade: rules.Excellent}}, nil)
		if err != nil || resolved.Status != ObjectionCorrected {
			t.Fatalf("resolve: %+v %v", resolved, err)
		}
		if _, err := f.svc.ResolveObjection(ctx, branch, obj.ID, Resolution{Reply: "again"}, nil); !apperr.Is(err, apperr.CodeConflict) {
			t.Fatalf("resolve twice: %v", err)
		}

		// Concurrent finalises post once; a later repeat changes nothing.
		var fw sync.WaitGroup
		for range 3 {
			fw.Go(func() {
				if got, err := f.svc.Advance(ctx, branch, a.ID, StatusFinal, nil); err != nil || got.Status != StatusFinal {
					t.Errorf("final: %+v %v", got, err)
				}
			})
		}
		fw.Wait()
		if _, err := f.svc.Advance(ctx, branch, a.ID, StatusFinal, nil); err != nil {
			t.Fatalf("final again: %v", err)
		}
		sum, n := partyPoints(t, db)
		if sum != 6+10 || n != 2 { // qualified 6; corrected to excellent 10
			t.Fatalf("posted %d party points in %d postings, want 16 in 2", sum, n)
		}
		if _, err := f.svc.ResolveObjection(ctx, branch, obj.ID, Resolution{Reply: "x", Rescore: &Score{Grade: rules.Qualified}}, nil); err == nil {
			t.Fatal("re-score after final")
		}
		res, err := f.svc.MyResults(ctx, village, items[1].ResidentID)
		if err != nil || len(res) != 1 || res[0].Points != 10 || res[0].Status != StatusFinal || res[0].Stage != StageBranch {
			t.Fatalf("my results %+v %v", res, err)
		}
		var entries int64
		db.Table("audit_log").Where("action LIKE ?", "duty.%").Count(&entries)
		if entries < 10 {
			t.Fatalf("%d audit entries for the branch's writes", entries)
		}

		// The export has the title, the headings and one row per member.
		exp, err := f.svc.ExportAssessment(ctx, a.ID, func(int64) (string, error) { return "甲村", nil }, nil)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := exp.WriteXLSX(&buf); err != nil {
			t.Fatal(err)
		}
		x, err := excelize.OpenReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := x.GetRows("考评结果")
		if len(rows) != 5 || rows[2][1] != "姓名" || rows[4][4] != "优秀" || rows[4][7] != "10" || rows[3][6] != "" {
			t.Fatalf("export rows %q", rows)
		}
	})
}

func TestDutyWhoMayClaim(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := mustFixture(t, db, time.Date(2026, 4, 15, 2, 0, 0, 0, time.UTC))
		const village = 3
		post := f.mustPost(t, village, "治安巡逻岗", 3)
		second := f.mustPost(t, village, "矛盾调解岗", 3)
		third := f.mustPost(t, village, "关爱帮扶岗", 3)
		for name, r := range map[string]int64{
			"not a party member": mustResident(t, db, village, false, "active"),
			"moved out":          mustResident(t, db, village, true, "moved_out"),
			"other village":      mustResident(t, db, village+1, true, "active"),
		} {
			if _, err := f.svc.ClaimPost(ctx, village, r, post.ID, ""); !apperr.Is(err, apperr.CodeForbidden) {
				t.Errorf("%s: %v", name, err)
			}
		}
		// A double tap: the same key twice at once makes one claim.
		twin := mustMembers(t, db, village, 1)[0]
		ids := make([]int64, 4)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				c, err := f.svc.ClaimPost(ctx, village, twin, third.ID, "double-tap")
				if err != nil {
					t.Error(err)
				}
				ids[i] = c.ID
			})
		}
		wg.Wait()
		var n int64
		db.Model(&Claim{}).Where("resident_id = ?", twin).Count(&n)
		if n != 1 || ids[0] != ids[1] || ids[1] != ids[2] || ids[2] != ids[3] {
			t.Fatalf("double tap made %d claims: %v", n, ids)
		}
		m := mustMembers(t, db, village, 1)[0]
		first, err := f.svc.ClaimPost(ctx, village, m, post.ID, "claim-key-1")
		if err != nil || first.Replayed {
			t.Fatal(first, err)
		}
		again, err := f.svc.ClaimPost(ctx, village, m, post.ID, "claim-key-1")
		if err != nil || !again.Replayed || again.ID != first.ID {
			t.Fatalf("retry: %+v %v", again, err)
		}
		if _, err := f.svc.ClaimPost(ctx, village, m, second.ID, "claim-key-1"); !apperr.Is(err, apperr.CodeIdempotency) {
			t.Fatalf("key reused for another post: %v", err)
		}
		if _, err := f.svc.ClaimPost(ctx, village, m, post.ID, "claim-key-2"); !apperr.Is(err, apperr.CodeConflict) {
			t.Fatalf("same post twice: %v", err)
		}
		// The village allows two posts.
		if _, err := f.svc.SaveSettings(ctx, branch, village, SettingsInput{Period: rules.Quarter, MaxPosts: 2, NoticeDays: 3}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ClaimPost(ctx, village, m, second.ID, "claim-key-3"); err != nil {
			t.Fatal(err)
		}
		// A rejection names its reason and frees the seat.
		if _, err := f.svc.DecideClaim(ctx, branch, first.ID, false, "", nil); !apperr.Is(err, apperr.CodeInvalid) {
			t.Fatalf("reject without reason: %v", err)
		}
		if _, err := f.svc.DecideClaim(ctx, branch, first.ID, false, "本岗位需熟悉治安工作", func(int64) bool { return false }); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("out of scope: %v", err)
		}
		if _, err := f.svc.DecideClaim(ctx, branch, first.ID, false, "本岗位需熟悉治安工作", nil); err != nil {
			t.Fatal(err)
		}
		posts, _ := f.svc.Posts(ctx, village, true)
		if posts[0].Claimed != 0 || posts[0].SeatsLeft != 3 {
			t.Fatalf("after rejection: %+v", posts[0])
		}
		// Released, the member may take the seat again.
		again, err = f.svc.ClaimPost(ctx, village, m, post.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ReleaseClaim(ctx, branch, again.ID, "调任其他岗位", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ReleaseClaim(ctx, branch, again.ID, "调任其他岗位", nil); !apperr.Is(err, apperr.CodeConflict) {
			t.Fatalf("release twice: %v", err)
		}
		if posts, _ = f.svc.Posts(ctx, village, true); posts[0].Claimed != 0 {
			t.Fatalf("after release: %+v", posts[0])
		}
		// Capacity never drops below the seats held; a closed post takes no claims.
		one, zero := 1, 0
		off := false
		if _, err := f.svc.UpdatePost(ctx, branch, second.ID, PostPatch{Capacity: &zero}, nil); !apperr.Is(err, apperr.CodeInvalid) {
			t.Fatalf("capacity 0: %v", err)
		}
		if _, err := f.svc.UpdatePost(ctx, branch, second.ID, PostPatch{Capacity: &one, Active: &off}, nil); err != nil {
			t.Fatal(err)
		}
		other := mustMembers(t, db, village, 1)[0]
		if _, err := f.svc.ClaimPost(ctx, village, other, second.ID, ""); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("claim on a closed post: %v", err)
		}
	})
}

func TestDutyReportsAndReminders(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := mustFixture(t, db, time.Date(2026, 4, 10, 2, 0, 0, 0, time.UTC))
		const village = 5
		post := f.mustPost(t, village, "关爱帮扶岗", 5)
		m := mustMembers(t, db, village, 3)
		f.mustApproved(t, village, post.ID, m[0], m[1])
		photo := func(uploader string, v int64) int64 {
			row := map[string]any{"village_id": v, "uploader": uploader, "storage_key": "k", "content_type": "image/jpeg", "size_bytes": 1,
				"width": 1, "height": 1, "sha256": "x", "created_at": time.Now().UTC()}
			if err := db.Table("evidence_files").Create(row).Error; err != nil {
				t.Fatal(err)
			}
			var id int64
			db.Table("evidence_files").Order("id DESC").Limit(1).Pluck("id", &id)
			return id
		}
		mine, theirs := photo("resident:"+itoa(m[0]), village), photo("resident:"+itoa(m[1]), village)
		lat, lng := 30.5, 114.3
		in := ReportInput{VillageID: village, ResidentID: m[0], PostID: post.ID, Date: *f.now, Content: "走访困难户 3 户", Photos: []int64{mine}, Lat: &lat, Lng: &lng, IdempotencyKey: "report-key-1"}
		r, err := f.svc.FileReport(ctx, in)
		if err != nil || len(r.PhotoIDs) != 1 || r.ReportDate != "2026-04-10" {
			t.Fatalf("report %+v %v", r, err)
		}
		if again, err := f.svc.FileReport(ctx, in); err != nil || !again.Replayed || again.ID != r.ID {
			t.Fatalf("retry %+v %v", again, err)
		}
		// A double tap on a new report files it once.
		tap := in
		tap.IdempotencyKey, tap.Photos = "report-key-tap", nil
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				if _, err := f.svc.FileReport(ctx, tap); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		var filed int64
		db.Model(&Report{}).Where("resident_id = ?", m[0]).Count(&filed)
		if filed != 2 {
			t.Fatalf("%d reports after a double tap, want 2", filed)
		}
		bad := in
		bad.IdempotencyKey, bad.Photos = "report-key-2", []int64{theirs}
		if _, err := f.svc.FileReport(ctx, bad); !apperr.Is(err, apperr.CodeInvalid) {
			t.Fatalf("another's photo: %v", err)
		}
		bad.Photos, bad.Date = nil, f.now.AddDate(0, 0, 2)
		if _, err := f.svc.FileReport(ctx, bad); !apperr.Is(err, apperr.CodeInvalid) {
			t.Fatalf("future date: %v", err)
		}
		bad.Date, bad.ResidentID = *f.now, m[2]
		if _, err := f.svc.FileReport(ctx, bad); !apperr.Is(err, apperr.CodeForbidden) {
			t.Fatalf("report without a post: %v", err)
		}
		list, total, err := f.svc.Reports(ctx, village, ReportFilter{ResidentID: m[0], From: "2026-04-01", To: "2026-05-01"}, true, 0, 10)
		if err != nil || total != 2 || list[0].PostName != "关爱帮扶岗" || list[0].ReportDate != "2026-04-10" {
			t.Fatalf("reports %+v %d %v", list, total, err)
		}

		// Ten days before the month closes: no reminders yet.
		if n, err := f.svc.RemindMissing(ctx, ReminderLead); err != nil || n != 0 {
			t.Fatalf("early reminders: %d %v", n, err)
		}
		*f.now = time.Date(2026, 4, 28, 2, 0, 0, 0, time.UTC)
		for round, want := range []int{1, 0} { // m[1] only, and only once
			if n, err := f.svc.RemindMissing(ctx, ReminderLead); err != nil || n != want {
				t.Fatalf("round %d: %d reminders, %v", round, n, err)
			}
		}
		items, _, _ := notify.NewInbox(db).List(ctx, m[1], false, 0, 10)
		if len(items) != 1 || items[0].Kind != notify.DutyReportDue || items[0].Body != "您在2026年4月尚未提交履职纪实，请在 4月30日 前通过小程序提交。" {
			t.Fatalf("inbox %+v", items)
		}
		// The next month reminds again.
		*f.now = time.Date(2026, 5, 29, 2, 0, 0, 0, time.UTC)
		if n, err := f.svc.RemindMissing(ctx, ReminderLead); err != nil || n != 2 {
			t.Fatalf("next month: %d %v", n, err)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
