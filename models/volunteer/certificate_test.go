package volunteer

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/printout"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
	"github.com/villagepoints/jifen/rules"
)

func TestParseDays(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, rules.China).UTC() }
	for _, tc := range []struct {
		name, from, to string
		required       bool
		wantFrom       time.Time
		wantUntil      time.Time
		wantErr        bool
	}{
		{"a year, the last day inclusive", "2026-01-01", "2026-12-31", true, day(2026, 1, 1), day(2027, 1, 1), false},
		{"one day", "2026-05-02", "2026-05-02", true, day(2026, 5, 2), day(2026, 5, 3), false},
		{"open ends for a record", "", "", false, time.Time{}, time.Time{}, false},
		{"a certificate needs both ends", "2026-01-01", "", true, time.Time{}, time.Time{}, true},
		{"end before start", "2026-05-02", "2026-05-01", false, time.Time{}, time.Time{}, true},
		{"not a date", "2026/05/02", "", false, time.Time{}, time.Time{}, true},
	} {
		from, until, err := ParseDays(tc.from, tc.to, tc.required)
		switch {
		case tc.wantErr && !apperr.Is(err, apperr.CodeInvalid):
			t.Errorf("%s: got %v, want INVALID_ARGUMENT", tc.name, err)
		case !tc.wantErr && (err != nil || !from.Equal(tc.wantFrom) || !until.Equal(tc.wantUntil)):
			t.Errorf("%s: got [%v, %v) %v", tc.name, from, until, err)
		}
	}
}

func TestDurationText(t *testing.T) {
	for m, want := range map[int]string{0: "0分钟", 45: "45分钟", 60: "1小时", 150: "2小时30分钟"} {
		if got := DurationText(m); got != want {
			t.Errorf("DurationText(%d) = %q, want %q", m, got, want)
		}
	}
}

// mustConfirmed runs activities for resident 1 (and 2, who stays home),
// one a day from 2 May, each with check-in and out by hand, and confirms
// them: hours[i] hours on day i.
func mustConfirmed(t *testing.T, f *fixture, hours ...int) []Activity {
	t.Helper()
	ctx := context.Background()
	var out []Activity
	for i, h := range hours {
		start := time.Date(2026, 5, 2+i, 1, 0, 0, 0, time.UTC)
		f.at(start.Add(-24 * time.Hour))
		a, err := f.svc.CreateActivity(ctx, Staff{ID: 1}, 7, ActivityInput{Title: fmt.Sprintf("第%d次环境整治：清理河道垃圾、修剪村道两旁绿化带", i+1),
			StartsAt: start, EndsAt: start.Add(4 * time.Hour), Capacity: 5, PointsPerHour: 2})
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for r := int64(1); r <= 2; r++ {
			s, err := f.svc.SignUp(ctx, resident(r), a.ID)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, s.ID)
		}
		f.at(start)
		if _, err := f.svc.Manual(ctx, Staff{ID: 1}, a.ID, nil, ManualInput{ResidentID: 1, Action: CheckIn, Reason: "现场登记"}); err != nil {
			t.Fatal(err)
		}
		out1 := start.Add(time.Duration(h) * time.Hour)
		if _, err := f.svc.Confirm(ctx, Staff{ID: 1}, a.ID, nil, []ConfirmItem{{SignupID: ids[0], Attended: true, CheckedOutAt: &out1}, {SignupID: ids[1]}}); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func TestCertificate(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := mustFixture(t, db)
		mustPeople(t, db)
		mustConfirmed(t, f, 2, 3, 1)
		ctx := context.Background()
		from, until, _ := ParseDays("2026-05-01", "2026-05-03", true)
		c, err := f.svc.Certificate(ctx, 1, from, until)
		if err != nil {
			t.Fatal(err)
		}
		// 4 May is outside the range; the no-show resident 2 has nothing.
		if c.ResidentName != "王建国" || c.VillageName != "河西村" || c.Committee != "河西村村民委员会" || c.Record.Minutes != 300 ||
			len(c.Record.Activities) != 2 || c.LastDay.Format(dayLayout) != "2026-05-03" || len(c.CheckCode) != 19 {
			t.Fatalf("certificate %+v", c)
		}
		again, _ := f.svc.Certificate(ctx, 1, from, until)
		if again.CheckCode != c.CheckCode {
			t.Fatalf("issuing the same range again changed the code: %s, %s", c.CheckCode, again.CheckCode)
		}
		wider, _, _ := ParseDays("2026-04-30", "2026-05-03", true)
		if other, _ := f.svc.Certificate(ctx, 1, wider, until); other.CheckCode == c.CheckCode {
			t.Fatal("a different range has the same code")
		}
		if _, err := f.svc.Certificate(ctx, 2, from, until); !apperr.Is(err, CodeNoRecord) {
			t.Fatalf("certificate of a no-show: %v", err)
		}
		if _, err := f.svc.Certificate(ctx, 404, from, until); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("certificate of nobody: %v", err)
		}
		rec, err := f.svc.Record(ctx, 1, time.Time{}, time.Time{})
		if err != nil || rec.Minutes != 360 || rec.Points != 12 || len(rec.Activities) != 3 {
			t.Fatalf("whole record %+v %v", rec, err)
		}
	})
}

// TestRenderCertificate draws a certificate with more activities than fit
// and checks it is an A4 page. VOLUNTEER_CERTIFICATE_OUT=path keeps the
// PNG to look at.
func TestRenderCertificate(t *testing.T) {
	c := Certificate{ResidentID: 1, ResidentName: "王建国", VillageName: "河西村", Committee: committeeOf("河西村"),
		FirstDay: time.Date(2026, 1, 1, 0, 0, 0, 0, rules.China), LastDay: time.Date(2026, 12, 31, 0, 0, 0, 0, rules.China),
		IssuedAt: time.Date(2027, 1, 5, 3, 0, 0, 0, time.UTC)}
	for i := range 17 {
		m := 90 + 30*(i%4)
		c.Record.Activities = append(c.Record.Activities, RecordEntry{ActivityID: int64(i + 1), Title: []string{"河道清理", "关爱空巢老人上门走访与健康义诊服务活动", "垃圾分类宣传", "村道除雪"}[i%4],
			StartsAt: time.Date(2026, time.Month(1+i%12), 3+i, 1, 0, 0, 0, time.UTC), Minutes: m, Points: int64(m / 60 * 2)})
		c.Record.Minutes += m
	}
	c.CheckCode = checkCode([]byte("k"), c)
	b, err := RenderCertificate(c, "")
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if sz := img.Bounds().Size(); sz.X != printout.PageW || sz.Y != printout.PageH {
		t.Fatalf("page is %v, want A4 %dx%d", sz, printout.PageW, printout.PageH)
	}
	if out := os.Getenv("VOLUNTEER_CERTIFICATE_OUT"); out != "" {
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHangPunctuation(t *testing.T) {
	got := hangPunctuation([]string{"参加志愿服务活动", "，累计服务时长", "2小时。"})
	if got[0] != "参加志愿服务活动，" || got[1] != "累计服务时长" || got[2] != "2小时。" {
		t.Fatalf("got %q", got)
	}
}
