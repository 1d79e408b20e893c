package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/server/app"
)

func TestLoginRefreshLogout(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *app.App) {
		w := mustWorld(t, a)
		c := &client{t: t, h: a.Router}
		r := c.do("POST", "/api/v1/auth/login", map[string]string{"username": w.logins[staff.VillageAdmin], "password": testPassword})
		if r.Status != http.StatusOK {
			t.Fatalf("login: %d %s", r.Status, r.Raw)
		}
		access, refresh := r.data()["access_token"].(string), r.data()["refresh_token"].(string)
		c.token = access
		if me := c.do("GET", "/api/v1/me", nil); me.Status != http.StatusOK || me.data()["username"] != w.logins[staff.VillageAdmin] {
			t.Fatalf("me: %d %s", me.Status, me.Raw)
		}

		// Refresh rotates: the new pair works, the old refresh token is retired.
		r2 := c.do("POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": refresh})
		if r2.Status != http.StatusOK {
			t.Fatalf("refresh: %d %s", r2.Status, r2.Raw)
		}
		access2, refresh2 := r2.data()["access_token"].(string), r2.data()["refresh_token"].(string)
		// Replaying the retired refresh token is theft: every session ends.
		if r3 := c.do("POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": refresh}); r3.Status != http.StatusUnauthorized {
			t.Fatalf("reused refresh token: %d, want 401", r3.Status)
		}
		c.token = access2
		if me := c.do("GET", "/api/v1/me", nil); me.Status != http.StatusUnauthorized {
			t.Fatalf("access token of a family revoked for refresh reuse still works: %d", me.Status)
		}
		if r4 := c.do("POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": refresh2}); r4.Status != http.StatusUnauthorized {
			t.Fatalf("refresh token of a revoked family still works: %d", r4.Status)
		}

		// Logout revokes the access token at once.
		c2 := mustLogin(t, a, w.logins[staff.VillageAdmin])
		if r := c2.do("POST", "/api/v1/auth/logout", nil); r.Status != http.StatusOK {
			t.Fatalf("logout: %d %s", r.Status, r.Raw)
		}
		if r := c2.do("GET", "/api/v1/me", nil); r.Status != http.StatusUnauthorized || r.errorCode() != "UNAUTHENTICATED" {
			t.Fatalf("access token after logout: %d %s", r.Status, r.Raw)
		}
	})
}

func TestForgedAndMalformedTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *app.App) {
		w := mustWorld(t, a)
		good := mustLogin(t, a, w.logins[staff.SocialWorker]).token
		parts := strings.Split(good, ".")
		forgedPayload := parts[0] + "." + parts[1][:len(parts[1])-2] + "xy." + parts[2]
		noneAlg := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
		for name, tok := range map[string]string{"tampered": forgedPayload, "alg none": noneAlg, "garbage": "abc", "empty": ""} {
			c := &client{t: t, h: a.Router, token: tok}
			if r := c.do("GET", "/api/v1/me", nil); r.Status != http.StatusUnauthorized {
				t.Errorf("%s token: %d, want 401", name, r.Status)
			}
		}
	})
}

func TestLockoutAfterRepeatedFailures(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *app.App) {
		w := mustWorld(t, a)
		c := &client{t: t, h: a.Router}
		user := w.logins[staff.Supervisor]
		for i := 1; i <= 5; i++ {
			r := c.do("POST", "/api/v1/auth/login", map[string]string{"username": user, "password": "wrong-pass-1"})
			want := http.StatusUnauthorized
			if i == 5 {
				want = http.StatusLocked
			}
			if r.Status != want {
				t.Fatalf("attempt %d: %d %s, want %d", i, r.Status, r.Raw, want)
			}
		}
		// Locked: even the right password is refused, with a message saying why.
		r := c.do("POST", "/api/v1/auth/login", map[string]string{"username": user, "password": testPassword})
		if r.Status != http.StatusLocked || r.errorCode() != "ACCOUNT_LOCKED" {
			t.Fatalf("right password while locked: %d %s", r.Status, r.Raw)
		}
		// A county admin unlocks it from the console.
		admin := mustLogin(t, a, w.logins[staff.CountyAdmin])
		id := staffID(t, admin, user)
		if r := admin.do("PATCH", fmt.Sprintf("/api/v1/staff/%d", id), map[string]any{"unlock": true}); r.Status != http.StatusOK {
			t.Fatalf("unlock: %d %s", r.Status, r.Raw)
		}
		mustLogin(t, a, user)
	})
}

func TestLoginRateLimitPerIP(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *app.App) {
		mustWorld(t, a)
		c := &client{t: t, h: a.Router}
		var mu sync.Mutex
		limited := 0
		var wg sync.WaitGroup
		// 30 attempts on different (unknown) usernames from one address:
		// the per-IP limit of 20 a minute must stop the rest.
		for i := range 30 {
			wg.Go(func() {
				r := c.do("POST", "/api/v1/auth/login", map[string]string{"username": fmt.Sprintf("nobody%d", i), "password": "x"})
				if r.Status == http.StatusTooManyRequests {
					mu.Lock()
					limited++
					mu.Unlock()
				} else if r.Status != http.StatusUnauthorized {
					t.Errorf("attempt: %d %s", r.Status, r.Raw)
				}
			})
		}
		wg.Wait()
		if limited != 10 {
			t.Fatalf("%d of 30 attempts rate limited, want 10", limited)
		}
	})
}

func staffID(t *testing.T, c *client, username string) int64 {
	t.Helper()
	r := c.do("GET", "/api/v1/staff?page_size=100", nil)
	for _, u := range r.Body["data"].([]any) {
		m := u.(map[string]any)
		if m["username"] == username {
			return int64(m["id"].(float64))
		}
	}
	t.Fatalf("staff %s not listed: %s", username, r.Raw)
	return 0
}
