package app_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/printout"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/models/volunteer"
	"github.com/villagepoints/jifen/models/wechat/wechattest"
	"github.com/villagepoints/jifen/rules"
	"github.com/villagepoints/jifen/server/app"
)

func mustVillager(t *testing.T, a *app.App, fake *wechattest.App, worker *client, openID string, resident int64) *client {
	t.Helper()
	c := mustMPLogin(t, a, fake, openID)
	mustBindResident(t, worker, c, resident)
	return c
}

func mustResident(t *testing.T, a *app.App, village int64, name string) people.Resident {
	t.Helper()
	r, err := a.People.CreateResident(context.Background(), audit.System, village, people.ResidentInput{Name: name, Registered: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mySignup(t *testing.T, r response) map[string]any {
	t.Helper()
	s, ok := r.data()["my_signup"].(map[string]any)
	if !ok {
		t.Fatalf("no my_signup: %s", r.Raw)
	}
	return s
}

// inboxOf is the caller's notifications of kind, as the mini-program lists
// them.
func inboxOf(t *testing.T, c *client, kind string) []map[string]any {
	t.Helper()
	r := c.do("GET", "/mp/v1/me/notifications", nil)
	wantStatus(t, r, http.StatusOK, "")
	var out []map[string]any
	for _, it := range r.Body["data"].([]any) {
		if it := it.(map[string]any); it["kind"] == kind {
			out = append(out, it)
		}
	}
	return out
}

func mustPNG(t *testing.T, r response) {
	t.Helper()
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("certificate: %d %s", r.Status, r.Raw)
	}
	img, err := png.Decode(bytes.NewReader(r.Raw))
	if err != nil {
		t.Fatal(err)
	}
	if sz := img.Bounds().Size(); sz.X != printout.PageW || sz.Y != printout.PageH {
		t.Fatalf("certificate is %v, want A4 %dx%d", sz, printout.PageW, printout.PageH)
	}
}

// TestVolunteerOverHTTP runs a volunteer activity like the organiser and
// the villagers would: the social worker creates it, villagers sign up
// (the fourth waits, a cancellation promotes them), scan the rotating
// code at the place (a stale code and a scan from afar are refused), the
// organiser checks an elderly villager in by hand with a reason and
// confirms attendance in bulk (a no-show posts nothing, a forgotten
// check-out gets a time, a repeated sheet posts nothing more), and the
// record and certificate follow. Village B's staff and villagers find
// nothing of village A.
func TestVolunteerOverHTTP(t *testing.T) {
	eachWeChatBackend(t, func(t *testing.T, a *app.App, fake *wechattest.App) {
		ctx := context.Background()
		w := mustWorld(t, a)
		worker := mustLogin(t, a, w.logins[staff.SocialWorker])
		sup := mustLogin(t, a, w.logins[staff.Supervisor])
		v1 := mustVillager(t, a, fake, worker, "vol-1", w.residentA.ID)
		v2 := mustVillager(t, a, fake, worker, "vol-2", mustResident(t, a, w.villageA.ID, "李秀英").ID)
		v3 := mustVillager(t, a, fake, worker, "vol-3", mustResident(t, a, w.villageA.ID, "赵德福").ID)
		r4 := mustResident(t, a, w.villageA.ID, "钱小红")
		v4 := mustVillager(t, a, fake, worker, "vol-4", r4.ID)
		elder := mustResident(t, a, w.villageA.ID, "孙桂兰") // no phone

		start := time.Now().UTC().Add(30 * time.Minute).Truncate(time.Second)
		activity := map[string]any{"title": "河道清理", "place": "村口石桥", "lat": 30.0, "lng": 120.0, "radius_m": 100,
			"starts_at": start, "ends_at": start.Add(3 * time.Hour), "capacity": 3, "points_per_hour": 2}
		list := fmt.Sprintf("/api/v1/villages/%d/volunteer-activities", w.villageA.ID)
		wantStatus(t, sup.do("POST", list, activity), http.StatusForbidden, "FORBIDDEN")
		activity["village_id"] = w.villageB.ID
		wantStatus(t, worker.do("POST", list, activity), http.StatusBadRequest, "INVALID_ARGUMENT")
		delete(activity, "village_id")
		r := worker.do("POST", list, activity)
		wantStatus(t, r, http.StatusCreated, "")
		actID := id(r)
		act := fmt.Sprintf("/api/v1/volunteer-activities/%d", actID)
		mpAct := fmt.Sprintf("/mp/v1/volunteer-activities/%d", actID)

		// Sign-up: three places, the fourth waits; a double tap is the same sign-up.
		r = v1.do("POST", mpAct+"/signup", nil)
		wantStatus(t, r, http.StatusCreated, "")
		first := id(r)
		r = v1.do("POST", mpAct+"/signup", nil)
		if r.Status != http.StatusOK || id(r) != first || r.data()["replayed"] != true {
			t.Fatalf("double tap: %d %s", r.Status, r.Raw)
		}
		wantStatus(t, v2.do("POST", mpAct+"/signup", nil), http.StatusCreated, "")
		wantStatus(t, v3.do("POST", mpAct+"/signup", nil), http.StatusCreated, "")
		r = v4.do("POST", mpAct+"/signup", nil)
		if r.Status != http.StatusCreated || r.data()["status"] != volunteer.Waitlisted || r.data()["waitlist_position"] != 1.0 {
			t.Fatalf("fourth sign-up: %d %s", r.Status, r.Raw)
		}
		r = v4.do("GET", mpAct, nil)
		if r.Status != http.StatusOK || r.data()["places_left"] != 0.0 || mySignup(t, r)["waitlist_position"] != 1.0 {
			t.Fatalf("detail while waiting: %s", r.Raw)
		}
		// v2 cancels (twice: the repeat answers the same) and v4 moves up.
		r = v2.do("POST", mpAct+"/signup/cancellation", nil)
		wantStatus(t, r, http.StatusOK, "")
		wantStatus(t, v2.do("POST", mpAct+"/signup/cancellation", nil), http.StatusOK, "")
		if r = v4.do("GET", mpAct, nil); mySignup(t, r)["status"] != volunteer.Enrolled {
			t.Fatalf("after a cancellation the first waiting is not enrolled: %s", r.Raw)
		}
		if got := inboxOf(t, v4, "waitlist_promoted"); len(got) != 1 || got[0]["title"] != "候补成功" || got[0]["data"].(map[string]any)["title"] != "河道清理" {
			t.Fatalf("v4's promotion notices: %v", got)
		}
		if got := inboxOf(t, v3, "waitlist_promoted"); len(got) != 0 {
			t.Fatalf("an enrolled villager was told of a promotion: %v", got)
		}
		r = v1.do("GET", "/mp/v1/volunteer-activities", nil)
		if r.Status != http.StatusOK || r.Body["page"].(map[string]any)["total"] != 1.0 {
			t.Fatalf("open activities: %d %s", r.Status, r.Raw)
		}

		// The elderly villager without a phone comes; the activity is full.
		manual := act + "/manual-checks"
		walkIn := map[string]any{"resident_id": elder.ID, "action": "check_in", "reason": "老人无智能手机，现场登记"}
		wantStatus(t, worker.do("POST", manual, walkIn), http.StatusUnprocessableEntity, "VOLUNTEER_FULL")
		wantStatus(t, v3.do("POST", mpAct+"/signup/cancellation", nil), http.StatusOK, "")
		wantStatus(t, worker.do("POST", manual, map[string]any{"resident_id": elder.ID, "action": "check_in"}), http.StatusBadRequest, "INVALID_ARGUMENT")
		r = worker.do("POST", manual, walkIn)
		if r.Status != http.StatusOK || r.data()["check_in_reason"] != walkIn["reason"] || !strings.HasPrefix(r.data()["check_in_by"].(string), "staff:") {
			t.Fatalf("manual check-in: %d %s", r.Status, r.Raw)
		}

		// Scans at the place with the code on the organiser's screen.
		wantStatus(t, sup.do("GET", act+"/check-in-code", nil), http.StatusForbidden, "FORBIDDEN")
		r = worker.do("GET", act+"/check-in-code", nil)
		wantStatus(t, r, http.StatusOK, "")
		code := r.data()["code"].(string)
		near := map[string]any{"code": code, "lat": 30.0004, "lng": 120.0, "accuracy_m": 15}
		far := map[string]any{"code": code, "lat": 30.01, "lng": 120.0, "accuracy_m": 15}
		stale := volunteer.SignCode(pii.DeriveKey(a.Config.SecretKey, "volunteer-checkin-code"), actID, time.Now().Add(-2*time.Minute)).Code
		r = v1.do("POST", "/mp/v1/me/volunteer-check-ins", far)
		wantStatus(t, r, http.StatusUnprocessableEntity, "VOLUNTEER_OUTSIDE_FENCE")
		if !strings.Contains(string(r.Raw), "米") {
			t.Fatalf("the refusal does not say how far: %s", r.Raw)
		}
		wantStatus(t, v1.do("POST", "/mp/v1/me/volunteer-check-ins", map[string]any{"code": stale, "lat": 30.0, "lng": 120.0}),
			http.StatusUnprocessableEntity, "VOLUNTEER_CODE_EXPIRED")
		wantStatus(t, v1.do("POST", "/mp/v1/me/volunteer-check-ins", map[string]any{"code": "V1.1.1.forged", "lat": 30.0, "lng": 120.0}),
			http.StatusUnprocessableEntity, "VOLUNTEER_CODE_INVALID")
		wantStatus(t, v1.do("POST", "/mp/v1/me/volunteer-check-ins", map[string]any{"code": code}), http.StatusUnprocessableEntity, "VOLUNTEER_LOCATION_REQUIRED")
		r = v1.do("POST", "/mp/v1/me/volunteer-check-ins", near)
		if r.Status != http.StatusOK || r.data()["check_in_distance_m"] == nil || !strings.HasPrefix(r.data()["check_in_by"].(string), "session:") {
			t.Fatalf("check-in: %d %s", r.Status, r.Raw)
		}
		wantStatus(t, v1.do("POST", "/mp/v1/me/volunteer-check-ins", near), http.StatusUnprocessableEntity, "VOLUNTEER_ALREADY_CHECKED_IN")
		wantStatus(t, v2.do("POST", "/mp/v1/me/volunteer-check-ins", near), http.StatusUnprocessableEntity, "VOLUNTEER_NOT_ENROLLED")
		wantStatus(t, v4.do("POST", "/mp/v1/me/volunteer-check-outs", near), http.StatusUnprocessableEntity, "VOLUNTEER_NOT_CHECKED_IN")
		wantStatus(t, v4.do("POST", "/mp/v1/me/volunteer-check-ins", near), http.StatusOK, "")
		wantStatus(t, v4.do("POST", "/mp/v1/me/volunteer-check-outs", near), http.StatusOK, "")

		r = sup.do("GET", act+"/signups", nil)
		wantStatus(t, r, http.StatusOK, "")
		signups := map[string]int64{}
		for _, s := range r.Body["data"].([]any) {
			s := s.(map[string]any)
			signups[s["name"].(string)] = int64(s["id"].(float64))
		}
		if len(signups) != 5 || signups["张三"] != first || signups["孙桂兰"] == 0 {
			t.Fatalf("sign-ups: %s", r.Raw)
		}

		// Attendance: v1 forgot to check out; v4 left before the start.
		confirm := act + "/attendance-confirmations"
		out1, out2 := start.Add(2*time.Hour), start.Add(90*time.Minute)
		sheet := map[string]any{"items": []map[string]any{
			{"signup_id": first, "attended": true, "checked_out_at": out1},
			{"signup_id": signups["孙桂兰"], "attended": true, "checked_out_at": out2},
			{"signup_id": signups["钱小红"], "attended": false},
		}}
		wantStatus(t, sup.do("POST", confirm, sheet), http.StatusForbidden, "FORBIDDEN")
		r = worker.do("POST", confirm, map[string]any{"items": []map[string]any{{"signup_id": first, "attended": true}}})
		wantStatus(t, r, http.StatusUnprocessableEntity, "VOLUNTEER_NOT_CHECKED_IN")
		for range 2 { // the repeated sheet answers the same and posts nothing more
			r = worker.do("POST", confirm, sheet)
			wantStatus(t, r, http.StatusOK, "")
			got := r.Body["data"].([]any)
			g0, g1, g2 := got[0].(map[string]any), got[1].(map[string]any), got[2].(map[string]any)
			if g0["minutes"] != 120.0 || g0["points"] != 4.0 || g1["minutes"] != 90.0 || g1["points"] != 2.0 || g2["attendance"] != volunteer.AttendanceNoShow || g2["points"] != 0.0 {
				t.Fatalf("confirmed: %s", r.Raw)
			}
		}
		var postings int64
		if err := a.DB.Table("ledger_postings").Where("type = ?", ledger.TypeVolunteerAttendance).Count(&postings).Error; err != nil {
			t.Fatal(err)
		}
		if postings != 2 {
			t.Fatalf("%d attendance postings, want 2", postings)
		}
		r = worker.do("GET", fmt.Sprintf("/api/v1/residents/%d/points", w.residentA.ID), nil)
		if r.Status != http.StatusOK || r.data()["available"] != 4.0 {
			t.Fatalf("points of resident A: %s", r.Raw)
		}
		wantStatus(t, worker.do("POST", act+"/cancellation", map[string]any{"reason": "下雨"}), http.StatusConflict, "CONFLICT")

		// Records and certificates.
		day := start.In(rules.China)
		days := fmt.Sprintf("?from=%s&to=%s", day.AddDate(0, 0, -1).Format("2006-01-02"), day.AddDate(0, 0, 1).Format("2006-01-02"))
		r = v1.do("GET", "/mp/v1/me/volunteer-record"+days, nil)
		if r.Status != http.StatusOK || r.data()["minutes"] != 120.0 || r.data()["points"] != 4.0 || len(r.data()["activities"].([]any)) != 1 {
			t.Fatalf("my record: %d %s", r.Status, r.Raw)
		}
		r = sup.do("GET", fmt.Sprintf("/api/v1/residents/%d/volunteer-record", elder.ID), nil)
		if r.Status != http.StatusOK || r.data()["minutes"] != 90.0 {
			t.Fatalf("elder's record: %d %s", r.Status, r.Raw)
		}
		mustPNG(t, v1.do("GET", "/mp/v1/me/volunteer-certificate.png"+days, nil))
		mustPNG(t, sup.do("GET", fmt.Sprintf("/api/v1/residents/%d/volunteer-certificate.png%s", elder.ID, days), nil))
		wantStatus(t, v1.do("GET", "/mp/v1/me/volunteer-certificate.png", nil), http.StatusBadRequest, "INVALID_ARGUMENT")
		wantStatus(t, v2.do("GET", "/mp/v1/me/volunteer-certificate.png"+days, nil), http.StatusUnprocessableEntity, "VOLUNTEER_NO_RECORD")

		// A second activity: a double tap from two goroutines is one
		// sign-up; cancelling the activity releases it and posts nothing.
		activity["title"] = "敬老院打扫"
		r = worker.do("POST", list, activity)
		wantStatus(t, r, http.StatusCreated, "")
		second := id(r)
		mpSecond := fmt.Sprintf("/mp/v1/volunteer-activities/%d", second)
		var wg sync.WaitGroup
		ids := make([]int64, 2)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r := v2.do("POST", mpSecond+"/signup", nil); r.Status == http.StatusOK || r.Status == http.StatusCreated {
					ids[i] = id(r)
				}
			}()
		}
		wg.Wait()
		if ids[0] == 0 || ids[0] != ids[1] {
			t.Fatalf("concurrent double tap made sign-ups %v", ids)
		}
		cancel := fmt.Sprintf("/api/v1/volunteer-activities/%d/cancellation", second)
		wantStatus(t, worker.do("POST", cancel, map[string]any{}), http.StatusBadRequest, "INVALID_ARGUMENT")
		r = worker.do("POST", cancel, map[string]any{"reason": "暴雨预警，活动取消"})
		if r.Status != http.StatusOK || r.data()["status"] != volunteer.ActivityCancelled || r.data()["enrolled"] != 0.0 {
			t.Fatalf("cancel: %d %s", r.Status, r.Raw)
		}
		if r = v2.do("GET", mpSecond, nil); r.data()["status"] != volunteer.ActivityCancelled || mySignup(t, r)["status"] != volunteer.Cancelled {
			t.Fatalf("villager's view of a cancelled activity: %s", r.Raw)
		}
		got := inboxOf(t, v2, "activity_cancelled")
		if len(got) != 1 || got[0]["title"] != "活动已取消" || !strings.Contains(got[0]["body"].(string), "敬老院打扫") || !strings.Contains(got[0]["body"].(string), "暴雨预警，活动取消") {
			t.Fatalf("v2's cancellation notices: %v", got)
		}
		if got := inboxOf(t, v1, "activity_cancelled"); len(got) != 0 {
			t.Fatalf("a villager who did not sign up was told: %v", got)
		}
		var after int64
		a.DB.Table("ledger_postings").Where("type = ?", ledger.TypeVolunteerAttendance).Count(&after)
		if after != postings {
			t.Fatalf("cancelling posted: %d postings, had %d", after, postings)
		}

		// Every staff write is in the audit log.
		for target, want := range map[string]float64{"volunteer_activity": 4, "volunteer_signup": 1} {
			r = sup.do("GET", "/api/v1/audit-log?target_type="+target, nil)
			if r.Status != http.StatusOK || r.Body["page"].(map[string]any)["total"] != want {
				t.Fatalf("audit of %s: %s", target, r.Raw)
			}
		}

		// Village B sees nothing of village A.
		if _, err := a.Staff.CreateUserUnchecked(ctx, staff.NewUser{Username: "b_worker", DisplayName: "乙村社工", Password: testPassword,
			Grants: []staff.Grant{{Role: staff.SocialWorker, RegionID: w.villageB.ID}}}, nil); err != nil {
			t.Fatal(err)
		}
		bWorker := mustLogin(t, a, "b_worker")
		for _, rq := range []struct {
			method, path string
			body         any
		}{
			{"GET", act, nil},
			{"GET", act + "/signups", nil},
			{"GET", act + "/check-in-code", nil},
			{"POST", manual, walkIn},
			{"POST", confirm, sheet},
			{"POST", act + "/cancellation", map[string]any{"reason": "x"}},
			{"GET", fmt.Sprintf("/api/v1/residents/%d/volunteer-record", w.residentA.ID), nil},
			{"GET", fmt.Sprintf("/api/v1/residents/%d/volunteer-certificate.png%s", w.residentA.ID, days), nil},
		} {
			wantStatus(t, bWorker.do(rq.method, rq.path, rq.body), http.StatusNotFound, "NOT_FOUND")
		}
		wantStatus(t, bWorker.do("GET", list, nil), http.StatusForbidden, "OUT_OF_SCOPE")
		vb := mustVillager(t, a, fake, bWorker, "vol-b", w.residentB.ID)
		wantStatus(t, vb.do("GET", mpAct, nil), http.StatusNotFound, "NOT_FOUND")
		wantStatus(t, vb.do("POST", mpAct+"/signup", nil), http.StatusNotFound, "NOT_FOUND")
		wantStatus(t, vb.do("POST", "/mp/v1/me/volunteer-check-ins", near), http.StatusNotFound, "NOT_FOUND")
		if r = vb.do("GET", "/mp/v1/volunteer-activities", nil); r.Body["page"].(map[string]any)["total"] != 0.0 {
			t.Fatalf("village B's villager lists: %s", r.Raw)
		}
	})
}
