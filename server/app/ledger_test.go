package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/server/app"
)

func (c *client) doKey(method, path, key string, body any) response {
	c.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(mustJSON(c.t, body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return c.send(req)
}

// TestLedgerOverHTTP drives the ledger's staff routes: a manual adjustment
// needs a reason and an idempotency key, a retry replays, a changed body
// under the same key is 409, a reversal happens once even when two admins
// press at the same moment, balances and history show the causes, the
// supervisor reads and verifies but cannot write, and village B stays out
// of reach.
func TestLedgerOverHTTP(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *app.App) {
		w := mustWorld(t, a)
		admin := mustLogin(t, a, w.logins[staff.VillageAdmin])
		adjust := fmt.Sprintf("/api/v1/villages/%d/adjustments", w.villageA.ID)
		body := map[string]any{"resident_id": w.residentA.ID, "track": "civic", "amount": 30, "reason": "补录：春节慰问志愿服务"}

		if r := admin.doKey("POST", adjust, "", body); r.Status != http.StatusBadRequest || r.Body["error"].(map[string]any)["field"] != "Idempotency-Key" {
			t.Fatalf("no idempotency key: %d %s", r.Status, r.Raw)
		}
		if r := admin.doKey("POST", adjust, "adj-000001", map[string]any{"resident_id": w.residentA.ID, "track": "civic", "amount": 30}); r.Status != http.StatusBadRequest {
			t.Fatalf("no reason: %d %s", r.Status, r.Raw)
		}
		first := admin.doKey("POST", adjust, "adj-000002", body)
		if first.Status != http.StatusCreated {
			t.Fatalf("adjust: %d %s", first.Status, first.Raw)
		}
		postingID := int64(first.Body["data"].([]any)[0].(map[string]any)["id"].(float64))
		again := admin.doKey("POST", adjust, "adj-000002", body)
		if again.Status != http.StatusCreated || int64(again.Body["data"].([]any)[0].(map[string]any)["id"].(float64)) != postingID {
			t.Fatalf("retry with the same key: %d %s", again.Status, again.Raw)
		}
		changed := map[string]any{"resident_id": w.residentA.ID, "track": "civic", "amount": 31, "reason": "补录"}
		if r := admin.doKey("POST", adjust, "adj-000002", changed); r.Status != http.StatusConflict || r.errorCode() != "IDEMPOTENCY_KEY_REUSED" {
			t.Fatalf("same key, other body: %d %s", r.Status, r.Raw)
		}
		over := map[string]any{"resident_id": w.residentA.ID, "track": "civic", "amount": -31, "reason": "纠错"}
		if r := admin.doKey("POST", adjust, "adj-000003", over); r.Status != http.StatusUnprocessableEntity || r.errorCode() != "POINTS_INSUFFICIENT" {
			t.Fatalf("adjustment below zero: %d %s", r.Status, r.Raw)
		}

		points := fmt.Sprintf("/api/v1/residents/%d/points", w.residentA.ID)
		if r := admin.do("GET", points, nil); r.Status != http.StatusOK || r.data()["available"].(float64) != 30 {
			t.Fatalf("balance: %d %s", r.Status, r.Raw)
		}

		// Two admins reverse the same posting at once: one reversal.
		reversal := fmt.Sprintf("/api/v1/villages/%d/postings/%d/reversal", w.villageA.ID, postingID)
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i := range 2 {
			wg.Go(func() {
				statuses[i] = admin.doKey("POST", reversal, fmt.Sprintf("rev-00000%d", i), map[string]any{"reason": "重复录入"}).Status
			})
		}
		wg.Wait()
		if !(statuses[0] == http.StatusCreated && statuses[1] == http.StatusConflict || statuses[0] == http.StatusConflict && statuses[1] == http.StatusCreated) {
			t.Fatalf("concurrent reversals: %v, want one 201 and one 409", statuses)
		}
		r := admin.do("GET", points+"/history", nil)
		items := r.data()["items"].([]any)
		if len(items) != 2 || items[0].(map[string]any)["type"] != "reversal" || items[1].(map[string]any)["reason"] != "补录：春节慰问志愿服务" {
			t.Fatalf("history: %s", r.Raw)
		}

		// The supervisor reads, verifies and exports, but cannot adjust.
		sup := mustLogin(t, a, w.logins[staff.Supervisor])
		if r := sup.doKey("POST", adjust, "adj-000009", body); r.Status != http.StatusForbidden {
			t.Fatalf("supervisor adjusting: %d", r.Status)
		}
		if _, err := ledger.NewSealer(a.Ledger).SealAll(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r := sup.do("GET", fmt.Sprintf("/api/v1/villages/%d/ledger/verification", w.villageA.ID), nil); r.Status != http.StatusOK || r.data()["ok"] != true || r.data()["sealed"].(float64) != 2 {
			t.Fatalf("verification: %d %s", r.Status, r.Raw)
		}
		month := first.Body["data"].([]any)[0].(map[string]any)["created_at"].(string)[:7]
		if r := sup.do("GET", fmt.Sprintf("/api/v1/villages/%d/ledger/months/%s/export", w.villageA.ID, month), nil); r.Status != http.StatusOK || len(r.Raw) < 1000 {
			t.Fatalf("export: %d, %d bytes", r.Status, len(r.Raw))
		}
		if r := sup.do("GET", fmt.Sprintf("/api/v1/villages/%d/ledger/months/%s", w.villageA.ID, month), nil); r.Status != http.StatusOK {
			t.Fatalf("month totals: %d %s", r.Status, r.Raw)
		}

		// Village B is out of reach.
		if r := admin.doKey("POST", fmt.Sprintf("/api/v1/villages/%d/adjustments", w.villageB.ID), "adj-000010",
			map[string]any{"resident_id": w.residentB.ID, "track": "civic", "amount": 5, "reason": "x"}); r.Status != http.StatusForbidden {
			t.Fatalf("adjusting village B: %d", r.Status)
		}
		if r := admin.do("GET", fmt.Sprintf("/api/v1/residents/%d/points", w.residentB.ID), nil); r.Status != http.StatusNotFound {
			t.Fatalf("reading village B's points: %d", r.Status)
		}
		// A resident of B named in A's path is refused, not silently moved.
		if r := admin.doKey("POST", adjust, "adj-000011", map[string]any{"resident_id": w.residentB.ID, "track": "civic", "amount": 5, "reason": "x"}); r.Status != http.StatusBadRequest {
			t.Fatalf("B's resident through A's path: %d %s", r.Status, r.Raw)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestVerifyLedgerCommandNamesTamperedPosting is what `server
// verify-ledger` runs: after someone edits a posting's amount directly in
// the database, verification fails and names that posting.
func TestVerifyLedgerCommandNamesTamperedPosting(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *app.App) {
		w := mustWorld(t, a)
		admin := mustLogin(t, a, w.logins[staff.VillageAdmin])
		var ids []int64
		for i := range 3 {
			r := admin.doKey("POST", fmt.Sprintf("/api/v1/villages/%d/adjustments", w.villageA.ID), fmt.Sprintf("tamper-%04d", i),
				map[string]any{"resident_id": w.residentA.ID, "track": "civic", "amount": 10 + i, "reason": "测试"})
			if r.Status != http.StatusCreated {
				t.Fatalf("adjust: %d %s", r.Status, r.Raw)
			}
			ids = append(ids, int64(r.Body["data"].([]any)[0].(map[string]any)["id"].(float64)))
		}
		ctx := context.Background()
		if _, err := app.VerifyLedger(ctx, a, 0); err != nil {
			t.Fatalf("clean ledger does not verify: %v", err)
		}
		if err := a.DB.Exec("UPDATE ledger_postings SET amount = 99 WHERE id = ?", ids[1]).Error; err != nil {
			t.Fatal(err)
		}
		_, err := app.VerifyLedger(ctx, a, w.villageA.ID)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("posting %d", ids[1])) {
			t.Fatalf("tampered ledger: %v, want an error naming posting %d", err, ids[1])
		}
	})
}
