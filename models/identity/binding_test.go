package identity_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
)

func TestBindWithResidentInvite(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		inv := mustInvite(t, e, identity.InviteTarget{ResidentID: e.zhang.ID})
		if len(inv.Code) != 9 || inv.Code[4] != '-' || inv.VillageID != e.a.ID {
			t.Fatalf("invite = %+v", inv)
		}
		var stored []string
		db.Table("mp_invite_codes").Pluck("code_hash", &stored)
		if len(stored) != 1 || strings.Contains(stored[0], strings.ReplaceAll(inv.Code, "-", "")) {
			t.Fatalf("the code is stored in clear: %v", stored)
		}

		u := mustCaller(t, e, "zhang")
		// Another resident's id beside a resident's code is refused.
		_, err := e.s.BindWithInvite(ctx, u, villagers, inv.Code, e.wang.ID, "10.0.0.1")
		wantCode(t, err, apperr.CodeInvalid)
		// Typed loosely (lower case, spaces) the code still works.
		res, err := e.s.BindWithInvite(ctx, u, villagers, " "+strings.ToLower(strings.ReplaceAll(inv.Code, "-", " "))+" ", 0, "10.0.0.1")
		if err != nil || res.Status != "bound" || res.ResidentID != e.zhang.ID {
			t.Fatalf("bind: %+v, %v", res, err)
		}
		u = mustReload(t, e, "zhang")
		if u.ResidentID != e.zhang.ID || u.HouseholdID != e.hA.ID || u.VillageID != e.a.ID {
			t.Fatalf("caller after binding = %+v", u)
		}
		// A used code binds nobody else.
		other := mustCaller(t, e, "someone")
		_, err = e.s.BindWithInvite(ctx, other, villagers, inv.Code, 0, "10.0.0.2")
		wantCode(t, err, identity.CodeInviteInvalid)
		// A bound user cannot bind again, even with a fresh code.
		inv2 := mustInvite(t, e, identity.InviteTarget{ResidentID: e.wang.ID})
		_, err = e.s.BindWithInvite(ctx, u, villagers, inv2.Code, 0, "10.0.0.1")
		wantCode(t, err, apperr.CodeConflict)
		// A bound resident gets no new code.
		_, err = e.s.CreateInvite(ctx, in(e.a.ID), socialA, identity.InviteTarget{ResidentID: e.zhang.ID})
		wantCode(t, err, apperr.CodeConflict)
		if got := mustAuditActions(t, db); !slices.Equal(got, []string{"wechat.invite.create", "wechat.bind", "wechat.invite.create"}) {
			t.Fatalf("audit = %v", got)
		}
	})
}

func TestInviteCodesExpireAndStayInTheirVillage(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		// Staff of village A cannot make codes for village B's people.
		_, err := e.s.CreateInvite(ctx, in(e.a.ID), socialA, identity.InviteTarget{ResidentID: e.zhao.ID})
		wantCode(t, err, apperr.CodeNotFound)
		_, err = e.s.CreateInvite(ctx, in(e.a.ID), socialA, identity.InviteTarget{HouseholdID: e.hB.ID})
		wantCode(t, err, apperr.CodeNotFound)

		expiring := mustInvite(t, e, identity.InviteTarget{ResidentID: e.li.ID})
		e.clock.Add(72*time.Hour + time.Second)
		u := mustCaller(t, e, "li")
		_, err = e.s.BindWithInvite(ctx, u, villagers, expiring.Code, 0, "10.0.0.1")
		wantCode(t, err, identity.CodeInviteInvalid)

		// A villager of village A, bound there, presents village B's code:
		// refused, and the code stays usable for its owner.
		fresh := mustInvite(t, e, identity.InviteTarget{ResidentID: e.li.ID})
		if _, err := e.s.BindWithInvite(ctx, u, villagers, fresh.Code, 0, "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
		u = mustReload(t, e, "li")
		codeB, err := e.s.CreateInvite(ctx, in(e.b.ID), socialB, identity.InviteTarget{ResidentID: e.zhao.ID})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.s.BindWithInvite(ctx, u, villagers, codeB.Code, 0, "10.0.0.1")
		wantCode(t, err, apperr.CodeConflict)
		// A household code of village B with a resident of village A is
		// refused too, and not consumed.
		hhB, _ := e.s.CreateInvite(ctx, in(e.b.ID), socialB, identity.InviteTarget{HouseholdID: e.hB.ID})
		stranger := mustCaller(t, e, "stranger")
		_, err = e.s.BindWithInvite(ctx, stranger, villagers, hhB.Code, e.wang.ID, "10.0.0.3")
		wantCode(t, err, apperr.CodeInvalid)
		zhao := mustCaller(t, e, "zhao")
		if _, err := e.s.BindWithInvite(ctx, zhao, villagers, codeB.Code, 0, "10.0.0.4"); err != nil {
			t.Fatalf("village B's code no longer works for its resident: %v", err)
		}
		var wang int64
		db.Table("mp_users").Where("resident_id = ?", e.wang.ID).Count(&wang)
		if wang != 0 {
			t.Fatal("a resident of village A was bound with village B's code")
		}
	})
}

func TestBindWithHouseholdInvite(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		inv := mustInvite(t, e, identity.InviteTarget{HouseholdID: e.hA.ID})
		wife := mustCaller(t, e, "wang")
		_, err := e.s.BindWithInvite(ctx, wife, villagers, inv.Code, 0, "10.0.0.1")
		wantCode(t, err, identity.CodeChooseResident)
		members := apperr.From(err).Details.(map[string]any)["members"].([]identity.Member)
		if len(members) != 2 || members[0].Name != "张*山" || members[1].Name != "王*英" || members[1].Relation != "配偶" {
			t.Fatalf("members shown to a stranger must be masked: %+v", members)
		}
		// A resident of another household is refused; the code stays unused.
		_, err = e.s.BindWithInvite(ctx, wife, villagers, inv.Code, e.li.ID, "10.0.0.1")
		wantCode(t, err, apperr.CodeInvalid)
		if _, err := e.s.BindWithInvite(ctx, wife, villagers, inv.Code, e.wang.ID, "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
		// Several members of one household bind, each to themselves.
		husband := mustCaller(t, e, "zhang")
		if _, err := e.s.BindWithInvite(ctx, husband, villagers, mustInvite(t, e, identity.InviteTarget{HouseholdID: e.hA.ID}).Code, e.zhang.ID, "10.0.0.2"); err != nil {
			t.Fatal(err)
		}
		// Nobody binds to a member already bound.
		intruder := mustCaller(t, e, "intruder")
		_, err = e.s.BindWithInvite(ctx, intruder, villagers, mustInvite(t, e, identity.InviteTarget{HouseholdID: e.hA.ID}).Code, e.wang.ID, "10.0.0.3")
		wantCode(t, err, apperr.CodeConflict)

		hh, err := e.s.Household(ctx, mustReload(t, e, "wang"))
		if err != nil {
			t.Fatal(err)
		}
		if hh.ID != e.hA.ID || hh.HeadName != "张*山" || len(hh.Members) != 2 || hh.Members[0].Name != "张*山" || !hh.Members[0].Bound ||
			hh.Members[1].Name != "王秀英" || !hh.Members[1].Me {
			t.Fatalf("household view = %+v", hh)
		}
	})
}

// TestInviteBruteForce guesses codes: after BindLimit attempts per window
// even the right code is refused, for that user and for that IP.
func TestInviteBruteForce(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		inv := mustInvite(t, e, identity.InviteTarget{ResidentID: e.zhang.ID})
		guesser := mustCaller(t, e, "guesser")
		for i := range 5 {
			_, err := e.s.BindWithInvite(ctx, guesser, villagers, fmt.Sprintf("AAAA%04d", i+2222), 0, "10.0.0.7")
			wantCode(t, err, identity.CodeInviteInvalid)
		}
		_, err := e.s.BindWithInvite(ctx, guesser, villagers, inv.Code, 0, "10.0.0.7")
		wantCode(t, err, apperr.CodeRateLimited)
		// Many accounts from one IP are limited by IP.
		for i := range 20 {
			u := mustCaller(t, e, fmt.Sprintf("sock%d", i))
			e.s.BindWithInvite(ctx, u, villagers, "ZZZZ-ZZZZ", 0, "10.0.0.8")
		}
		last := mustCaller(t, e, "sock-last")
		_, err = e.s.BindWithInvite(ctx, last, villagers, inv.Code, 0, "10.0.0.8")
		wantCode(t, err, apperr.CodeRateLimited)
		var bound int64
		db.Table("mp_users").Where("resident_id IS NOT NULL").Count(&bound)
		if bound != 0 {
			t.Fatal("a rate-limited attempt bound someone")
		}
	})
}

func TestTwoUsersRaceForOneResident(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		inv := mustInvite(t, e, identity.InviteTarget{HouseholdID: e.hA.ID})
		inv2 := mustInvite(t, e, identity.InviteTarget{HouseholdID: e.hA.ID})
		users := []identity.Caller{mustCaller(t, e, "r1"), mustCaller(t, e, "r2")}
		codes := []string{inv.Code, inv2.Code}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() {
				_, errs[i] = e.s.BindWithInvite(ctx, users[i], villagers, codes[i], e.zhang.ID, fmt.Sprintf("10.0.1.%d", i))
			})
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("both or neither bound: %v / %v", errs[0], errs[1])
		}
		for _, err := range errs {
			if err != nil && !apperr.Is(err, apperr.CodeConflict) {
				t.Fatalf("loser got %v, want CONFLICT", err)
			}
		}
	})
}

func TestBindWithPhone(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		// One match binds at once; the number is kept sealed.
		e.wx.addPhone("p-li", "13800000003")
		li := mustCaller(t, e, "li")
		res, err := e.s.BindWithPhone(ctx, li, villagers, "p-li", "10.0.0.1")
		if err != nil || res.Status != "bound" || res.ResidentID != e.li.ID {
			t.Fatalf("single match: %+v, %v", res, err)
		}
		var enc []string
		db.Table("mp_users").Where("resident_id = ?", e.li.ID).Pluck("phone_enc", &enc)
		if len(enc) != 1 || enc[0] == "" || strings.Contains(enc[0], "13800000003") {
			t.Fatalf("phone stored as %q", enc)
		}
		// No match.
		e.wx.addPhone("p-none", "13900000000")
		nobody := mustCaller(t, e, "nobody")
		_, err = e.s.BindWithPhone(ctx, nobody, villagers, "p-none", "10.0.0.2")
		wantCode(t, err, identity.CodePhoneNotMatched)
		// WeChat refused the code.
		_, err = e.s.BindWithPhone(ctx, nobody, villagers, "p-unknown", "10.0.0.2")
		wantCode(t, err, apperr.CodeInvalid)
		// Already bound to someone else.
		e.wx.addPhone("p-li2", "13800000003")
		_, err = e.s.BindWithPhone(ctx, nobody, villagers, "p-li2", "10.0.0.2")
		wantCode(t, err, apperr.CodeConflict)
	})
}

func TestAmbiguousPhoneNeedsStaff(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		// The family registered one number for both spouses, and the same
		// number for a resident of village B.
		shared := "13800000001"
		for _, r := range []int64{e.wang.ID, e.zhao.ID} {
			db.Table("residents").Where("id = ?", r).Updates(map[string]any{"phone_enc": e.vault.Seal(shared), "phone_idx": e.vault.Index(shared)})
		}
		e.wx.addPhone("p", shared)
		u := mustCaller(t, e, "family")
		res, err := e.s.BindWithPhone(ctx, u, villagers, "p", "10.0.0.1")
		if err != nil || res.Status != "pending" || res.RequestID == 0 {
			t.Fatalf("ambiguous: %+v, %v", res, err)
		}
		me, _ := e.s.Me(ctx, mustReload(t, e, "family"))
		if me.Bound || me.PendingRequest == nil || me.PendingRequest.ID != res.RequestID {
			t.Fatalf("me = %+v", me)
		}

		listA, total, err := e.s.ListBindRequests(ctx, e.a.ID, 0, 10)
		if err != nil || total != 1 || len(listA[0].Candidates) != 2 || listA[0].Phone != "138****0001" {
			t.Fatalf("village A sees %+v (%d), %v", listA, total, err)
		}
		listB, _, _ := e.s.ListBindRequests(ctx, e.b.ID, 0, 10)
		if len(listB) != 1 || len(listB[0].Candidates) != 1 || listB[0].Candidates[0].ResidentID != e.zhao.ID {
			t.Fatalf("village B sees %+v", listB)
		}
		// Staff with no candidate in scope see nothing; staff of B cannot
		// approve A's residents.
		err = e.s.DecideBindRequest(ctx, in(999), socialB, res.RequestID, true, e.zhang.ID)
		wantCode(t, err, apperr.CodeNotFound)
		err = e.s.DecideBindRequest(ctx, in(e.b.ID), socialB, res.RequestID, true, e.zhang.ID)
		wantCode(t, err, apperr.CodeInvalid)
		err = e.s.DecideBindRequest(ctx, in(e.a.ID), socialA, res.RequestID, true, e.li.ID)
		wantCode(t, err, apperr.CodeInvalid)
		if err := e.s.DecideBindRequest(ctx, in(e.a.ID), socialA, res.RequestID, true, e.wang.ID); err != nil {
			t.Fatal(err)
		}
		if c := mustReload(t, e, "family"); c.ResidentID != e.wang.ID {
			t.Fatalf("approved for wang, bound to %d", c.ResidentID)
		}
		err = e.s.DecideBindRequest(ctx, in(e.b.ID), socialB, res.RequestID, false, 0)
		wantCode(t, err, apperr.CodeConflict)
		if got := mustAuditActions(t, db); !slices.Equal(got, []string{"wechat.bind"}) {
			t.Fatalf("audit = %v", got)
		}

		// A rejection is recorded too.
		e.wx.addPhone("p2", shared)
		u2 := mustCaller(t, e, "family2")
		res2, err := e.s.BindWithPhone(ctx, u2, villagers, "p2", "10.0.0.2")
		if err != nil || res2.Status != "pending" {
			t.Fatalf("second ambiguous: %+v, %v", res2, err)
		}
		if err := e.s.DecideBindRequest(ctx, in(e.b.ID), socialB, res2.RequestID, false, 0); err != nil {
			t.Fatal(err)
		}
		if list, _, _ := e.s.ListBindRequests(ctx, e.a.ID, 0, 10); len(list) != 0 {
			t.Fatalf("decided requests still listed: %+v", list)
		}
	})
}

func TestUnbindAndRebindByStaff(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		e := mustEnv(t, db)
		u := mustCaller(t, e, "zhang")
		if _, err := e.s.BindWithInvite(ctx, u, villagers, mustInvite(t, e, identity.InviteTarget{ResidentID: e.zhang.ID}).Code, 0, "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
		list, total, _ := e.s.ListBindings(ctx, e.a.ID, 0, 10)
		if total != 1 || list[0].UserID != u.UserID || list[0].ResidentName != "张大山" || list[0].BoundVia != identity.ViaInvite {
			t.Fatalf("bindings = %+v", list)
		}
		if list, _, _ := e.s.ListBindings(ctx, e.b.ID, 0, 10); len(list) != 0 {
			t.Fatalf("village B lists A's bindings: %+v", list)
		}
		// Village B's staff cannot touch it; a reason is required.
		wantCode(t, e.s.Unbind(ctx, in(e.b.ID), socialB, u.UserID, "错误"), apperr.CodeNotFound)
		wantCode(t, e.s.Rebind(ctx, in(e.b.ID), socialB, u.UserID, e.zhao.ID, "错误"), apperr.CodeNotFound)
		wantCode(t, e.s.Unbind(ctx, in(e.a.ID), socialA, u.UserID, " "), apperr.CodeInvalid)
		// Rebind within the village only.
		wantCode(t, e.s.Rebind(ctx, in(e.a.ID), socialA, u.UserID, e.zhao.ID, "绑错人"), apperr.CodeNotFound)
		if err := e.s.Rebind(ctx, in(e.a.ID), socialA, u.UserID, e.wang.ID, "绑错人"); err != nil {
			t.Fatal(err)
		}
		if c := mustReload(t, e, "zhang"); c.ResidentID != e.wang.ID {
			t.Fatalf("rebound to %d", c.ResidentID)
		}
		if err := e.s.Unbind(ctx, in(e.a.ID), socialA, u.UserID, "村民要求解绑"); err != nil {
			t.Fatal(err)
		}
		if c := mustReload(t, e, "zhang"); c.Bound() {
			t.Fatalf("still bound: %+v", c)
		}
		wantCode(t, e.s.Unbind(ctx, in(e.a.ID), socialA, u.UserID, "再次"), apperr.CodeNotFound)
		var entries []struct{ Action, ActorName, BeforeJSON, AfterJSON string }
		db.Table("audit_log").Where("action IN ?", []string{"wechat.rebind", "wechat.unbind"}).Order("id").Find(&entries)
		if len(entries) != 2 || entries[0].ActorName != socialA.Name || !strings.Contains(entries[0].AfterJSON, "绑错人") ||
			!strings.Contains(entries[1].BeforeJSON, fmt.Sprint(e.wang.ID)) || !strings.Contains(entries[1].AfterJSON, "村民要求解绑") {
			t.Fatalf("audit = %+v", entries)
		}
	})
}
