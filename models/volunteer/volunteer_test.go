package volunteer

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
)

type fixture struct {
	svc *Service
	db  *gorm.DB
	now atomic.Pointer[time.Time]
}

func (f *fixture) at(t time.Time) { f.now.Store(&t) }

func mustFixture(t *testing.T, db *gorm.DB) *fixture {
	t.Helper()
	f := &fixture{db: db}
	f.at(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	clock := func() time.Time { return *f.now.Load() }
	ls := ledger.New(db, ledger.Options{Now: clock, SettingsTTL: -1})
	f.svc = New(db, Options{Ledger: func(tx *gorm.DB) LedgerTx { return ls.In(tx) }, Settings: ls,
		CodeKey: bytes.Repeat([]byte{9}, 32), Now: clock})
	return f
}

var placeLat, placeLng = 30.0, 120.0

func mustActivity(t *testing.T, f *fixture, capacity int) Activity {
	t.Helper()
	start := time.Date(2026, 5, 2, 1, 0, 0, 0, time.UTC) // 09:00 China time
	a, err := f.svc.CreateActivity(context.Background(), Staff{ID: 1}, 7, ActivityInput{Title: "河道清理", Place: "村口", Lat: &placeLat, Lng: &placeLng,
		RadiusM: 100, StartsAt: start, EndsAt: start.Add(3 * time.Hour), SignupOpensAt: start.Add(-48 * time.Hour),
		SignupClosesAt: start, Capacity: capacity, PointsPerHour: 2})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func resident(id int64) Resident {
	return Resident{ResidentID: id, HouseholdID: 100 + id, VillageID: 7, SessionID: 1000 + id}
}

func TestSignupCapacityUnderConcurrency(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := mustFixture(t, db)
		a := mustActivity(t, f, 3)
		ctx := context.Background()
		var wg sync.WaitGroup
		for i := int64(1); i <= 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := f.svc.SignUp(ctx, resident(i), a.ID); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		list, err := f.svc.Signups(ctx, a.ID, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, s := range list {
			count[s.Status]++
		}
		got, _ := f.svc.Activity(ctx, a.ID, nil)
		if count[Enrolled] != 3 || count[Waitlisted] != 5 || got.Enrolled != 3 {
			t.Fatalf("enrolled %d waitlisted %d counter %d, want 3/5/3", count[Enrolled], count[Waitlisted], got.Enrolled)
		}
		// Cancelling an enrolled sign-up promotes the first waitlisted one.
		var first, waiting int64
		for _, s := range list {
			if s.Status == Enrolled && first == 0 {
				first = s.ResidentID
			}
			if s.Status == Waitlisted && waiting == 0 {
				waiting = s.ResidentID
			}
		}
		if _, err := f.svc.Cancel(ctx, resident(first), a.ID); err != nil {
			t.Fatal(err)
		}
		list, _ = f.svc.Signups(ctx, a.ID, nil, nil)
		for _, s := range list {
			if s.ResidentID == waiting && s.Status != Enrolled {
				t.Fatalf("first waitlisted sign-up is %s after a cancellation", s.Status)
			}
		}
		if got, _ := f.svc.Activity(ctx, a.ID, nil); got.Enrolled != 3 {
			t.Fatalf("enrolled counter %d after promotion, want 3", got.Enrolled)
		}
	})
}

func TestCheckInOutAndConfirm(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := mustFixture(t, db)
		a := mustActivity(t, f, 5)
		ctx := context.Background()
		for i := int64(1); i <= 3; i++ {
			if _, err := f.svc.SignUp(ctx, resident(i), a.ID); err != nil {
				t.Fatal(err)
			}
		}
		f.at(a.StartsAt.Add(-10 * time.Minute)) // early: minutes clip to the start
		code := SignCode(f.svc.opts.CodeKey, a.ID, *f.now.Load()).Code
		near, far := placeLat+0.0005, placeLat+0.01
		scan := func(r int64, action string, lat *float64) error {
			_, err := f.svc.Scan(ctx, resident(r), ScanInput{Code: code, Action: action, Lat: lat, Lng: &placeLng})
			return err
		}
		if err := scan(1, CheckIn, &far); !apperr.Is(err, CodeOutsideFence) {
			t.Fatalf("scan 1 km away: %v", err)
		}
		if err := scan(1, CheckIn, nil); !apperr.Is(err, CodeLocationRequired) {
			t.Fatalf("scan without location: %v", err)
		}
		if err := scan(1, CheckIn, &near); err != nil {
			t.Fatal(err)
		}
		if err := scan(1, CheckIn, &near); !apperr.Is(err, CodeAlreadyCheckedIn) {
			t.Fatalf("duplicate check-in: %v", err)
		}
		if err := scan(2, CheckIn, &near); err != nil {
			t.Fatal(err)
		}
		// The same code replayed two windows later is refused.
		f.at(a.StartsAt.Add(-10*time.Minute + 2*CodeWindow))
		if err := scan(1, CheckOut, &near); !apperr.Is(err, CodeCodeExpired) {
			t.Fatalf("replayed code: %v", err)
		}
		// Resident 1 checks out by scanning 2h10m after check-in; 2 forgets.
		f.at(a.StartsAt.Add(2 * time.Hour))
		code = SignCode(f.svc.opts.CodeKey, a.ID, *f.now.Load()).Code
		if err := scan(1, CheckOut, &near); err != nil {
			t.Fatal(err)
		}
		// Staff check resident 3 in by hand (needs a reason).
		if _, err := f.svc.Manual(ctx, Staff{ID: 1}, a.ID, nil, ManualInput{ResidentID: 3, Action: CheckIn}); !apperr.Is(err, apperr.CodeInvalid) {
			t.Fatalf("manual without reason: %v", err)
		}
		s3, err := f.svc.Manual(ctx, Staff{ID: 1}, a.ID, nil, ManualInput{ResidentID: 3, Action: CheckIn, Reason: "老人无手机"})
		if err != nil || s3.CheckInBy != "staff:1" {
			t.Fatalf("manual check-in: %+v %v", s3, err)
		}
		list, _ := f.svc.Signups(ctx, a.ID, nil, nil)
		ids := map[int64]int64{}
		for _, s := range list {
			ids[s.ResidentID] = s.ID
		}
		out := a.StartsAt.Add(90 * time.Minute)
		items := []ConfirmItem{{SignupID: ids[1], Attended: true}, {SignupID: ids[2], Attended: true, CheckedOutAt: &out}, {SignupID: ids[3]}}
		for range 2 { // the retry must not post again
			got, err := f.svc.Confirm(ctx, Staff{ID: 1}, a.ID, nil, items)
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Minutes != 120 || got[0].Points != 4 || got[1].Minutes != 90 || got[1].Points != 2 || got[2].Attendance != AttendanceNoShow || got[2].Points != 0 {
				t.Fatalf("confirmed %+v", got)
			}
		}
		var postings int64
		db.Table("ledger_postings").Where("type = ?", ledger.TypeVolunteerAttendance).Count(&postings)
		if postings != 2 {
			t.Fatalf("%d attendance postings, want 2", postings)
		}
		rec, err := f.svc.Record(ctx, 1, time.Time{}, time.Time{})
		if err != nil || rec.Minutes != 120 || len(rec.Activities) != 1 {
			t.Fatalf("record %+v %v", rec, err)
		}
	})
}
