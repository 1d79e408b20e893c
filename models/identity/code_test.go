package identity_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/models/kv/kvtest"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
)

// mustBound returns a caller bound to resident r through an invite code.
func mustBound(t testing.TB, e *env, code string, residentID int64) identity.Caller {
	t.Helper()
	u := mustCaller(t, e, code)
	if _, err := e.s.BindWithInvite(ctx, u, villagers, mustInvite(t, e, identity.InviteTarget{ResidentID: residentID}).Code, 0, "10.0.0."+code); err != nil {
		t.Fatal(err)
	}
	return mustReload(t, e, code)
}

// flip changes one character of s at i to another valid base64url one.
func flip(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

func TestPersonalCode(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		unbound := mustCaller(t, e, "nobody")
		_, err := e.s.PersonalCode(ctx, unbound)
		wantCode(t, err, identity.CodeNotBound)

		zhang := mustBound(t, e, "1", e.zhang.ID)
		pc, err := e.s.PersonalCode(ctx, zhang)
		if err != nil || !strings.HasPrefix(pc.Code, "P1.") || pc.ExpiresAt.Sub(e.clock.Now()) > time.Minute || !pc.RefreshAfter.Before(pc.ExpiresAt) {
			t.Fatalf("code = %+v, %v", pc, err)
		}
		got, err := e.s.ResolveScan(ctx, in(e.a.ID), pc.Code)
		if err != nil || got.Kind != "resident" || got.Resident.ID != e.zhang.ID || got.Household.ID != e.hA.ID || got.Resident.Phone != "138****0001" {
			t.Fatalf("resolve = %+v, %v", got, err)
		}

		// A staff member of another village learns nothing.
		_, err = e.s.ResolveScan(ctx, in(e.b.ID), pc.Code)
		wantCode(t, err, apperr.CodeNotFound)

		// Forgeries: every byte of payload and tag is covered, and a code
		// for another resident cannot be made by editing the payload.
		dot := strings.LastIndexByte(pc.Code, '.')
		payload, _ := base64.RawURLEncoding.DecodeString(pc.Code[3:dot])
		payload[1] ^= 1 // another resident id
		forged := []string{
			flip(pc.Code, 4), flip(pc.Code, dot+2), pc.Code[:dot], pc.Code + "x",
			"P1." + base64.RawURLEncoding.EncodeToString(payload) + pc.Code[dot:], "P2" + pc.Code[2:], "",
		}
		for _, f := range forged {
			if _, err := e.s.ResolveScan(ctx, in(e.a.ID), f); !apperr.Is(err, apperr.CodeInvalid) {
				t.Errorf("forged %q: %v", f, err)
			}
		}
		// A code signed by another deployment's secret is refused.
		other, _ := identity.NewService(db, kvtest.MustEmbedded(t), e.people, e.vault, e.wx, identity.Config{Secret: []byte(strings.Repeat("o", 32)), Now: e.clock.Now})
		foreign, _ := other.PersonalCode(ctx, zhang)
		_, err = e.s.ResolveScan(ctx, in(e.a.ID), foreign.Code)
		wantCode(t, err, apperr.CodeInvalid)

		// A screenshot replayed after the minute is refused.
		e.clock.Add(61 * time.Second)
		_, err = e.s.ResolveScan(ctx, in(e.a.ID), pc.Code)
		wantCode(t, err, identity.CodeCodeExpired)

		// A fresh code stops working the moment its owner is unbound.
		pc2, _ := e.s.PersonalCode(ctx, zhang)
		if err := e.s.Unbind(ctx, in(e.a.ID), socialA, zhang.UserID, "换手机"); err != nil {
			t.Fatal(err)
		}
		_, err = e.s.ResolveScan(ctx, in(e.a.ID), pc2.Code)
		wantCode(t, err, identity.CodeCodeExpired)
	})
}

func TestScenes(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		for _, sc := range []identity.Scene{
			{Kind: identity.ScenePlace, VillageID: 1, RefID: 1},
			{Kind: identity.SceneActivity, VillageID: 123456, RefID: 9876543210},
			{Kind: identity.ScenePlace, VillageID: 2147483647, RefID: 2147483647},
		} {
			scene, err := e.s.SignScene(sc)
			if err != nil || len(scene) > 32 {
				t.Fatalf("%+v: %q, %v", sc, scene, err)
			}
			got, err := e.s.ResolveScene(scene)
			if err != nil || got != sc {
				t.Fatalf("round trip of %+v: %+v, %v", sc, got, err)
			}
		}
		scene, _ := e.s.SignScene(identity.Scene{Kind: identity.ScenePlace, VillageID: e.a.ID, RefID: 7})
		dot := strings.IndexByte(scene, '.')
		tampered := []string{
			"a" + scene[1:],                   // another kind
			scene[:1] + "z" + scene[2:],       // another village
			scene[:dot-1] + "9" + scene[dot:], // another ref
			flip(scene, dot+1),                // the tag
			scene[:dot],                       // no tag
			scene[:len(scene)-1],              // a short tag
			"p1-1." + strings.Repeat("A", 12), // made up
			"",
		}
		for _, s := range tampered {
			if s == scene {
				continue
			}
			if _, err := e.s.ResolveScene(s); !apperr.Is(err, apperr.CodeInvalid) {
				t.Errorf("tampered scene %q accepted: %v", s, err)
			}
		}
		for _, bad := range []identity.Scene{{Kind: "shop", VillageID: 1, RefID: 1}, {Kind: identity.ScenePlace, VillageID: 1, RefID: 0}} {
			if _, err := e.s.SignScene(bad); !apperr.Is(err, apperr.CodeInvalid) {
				t.Errorf("%+v signed: %v", bad, err)
			}
		}

		img, got, err := e.s.MiniProgramCode(ctx, in(e.a.ID), identity.Scene{Kind: identity.SceneActivity, VillageID: e.a.ID, RefID: 3}, "pages/activity/index")
		if err != nil || !strings.HasPrefix(string(img), "IMG:"+got+":pages/activity/index") {
			t.Fatalf("code = %q %q, %v", img, got, err)
		}
		_, _, err = e.s.MiniProgramCode(ctx, in(e.a.ID), identity.Scene{Kind: identity.ScenePlace, VillageID: e.b.ID, RefID: 3}, "")
		wantCode(t, err, apperr.CodeOutOfScope)
	})
}

func TestHouseholdCards(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		_, err := e.s.IssueCard(ctx, in(e.b.ID), socialB, e.hA.ID)
		wantCode(t, err, apperr.CodeNotFound)

		first, err := e.s.IssueCard(ctx, in(e.a.ID), socialA, e.hA.ID)
		if err != nil || first.Status != identity.CardActive || len(first.Serial) != 10 || !strings.Contains(first.Code, first.Serial) {
			t.Fatalf("card = %+v, %v", first, err)
		}
		got, err := e.s.ResolveScan(ctx, in(e.a.ID), first.Code)
		if err != nil || got.Kind != "household" || got.Household.ID != e.hA.ID || len(got.Members) != 2 {
			t.Fatalf("resolve card = %+v, %v", got, err)
		}
		_, err = e.s.ResolveScan(ctx, in(e.b.ID), first.Code)
		wantCode(t, err, apperr.CodeNotFound)
		// A serial alone, or another serial with this tag, is no card.
		for _, f := range []string{"HC1." + first.Serial, strings.Replace(first.Code, first.Serial[:1], "Z", 1), flip(first.Code, len(first.Code)-2)} {
			if f == first.Code {
				continue
			}
			if _, err := e.s.ResolveScan(ctx, in(e.a.ID), f); !apperr.Is(err, apperr.CodeInvalid) {
				t.Errorf("forged card %q: %v", f, err)
			}
		}

		// Reissuing revokes the old card.
		second, err := e.s.IssueCard(ctx, in(e.a.ID), socialA, e.hA.ID)
		if err != nil || second.Serial == first.Serial {
			t.Fatalf("reissue = %+v, %v", second, err)
		}
		_, err = e.s.ResolveScan(ctx, in(e.a.ID), first.Code)
		wantCode(t, err, identity.CodeCardRevoked)
		if _, err := e.s.ResolveScan(ctx, in(e.a.ID), second.Code); err != nil {
			t.Fatal(err)
		}
		cards, _ := e.s.ListCards(ctx, e.hA.ID)
		if len(cards) != 2 || cards[0].ID != second.ID || cards[0].Code == "" || cards[1].Status != identity.CardRevoked || cards[1].Code != "" {
			t.Fatalf("cards = %+v", cards)
		}
		_, err = e.s.RevokeCard(ctx, in(e.b.ID), socialB, second.ID)
		wantCode(t, err, apperr.CodeNotFound)
		if _, err := e.s.RevokeCard(ctx, in(e.a.ID), socialA, second.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.s.ResolveScan(ctx, in(e.a.ID), second.Code)
		wantCode(t, err, identity.CodeCardRevoked)
		_, err = e.s.RevokeCard(ctx, in(e.a.ID), socialA, second.ID)
		wantCode(t, err, apperr.CodeConflict)
		// Cards are not personal codes: the personal-code path refuses them.
		_, err = e.s.ResolveScan(ctx, in(e.a.ID), "P1."+strings.TrimPrefix(second.Code, "HC1."))
		wantCode(t, err, apperr.CodeInvalid)
		if got := mustAuditActions(t, db); len(got) != 3 || got[0] != "household_card.issue" || got[2] != "household_card.revoke" {
			t.Fatalf("audit = %v", got)
		}
	})
}

func TestStaffLink(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		u := mustCaller(t, e, "worker")
		lc, err := e.s.CreateLinkCode(ctx, 42)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.s.LinkStaff(ctx, u, villagers, lc.Code, "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
		if c := mustReload(t, e, "worker"); c.StaffID != 42 {
			t.Fatalf("staff id = %d", c.StaffID)
		}
		// A link code works once.
		other := mustCaller(t, e, "phone2")
		wantCode(t, e.s.LinkStaff(ctx, other, villagers, lc.Code, "10.0.0.2"), identity.CodeInviteInvalid)
		// Linking the account to another WeChat moves the link.
		lc2, _ := e.s.CreateLinkCode(ctx, 42)
		if err := e.s.LinkStaff(ctx, other, villagers, lc2.Code, "10.0.0.2"); err != nil {
			t.Fatal(err)
		}
		if c := mustReload(t, e, "worker"); c.StaffID != 0 {
			t.Fatal("the old WeChat keeps the staff link")
		}
		c := mustReload(t, e, "phone2")
		if err := e.s.UnlinkStaff(ctx, c, villagers); err != nil {
			t.Fatal(err)
		}
		if c := mustReload(t, e, "phone2"); c.StaffID != 0 {
			t.Fatal("unlink did not unlink")
		}
		wantCode(t, e.s.UnlinkStaff(ctx, mustReload(t, e, "phone2"), villagers), apperr.CodeConflict)
	})
}
