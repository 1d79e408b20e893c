package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/models/wechat/wechattest"
	"github.com/villagepoints/jifen/server/app"
)

// TestStoreOverHTTP drives the points store like the console and the
// mini-program would: the admin stocks a reward, a bound villager orders
// it with an idempotency key, the clerk hands it over by its QR code, a
// sold-out reward is refused, a cancellation gives the stock back, a
// counter sale takes the villager's personal code, the admin refunds, and
// the month report and its Excel follow. Roles and villages are held to
// their scope throughout.
func TestStoreOverHTTP(t *testing.T) {
	eachWeChatBackend(t, func(t *testing.T, a *app.App, fake *wechattest.App) {
		w := mustWorld(t, a)
		admin := mustLogin(t, a, w.logins[staff.VillageAdmin])
		clerk := mustLogin(t, a, w.logins[staff.StoreClerk])
		sup := mustLogin(t, a, w.logins[staff.Supervisor])
		worker := mustLogin(t, a, w.logins[staff.SocialWorker])
		r := admin.doKey("POST", fmt.Sprintf("/api/v1/villages/%d/adjustments", w.villageA.ID), "store-points-1",
			map[string]any{"resident_id": w.residentA.ID, "track": "civic", "amount": 100, "reason": "积分超市测试"})
		wantStatus(t, r, http.StatusCreated, "")

		rice := map[string]any{"region_id": w.villageA.ID, "kind": "goods", "name": "大米 5kg", "points": 30, "cost_fen": 2500,
			"initial_stock": 2, "on_shelf": true, "photos": []string{"rewards/rice.jpg"}}
		wantStatus(t, clerk.do("POST", "/api/v1/rewards", rice), http.StatusForbidden, "FORBIDDEN")
		wantStatus(t, sup.do("POST", "/api/v1/rewards", rice), http.StatusForbidden, "FORBIDDEN")
		r = admin.do("POST", "/api/v1/rewards", rice)
		wantStatus(t, r, http.StatusCreated, "")
		rewardID := int64(r.data()["id"].(float64))
		elsewhere := map[string]any{"region_id": w.villageB.ID, "kind": "goods", "name": "油", "points": 5}
		wantStatus(t, admin.do("POST", "/api/v1/rewards", elsewhere), http.StatusForbidden, "OUT_OF_SCOPE")
		wantStatus(t, admin.do("GET", fmt.Sprintf("/api/v1/villages/%d/rewards", w.villageB.ID), nil), http.StatusForbidden, "OUT_OF_SCOPE")

		// The township's shared store is its township admin's to manage;
		// the village's staff read it, since their villagers use it.
		town := mustLogin(t, a, w.logins[staff.TownshipAdmin])
		r = town.do("POST", "/api/v1/rewards", map[string]any{"region_id": w.townA.ID, "kind": "voucher", "name": "洗车券", "points": 10, "stock_tracked": false, "on_shelf": true})
		wantStatus(t, r, http.StatusCreated, "")
		voucher := fmt.Sprintf("/api/v1/rewards/%d", int64(r.data()["id"].(float64)))
		wantStatus(t, admin.do("GET", voucher, nil), http.StatusOK, "")
		wantStatus(t, admin.do("PATCH", voucher, map[string]any{"points": 1}), http.StatusNotFound, "NOT_FOUND")
		wantStatus(t, town.do("PATCH", voucher, map[string]any{"on_shelf": false}), http.StatusOK, "")

		villager := mustMPLogin(t, a, fake, "store-villager")
		wantStatus(t, villager.do("GET", "/mp/v1/rewards", nil), http.StatusForbidden, "")
		mustBindResident(t, worker, villager, w.residentA.ID)
		r = villager.do("GET", "/mp/v1/rewards", nil)
		if r.Status != http.StatusOK || len(r.Body["data"].([]any)) != 1 || strings.Contains(string(r.Raw), "cost_fen") {
			t.Fatalf("shelf: %d %s", r.Status, r.Raw)
		}

		// A reward that takes volunteer points only: the villager's civic
		// points do not pay for it, and they are told so.
		wantStatus(t, admin.do("POST", "/api/v1/rewards", map[string]any{"region_id": w.villageA.ID, "kind": "service", "name": "理发",
			"points": 10, "on_shelf": true, "tracks": []string{"gold"}}), http.StatusBadRequest, "INVALID_ARGUMENT")
		r = admin.do("POST", "/api/v1/rewards", map[string]any{"region_id": w.villageA.ID, "kind": "service", "name": "理发",
			"points": 10, "on_shelf": true, "tracks": []string{"volunteer"}})
		wantStatus(t, r, http.StatusCreated, "")
		haircut := int64(r.data()["id"].(float64))
		if tr := r.data()["tracks"].([]any); len(tr) != 1 || tr[0] != "volunteer" {
			t.Fatalf("tracks: %s", r.Raw)
		}
		r = villager.doKey("POST", "/mp/v1/me/redemptions", "order-haircut", map[string]any{"reward_id": haircut})
		wantStatus(t, r, http.StatusUnprocessableEntity, "POINTS_TRACK_NOT_ACCEPTED")
		if !strings.Contains(string(r.Raw), "只能用志愿积分兑换") {
			t.Fatalf("refusal: %s", r.Raw)
		}
		wantStatus(t, admin.do("PATCH", fmt.Sprintf("/api/v1/rewards/%d", haircut), map[string]any{"on_shelf": false}), http.StatusOK, "")

		order := map[string]any{"reward_id": rewardID}
		wantStatus(t, villager.doKey("POST", "/mp/v1/me/redemptions", "", order), http.StatusBadRequest, "INVALID_ARGUMENT")
		wantStatus(t, villager.doKey("POST", "/mp/v1/me/redemptions", "order-0001", map[string]any{"reward_id": rewardID, "resident_id": w.residentB.ID}),
			http.StatusBadRequest, "INVALID_ARGUMENT")
		r = villager.doKey("POST", "/mp/v1/me/redemptions", "order-0001", order)
		wantStatus(t, r, http.StatusCreated, "")
		first := r.data()
		if first["status"] != "open" || len(first["pickup_code"].(string)) != 6 || first["points"].(float64) != 30 {
			t.Fatalf("order: %s", r.Raw)
		}
		firstID := int64(first["id"].(float64))
		r = villager.doKey("POST", "/mp/v1/me/redemptions", "order-0001", order)
		if r.Status != http.StatusOK || int64(r.data()["id"].(float64)) != firstID || r.data()["replayed"] != true {
			t.Fatalf("retry: %d %s", r.Status, r.Raw)
		}
		wantStatus(t, villager.doKey("POST", "/mp/v1/me/redemptions", "order-0001", map[string]any{"reward_id": rewardID, "quantity": 2}),
			http.StatusConflict, "IDEMPOTENCY_KEY_REUSED")

		r = villager.do("GET", fmt.Sprintf("/mp/v1/me/redemptions/%d/pickup-code", firstID), nil)
		wantStatus(t, r, http.StatusOK, "")
		qr := r.data()["qr"].(string)
		verify := fmt.Sprintf("/api/v1/villages/%d/redemption-verifications", w.villageA.ID)
		wantStatus(t, sup.do("POST", verify, map[string]any{"code": qr}), http.StatusForbidden, "FORBIDDEN")
		wantStatus(t, clerk.do("POST", fmt.Sprintf("/api/v1/villages/%d/redemption-verifications", w.villageB.ID), map[string]any{"code": qr}),
			http.StatusForbidden, "OUT_OF_SCOPE")
		r = clerk.do("POST", verify, map[string]any{"code": qr})
		if r.Status != http.StatusOK || r.data()["status"] != "completed" || r.data()["reward_name"] != "大米 5kg" {
			t.Fatalf("verify: %d %s", r.Status, r.Raw)
		}

		r = villager.doKey("POST", "/mp/v1/me/redemptions", "order-0002", order)
		wantStatus(t, r, http.StatusCreated, "")
		secondID := int64(r.data()["id"].(float64))
		r = villager.doKey("POST", "/mp/v1/me/redemptions", "order-0003", order)
		wantStatus(t, r, http.StatusUnprocessableEntity, "STOCK_INSUFFICIENT")
		if !strings.Contains(string(r.Raw), "已兑完") {
			t.Fatalf("sold out: %s", r.Raw)
		}
		r = villager.do("POST", fmt.Sprintf("/mp/v1/me/redemptions/%d/cancellation", secondID), nil)
		if r.Status != http.StatusOK || r.data()["status"] != "cancelled" {
			t.Fatalf("cancel: %d %s", r.Status, r.Raw)
		}

		// At the counter: the villager shows their personal code.
		r = villager.do("GET", "/mp/v1/me/personal-code", nil)
		wantStatus(t, r, http.StatusOK, "")
		sale := map[string]any{"code": r.data()["code"], "items": []map[string]any{{"reward_id": rewardID, "quantity": 1}}}
		counter := fmt.Sprintf("/api/v1/villages/%d/counter-redemptions", w.villageA.ID)
		r = clerk.doKey("POST", counter, "sale-0001", sale)
		if r.Status != http.StatusCreated || len(r.Body["data"].([]any)) != 1 {
			t.Fatalf("counter sale: %d %s", r.Status, r.Raw)
		}
		wantStatus(t, clerk.doKey("POST", counter, "sale-0002", sale), http.StatusUnprocessableEntity, "STOCK_INSUFFICIENT")
		r = admin.do("GET", fmt.Sprintf("/api/v1/residents/%d/points", w.residentA.ID), nil)
		if r.Status != http.StatusOK || r.data()["available"].(float64) != 40 || r.data()["held"].(float64) != 0 {
			t.Fatalf("points after two pickups: %s", r.Raw)
		}

		refund := fmt.Sprintf("/api/v1/redemptions/%d/refund", firstID)
		wantStatus(t, clerk.do("POST", refund, map[string]any{"reason": "退货", "restock": true}), http.StatusForbidden, "FORBIDDEN")
		wantStatus(t, admin.do("POST", refund, map[string]any{"restock": true}), http.StatusBadRequest, "INVALID_ARGUMENT")
		r = admin.do("POST", refund, map[string]any{"reason": "大米受潮，退货", "restock": true})
		if r.Status != http.StatusOK || r.data()["status"] != "refunded" {
			t.Fatalf("refund: %d %s", r.Status, r.Raw)
		}
		r = admin.do("GET", fmt.Sprintf("/api/v1/rewards/%d", rewardID), nil)
		if r.Status != http.StatusOK || r.data()["stock"].(float64) != 1 || r.data()["reserved"].(float64) != 0 {
			t.Fatalf("reward after refund: %s", r.Raw)
		}

		month := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01")
		r = sup.do("GET", fmt.Sprintf("/api/v1/villages/%d/store-reports/%s", w.villageA.ID, month), nil)
		wantStatus(t, r, http.StatusOK, "")
		line := r.data()["lines"].([]any)[0].(map[string]any)
		if line["redeemed"].(map[string]any)["quantity"].(float64) != 2 || line["refunded"].(map[string]any)["quantity"].(float64) != 1 ||
			line["net"].(map[string]any)["cost_fen"].(float64) != 2500 {
			t.Fatalf("report: %s", r.Raw)
		}
		if r := sup.do("GET", fmt.Sprintf("/api/v1/villages/%d/store-reports/%s/export", w.villageA.ID, month), nil); r.Status != http.StatusOK || len(r.Raw) < 1000 {
			t.Fatalf("export: %d, %d bytes", r.Status, len(r.Raw))
		}
		r = sup.do("GET", fmt.Sprintf("/api/v1/villages/%d/redemptions?status=refunded", w.villageA.ID), nil)
		if r.Status != http.StatusOK || r.Body["page"].(map[string]any)["total"].(float64) != 1 {
			t.Fatalf("refunded orders: %d %s", r.Status, r.Raw)
		}
		r = villager.do("GET", "/mp/v1/me/redemptions", nil)
		if r.Status != http.StatusOK || r.Body["page"].(map[string]any)["total"].(float64) != 3 {
			t.Fatalf("my orders: %d %s", r.Status, r.Raw)
		}
		// The audit log has the staff's store writes.
		r = sup.do("GET", "/api/v1/audit-log?target_type=order", nil)
		if r.Status != http.StatusOK || r.Body["page"].(map[string]any)["total"].(float64) != 3 {
			t.Fatalf("audit: %d %s", r.Status, r.Raw)
		}
	})
}
