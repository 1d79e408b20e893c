package volunteer

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/notify"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
)

// mustPeople adds village 7 (河西村) and residents 1-4 of it, and resident 9
// of village 8, as the people package would have stored them.
func mustPeople(t *testing.T, db *gorm.DB) {
	t.Helper()
	now := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range []struct {
		id   int64
		name string
	}{{7, "河西村"}, {8, "东山村"}} {
		if err := db.Exec("INSERT INTO regions (id, level, name, code, path, created_at) VALUES (?, 'village', ?, ?, ?, ?)",
			r.id, r.name, "V"+r.name, "/"+r.name, now).Error; err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []struct {
		id, village int64
		name        string
	}{{1, 7, "王建国"}, {2, 7, "李秀英"}, {3, 7, "赵德福"}, {4, 7, "孙桂兰"}, {9, 8, "周文"}} {
		if err := db.Exec("INSERT INTO residents (id, village_id, household_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
			r.id, r.village, 100+r.id, r.name, now, now).Error; err != nil {
			t.Fatal(err)
		}
	}
}

// mustInbox is a resident's notifications of kind, newest first.
func mustInbox(t *testing.T, db *gorm.DB, resident int64, kind notify.Kind) []notify.Item {
	t.Helper()
	items, _, err := notify.NewInbox(db).List(context.Background(), resident, false, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	var out []notify.Item
	for _, it := range items {
		if it.Kind == kind {
			out = append(out, it)
		}
	}
	return out
}

// mustPending counts the WeChat deliveries queued for a resident's
// notifications of kind.
func mustPending(t *testing.T, db *gorm.DB, resident int64, kind notify.Kind) int64 {
	t.Helper()
	var n int64
	err := db.Table("notification_deliveries").Joins("JOIN notifications ON notifications.id = notification_deliveries.notification_id").
		Where("notifications.resident_id = ? AND notifications.kind = ? AND notification_deliveries.status = ?", resident, kind, notify.StatusPending).Count(&n).Error
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func auditCount(t *testing.T, db *gorm.DB, action string) int64 {
	t.Helper()
	var n int64
	if err := db.Table("audit_log").Where("action = ?", action).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCancelActivityReleasesSignupsAndPostsNothing(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := mustFixture(t, db)
		a := mustActivity(t, f, 1)
		ctx := context.Background()
		for i := int64(1); i <= 2; i++ {
			if _, err := f.svc.SignUp(ctx, resident(i), a.ID); err != nil {
				t.Fatal(err)
			}
		}
		elsewhere := func(v int64) bool { return v != a.VillageID }
		if _, err := f.svc.CancelActivity(ctx, Staff{ID: 1}, a.ID, elsewhere, "下雨"); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("cancel from another village: %v", err)
		}
		if _, err := f.svc.CancelActivity(ctx, Staff{ID: 1}, a.ID, nil, " "); !apperr.Is(err, apperr.CodeInvalid) {
			t.Fatalf("cancel without a reason: %v", err)
		}
		for range 2 { // the repeat answers the cancelled activity
			got, err := f.svc.CancelActivity(ctx, Staff{ID: 1}, a.ID, nil, "暴雨预警")
			if err != nil || got.Status != ActivityCancelled || got.Enrolled != 0 {
				t.Fatalf("cancel: %+v %v", got, err)
			}
		}
		list, _ := f.svc.Signups(ctx, a.ID, nil, nil)
		for _, s := range list {
			if s.Status != Cancelled {
				t.Fatalf("sign-up of resident %d is %s after the activity was cancelled", s.ResidentID, s.Status)
			}
		}
		if _, err := f.svc.SignUp(ctx, resident(3), a.ID); !apperr.Is(err, CodeSignupClosed) {
			t.Fatalf("sign-up to a cancelled activity: %v", err)
		}
		if n := auditCount(t, db, "volunteer.activity.cancel"); n != 1 {
			t.Fatalf("%d cancel audit entries, want 1", n)
		}
		// The enrolled and the waitlisted resident are each told once, with
		// the title, time and reason; nobody else is.
		for _, r := range []int64{1, 2} {
			got := mustInbox(t, db, r, notify.ActivityCancelled)
			if len(got) != 1 || got[0].Title != "活动已取消" || got[0].Data["title"] != "河道清理" || got[0].Data["reason"] != "暴雨预警" ||
				got[0].Data["time"] != "2026年5月2日 09:00~12:00" || got[0].Body != "您报名的志愿活动「河道清理」（2026年5月2日 09:00~12:00）已取消。原因：暴雨预警。" {
				t.Fatalf("resident %d's cancellation notices: %+v", r, got)
			}
			if n := mustPending(t, db, r, notify.ActivityCancelled); n != 1 {
				t.Fatalf("resident %d: %d WeChat deliveries queued, want 1", r, n)
			}
		}
		if got := mustInbox(t, db, 3, notify.ActivityCancelled); len(got) != 0 {
			t.Fatalf("a resident who never signed up was told: %+v", got)
		}
		if got := mustInbox(t, db, 2, notify.WaitlistPromoted); len(got) != 0 {
			t.Fatalf("releasing the waiting list promoted someone: %+v", got)
		}
		var postings int64
		db.Table("ledger_postings").Count(&postings)
		if postings != 0 {
			t.Fatalf("%d postings after a cancellation", postings)
		}
	})
}

func TestConfirmedActivityCannotBeCancelled(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := mustFixture(t, db)
		a := mustActivity(t, f, 2)
		ctx := context.Background()
		s, err := f.svc.SignUp(ctx, resident(1), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Confirm(ctx, Staff{ID: 1}, a.ID, nil, []ConfirmItem{{SignupID: s.ID}}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.CancelActivity(ctx, Staff{ID: 1}, a.ID, nil, "补录"); !apperr.Is(err, apperr.CodeConflict) {
			t.Fatalf("cancel after confirmation: %v", err)
		}
		if got := mustInbox(t, db, 1, notify.ActivityCancelled); len(got) != 0 {
			t.Fatalf("a refused cancellation told the resident: %+v", got)
		}
	})
}

func TestWaitlistPositionsAndRepeats(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := mustFixture(t, db)
		mustPeople(t, db)
		a := mustActivity(t, f, 1)
		ctx := context.Background()
		want := []struct {
			status   string
			position int
		}{{Enrolled, 0}, {Waitlisted, 1}, {Waitlisted, 2}}
		for i, w := range want {
			f.at(time.Date(2026, 5, 1, 0, i, 0, 0, time.UTC))
			s, err := f.svc.SignUp(ctx, resident(int64(i+1)), a.ID)
			if err != nil || s.Status != w.status || s.WaitlistPosition != w.position || s.Replayed {
				t.Fatalf("sign-up %d: %+v %v", i+1, s, err)
			}
		}
		again, err := f.svc.SignUp(ctx, resident(3), a.ID)
		if err != nil || !again.Replayed || again.WaitlistPosition != 2 {
			t.Fatalf("repeated sign-up: %+v %v", again, err)
		}
		if _, err := f.svc.Cancel(ctx, resident(1), a.ID); err != nil {
			t.Fatal(err)
		}
		if again, err := f.svc.Cancel(ctx, resident(1), a.ID); err != nil || again.Status != Cancelled || !again.Replayed {
			t.Fatalf("repeated cancel: %+v %v", again, err)
		}
		view, err := f.svc.ActivityFor(ctx, resident(3), a.ID)
		if err != nil || view.MySignup == nil || view.MySignup.WaitlistPosition != 1 || view.PlacesLeft != 0 {
			t.Fatalf("resident 3 after resident 2's promotion: %+v %v", view, err)
		}
		// Staff see full names where they may read residents, masked otherwise.
		masked, _ := f.svc.Signups(ctx, a.ID, nil, nil)
		full, _ := f.svc.Signups(ctx, a.ID, nil, func(int64) bool { return true })
		if masked[1].Name != "李*英" || full[1].Name != "李秀英" || full[2].WaitlistPosition != 1 {
			t.Fatalf("names: masked %+v full %+v", masked, full)
		}
		// Another village's resident does not see the activity.
		other := Resident{ResidentID: 9, VillageID: 8, SessionID: 1}
		if _, err := f.svc.ActivityFor(ctx, other, a.ID); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("other village: %v", err)
		}
		if list, total, err := f.svc.OpenActivities(ctx, other, 0, 10); err != nil || total != 0 || len(list) != 0 {
			t.Fatalf("other village's list: %d %v", total, err)
		}
		list, total, err := f.svc.OpenActivities(ctx, resident(2), 0, 10)
		if err != nil || total != 1 || list[0].MySignup == nil || list[0].MySignup.Status != Enrolled {
			t.Fatalf("open activities: %+v %d %v", list, total, err)
		}
	})
}

// TestPromotionIsToldOncePerStint: a waitlisted resident who gets a place
// is told 候补成功 in the cancelling transaction; a repeated cancel tells
// nobody again, and a resident promoted, withdrawn and promoted again
// hears both times.
func TestPromotionIsToldOncePerStint(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := mustFixture(t, db)
		a := mustActivity(t, f, 1)
		ctx := context.Background()
		step := 0
		tick := func() { step++; f.at(time.Date(2026, 5, 1, 0, step, 0, 0, time.UTC)) }
		for _, r := range []int64{1, 2, 3} {
			tick()
			if _, err := f.svc.SignUp(ctx, resident(r), a.ID); err != nil {
				t.Fatal(err)
			}
		}
		tick()
		for range 2 {
			if _, err := f.svc.Cancel(ctx, resident(1), a.ID); err != nil {
				t.Fatal(err)
			}
		}
		got := mustInbox(t, db, 2, notify.WaitlistPromoted)
		if len(got) != 1 || got[0].Title != "候补成功" || got[0].Data["title"] != "河道清理" || got[0].Data["time"] != "2026年5月2日 09:00~12:00" ||
			got[0].Data["place"] != "村口" || mustPending(t, db, 2, notify.WaitlistPromoted) != 1 {
			t.Fatalf("resident 2's promotion notices: %+v", got)
		}
		for _, r := range []int64{1, 3} {
			if got := mustInbox(t, db, r, notify.WaitlistPromoted); len(got) != 0 {
				t.Fatalf("resident %d was told of a promotion: %+v", r, got)
			}
		}
		// Resident 2 withdraws (3 moves up), signs up again behind 1, and
		// is promoted a second time when 3 and then 1 withdraw.
		for _, s := range []struct {
			r      int64
			signUp bool
		}{{2, false}, {1, true}, {2, true}, {3, false}, {1, false}} {
			tick()
			var err error
			if s.signUp {
				_, err = f.svc.SignUp(ctx, resident(s.r), a.ID)
			} else {
				_, err = f.svc.Cancel(ctx, resident(s.r), a.ID)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := mustInbox(t, db, 2, notify.WaitlistPromoted); len(got) != 2 {
			t.Fatalf("resident 2 promoted twice, told %d times", len(got))
		}
		for r, want := range map[int64]int{1: 1, 3: 1} {
			if got := mustInbox(t, db, r, notify.WaitlistPromoted); len(got) != want {
				t.Fatalf("resident %d told %d times, want %d", r, len(got), want)
			}
		}
		view, _ := f.svc.ActivityFor(ctx, resident(2), a.ID)
		if view.MySignup == nil || view.MySignup.Status != Enrolled {
			t.Fatalf("resident 2 ends %+v", view.MySignup)
		}
	})
}

func TestManualCheckInEnrolsAWalkIn(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := mustFixture(t, db)
		mustPeople(t, db)
		a := mustActivity(t, f, 1)
		ctx := context.Background()
		f.at(a.StartsAt)
		in := ManualInput{ResidentID: 4, Action: CheckIn, Reason: "老人无手机，现场登记"}
		s, err := f.svc.Manual(ctx, Staff{ID: 5, Name: "社工"}, a.ID, nil, in)
		if err != nil || s.Status != Enrolled || s.CheckedInAt == nil || s.CheckInReason != in.Reason {
			t.Fatalf("walk-in check-in: %+v %v", s, err)
		}
		if got, _ := f.svc.Activity(ctx, a.ID, nil); got.Enrolled != 1 {
			t.Fatalf("enrolled %d after a walk-in, want 1", got.Enrolled)
		}
		if _, err := f.svc.Manual(ctx, Staff{ID: 5}, a.ID, nil, ManualInput{ResidentID: 3, Action: CheckIn, Reason: "现场登记"}); !apperr.Is(err, CodeFull) {
			t.Fatalf("walk-in when full: %v", err)
		}
		if _, err := f.svc.Manual(ctx, Staff{ID: 5}, a.ID, nil, ManualInput{ResidentID: 9, Action: CheckIn, Reason: "现场登记"}); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("walk-in from another village: %v", err)
		}
		if n := auditCount(t, db, "volunteer.check_in.manual"); n != 1 {
			t.Fatalf("%d manual check-in audit entries, want 1", n)
		}
	})
}

func TestNobodyConfirmsTheirOwnHousehold(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := mustFixture(t, db)
		a := mustActivity(t, f, 3)
		ctx := context.Background()
		// Staff 5 lives in household 101, resident 1's.
		now := time.Now().UTC()
		if err := db.Exec("INSERT INTO staff_users (id, username, display_name, household_id, password_hash, created_at, updated_at) VALUES (5, 'sw', '社工', 101, 'x', ?, ?)",
			now, now).Error; err != nil {
			t.Fatal(err)
		}
		s1, _ := f.svc.SignUp(ctx, resident(1), a.ID)
		s2, _ := f.svc.SignUp(ctx, resident(2), a.ID)
		f.at(a.StartsAt)
		for _, r := range []int64{1, 2} {
			if _, err := f.svc.Manual(ctx, Staff{ID: 6}, a.ID, nil, ManualInput{ResidentID: r, Action: CheckIn, Reason: "代签"}); err != nil {
				t.Fatal(err)
			}
		}
		out := a.StartsAt.Add(time.Hour)
		items := []ConfirmItem{{SignupID: s2.ID, Attended: true, CheckedOutAt: &out}, {SignupID: s1.ID, Attended: true, CheckedOutAt: &out}}
		_, err := f.svc.Confirm(ctx, Staff{ID: 5}, a.ID, nil, items)
		if !apperr.Is(err, apperr.CodeConflictInterest) {
			t.Fatalf("confirming one's own household: %v", err)
		}
		var postings int64
		db.Table("ledger_postings").Count(&postings)
		if postings != 0 {
			t.Fatalf("a refused sheet posted %d", postings)
		}
		// Another staff member confirms.
		if _, err := f.svc.Confirm(ctx, Staff{ID: 6}, a.ID, nil, items); err != nil {
			t.Fatal(err)
		}
	})
}
