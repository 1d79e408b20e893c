package app_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"testing"
	"time"

	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/models/wechat/wechattest"
	"github.com/villagepoints/jifen/rules"
	"github.com/villagepoints/jifen/server/app"
)

func mustJPEG(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 4, 4)), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mustItemIDs maps a village's current item codes to their ids.
func mustItemIDs(t *testing.T, c *client, village int64) map[string]int64 {
	t.Helper()
	r := c.do("GET", fmt.Sprintf("/api/v1/villages/%d/rule-items", village), nil)
	wantStatus(t, r, http.StatusOK, "")
	out := map[string]int64{}
	for _, it := range r.Body["data"].([]any) {
		m := it.(map[string]any)
		out[m["code"].(string)] = int64(m["id"].(float64))
	}
	return out
}

func mustEvidence(t *testing.T, c *client, path string) int64 {
	t.Helper()
	r := c.upload(path, "file", mustJPEG(t))
	wantStatus(t, r, http.StatusCreated, "")
	return int64(r.data()["id"].(float64))
}

func id(r response) int64 { return int64(r.data()["id"].(float64)) }

// TestAwardsOverHTTP drives the whole path on both backends: adopting the
// default template, awards up to a cap with a precise refusal and an
// idempotent retry, an all-or-nothing batch, a self-report rejected,
// appealed and overturned, a deduction appealed and reversed, and an
// objection to the public notice.
func TestAwardsOverHTTP(t *testing.T) {
	eachWeChatBackend(t, func(t *testing.T, a *app.App, fake *wechattest.App) {
		w := mustWorld(t, a)
		ctx := context.Background()
		neighbour, err := a.People.CreateResident(ctx, audit.System, w.villageA.ID, people.ResidentInput{Name: "王小二", Registered: true})
		if err != nil {
			t.Fatal(err)
		}
		admin := mustLogin(t, a, w.logins[staff.VillageAdmin])
		worker := mustLogin(t, a, w.logins[staff.SocialWorker])
		vA := fmt.Sprintf("/api/v1/villages/%d", w.villageA.ID)

		r := admin.do("POST", vA+"/rule-template-adoptions", map[string]any{"template_id": 0})
		wantStatus(t, r, http.StatusCreated, "")
		if n := len(r.data()["created"].([]any)); n < 35 {
			t.Fatalf("adopted %d items", n)
		}
		wantStatus(t, worker.do("POST", vA+"/rule-template-adoptions", map[string]any{"template_id": 0}), http.StatusForbidden, "FORBIDDEN")
		items := mustItemIDs(t, worker, w.villageA.ID)
		photo := mustEvidence(t, worker, vA+"/evidence")

		// GD-01 拾金不昧: at most 3 a month per person.
		give := func(code string, resident int64, key string) response {
			return worker.do("POST", vA+"/awards", map[string]any{"rule_item_id": items[code], "resident_id": resident, "photos": []int64{photo}, "idempotency_key": key})
		}
		for i := range 3 {
			wantStatus(t, give("GD-01", w.residentA.ID, fmt.Sprintf("gd01-%d", i)), http.StatusCreated, "")
		}
		r = give("GD-01", w.residentA.ID, "gd01-3")
		wantStatus(t, r, http.StatusUnprocessableEntity, "RULE_CAP_REACHED")
		if msg := r.Body["error"].(map[string]any)["message"]; msg != "该村民本月该项已达上限 3 次" {
			t.Fatalf("refusal message %q", msg)
		}
		wantStatus(t, give("GD-01", w.residentA.ID, "gd01-0"), http.StatusOK, "")
		wantStatus(t, give("GD-01", w.residentB.ID, "other-village"), http.StatusNotFound, "NOT_FOUND")
		wantStatus(t, worker.do("POST", fmt.Sprintf("/api/v1/villages/%d/awards", w.villageB.ID), map[string]any{"rule_item_id": items["GD-01"], "resident_id": w.residentB.ID, "idempotency_key": "x"}), http.StatusForbidden, "OUT_OF_SCOPE")
		wantStatus(t, worker.do("POST", vA+"/awards", map[string]any{"rule_item_id": items["GD-01"], "resident_id": w.residentA.ID, "idempotency_key": "y", "points": 999}), http.StatusBadRequest, "INVALID_ARGUMENT")

		// A batch for an event: all or nothing.
		batch := func(residents []int64, key string) response {
			return worker.do("POST", vA+"/award-batches", map[string]any{"rule_item_id": items["HJ-03"], "resident_ids": residents, "photos": []int64{photo}, "idempotency_key": key})
		}
		r = batch([]int64{w.residentA.ID, neighbour.ID, w.residentB.ID}, "event-1")
		wantStatus(t, r, http.StatusUnprocessableEntity, "BATCH_REFUSED")
		wantStatus(t, batch([]int64{w.residentA.ID, neighbour.ID}, "event-2"), http.StatusCreated, "")
		wantStatus(t, batch([]int64{w.residentA.ID, neighbour.ID}, "event-2"), http.StatusOK, "")

		// A self-report, rejected, appealed and overturned.
		villager := mustMPLogin(t, a, fake, "openid-award-a")
		mustBindResident(t, worker, villager, w.residentA.ID)
		mine := mustEvidence(t, villager, "/mp/v1/me/evidence")
		r = villager.do("POST", "/mp/v1/me/self-reports", map[string]any{"rule_item_id": items["HJ-02"], "note": "垃圾分类投放", "photos": []int64{mine}, "idempotency_key": "sr-1"})
		wantStatus(t, r, http.StatusCreated, "")
		report := id(r)
		counts := worker.do("GET", vA+"/self-report-counts", nil)
		if counts.data()["pending"].(float64) != 1 {
			t.Fatalf("counts %s", counts.Raw)
		}
		wantStatus(t, worker.do("POST", fmt.Sprintf("/api/v1/self-reports/%d/review", report), map[string]any{"action": "reject", "note": "照片不清楚"}), http.StatusOK, "")
		r = villager.do("POST", "/mp/v1/me/appeals", map[string]any{"kind": "appeal", "target_type": "self_report", "target_id": report, "reason": "照片很清楚"})
		wantStatus(t, r, http.StatusCreated, "")
		wantStatus(t, admin.do("POST", fmt.Sprintf("/api/v1/appeals/%d/decision", id(r)), map[string]any{"outcome": "overturn", "reason": "复核属实"}), http.StatusOK, "")
		if n := mustNotify(t, a.DB, w.residentA.ID); n == 0 {
			t.Fatal("no notification")
		}

		// A deduction, appealed and reversed.
		r = give("GD-04", w.residentA.ID, "ded-1")
		wantStatus(t, r, http.StatusCreated, "")
		ded := id(r)
		r = villager.do("POST", "/mp/v1/me/appeals", map[string]any{"kind": "appeal", "target_type": "award", "target_id": ded, "reason": "不是我"})
		wantStatus(t, r, http.StatusCreated, "")
		wantStatus(t, worker.do("POST", fmt.Sprintf("/api/v1/appeals/%d/decision", id(r)), map[string]any{"outcome": "overturn", "reason": "x"}), http.StatusForbidden, "FORBIDDEN")
		wantStatus(t, admin.do("POST", fmt.Sprintf("/api/v1/appeals/%d/decision", id(r)), map[string]any{"outcome": "overturn", "reason": "监控显示非本人"}), http.StatusOK, "")
		if got := worker.do("GET", fmt.Sprintf("/api/v1/awards/%d", ded), nil); got.data()["status"] != "reversed" || got.data()["reversal_posting_id"] == nil {
			t.Fatalf("deduction after overturn: %s", got.Raw)
		}
		// The villager's own lists: the village's rule items, and their
		// awards with the total (the overturned self-report's and the
		// reversed deduction among them); a caller not bound to a
		// resident gets neither.
		r = villager.do("GET", "/mp/v1/me/rule-items", nil)
		if wantStatus(t, r, http.StatusOK, ""); len(r.Body["data"].([]any)) == 0 {
			t.Fatalf("rule items: %s", r.Raw)
		}
		r = villager.do("GET", "/mp/v1/me/awards?page_size=1", nil)
		wantStatus(t, r, http.StatusOK, "")
		if len(r.Body["data"].([]any)) != 1 || r.Body["page"].(map[string]any)["total"].(float64) < 2 {
			t.Fatalf("my awards: %s", r.Raw)
		}
		stranger := mustMPLogin(t, a, fake, "openid-award-unbound")
		for _, path := range []string{"/mp/v1/me/rule-items", "/mp/v1/me/awards", "/mp/v1/me/monthly-rankings", "/mp/v1/me/duty-objections"} {
			wantStatus(t, stranger.do("GET", path, nil), http.StatusForbidden, "FORBIDDEN")
		}
		r = villager.do("GET", "/mp/v1/me/monthly-rankings", nil)
		wantStatus(t, r, http.StatusOK, "")
		r = villager.do("GET", "/mp/v1/me/duty-objections", nil)
		wantStatus(t, r, http.StatusOK, "")

		// The public notice, masked, and an objection by a neighbour.
		period := rules.Month.Key(time.Now())
		notice := villager.do("GET", "/mp/v1/me/award-notices/"+period, nil)
		wantStatus(t, notice, http.StatusOK, "")
		if !bytes.Contains(notice.Raw, []byte(`"name":"张*"`)) || bytes.Contains(notice.Raw, []byte("张三")) {
			t.Fatalf("notice not masked: %s", notice.Raw)
		}
		other := mustMPLogin(t, a, fake, "openid-award-b")
		mustBindResident(t, worker, other, neighbour.ID)
		entry := notice.data()["entries"].([]any)[0].(map[string]any)
		r = other.do("POST", "/mp/v1/me/appeals", map[string]any{"kind": "objection", "target_type": "award", "target_id": entry["award_id"], "reason": "当天不在村里"})
		wantStatus(t, r, http.StatusCreated, "")
		d := admin.do("POST", fmt.Sprintf("/api/v1/appeals/%d/decision", id(r)), map[string]any{"outcome": "uphold", "reason": "经核实属实"})
		wantStatus(t, d, http.StatusOK, "")
		if d.data()["status"] != "upheld" {
			t.Fatalf("objection: %s", d.Raw)
		}
		// The resident's photos are theirs to see; another villager's are not.
		wantStatus(t, other.do("GET", fmt.Sprintf("/mp/v1/me/evidence/%d", mine), nil), http.StatusNotFound, "NOT_FOUND")
		if got := villager.do("GET", fmt.Sprintf("/mp/v1/me/evidence/%d", mine), nil); got.Status != http.StatusOK || got.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("own photo: %d %s", got.Status, got.Header)
		}
	})
}
