package app_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/server/app"
)

// TestStaffGrantsCannotEscalate checks who may create whom: a grantor gives
// only roles below theirs, only inside their regions, and never to
// themselves.
func TestStaffGrantsCannotEscalate(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *app.App) {
		w := mustWorld(t, a)
		newStaff := func(c *client, name string, role staff.Role, region int64) response {
			return c.do("POST", "/api/v1/staff", map[string]any{"username": name, "display_name": "新人", "password": "good-pass-123",
				"grants": []map[string]any{{"role": role, "region_id": region}}})
		}
		vadmin := mustLogin(t, a, w.logins[staff.VillageAdmin])
		cases := []struct {
			by     *client
			name   string
			role   staff.Role
			region int64
			want   int
		}{
			{vadmin, "sw_ok", staff.SocialWorker, w.villageA.ID, http.StatusCreated},
			{vadmin, "sw_other_village", staff.SocialWorker, w.villageB.ID, http.StatusForbidden},
			{vadmin, "va_peer", staff.VillageAdmin, w.villageA.ID, http.StatusForbidden},
			{vadmin, "sup_own", staff.Supervisor, w.villageA.ID, http.StatusForbidden},
			{vadmin, "sw_on_township", staff.SocialWorker, w.townA.ID, http.StatusBadRequest},
		}
		tadmin := mustLogin(t, a, w.logins[staff.TownshipAdmin])
		cases = append(cases,
			struct {
				by     *client
				name   string
				role   staff.Role
				region int64
				want   int
			}{tadmin, "sup_ok", staff.Supervisor, w.villageA.ID, http.StatusCreated},
			struct {
				by     *client
				name   string
				role   staff.Role
				region int64
				want   int
			}{tadmin, "county_grab", staff.CountyAdmin, w.county.ID, http.StatusForbidden},
			struct {
				by     *client
				name   string
				role   staff.Role
				region int64
				want   int
			}{tadmin, "va_other_town", staff.VillageAdmin, w.villageB.ID, http.StatusForbidden},
		)
		for _, c := range cases {
			if r := newStaff(c.by, c.name, c.role, c.region); r.Status != c.want {
				t.Errorf("create %s (%s on %d): %d %s, want %d", c.name, c.role, c.region, r.Status, r.Raw, c.want)
			}
		}
		// A weak password and an unknown field are refused with the field named.
		r := vadmin.do("POST", "/api/v1/staff", map[string]any{"username": "weak", "display_name": "x", "password": "short",
			"grants": []map[string]any{{"role": "social_worker", "region_id": w.villageA.ID}}})
		if r.Status != http.StatusBadRequest || r.Body["error"].(map[string]any)["field"] != "password" {
			t.Errorf("weak password: %d %s", r.Status, r.Raw)
		}
		// The village admin cannot touch the township admin's account, nor
		// change their own roles.
		tid := staffID(t, mustLogin(t, a, w.logins[staff.CountyAdmin]), w.logins[staff.TownshipAdmin])
		if r := vadmin.do("PATCH", fmt.Sprintf("/api/v1/staff/%d", tid), map[string]any{"disabled": true}); r.Status != http.StatusNotFound {
			t.Errorf("village admin disabling township admin: %d %s", r.Status, r.Raw)
		}
		vid := staffID(t, tadmin, w.logins[staff.VillageAdmin])
		if r := vadmin.do("PATCH", fmt.Sprintf("/api/v1/staff/%d", vid), map[string]any{"grants": []map[string]any{{"role": "county_admin", "region_id": w.county.ID}}}); r.Status != http.StatusForbidden {
			t.Errorf("self-promotion: %d %s", r.Status, r.Raw)
		}
		// Disabling an account ends its sessions at once.
		sw := mustLogin(t, a, w.logins[staff.SocialWorker])
		swID := staffID(t, vadmin, w.logins[staff.SocialWorker])
		if r := vadmin.do("PATCH", fmt.Sprintf("/api/v1/staff/%d", swID), map[string]any{"disabled": true}); r.Status != http.StatusOK {
			t.Fatalf("disable: %d %s", r.Status, r.Raw)
		}
		if r := sw.do("GET", "/api/v1/me", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("disabled account's token still works: %d", r.Status)
		}
		// Every one of these writes is in the audit log the supervisor reads.
		sup := mustLogin(t, a, w.logins[staff.Supervisor])
		r = sup.do("GET", fmt.Sprintf("/api/v1/audit-log?village_id=%d&target_type=staff", w.villageA.ID), nil)
		if r.Status != http.StatusOK {
			t.Fatalf("audit log: %d %s", r.Status, r.Raw)
		}
		actions := map[string]int{}
		for _, e := range r.Body["data"].([]any) {
			actions[e.(map[string]any)["action"].(string)]++
		}
		if actions["staff.create"] != 2 || actions["staff.update"] != 1 {
			t.Errorf("audit of village A staff writes: %v, want 2 creates (sw_ok, sup_ok) and 1 update", actions)
		}
	})
}
