package identity_test

import (
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
)

// TestCallerCacheStaleness runs two processes' services over one database
// and Redis (two API replicas): a change seen at once by the service that
// made it, and by the other within CallerTTL, never later. Logout, unbind
// and rebind are each checked with the same access token, so nothing but
// the cache could serve the old answer.
func TestCallerCacheStaleness(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		const ttl = 5 * time.Second
		other, err := identity.NewService(db, e.kv, e.people, e.vault, e.wx, identity.Config{Secret: secret, Now: e.clock.Now, CallerTTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		login, err := e.s.Login(ctx, "zhang", "10.1.1.1")
		if err != nil {
			t.Fatal(err)
		}
		tok := login.AccessToken
		auth := func(s *identity.Service) identity.Caller {
			t.Helper()
			c, err := s.Authenticate(ctx, tok)
			if err != nil {
				t.Fatalf("authenticate: %v", err)
			}
			return c
		}
		u := auth(e.s)
		if _, err := e.s.BindWithInvite(ctx, u, villagers, mustInvite(t, e, identity.InviteTarget{ResidentID: e.zhang.ID}).Code, 0, "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
		// The binding service sees the binding at once, with the same token.
		if c := auth(e.s); c.ResidentID != e.zhang.ID || c.VillageID != e.a.ID || c.HouseholdID != e.hA.ID {
			t.Fatalf("after bind: %+v", c)
		}
		if c := auth(other); c.ResidentID != e.zhang.ID {
			t.Fatalf("other replica after bind: %+v", c)
		}

		// Rebind: at once here; on the other replica within ttl.
		if err := e.s.Rebind(ctx, in(e.a.ID), socialA, u.UserID, e.wang.ID, "绑错人"); err != nil {
			t.Fatal(err)
		}
		if c := auth(e.s); c.ResidentID != e.wang.ID {
			t.Fatalf("rebind not seen by its own service: %+v", c)
		}
		if c := auth(other); c.ResidentID != e.zhang.ID {
			t.Fatalf("the other replica should still hold its read (this test proves the bound, not luck): %+v", c)
		}
		e.clock.Add(ttl)
		if c := auth(other); c.ResidentID != e.wang.ID {
			t.Fatalf("rebind not seen by the other replica after %s: %+v", ttl, c)
		}

		// Unbind: the same.
		if err := e.s.Unbind(ctx, in(e.a.ID), socialA, u.UserID, "村民要求解绑"); err != nil {
			t.Fatal(err)
		}
		if c := auth(e.s); c.Bound() {
			t.Fatalf("unbind not seen by its own service: %+v", c)
		}
		e.clock.Add(ttl)
		if c := auth(other); c.Bound() {
			t.Fatalf("unbind not seen by the other replica after %s: %+v", ttl, c)
		}

		// Logout: refused at once by the service that logged out, and by
		// the other replica once its read is ttl old.
		c := auth(e.s)
		auth(other)
		if err := e.s.Logout(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Authenticate(ctx, tok); !apperr.Is(err, apperr.CodeUnauthenticated) {
			t.Fatalf("logged-out session accepted by its own service: %v", err)
		}
		e.clock.Add(ttl - time.Second)
		auth(other) // within the bound
		e.clock.Add(time.Second)
		if _, err := other.Authenticate(ctx, tok); !apperr.Is(err, apperr.CodeUnauthenticated) {
			t.Fatalf("logged-out session accepted by the other replica after %s: %v", ttl, err)
		}
	})
}

// TestCallerCacheDisabled: with a negative CallerTTL every request reads
// the session and binding again, so another replica's logout is refused
// at once.
func TestCallerCacheDisabled(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		other, err := identity.NewService(db, e.kv, e.people, e.vault, e.wx, identity.Config{Secret: secret, Now: e.clock.Now, CallerTTL: -1})
		if err != nil {
			t.Fatal(err)
		}
		login, _ := e.s.Login(ctx, "zhang", "10.1.1.1")
		c, err := other.Authenticate(ctx, login.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.s.Logout(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Authenticate(ctx, login.AccessToken); !apperr.Is(err, apperr.CodeUnauthenticated) {
			t.Fatalf("logged-out session accepted: %v", err)
		}
	})
}
