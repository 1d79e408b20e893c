package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/models/wechat/wechattest"
	"github.com/villagepoints/jifen/rules"
	"github.com/villagepoints/jifen/server/app"
)

// mustRankingSync seals the ledger and delivers it to the leaderboards, as
// the server's workers do every RANKING_INTERVAL.
func mustRankingSync(t *testing.T, a *app.App) {
	t.Helper()
	if _, err := ledger.NewSealer(a.Ledger).SealAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Ranking.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestRankingsEndToEnd drives the leaderboards and a monthly ranking over
// HTTP: staff boards with full names and scope checks, the villager's
// board with masked names and their own rank, a township admin's
// cross-village view, then freeze, publish, a villager's objection, its
// resolution, finalisation and the exports.
func TestRankingsEndToEnd(t *testing.T) {
	eachWeChatBackend(t, func(t *testing.T, a *app.App, fake *wechattest.App) {
		ctx := context.Background()
		w := mustWorld(t, a)
		// Last month's postings, dated by a ledger clock of their own.
		at := rules.Month.Start(rules.Month.Start(time.Now()).Add(-time.Hour)).Add(5 * 24 * time.Hour)
		past := ledger.New(a.DB, ledger.Options{Now: func() time.Time { return at }})
		post := func(l *ledger.Store, village, resident, amount int64, key string) {
			t.Helper()
			if _, err := l.Award(ctx, ledger.AwardRequest{VillageID: village, Holder: ledger.Resident(resident), Track: ledger.TrackCivic,
				Amount: amount, Actor: ledger.StaffActor(1), IdempotencyKey: key}); err != nil {
				t.Fatal(err)
			}
		}
		post(past, w.villageA.ID, w.residentA.ID, 12, "e2e-1")
		post(a.Ledger, w.villageA.ID, w.residentA.ID, 30, "e2e-2")
		post(a.Ledger, w.villageB.ID, w.residentB.ID, 45, "e2e-3")
		mustRankingSync(t, a)

		admin := mustLogin(t, a, w.logins[staff.VillageAdmin])
		r := admin.do("GET", fmt.Sprintf("/api/v1/villages/%d/leaderboard?period=all", w.villageA.ID), nil)
		wantStatus(t, r, http.StatusOK, "")
		entries := r.data()["entries"].([]any)
		first := entries[0].(map[string]any)
		if len(entries) != 1 || first["name"] != "张三" || first["points"].(float64) != 42 || first["rank"].(float64) != 1 {
			t.Fatalf("staff board %s", r.Raw)
		}
		wantStatus(t, admin.do("GET", fmt.Sprintf("/api/v1/villages/%d/leaderboard", w.villageB.ID), nil), http.StatusForbidden, "OUT_OF_SCOPE")
		wantStatus(t, admin.do("GET", fmt.Sprintf("/api/v1/regions/%d/leaderboard", w.townA.ID), nil), http.StatusForbidden, "OUT_OF_SCOPE")
		county := mustLogin(t, a, w.logins[staff.CountyAdmin])
		r = county.do("GET", fmt.Sprintf("/api/v1/regions/%d/leaderboard?period=all", w.county.ID), nil)
		wantStatus(t, r, http.StatusOK, "")
		if es := r.data()["entries"].([]any); len(es) != 2 || es[0].(map[string]any)["name"] != "李四" {
			t.Fatalf("county board %s", r.Raw)
		}
		r = county.do("GET", fmt.Sprintf("/api/v1/regions/%d/ranking-participation?period=all", w.county.ID), nil)
		wantStatus(t, r, http.StatusOK, "")
		if !strings.Contains(string(r.Raw), `"rate_permille":1000`) {
			t.Fatalf("participation %s", r.Raw)
		}
		wantStatus(t, county.do("POST", fmt.Sprintf("/api/v1/regions/%d/leaderboard-rebuilds", w.county.ID), nil), http.StatusOK, "")

		// The villager sees the county board masked, with their own rank.
		worker := mustLogin(t, a, w.logins[staff.SocialWorker])
		villager := mustMPLogin(t, a, fake, "openid-rank")
		wantStatus(t, villager.do("GET", "/mp/v1/me/leaderboard", nil), http.StatusForbidden, "FORBIDDEN")
		mustBindResident(t, worker, villager, w.residentA.ID)
		r = villager.do("GET", "/mp/v1/me/leaderboard?scope=county&period=all&page_size=50", nil)
		wantStatus(t, r, http.StatusOK, "")
		if strings.Contains(string(r.Raw), "张三") || strings.Contains(string(r.Raw), "李四") {
			t.Fatalf("villager sees full names: %s", r.Raw)
		}
		me := r.data()["me"].(map[string]any)
		if me["rank"].(float64) != 2 || me["points"].(float64) != 42 || me["gap_to_next_rank"].(float64) != 3 {
			t.Fatalf("me %s", r.Raw)
		}

		// Monthly ranking of last month.
		month := rules.Month.Key(at)
		r = admin.do("POST", fmt.Sprintf("/api/v1/villages/%d/monthly-rankings", w.villageA.ID), map[string]any{"period_key": month})
		wantStatus(t, r, http.StatusCreated, "")
		id := int64(r.data()["id"].(float64))
		wantStatus(t, admin.do("GET", fmt.Sprintf("/api/v1/monthly-rankings/%d/notice.png", id), nil), http.StatusConflict, "CONFLICT")
		wantStatus(t, villager.do("GET", fmt.Sprintf("/mp/v1/monthly-rankings/%d", id), nil), http.StatusNotFound, "NOT_FOUND")
		wantStatus(t, admin.do("POST", fmt.Sprintf("/api/v1/monthly-rankings/%d/publication", id), map[string]any{"notice_days": 3}), http.StatusOK, "")
		r = villager.do("GET", fmt.Sprintf("/mp/v1/monthly-rankings/%d", id), nil)
		wantStatus(t, r, http.StatusOK, "")
		if strings.Contains(string(r.Raw), "张三") || !strings.Contains(string(r.Raw), "张*") {
			t.Fatalf("villager ranking %s", r.Raw)
		}
		r = villager.do("POST", fmt.Sprintf("/mp/v1/monthly-rankings/%d/objections", id), map[string]any{"reason": "少算了分", "village_id": 9})
		wantStatus(t, r, http.StatusBadRequest, "INVALID_ARGUMENT")
		r = villager.do("POST", fmt.Sprintf("/mp/v1/monthly-rankings/%d/objections", id), map[string]any{"reason": "少算了分"})
		wantStatus(t, r, http.StatusCreated, "")
		oid := int64(r.data()["id"].(float64))
		wantStatus(t, worker.do("POST", fmt.Sprintf("/api/v1/ranking-objections/%d/resolution", oid), map[string]any{"decision": "rejected", "reply": "x"}),
			http.StatusForbidden, "FORBIDDEN")
		r = admin.do("POST", fmt.Sprintf("/api/v1/ranking-objections/%d/resolution", oid), map[string]any{"decision": "rejected", "reply": "经核实无误"})
		wantStatus(t, r, http.StatusOK, "")
		wantStatus(t, admin.do("POST", fmt.Sprintf("/api/v1/monthly-rankings/%d/finalization", id), nil), http.StatusConflict, "CONFLICT")
		for path, ctype := range map[string]string{"workbook.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "notice.png": "image/png"} {
			r = admin.do("GET", fmt.Sprintf("/api/v1/monthly-rankings/%d/%s", id, path), nil)
			if r.Status != http.StatusOK || r.Header.Get("Content-Type") != ctype || len(r.Raw) < 1000 {
				t.Fatalf("%s: %d %s", path, r.Status, r.Header.Get("Content-Type"))
			}
		}
		wantStatus(t, admin.do("GET", fmt.Sprintf("/api/v1/monthly-rankings/%d/red-black.png", id), nil), http.StatusConflict, "CONFLICT")
		r = admin.do("GET", fmt.Sprintf("/api/v1/monthly-rankings/%d/objections", id), nil)
		wantStatus(t, r, http.StatusOK, "")
		other := mustLogin(t, a, w.logins[staff.Supervisor])
		wantStatus(t, other.do("POST", fmt.Sprintf("/api/v1/villages/%d/monthly-rankings", w.villageA.ID), map[string]any{"period_key": month}),
			http.StatusForbidden, "FORBIDDEN")

		// Each staff write on the rankings is audited as the staff member
		// who made it, with the request that carried it; the refused ones
		// are not.
		var logged []struct {
			ActorID              int64
			ActorName, Action    string
			VillageID            *int64
			TargetID             int64
			RequestID, AfterJSON string
		}
		if err := a.DB.Table("audit_log").Where("action LIKE ?", "ranking.%").Order("id").Find(&logged).Error; err != nil {
			t.Fatal(err)
		}
		want := []struct {
			action, actor string
			village       int64
			target        int64
		}{
			{"ranking.rebuild", string(staff.CountyAdmin), 0, w.county.ID},
			{"ranking.freeze", string(staff.VillageAdmin), w.villageA.ID, id},
			{"ranking.publish", string(staff.VillageAdmin), w.villageA.ID, id},
			{"ranking.objection.resolve", string(staff.VillageAdmin), w.villageA.ID, oid},
		}
		if len(logged) != len(want) {
			t.Fatalf("audit entries %+v", logged)
		}
		for i, w := range want {
			e := logged[i]
			if e.Action != w.action || e.ActorName != w.actor || e.ActorID == 0 || e.TargetID != w.target || e.RequestID == "" ||
				(w.village == 0) != (e.VillageID == nil) || (e.VillageID != nil && *e.VillageID != w.village) {
				t.Fatalf("audit entry %d: %+v, want %+v", i, e, w)
			}
		}
		if !strings.Contains(logged[3].AfterJSON, "经核实无误") || !strings.Contains(logged[2].AfterJSON, `"notice_days":3`) {
			t.Fatalf("audit details %+v", logged)
		}
	})
}
