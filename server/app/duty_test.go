package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/models/wechat/wechattest"
	"github.com/villagepoints/jifen/server/app"
)

// dutyMember is a party member of village A logged into the mini-program.
type dutyMember struct {
	id   int64
	name string
	mp   *client
}

func mustDutyMembers(t *testing.T, a *app.App, fake *wechattest.App, worker *client, village int64, names ...string) []dutyMember {
	t.Helper()
	var out []dutyMember
	for i, name := range names {
		r, err := a.People.CreateResident(context.Background(), audit.System, village, people.ResidentInput{Name: name, Registered: true, PartyMember: true})
		if err != nil {
			t.Fatal(err)
		}
		mp := mustMPLogin(t, a, fake, fmt.Sprintf("duty-member-%d", i))
		mustBindResident(t, worker, mp, r.ID)
		out = append(out, dutyMember{id: r.ID, name: name, mp: mp})
	}
	return out
}

// TestDutyOverHTTP drives duty posts end to end like the console and the
// mini-program would: settings and posts, four members racing for two
// seats (never over capacity; a retry replays; a non-member is refused),
// approval and rejection, a report with a photo and location, the
// missing-report list, an assessment scored in stages (the branch locks
// self-assessment), review, notice, an objection resolved by re-scoring,
// final posting party points once however often it is pressed, the Excel
// export, the audit trail, and village B's staff kept out.
func TestDutyOverHTTP(t *testing.T) {
	eachWeChatBackend(t, func(t *testing.T, a *app.App, fake *wechattest.App) {
		w := mustWorld(t, a)
		admin := mustLogin(t, a, w.logins[staff.VillageAdmin])
		worker := mustLogin(t, a, w.logins[staff.SocialWorker])
		v := fmt.Sprintf("/api/v1/villages/%d", w.villageA.ID)

		settings := map[string]any{"period": "month", "max_posts": 1, "notice_days": 3, "grade_points": map[string]int{"excellent": 10, "qualified": 6, "basic_pass": 3, "unqualified": 0}}
		wantStatus(t, worker.do("PUT", v+"/duty-settings", settings), http.StatusForbidden, "FORBIDDEN")
		wantStatus(t, admin.do("PUT", v+"/duty-settings", map[string]any{"period": "week", "max_posts": 1, "notice_days": 3}), http.StatusBadRequest, "INVALID_ARGUMENT")
		wantStatus(t, admin.do("PUT", v+"/duty-settings", settings), http.StatusOK, "")
		r := worker.do("GET", v+"/duty-settings", nil)
		wantStatus(t, r, http.StatusOK, "")
		if r.data()["notice_days"].(float64) != 3 || r.data()["grade_points"].(map[string]any)["excellent"].(float64) != 10 {
			t.Fatalf("settings: %s", r.Raw)
		}

		r = admin.do("POST", v+"/duty-posts", map[string]any{"name": "环境整治岗", "duties": "河道保洁、垃圾分类督导", "capacity": 2, "base_points": 10})
		wantStatus(t, r, http.StatusCreated, "")
		post := id(r)
		r = admin.do("POST", v+"/duty-posts", map[string]any{"name": "政策宣传岗", "capacity": 5, "base_points": 10})
		wantStatus(t, r, http.StatusCreated, "")
		second := id(r)
		wantStatus(t, admin.do("POST", v+"/duty-posts", map[string]any{"name": "环境整治岗", "capacity": 1}), http.StatusConflict, "CONFLICT")

		// A bound villager who is not a party member is refused plainly.
		villager := mustMPLogin(t, a, fake, "duty-villager")
		mustBindResident(t, worker, villager, w.residentA.ID)
		r = villager.doKey("POST", "/mp/v1/me/duty-claims", "claim-villager", map[string]any{"post_id": post})
		wantStatus(t, r, http.StatusForbidden, "FORBIDDEN")
		if !strings.Contains(string(r.Raw), "党员") {
			t.Fatalf("refusal does not say why: %s", r.Raw)
		}

		// Four members race for two seats.
		m := mustDutyMembers(t, a, fake, worker, w.villageA.ID, "王建国", "李红梅", "赵志强", "孙丽")
		wantStatus(t, m[0].mp.do("POST", "/mp/v1/me/duty-claims", map[string]any{"post_id": post}), http.StatusBadRequest, "INVALID_ARGUMENT")
		statuses := make([]int, len(m))
		var wg sync.WaitGroup
		for i := range m {
			wg.Go(func() {
				statuses[i] = m[i].mp.doKey("POST", "/mp/v1/me/duty-claims", fmt.Sprintf("claim-%d-race", i), map[string]any{"post_id": post}).Status
			})
		}
		wg.Wait()
		var winners, losers []dutyMember
		for i, s := range statuses {
			switch s {
			case http.StatusCreated:
				winners = append(winners, m[i])
			case http.StatusUnprocessableEntity:
				losers = append(losers, m[i])
			default:
				t.Fatalf("claim %d: status %d", i, s)
			}
		}
		if len(winners) != 2 {
			t.Fatalf("%d claims won 2 seats: %v", len(winners), statuses)
		}
		r = m[0].mp.do("GET", "/mp/v1/duty-posts", nil)
		wantStatus(t, r, http.StatusOK, "")
		if seats := r.Body["data"].([]any)[0].(map[string]any)["seats_left"].(float64); seats != 0 {
			t.Fatalf("seats left %v: %s", seats, r.Raw)
		}
		win := winners[0]
		idx := map[int64]int{}
		for i, x := range m {
			idx[x.id] = i
		}
		r = win.mp.doKey("POST", "/mp/v1/me/duty-claims", fmt.Sprintf("claim-%d-race", idx[win.id]), map[string]any{"post_id": post})
		if r.Status != http.StatusOK || r.data()["replayed"] != true {
			t.Fatalf("retry: %d %s", r.Status, r.Raw)
		}
		// A loser claims the other post and is turned down with a reason.
		loser := losers[0]
		r = loser.mp.doKey("POST", "/mp/v1/me/duty-claims", "claim-loser-2", map[string]any{"post_id": second})
		wantStatus(t, r, http.StatusCreated, "")
		rejected := id(r)

		r = worker.do("GET", v+"/duty-claims?status=pending", nil)
		wantStatus(t, r, http.StatusOK, "")
		claims := r.Body["data"].([]any)
		if len(claims) != 3 || r.Body["page"].(map[string]any)["total"].(float64) != 3 {
			t.Fatalf("pending claims: %s", r.Raw)
		}
		for _, c := range claims {
			c := c.(map[string]any)
			cid := int64(c["id"].(float64))
			if cid == rejected {
				continue
			}
			wantStatus(t, worker.do("POST", fmt.Sprintf("/api/v1/duty-claims/%d/decision", cid), map[string]any{"approve": true}), http.StatusForbidden, "FORBIDDEN")
			wantStatus(t, admin.do("POST", fmt.Sprintf("/api/v1/duty-claims/%d/decision", cid), map[string]any{"approve": true}), http.StatusOK, "")
		}
		decide := fmt.Sprintf("/api/v1/duty-claims/%d/decision", rejected)
		wantStatus(t, admin.do("POST", decide, map[string]any{"approve": false}), http.StatusBadRequest, "INVALID_ARGUMENT")
		wantStatus(t, admin.do("POST", decide, map[string]any{"approve": false, "reason": "宣传岗本月已满员安排"}), http.StatusOK, "")
		r = loser.mp.do("GET", "/mp/v1/me/duty-claims", nil)
		if r.Status != http.StatusOK || r.Body["data"].([]any)[0].(map[string]any)["status"] != "rejected" {
			t.Fatalf("my claims: %s", r.Raw)
		}

		// One winner reports with a photo and location; the other does not.
		photo := mustEvidence(t, win.mp, "/mp/v1/me/evidence")
		today := time.Now().In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly)
		report := map[string]any{"post_id": post, "report_date": today, "content": "清理河道垃圾两处，劝导村民垃圾分类", "photos": []int64{photo}, "lat": 30.52, "lng": 114.31}
		wantStatus(t, loser.mp.doKey("POST", "/mp/v1/me/duty-reports", "report-loser-1", report), http.StatusForbidden, "")
		r = win.mp.doKey("POST", "/mp/v1/me/duty-reports", "report-win-1", report)
		wantStatus(t, r, http.StatusCreated, "")
		r = win.mp.doKey("POST", "/mp/v1/me/duty-reports", "report-win-1", report)
		if r.Status != http.StatusOK || r.data()["replayed"] != true {
			t.Fatalf("report retry: %d %s", r.Status, r.Raw)
		}
		r = worker.do("GET", fmt.Sprintf("%s/duty-reports?resident_id=%d&date=%s", v, win.id, today), nil)
		wantStatus(t, r, http.StatusOK, "")
		if list := r.Body["data"].([]any); len(list) != 1 || list[0].(map[string]any)["resident_name"] != win.name || len(list[0].(map[string]any)["photos"].([]any)) != 1 {
			t.Fatalf("reports: %s", r.Raw)
		}
		// The report's photo opens for the branch's staff and the member who
		// filed it; another member of the village and a store clerk are refused.
		evidencePath := fmt.Sprintf("/api/v1/evidence/%d", photo)
		for _, c := range []*client{worker, win.mp} {
			path := evidencePath
			if c == win.mp {
				path = fmt.Sprintf("/mp/v1/me/evidence/%d", photo)
			}
			if got := c.do("GET", path, nil); got.Status != http.StatusOK || got.Header.Get("Content-Type") != "image/jpeg" {
				t.Fatalf("report photo at %s: %d %s", path, got.Status, got.Raw)
			}
		}
		wantStatus(t, winners[1].mp.do("GET", fmt.Sprintf("/mp/v1/me/evidence/%d", photo), nil), http.StatusNotFound, "NOT_FOUND")
		clerk := mustLogin(t, a, w.logins[staff.StoreClerk])
		wantStatus(t, clerk.do("GET", evidencePath, nil), http.StatusForbidden, "FORBIDDEN")

		r = worker.do("GET", v+"/duty-missing-reports", nil)
		wantStatus(t, r, http.StatusOK, "")
		missing := r.data()["members"].([]any)
		if len(missing) != 1 || missing[0].(map[string]any)["resident_name"] != winners[1].name {
			t.Fatalf("missing reports: %s", r.Raw)
		}

		// The assessment: self, then the branch locks self.
		r = admin.do("POST", v+"/duty-assessments", map[string]any{})
		wantStatus(t, r, http.StatusCreated, "")
		batch := id(r)
		path := fmt.Sprintf("/api/v1/duty-assessments/%d", batch)
		wantStatus(t, admin.do("POST", v+"/duty-assessments", map[string]any{}), http.StatusConflict, "CONFLICT")
		r = worker.do("GET", path+"/items", nil)
		wantStatus(t, r, http.StatusOK, "")
		itemOf := map[int64]int64{}
		for _, it := range r.Body["data"].([]any) {
			it := it.(map[string]any)
			itemOf[int64(it["resident_id"].(float64))] = int64(it["id"].(float64))
		}
		if len(itemOf) != 2 || itemOf[win.id] == 0 || itemOf[winners[1].id] == 0 {
			t.Fatalf("items: %s", r.Raw)
		}
		self := fmt.Sprintf("/mp/v1/me/duty-assessments/%d/self-assessment", batch)
		wantStatus(t, win.mp.do("PUT", self, map[string]any{"grade": "excellent", "comment": "按时完成河道保洁"}), http.StatusOK, "")
		wantStatus(t, loser.mp.do("PUT", self, map[string]any{"grade": "excellent"}), http.StatusNotFound, "NOT_FOUND")
		score := func(resident int64) string {
			return fmt.Sprintf("/api/v1/duty-assessment-items/%d/score", itemOf[resident])
		}
		wantStatus(t, worker.do("PUT", score(win.id), map[string]any{"stage": 3, "grade": "qualified"}), http.StatusForbidden, "FORBIDDEN")
		wantStatus(t, admin.do("PUT", score(win.id), map[string]any{"stage": 3, "grade": "qualified", "comment": "履职认真"}), http.StatusOK, "")
		wantStatus(t, win.mp.do("PUT", self, map[string]any{"grade": "excellent"}), http.StatusUnprocessableEntity, "DUTY_STAGE_LOCKED")
		r = admin.do("PUT", score(winners[1].id), map[string]any{"stage": 2, "scores": []int{30, 30}})
		wantStatus(t, r, http.StatusOK, "")
		if r.data()["points"].(float64) != 6 {
			t.Fatalf("criterion points: %s", r.Raw)
		}
		r = win.mp.do("GET", "/mp/v1/me/duty-assessments", nil)
		if res := r.Body["data"].([]any); len(res) != 1 || res[0].(map[string]any)["points"].(float64) != 0 || res[0].(map[string]any)["grade"] != "" {
			t.Fatalf("a draft shows the branch's result: %s", r.Raw)
		}

		// Review, then notice, during which a member objects.
		wantStatus(t, admin.do("PATCH", path, map[string]any{"status": "notice"}), http.StatusUnprocessableEntity, "DUTY_ASSESSMENT_STATUS")
		wantStatus(t, admin.do("PATCH", path, map[string]any{"status": "review"}), http.StatusOK, "")
		notice := fmt.Sprintf("/mp/v1/duty-assessments/%d/notice", batch)
		wantStatus(t, win.mp.do("GET", notice, nil), http.StatusNotFound, "NOT_FOUND")
		wantStatus(t, admin.do("PATCH", path, map[string]any{"status": "notice"}), http.StatusOK, "")
		r = winners[1].mp.do("GET", notice, nil)
		wantStatus(t, r, http.StatusOK, "")
		if strings.Contains(string(r.Raw), winners[1].name) || len(r.data()["items"].([]any)) != 2 {
			t.Fatalf("notice shows full names or misses items: %s", r.Raw)
		}
		objection := fmt.Sprintf("/mp/v1/duty-assessment-items/%d/objections", itemOf[winners[1].id])
		wantStatus(t, villager.do("POST", objection, map[string]any{"reason": "不是党员"}), http.StatusForbidden, "FORBIDDEN")
		r = winners[1].mp.do("POST", objection, map[string]any{"reason": "本月巡河 6 次，有履职纪实可查，分数偏低"})
		wantStatus(t, r, http.StatusCreated, "")
		obj := id(r)
		wantStatus(t, admin.do("PATCH", path, map[string]any{"status": "final"}), http.StatusUnprocessableEntity, "DUTY_NOTICE_NOT_OVER")
		// The notice window passes.
		if err := a.DB.Exec("UPDATE duty_assessments SET notice_until = ? WHERE id = ?", time.Now().UTC().Add(-time.Minute), batch).Error; err != nil {
			t.Fatal(err)
		}
		wantStatus(t, admin.do("PATCH", path, map[string]any{"status": "final"}), http.StatusUnprocessableEntity, "DUTY_OBJECTIONS_OPEN")
		r = worker.do("GET", path+"/objections", nil)
		if r.Status != http.StatusOK || len(r.Body["data"].([]any)) != 1 || r.Body["data"].([]any)[0].(map[string]any)["item_resident_name"] != winners[1].name {
			t.Fatalf("objections: %s", r.Raw)
		}
		resolve := fmt.Sprintf("/api/v1/duty-objections/%d/resolution", obj)
		r = admin.do("POST", resolve, map[string]any{"reply": "经核实履职纪实，更正为优秀", "rescore": map[string]any{"grade": "excellent"}})
		wantStatus(t, r, http.StatusOK, "")
		if r.data()["status"] != "corrected" {
			t.Fatalf("resolution: %s", r.Raw)
		}
		wantStatus(t, admin.do("POST", resolve, map[string]any{"reply": "again"}), http.StatusConflict, "CONFLICT")

		// Final, pressed three times at once and once more: posted once.
		var fw sync.WaitGroup
		finals := make([]int, 3)
		for i := range finals {
			fw.Go(func() { finals[i] = admin.do("PATCH", path, map[string]any{"status": "final"}).Status })
		}
		fw.Wait()
		r = admin.do("PATCH", path, map[string]any{"status": "final"})
		if r.Status != http.StatusOK || r.data()["status"] != "final" || finals[0] != 200 || finals[1] != 200 || finals[2] != 200 {
			t.Fatalf("finals %v, then %d %s", finals, r.Status, r.Raw)
		}
		var posted []struct {
			HolderID int64
			Amount   int64
		}
		if err := a.DB.Raw("SELECT to_owner AS holder_id, amount FROM ledger_postings WHERE type = 'duty_assessment' AND track = 'party' ORDER BY to_owner").Scan(&posted).Error; err != nil {
			t.Fatal(err)
		}
		want := map[int64]int64{win.id: 6, winners[1].id: 10}
		if len(posted) != 2 || want[posted[0].HolderID] != posted[0].Amount || want[posted[1].HolderID] != posted[1].Amount {
			t.Fatalf("party postings %+v, want %v", posted, want)
		}
		r = winners[1].mp.do("GET", "/mp/v1/me/duty-assessments", nil)
		if res := r.Body["data"].([]any); len(res) != 1 || res[0].(map[string]any)["points"].(float64) != 10 || res[0].(map[string]any)["status"] != "final" {
			t.Fatalf("my results: %s", r.Raw)
		}
		wantStatus(t, admin.do("POST", resolve, map[string]any{"reply": "x", "rescore": map[string]any{"grade": "qualified"}}), http.StatusConflict, "CONFLICT")

		// The export opens and lists both members.
		r = worker.do("GET", path+"/workbook.xlsx", nil)
		wantStatus(t, r, http.StatusOK, "")
		x, err := excelize.OpenReader(bytes.NewReader(r.Raw))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := x.GetRows("考评结果")
		if err != nil || len(rows) != 5 || !strings.Contains(rows[0][0], "甲村") || !strings.Contains(rows[0][0], "已定稿") || rows[2][1] != "姓名" {
			t.Fatalf("export rows %q %v", rows, err)
		}
		names := rows[3][1] + rows[4][1]
		if !strings.Contains(names, win.name) || !strings.Contains(names, winners[1].name) {
			t.Fatalf("export names %q", rows)
		}

		// Every branch write is in the audit log.
		var actions []string
		a.DB.Raw("SELECT DISTINCT action FROM audit_log WHERE action LIKE 'duty.%' ORDER BY action").Scan(&actions)
		for _, want := range []string{"duty.assessment.correct", "duty.assessment.final", "duty.assessment.notice", "duty.assessment.open", "duty.assessment.review",
			"duty.assessment.score", "duty.claim.approve", "duty.claim.reject", "duty.objection.resolve", "duty.post.create", "duty.settings"} {
			if !strings.Contains(strings.Join(actions, ","), want) {
				t.Errorf("audit log lacks %s: %v", want, actions)
			}
		}

		// Village B's admin reaches none of it.
		if _, err := a.Staff.CreateUserUnchecked(context.Background(), staff.NewUser{Username: "b_admin_duty", DisplayName: "乙村管理员", Password: testPassword,
			Grants: []staff.Grant{{Role: staff.VillageAdmin, RegionID: w.villageB.ID}}}, nil); err != nil {
			t.Fatal(err)
		}
		other := mustLogin(t, a, "b_admin_duty")
		for _, c := range []struct{ method, path string }{
			{"GET", path}, {"GET", path + "/items"}, {"GET", path + "/objections"}, {"GET", path + "/workbook.xlsx"}, {"GET", evidencePath},
			{"PATCH", path}, {"PATCH", fmt.Sprintf("/api/v1/duty-posts/%d", post)}, {"POST", decide}, {"POST", resolve}, {"PUT", score(win.id)},
		} {
			var body any
			switch {
			case c.method == "GET":
			case strings.Contains(c.path, "duty-posts"):
				body = map[string]any{"active": false}
			case strings.Contains(c.path, "decision"):
				body = map[string]any{"approve": true}
			case strings.Contains(c.path, "resolution"):
				body = map[string]any{"reply": "x"}
			case strings.Contains(c.path, "score"):
				body = map[string]any{"stage": 3, "grade": "excellent"}
			default:
				body = map[string]any{"status": "final"}
			}
			wantStatus(t, other.do(c.method, c.path, body), http.StatusNotFound, "NOT_FOUND")
		}
		// The branch releases a member from the post: the seat is free again.
		r = admin.do("GET", fmt.Sprintf("%s/duty-claims?status=approved&resident_id=%d", v, win.id), nil)
		release := fmt.Sprintf("/api/v1/duty-claims/%d/release", int64(r.Body["data"].([]any)[0].(map[string]any)["id"].(float64)))
		wantStatus(t, other.do("POST", release, map[string]any{"reason": "越权"}), http.StatusNotFound, "NOT_FOUND")
		wantStatus(t, admin.do("POST", release, map[string]any{"reason": "调任村民小组长"}), http.StatusOK, "")
		r = admin.do("GET", v+"/duty-posts", nil)
		if r.Body["data"].([]any)[0].(map[string]any)["seats_left"].(float64) != 1 {
			t.Fatalf("after release: %s", r.Raw)
		}
		wantStatus(t, other.do("GET", v+"/duty-posts", nil), http.StatusForbidden, "OUT_OF_SCOPE")
		wantStatus(t, other.do("POST", v+"/duty-posts", map[string]any{"name": "越权岗", "capacity": 1}), http.StatusForbidden, "OUT_OF_SCOPE")
	})
}
