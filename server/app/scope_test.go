package app_test

import (
	"fmt"
	"github.com/villagepoints/jifen/server/app"
	"net/http"
	"testing"

	"github.com/villagepoints/jifen/models/staff"
)

// TestVillageIsolation signs in as every role of village A (and the admin
// of township A) and tries every people route against village B, which
// lies in another township. Nothing of B may be read or written: routes
// naming B's village answer 403 OUT_OF_SCOPE (or 403 FORBIDDEN when the
// role lacks the permission anywhere), routes naming one of B's records
// answer 404 as if it did not exist. The same calls against village A
// succeed for the roles that hold the permission, so the refusals are
// about scope, not about broken routes.
func TestVillageIsolation(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *app.App) {
		w := mustWorld(t, a)
		type call struct {
			method, pathA, pathB string
			body                 any
			perm                 staff.Permission
		}
		resident := map[string]any{"name": "王五", "registered": true}
		household := map[string]any{"number": "X9"}
		calls := []call{
			{"GET", fmt.Sprintf("/api/v1/villages/%d/residents", w.villageA.ID), fmt.Sprintf("/api/v1/villages/%d/residents", w.villageB.ID), nil, staff.ReadPeople},
			{"GET", fmt.Sprintf("/api/v1/residents/%d", w.residentA.ID), fmt.Sprintf("/api/v1/residents/%d", w.residentB.ID), nil, staff.ReadPeople},
			{"PUT", fmt.Sprintf("/api/v1/residents/%d", w.residentA.ID), fmt.Sprintf("/api/v1/residents/%d", w.residentB.ID), resident, staff.WritePeople},
			{"POST", fmt.Sprintf("/api/v1/villages/%d/residents", w.villageA.ID), fmt.Sprintf("/api/v1/villages/%d/residents", w.villageB.ID), resident, staff.WritePeople},
			{"GET", fmt.Sprintf("/api/v1/villages/%d/households", w.villageA.ID), fmt.Sprintf("/api/v1/villages/%d/households", w.villageB.ID), nil, staff.ReadPeople},
			{"GET", fmt.Sprintf("/api/v1/households/%d", w.householdA.ID), fmt.Sprintf("/api/v1/households/%d", w.householdB.ID), nil, staff.ReadPeople},
			{"PUT", fmt.Sprintf("/api/v1/households/%d", w.householdA.ID), fmt.Sprintf("/api/v1/households/%d", w.householdB.ID), map[string]any{"number": "A001", "head_name": "张三"}, staff.WritePeople},
			{"POST", fmt.Sprintf("/api/v1/villages/%d/households", w.villageA.ID), fmt.Sprintf("/api/v1/villages/%d/households", w.villageB.ID), household, staff.WritePeople},
			{"GET", fmt.Sprintf("/api/v1/audit-log?village_id=%d", w.villageA.ID), fmt.Sprintf("/api/v1/audit-log?village_id=%d", w.villageB.ID), nil, staff.ReadAudit},
			{"POST", "/api/v1/regions", "/api/v1/regions", nil, staff.ManageGrids},
		}
		// The village's settings and lists of the other parts of the
		// product, read the same way.
		for path, perm := range map[string]staff.Permission{
			"rule-categories": staff.ReadCatalog, "award-settings": staff.ReadAwards, "self-report-counts": staff.ReadAwards,
			"duty-settings": staff.ReadDuty, "duty-assessments": staff.ReadDuty, "ranking-settings": staff.ReadRanking,
			"monthly-rankings": staff.ReadRanking, "merchants": staff.ReadStore, "store-settings": staff.ReadStore,
			"stock-alerts": staff.ReadStore, "volunteer-activities": staff.ReadVolunteer, "bind-requests": staff.BindResidents,
			"wechat-bindings": staff.ReadPeople,
		} {
			calls = append(calls, call{"GET", fmt.Sprintf("/api/v1/villages/%d/%s", w.villageA.ID, path),
				fmt.Sprintf("/api/v1/villages/%d/%s", w.villageB.ID, path), nil, perm})
		}
		roles := []staff.Role{staff.SocialWorker, staff.VillageAdmin, staff.StoreClerk, staff.Supervisor, staff.TownshipAdmin}
		for _, role := range roles {
			t.Run(string(role), func(t *testing.T) {
				c := mustLogin(t, a, w.logins[role])
				for i, cl := range calls {
					bodyA, bodyB := cl.body, cl.body
					if cl.pathA == "/api/v1/regions" {
						bodyA = map[string]any{"parent_id": w.villageA.ID, "level": "grid", "name": "新组", "code": fmt.Sprintf("G-A-%s-%d", role, i)}
						bodyB = map[string]any{"parent_id": w.villageB.ID, "level": "grid", "name": "新组", "code": fmt.Sprintf("G-B-%s-%d", role, i)}
					}
					if m, ok := bodyA.(map[string]any); ok && m["number"] == "X9" {
						bodyA = map[string]any{"number": "X9-" + string(role)}
					}
					allowed := staff.RoleHas(role, cl.perm)
					rb := c.do(cl.method, cl.pathB, bodyB)
					if rb.Status != http.StatusNotFound && rb.Status != http.StatusForbidden {
						t.Errorf("%s %s as %s: got %d %s, want 403/404", cl.method, cl.pathB, role, rb.Status, rb.Raw)
					}
					if allowed && rb.Status == http.StatusForbidden && rb.errorCode() != "OUT_OF_SCOPE" {
						t.Errorf("%s %s as %s: 403 with %s, want OUT_OF_SCOPE", cl.method, cl.pathB, role, rb.errorCode())
					}
					ra := c.do(cl.method, cl.pathA, bodyA)
					if allowed && ra.Status >= 300 {
						t.Errorf("%s %s as %s (allowed): got %d %s", cl.method, cl.pathA, role, ra.Status, ra.Raw)
					}
					if !allowed && ra.Status != http.StatusForbidden {
						t.Errorf("%s %s as %s (not allowed): got %d, want 403", cl.method, cl.pathA, role, ra.Status)
					}
				}
				// Lists never leak B's people into A's caller's view.
				r := c.do("GET", "/api/v1/regions", nil)
				if r.Status == http.StatusOK {
					for _, v := range r.Body["data"].([]any) {
						if int64(v.(map[string]any)["id"].(float64)) == w.villageB.ID {
							t.Errorf("%s sees village B in /regions", role)
						}
					}
				}
			})
		}
	})
}

// TestCountyAdminSeesBothVillages is the positive side of isolation: the
// county admin covers both townships.
func TestCountyAdminSeesBothVillages(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *app.App) {
		w := mustWorld(t, a)
		c := mustLogin(t, a, w.logins[staff.CountyAdmin])
		for _, id := range []int64{w.residentA.ID, w.residentB.ID} {
			if r := c.do("GET", fmt.Sprintf("/api/v1/residents/%d", id), nil); r.Status != http.StatusOK {
				t.Fatalf("county admin reading resident %d: %d %s", id, r.Status, r.Raw)
			}
		}
		// But the county admin reads only; people writes are village work.
		if r := c.do("PUT", fmt.Sprintf("/api/v1/residents/%d", w.residentB.ID), map[string]any{"name": "改名", "registered": true}); r.Status != http.StatusForbidden {
			t.Fatalf("county admin writing a resident: %d, want 403", r.Status)
		}
	})
}
