package identity_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/models/kv/kvtest"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
)

func TestLoginRefreshLogout(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		first, err := e.s.Login(ctx, "u1", "10.0.0.1")
		if err != nil || first.Bound || first.StaffLinked || first.TokenType != "Bearer" {
			t.Fatalf("login: %+v, %v", first, err)
		}
		again, _ := e.s.Login(ctx, "u1", "10.0.0.1")
		c1, _ := e.s.Authenticate(ctx, first.AccessToken)
		c2, _ := e.s.Authenticate(ctx, again.AccessToken)
		if c1.UserID == 0 || c1.UserID != c2.UserID || c1.SessionID == c2.SessionID {
			t.Fatalf("one openid must be one user with two sessions: %+v %+v", c1, c2)
		}
		var openids []string
		db.Table("mp_users").Pluck("openid", &openids)
		if len(openids) != 1 || openids[0] != "openid-u1" {
			t.Fatalf("users = %v", openids)
		}
		if _, err := e.s.Login(ctx, "bad", "10.0.0.1"); !apperr.Is(err, apperr.CodeUnauthenticated) {
			t.Fatalf("bad code: %v", err)
		}

		// Refresh rotates; the retired token replayed ends every session.
		next, err := e.s.Refresh(ctx, first.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Authenticate(ctx, next.AccessToken); err != nil {
			t.Fatal(err)
		}
		_, err = e.s.Refresh(ctx, first.RefreshToken)
		wantCode(t, err, apperr.CodeUnauthenticated)
		for _, tok := range []string{next.AccessToken, again.AccessToken} {
			if _, err := e.s.Authenticate(ctx, tok); !apperr.Is(err, apperr.CodeUnauthenticated) {
				t.Fatalf("a session survived refresh-token reuse: %v", err)
			}
		}
		_, err = e.s.Refresh(ctx, next.RefreshToken)
		wantCode(t, err, apperr.CodeUnauthenticated)

		// Logout ends the session at once.
		third, _ := e.s.Login(ctx, "u1", "10.0.0.1")
		c3, _ := e.s.Authenticate(ctx, third.AccessToken)
		if err := e.s.Logout(ctx, c3); err != nil {
			t.Fatal(err)
		}
		_, err = e.s.Authenticate(ctx, third.AccessToken)
		wantCode(t, err, apperr.CodeUnauthenticated)
		_, err = e.s.Refresh(ctx, third.RefreshToken)
		wantCode(t, err, apperr.CodeUnauthenticated)

		// An access token expires; its refresh token expires too.
		fourth, _ := e.s.Login(ctx, "u1", "10.0.0.1")
		e.clock.Add(31 * time.Minute)
		_, err = e.s.Authenticate(ctx, fourth.AccessToken)
		wantCode(t, err, apperr.CodeUnauthenticated)
		e.clock.Add(31 * 24 * time.Hour)
		_, err = e.s.Refresh(ctx, fourth.RefreshToken)
		wantCode(t, err, apperr.CodeUnauthenticated)
	})
}

// TestForgedTokens signs tokens with the wrong key (the staff console's,
// derived from the same secret), the wrong audience, no expiry, alg none,
// or tampers with a good one: none authenticates.
func TestForgedTokens(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		good, _ := e.s.Login(ctx, "u1", "10.0.0.1")
		c, _ := e.s.Authenticate(ctx, good.AccessToken)
		sign := func(key []byte, aud string, exp bool, sub int64) string {
			claims := jwt.MapClaims{"iss": "jifen", "sub": strconv.FormatInt(sub, 10), "aud": []string{aud}, "sid": c.SessionID, "iat": e.clock.Now().Unix()}
			if exp {
				claims["exp"] = e.clock.Now().Add(time.Hour).Unix()
			}
			s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		parts := strings.Split(good.AccessToken, ".")
		forged := map[string]string{
			"staff key":       sign(pii.DeriveKey(secret, "staff-access-token"), "miniprogram", true, c.UserID),
			"staff audience":  sign(pii.DeriveKey(secret, "mp-access-token"), "staff", true, c.UserID),
			"no expiry":       sign(pii.DeriveKey(secret, "mp-access-token"), "miniprogram", false, c.UserID),
			"another secret":  sign(pii.DeriveKey([]byte(strings.Repeat("x", 32)), "mp-access-token"), "miniprogram", true, c.UserID),
			"tampered claims": parts[0] + "." + parts[1][:len(parts[1])-3] + "abc." + parts[2],
			"alg none":        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + ".",
			"garbage":         "not-a-token",
		}
		for name, tok := range forged {
			if _, err := e.s.Authenticate(ctx, tok); !apperr.Is(err, apperr.CodeUnauthenticated) {
				t.Errorf("%s: %v", name, err)
			}
		}
		// The genuine key works: the test signs what the service signs.
		if _, err := e.s.Authenticate(ctx, sign(pii.DeriveKey(secret, "mp-access-token"), "miniprogram", true, c.UserID)); err != nil {
			t.Fatalf("control token refused: %v", err)
		}
	})
}

func TestLoginsAreRateLimitedPerIP(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		s, err := identity.NewService(db, kvtest.MustEmbedded(t), e.people, e.vault, e.wx, identity.Config{Secret: secret, LoginIPLimit: 3})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := s.Login(ctx, "u"+strconv.Itoa(i), "10.9.9.9"); err != nil {
				t.Fatal(err)
			}
		}
		_, err = s.Login(ctx, "u9", "10.9.9.9")
		wantCode(t, err, apperr.CodeRateLimited)
		if _, err := s.Login(ctx, "u9", "10.9.9.8"); err != nil {
			t.Fatalf("another IP is limited too: %v", err)
		}
	})
}

func TestDevLoginOnlyWhenEnabled(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		_, err := e.s.DevLogin(ctx, "alice")
		wantCode(t, err, apperr.CodeNotFound)
		s, _ := identity.NewService(db, kvtest.MustEmbedded(t), e.people, e.vault, nil, identity.Config{Secret: secret, DevLogin: true})
		res, err := s.DevLogin(ctx, "alice")
		if err != nil || res.AccessToken == "" {
			t.Fatalf("dev login: %v", err)
		}
		_, err = s.DevLogin(ctx, "no spaces")
		wantCode(t, err, apperr.CodeInvalid)
		// Without WeChat the real login is unavailable, not faked.
		_, err = s.Login(ctx, "alice", "10.0.0.1")
		wantCode(t, err, apperr.CodeUnavailable)
	})
}
