package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/kv/kvtest"
	"github.com/villagepoints/jifen/models/notify"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/models/wechat/wechattest"
	"github.com/villagepoints/jifen/server/app"
)

// wechatEnv is the environment of an App of backend that talks to the
// fake WeChat as app fake.
func wechatEnv(t *testing.T, backend string, fake *wechattest.App) map[string]string {
	t.Helper()
	env := map[string]string{"DATA_DIR": t.TempDir(), "LOG_LEVEL": "error",
		"WECHAT_APPID": fake.ID, "WECHAT_SECRET": fake.Secret, "WECHAT_API_BASE": wechattest.Shared().URL,
		"WECHAT_TEMPLATE_POINTS_AWARDED": "TPL-AWARD"}
	if backend == "mysql+redis" {
		dsn, drop := sqltest.MySQLDSN(t)
		t.Cleanup(drop)
		env["DATABASE_DSN"] = dsn
		env["REDIS_URL"] = os.Getenv("TEST_REDIS_URL")
		env["REDIS_PREFIX"] = "jt-" + filepath.Base(env["DATA_DIR"])
		env["SECRET_KEY"] = strings.Repeat("ab", 32)
	}
	return env
}

// mustAppEnv builds an App from env, logging to log (nil: discarded).
func mustAppEnv(t *testing.T, env map[string]string, log io.Writer) *app.App {
	t.Helper()
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.BcryptCost = bcrypt.MinCost
	if log == nil {
		log = io.Discard
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	if env["REDIS_PREFIX"] != "" && env["REDIS_URL"] != "" {
		t.Cleanup(func() { kvtest.DeletePrefix(a.KV, env["REDIS_PREFIX"]) })
	}
	return a
}

// eachWeChatBackend runs fn on a fresh App per backend, wired to a fresh
// fake WeChat app.
func eachWeChatBackend(t *testing.T, fn func(t *testing.T, a *app.App, fake *wechattest.App)) {
	for _, b := range backends() {
		t.Run(b, func(t *testing.T) {
			fake := wechattest.Shared().NewApp(t)
			fn(t, mustAppEnv(t, wechatEnv(t, b, fake), nil), fake)
		})
	}
}

// mustMPLogin logs a WeChat user (openid) into the mini-program API.
func mustMPLogin(t *testing.T, a *app.App, fake *wechattest.App, openID string) *client {
	t.Helper()
	code := "code-" + openID
	fake.AddLogin(code, openID, "union-"+openID)
	c := &client{t: t, h: a.Router}
	r := c.do("POST", "/mp/v1/auth/login", map[string]string{"code": code})
	if r.Status != http.StatusOK {
		t.Fatalf("mini-program login %s: %d %s", openID, r.Status, r.Raw)
	}
	c.token = r.data()["access_token"].(string)
	return c
}

func wantStatus(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.Status != status || (code != "" && r.errorCode() != code) {
		t.Fatalf("got %d %s, want %d %s", r.Status, r.Raw, status, code)
	}
}

// mustBindResident has a social worker make an invite code for resident
// and the villager use it.
func mustBindResident(t *testing.T, worker, villager *client, residentID int64) {
	t.Helper()
	inv := worker.do("POST", fmt.Sprintf("/api/v1/residents/%d/invite-codes", residentID), nil)
	wantStatus(t, inv, http.StatusCreated, "")
	r := villager.do("POST", "/mp/v1/me/binding/invite", map[string]any{"code": inv.data()["code"]})
	wantStatus(t, r, http.StatusOK, "")
}

func TestMiniProgramLogin(t *testing.T) {
	for _, b := range backends() {
		t.Run(b, func(t *testing.T) {
			fake := wechattest.Shared().NewApp(t)
			var logs bytes.Buffer
			// web.Fail logs 5xx through the default logger.
			prev := slog.Default()
			slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			t.Cleanup(func() { slog.SetDefault(prev) })
			a := mustAppEnv(t, wechatEnv(t, b, fake), &logs)
			c := &client{t: t, h: a.Router}

			fake.AddLogin("good", "o-secret-openid", "u-secret-union")
			r := c.do("POST", "/mp/v1/auth/login", map[string]string{"code": "good"})
			wantStatus(t, r, http.StatusOK, "")
			if r.data()["access_token"] == "" || r.data()["refresh_token"] == "" || r.data()["bound"] != false {
				t.Fatalf("login = %s", r.Raw)
			}
			c.token = r.data()["access_token"].(string)
			wantStatus(t, c.do("GET", "/mp/v1/me", nil), http.StatusOK, "")

			fake.FailLogin("limited", 45011)
			fake.FailLogin("busy", -1)
			fake.FailLogin("risky", 40226)
			anon := &client{t: t, h: a.Router}
			for code, want := range map[string]struct {
				status int
				code   string
			}{
				"good":    {http.StatusUnauthorized, "UNAUTHENTICATED"}, // used already
				"unknown": {http.StatusUnauthorized, "UNAUTHENTICATED"},
				"limited": {http.StatusTooManyRequests, "RATE_LIMITED"},
				"busy":    {http.StatusServiceUnavailable, "UNAVAILABLE"},
				"risky":   {http.StatusForbidden, "FORBIDDEN"},
			} {
				r := anon.do("POST", "/mp/v1/auth/login", map[string]string{"code": code})
				if r.Status != want.status || r.errorCode() != want.code || strings.Contains(string(r.Raw), "errcode") {
					t.Errorf("login with %q: %d %s", code, r.Status, r.Raw)
				}
			}
			r = anon.do("POST", "/mp/v1/auth/login", map[string]any{"code": "x", "openid": "o-secret-openid"})
			wantStatus(t, r, http.StatusBadRequest, "INVALID_ARGUMENT")

			// The session_key, the openid and the app secret appear in no
			// response, no log line and no table.
			var dump strings.Builder
			for _, table := range []string{"mp_users", "mp_sessions"} {
				var rows []map[string]any
				a.DB.Table(table).Find(&rows)
				fmt.Fprint(&dump, rows)
			}
			if !strings.Contains(logs.String(), "errcode=-1") {
				t.Fatalf("the 503 was not logged with its errcode: %s", logs.String())
			}
			for _, secret := range []string{wechattest.SessionKey, fake.Secret} {
				if strings.Contains(logs.String(), secret) || strings.Contains(dump.String(), secret) || strings.Contains(string(r.Raw), secret) {
					t.Errorf("%q leaked (log or database)", secret)
				}
			}
			if strings.Contains(logs.String(), "o-secret-openid") {
				t.Error("the openid was logged")
			}
		})
	}
}

// TestMiniProgramBindingAndScopes drives binding and every mini-program
// route as a villager who tries to reach someone else's data or set
// fields they may not.
func TestMiniProgramBindingAndScopes(t *testing.T) {
	eachWeChatBackend(t, func(t *testing.T, a *app.App, fake *wechattest.App) {
		w := mustWorld(t, a)
		worker := mustLogin(t, a, w.logins[staff.SocialWorker])
		villager := mustMPLogin(t, a, fake, "o-zhang")

		// Not bound yet: nothing personal.
		wantStatus(t, villager.do("GET", "/mp/v1/me/personal-code", nil), http.StatusUnprocessableEntity, "NOT_BOUND")
		wantStatus(t, villager.do("GET", "/mp/v1/me/notifications", nil), http.StatusUnprocessableEntity, "NOT_BOUND")

		// Staff of village A make no codes for village B's residents.
		wantStatus(t, worker.do("POST", fmt.Sprintf("/api/v1/residents/%d/invite-codes", w.residentB.ID), nil), http.StatusNotFound, "NOT_FOUND")
		inv := worker.do("POST", fmt.Sprintf("/api/v1/residents/%d/invite-codes", w.residentA.ID), nil)
		wantStatus(t, inv, http.StatusCreated, "")
		code := inv.data()["code"]
		// A villager token is no staff token.
		wantStatus(t, villager.do("POST", fmt.Sprintf("/api/v1/residents/%d/invite-codes", w.residentA.ID), nil), http.StatusUnauthorized, "UNAUTHENTICATED")

		for _, field := range []string{"village_id", "balance", "role", "user_id", "staff_id"} {
			r := villager.do("POST", "/mp/v1/me/binding/invite", map[string]any{"code": code, field: 7})
			if r.Status != http.StatusBadRequest || r.Body["error"].(map[string]any)["field"] != field {
				t.Errorf("binding with %s: %d %s", field, r.Status, r.Raw)
			}
		}
		// Another resident's id beside the code is refused.
		wantStatus(t, villager.do("POST", "/mp/v1/me/binding/invite", map[string]any{"code": code, "resident_id": w.residentB.ID}), http.StatusBadRequest, "INVALID_ARGUMENT")
		r := villager.do("POST", "/mp/v1/me/binding/invite", map[string]any{"code": code})
		wantStatus(t, r, http.StatusOK, "")
		me := villager.do("GET", "/mp/v1/me", nil)
		res := me.data()["resident"].(map[string]any)
		if me.data()["bound"] != true || res["name"] != "张三" || res["phone"] != "138****0001" || res["village_name"] != "甲村" {
			t.Fatalf("me = %s", me.Raw)
		}
		if strings.Contains(string(me.Raw), "o-zhang") {
			t.Fatal("the openid is shown")
		}
		// The used code binds nobody else.
		other := mustMPLogin(t, a, fake, "o-other")
		wantStatus(t, other.do("POST", "/mp/v1/me/binding/invite", map[string]any{"code": code}), http.StatusUnprocessableEntity, "INVITE_CODE_INVALID")

		// Personal code → a social worker or clerk of the village scans it;
		// a supervisor or township admin cannot, a villager token cannot.
		pc := villager.do("GET", "/mp/v1/me/personal-code?resident_id="+fmt.Sprint(w.residentB.ID), nil)
		wantStatus(t, pc, http.StatusOK, "")
		if pc.Header.Get("Cache-Control") != "no-store" {
			t.Error("personal codes must not be cached")
		}
		scan := map[string]any{"code": pc.data()["code"]}
		for role, want := range map[staff.Role]int{staff.SocialWorker: 200, staff.StoreClerk: 200, staff.VillageAdmin: 200, staff.Supervisor: 403, staff.TownshipAdmin: 403} {
			r := mustLogin(t, a, w.logins[role]).do("POST", "/api/v1/scans", scan)
			if r.Status != want {
				t.Errorf("%s scans: %d %s", role, r.Status, r.Raw)
			}
			if want == 200 && r.data()["resident"].(map[string]any)["id"] != float64(w.residentA.ID) {
				t.Errorf("%s resolved %s", role, r.Raw)
			}
		}
		wantStatus(t, villager.do("POST", "/api/v1/scans", scan), http.StatusUnauthorized, "")
		tampered := map[string]any{"code": pc.data()["code"].(string) + "A"}
		wantStatus(t, worker.do("POST", "/api/v1/scans", tampered), http.StatusBadRequest, "INVALID_ARGUMENT")

		// Household card: accepted from a staff scan only.
		card := worker.do("POST", fmt.Sprintf("/api/v1/households/%d/cards", w.householdA.ID), nil)
		wantStatus(t, card, http.StatusCreated, "")
		cardCode := card.data()["code"].(string)
		r = mustLogin(t, a, w.logins[staff.StoreClerk]).do("POST", "/api/v1/scans", map[string]any{"code": cardCode})
		if r.Status != http.StatusOK || r.data()["kind"] != "household" {
			t.Fatalf("card scan: %d %s", r.Status, r.Raw)
		}
		wantStatus(t, villager.do("GET", "/mp/v1/scenes/"+cardCode, nil), http.StatusBadRequest, "INVALID_ARGUMENT")
		wantStatus(t, worker.do("POST", fmt.Sprintf("/api/v1/households/%d/cards", w.householdB.ID), nil), http.StatusNotFound, "NOT_FOUND")
		revoked := worker.do("DELETE", fmt.Sprintf("/api/v1/household-cards/%d", int64(card.data()["id"].(float64))), nil)
		wantStatus(t, revoked, http.StatusOK, "")
		wantStatus(t, worker.do("POST", "/api/v1/scans", map[string]any{"code": cardCode}), http.StatusUnprocessableEntity, "CARD_REVOKED")

		// Place code: image from the fake WeChat, scene signed; tampering
		// and other villages are refused.
		img := worker.do("POST", fmt.Sprintf("/api/v1/villages/%d/wxacodes", w.villageA.ID), map[string]any{"kind": "place", "ref_id": 5, "page": "pages/place/index"})
		scene := img.Header.Get("X-Scene")
		if img.Status != http.StatusOK || img.Header.Get("Content-Type") != "image/jpeg" || !bytes.Contains(img.Raw, []byte(scene)) || scene == "" {
			t.Fatalf("wxacode: %d %q %q", img.Status, img.Header, img.Raw)
		}
		got := villager.do("GET", "/mp/v1/scenes/"+scene, nil)
		if got.Status != http.StatusOK || got.data()["kind"] != "place" || got.data()["village_id"] != float64(w.villageA.ID) || got.data()["ref_id"] != float64(5) {
			t.Fatalf("scene: %d %s", got.Status, got.Raw)
		}
		forged := strings.Replace(scene, "-5.", "-6.", 1)
		wantStatus(t, villager.do("GET", "/mp/v1/scenes/"+forged, nil), http.StatusBadRequest, "INVALID_ARGUMENT")
		wantStatus(t, worker.do("POST", fmt.Sprintf("/api/v1/villages/%d/wxacodes", w.villageB.ID), map[string]any{"kind": "place", "ref_id": 5}), http.StatusForbidden, "OUT_OF_SCOPE")
		wantStatus(t, worker.do("POST", fmt.Sprintf("/api/v1/villages/%d/wxacodes", w.villageA.ID), map[string]any{"kind": "place", "ref_id": 5, "page": "pages/missing"}), http.StatusBadRequest, "INVALID_ARGUMENT")

		// Notifications: the caller's own inbox only.
		mine, theirs := mustNotify(t, a.DB, w.residentA.ID), mustNotify(t, a.DB, w.residentB.ID)
		list := villager.do("GET", fmt.Sprintf("/mp/v1/me/notifications?resident_id=%d", w.residentB.ID), nil)
		items, _ := list.Body["data"].([]any)
		if list.Status != http.StatusOK || len(items) != 1 || items[0].(map[string]any)["id"] != float64(mine) {
			t.Fatalf("inbox: %d %s", list.Status, list.Raw)
		}
		wantStatus(t, villager.do("PATCH", fmt.Sprintf("/mp/v1/me/notifications/%d", theirs), map[string]any{"read": true}), http.StatusNotFound, "NOT_FOUND")
		wantStatus(t, villager.do("PATCH", fmt.Sprintf("/mp/v1/me/notifications/%d", mine), map[string]any{"read": true, "resident_id": w.residentB.ID}), http.StatusBadRequest, "INVALID_ARGUMENT")
		wantStatus(t, villager.do("PATCH", fmt.Sprintf("/mp/v1/me/notifications/%d", mine), map[string]any{"read": true}), http.StatusOK, "")
		// The dispatcher sends resident A's message to A's WeChat; B has
		// no WeChat, so B's stays in the inbox only.
		if _, err := a.Notifier.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		sent := fake.Sent()
		if len(sent) != 1 || sent[0].ToUser != "o-zhang" || sent[0].TemplateID != "TPL-AWARD" {
			t.Fatalf("sent = %+v", sent)
		}

		// The household view masks the other members.
		if _, err := a.People.CreateResident(context.Background(), audit.System, w.villageA.ID, people.ResidentInput{HouseholdID: &w.householdA.ID, Name: "王小芳", Registered: true}); err != nil {
			t.Fatal(err)
		}
		hh := villager.do("GET", "/mp/v1/me/household", nil)
		if !strings.Contains(string(hh.Raw), `"王*芳"`) || strings.Contains(string(hh.Raw), "王小芳") {
			t.Fatalf("household: %s", hh.Raw)
		}

		// Staff see the binding (never the openid), unbind it with a
		// reason, audited; the villager loses access at once.
		bl := worker.do("GET", fmt.Sprintf("/api/v1/villages/%d/wechat-bindings", w.villageA.ID), nil)
		bindings, _ := bl.Body["data"].([]any)
		if bl.Status != http.StatusOK || len(bindings) != 1 || strings.Contains(string(bl.Raw), "o-zhang") {
			t.Fatalf("bindings: %d %s", bl.Status, bl.Raw)
		}
		uid := int64(bindings[0].(map[string]any)["user_id"].(float64))
		wantStatus(t, worker.do("GET", fmt.Sprintf("/api/v1/villages/%d/wechat-bindings", w.villageB.ID), nil), http.StatusForbidden, "OUT_OF_SCOPE")
		wantStatus(t, worker.do("DELETE", fmt.Sprintf("/api/v1/wechat-users/%d/binding", uid), map[string]any{}), http.StatusBadRequest, "INVALID_ARGUMENT")
		wantStatus(t, worker.do("DELETE", fmt.Sprintf("/api/v1/wechat-users/%d/binding", uid), map[string]any{"reason": "村民换了手机"}), http.StatusOK, "")
		wantStatus(t, villager.do("GET", "/mp/v1/me/notifications", nil), http.StatusUnprocessableEntity, "NOT_BOUND")
		var actions []string
		a.DB.Table("audit_log").Where("action LIKE ?", "wechat.%").Order("id").Pluck("action", &actions)
		if !slices.Equal(actions, []string{"wechat.invite.create", "wechat.bind", "wechat.unbind"}) {
			t.Fatalf("audit = %v", actions)
		}
	})
}

func TestMiniProgramPhoneBinding(t *testing.T) {
	eachWeChatBackend(t, func(t *testing.T, a *app.App, fake *wechattest.App) {
		w := mustWorld(t, a)
		worker := mustLogin(t, a, w.logins[staff.SocialWorker])
		// Resident B's number matches one resident: bound at once.
		fake.AddPhone("p-li", "13800000002")
		li := mustMPLogin(t, a, fake, "o-li")
		r := li.do("POST", "/mp/v1/me/binding/phone", map[string]any{"code": "p-li"})
		if r.Status != http.StatusOK || r.data()["resident_id"] != float64(w.residentB.ID) {
			t.Fatalf("phone bind: %d %s", r.Status, r.Raw)
		}
		// An expired or reused phone code is the villager's error to fix.
		wantStatus(t, mustMPLogin(t, a, fake, "o-x").do("POST", "/mp/v1/me/binding/phone", map[string]any{"code": "p-li"}), http.StatusBadRequest, "INVALID_ARGUMENT")

		// Resident A's number was registered for a second resident too:
		// a social worker decides.
		if _, err := a.People.CreateResident(context.Background(), audit.System, w.villageA.ID, people.ResidentInput{HouseholdID: &w.householdA.ID, Name: "张小三", Registered: true, Phone: "13800000001"}); err != nil {
			t.Fatal(err)
		}
		fake.AddPhone("p-zhang", "13800000001")
		zhang := mustMPLogin(t, a, fake, "o-zhang")
		r = zhang.do("POST", "/mp/v1/me/binding/phone", map[string]any{"code": "p-zhang"})
		if r.Status != http.StatusAccepted || r.data()["status"] != "pending" {
			t.Fatalf("ambiguous phone: %d %s", r.Status, r.Raw)
		}
		list := worker.do("GET", fmt.Sprintf("/api/v1/villages/%d/bind-requests", w.villageA.ID), nil)
		reqs, _ := list.Body["data"].([]any)
		if len(reqs) != 1 || strings.Contains(string(list.Raw), "13800000001") {
			t.Fatalf("bind requests: %s", list.Raw)
		}
		id := int64(reqs[0].(map[string]any)["id"].(float64))
		path := fmt.Sprintf("/api/v1/bind-requests/%d/decision", id)
		wantStatus(t, worker.do("POST", path, map[string]any{"approve": true, "resident_id": w.residentB.ID}), http.StatusBadRequest, "INVALID_ARGUMENT")
		wantStatus(t, mustLogin(t, a, w.logins[staff.Supervisor]).do("POST", path, map[string]any{"approve": true, "resident_id": w.residentA.ID}), http.StatusForbidden, "FORBIDDEN")
		wantStatus(t, worker.do("POST", path, map[string]any{"approve": true, "resident_id": w.residentA.ID}), http.StatusOK, "")
		if me := zhang.do("GET", "/mp/v1/me", nil); me.data()["resident"].(map[string]any)["id"] != float64(w.residentA.ID) {
			t.Fatalf("after approval: %s", me.Raw)
		}
	})
}

func TestStaffUseTheMiniProgramThroughATokenExchange(t *testing.T) {
	eachWeChatBackend(t, func(t *testing.T, a *app.App, fake *wechattest.App) {
		w := mustWorld(t, a)
		worker := mustLogin(t, a, w.logins[staff.SocialWorker])
		phone := mustMPLogin(t, a, fake, "o-worker")
		wantStatus(t, phone.do("POST", "/mp/v1/me/staff-session", nil), http.StatusForbidden, "FORBIDDEN")

		lc := worker.do("POST", "/api/v1/me/wechat-link-code", nil)
		wantStatus(t, lc, http.StatusCreated, "")
		wantStatus(t, phone.do("POST", "/mp/v1/me/staff-link", map[string]any{"code": lc.data()["code"], "role": "county_admin"}), http.StatusBadRequest, "INVALID_ARGUMENT")
		wantStatus(t, phone.do("POST", "/mp/v1/me/staff-link", map[string]any{"code": lc.data()["code"]}), http.StatusOK, "")
		st := phone.do("POST", "/mp/v1/me/staff-session", nil)
		wantStatus(t, st, http.StatusOK, "")
		staffPhone := &client{t: t, h: a.Router, token: st.data()["access_token"].(string)}
		if me := staffPhone.do("GET", "/api/v1/me", nil); me.Status != http.StatusOK || me.data()["username"] != w.logins[staff.SocialWorker] {
			t.Fatalf("staff me via the exchange: %d %s", me.Status, me.Raw)
		}
		// The two token kinds do not cross.
		wantStatus(t, (&client{t: t, h: a.Router, token: phone.token}).do("GET", "/api/v1/me", nil), http.StatusUnauthorized, "UNAUTHENTICATED")
		wantStatus(t, staffPhone.do("GET", "/mp/v1/me", nil), http.StatusUnauthorized, "UNAUTHENTICATED")

		// Disabling the staff account ends the exchange.
		admin := mustLogin(t, a, w.logins[staff.VillageAdmin])
		var id int64
		a.DB.Table("staff_users").Where("username = ?", w.logins[staff.SocialWorker]).Pluck("id", &id)
		wantStatus(t, admin.do("PATCH", fmt.Sprintf("/api/v1/staff/%d", id), map[string]any{"disabled": true}), http.StatusOK, "")
		wantStatus(t, phone.do("POST", "/mp/v1/me/staff-session", nil), http.StatusForbidden, "FORBIDDEN")
		wantStatus(t, staffPhone.do("GET", "/api/v1/me", nil), http.StatusUnauthorized, "UNAUTHENTICATED")
	})
}

func TestDevLogin(t *testing.T) {
	// Refused with a deployment database, by LoadConfig and by New.
	env := map[string]string{"DATABASE_DSN": "u:p@tcp(127.0.0.1:1)/x", "REDIS_URL": "redis://127.0.0.1:1/0", "SECRET_KEY": strings.Repeat("ab", 32), "DEV_LOGIN": "1"}
	if _, err := app.LoadConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "DEV_LOGIN") {
		t.Fatalf("LoadConfig accepted DEV_LOGIN with DATABASE_DSN: %v", err)
	}
	delete(env, "DEV_LOGIN")
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.WeChat.DevLogin = true
	if _, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "DEV_LOGIN") {
		t.Fatalf("New accepted DEV_LOGIN with DATABASE_DSN: %v", err)
	}
	env["DEV_LOGIN"] = "yes"
	if _, err := app.LoadConfig(func(k string) string { return env[k] }); err == nil {
		t.Fatal("DEV_LOGIN=yes accepted")
	}

	// Embedded without DEV_LOGIN: the route answers like a missing one.
	off := mustApp(t, "embedded")
	c := &client{t: t, h: off.Router}
	wantStatus(t, c.do("POST", "/mp/v1/auth/dev-login", map[string]any{"code": "alice"}), http.StatusNotFound, "NOT_FOUND")

	// Embedded with DEV_LOGIN=1: a fake code logs in, no WeChat needed.
	on := mustAppEnv(t, map[string]string{"DATA_DIR": t.TempDir(), "DEV_LOGIN": "1"}, nil)
	c = &client{t: t, h: on.Router}
	r := c.do("POST", "/mp/v1/auth/dev-login", map[string]any{"code": "alice"})
	wantStatus(t, r, http.StatusOK, "")
	c.token = r.data()["access_token"].(string)
	wantStatus(t, c.do("GET", "/mp/v1/me", nil), http.StatusOK, "")
	// The real login needs WeChat, which is not configured.
	wantStatus(t, c.do("POST", "/mp/v1/auth/login", map[string]any{"code": "alice"}), http.StatusServiceUnavailable, "UNAVAILABLE")

	// With MySQL the route does not exist at all.
	if os.Getenv("TEST_MYSQL_DSN") != "" && os.Getenv("TEST_REDIS_URL") != "" {
		a := mustApp(t, "mysql+redis")
		for _, rt := range a.Router.Routes() {
			if strings.HasSuffix(rt.Path, "/dev-login") {
				t.Fatalf("dev login route registered in MySQL mode: %s", rt.Path)
			}
		}
	}
}

// TestReplicasShareOneWeChatToken runs two server instances on one
// database and one Redis against the fake WeChat: together they fetch one
// access token; when WeChat expires it, one of them replaces it and both
// keep working.
func TestReplicasShareOneWeChatToken(t *testing.T) {
	for _, b := range backends() {
		t.Run(b, func(t *testing.T) {
			fake := wechattest.Shared().NewApp(t)
			env := wechatEnv(t, b, fake)
			if b == "embedded" {
				mr := miniredis.RunT(t)
				env["REDIS_URL"] = "redis://" + mr.Addr()
			}
			replicas := []*app.App{mustAppEnv(t, env, nil), mustAppEnv(t, env, nil)}
			w := mustWorld(t, replicas[0])
			workers := []*client{mustLogin(t, replicas[0], w.logins[staff.SocialWorker]), mustLogin(t, replicas[1], w.logins[staff.SocialWorker])}
			path := fmt.Sprintf("/api/v1/villages/%d/wxacodes", w.villageA.ID)
			burst := func() {
				t.Helper()
				var wg sync.WaitGroup
				var mu sync.Mutex
				var failed []string
				for i := range 16 {
					c := workers[i%2]
					wg.Go(func() {
						r := c.do("POST", path, map[string]any{"kind": "activity", "ref_id": i + 1})
						if r.Status != http.StatusOK {
							mu.Lock()
							failed = append(failed, fmt.Sprintf("%d %s", r.Status, r.Raw))
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				if len(failed) > 0 {
					t.Fatalf("replica calls failed: %v", failed)
				}
			}
			burst()
			if n, calls := fake.TokensIssued(), fake.Calls("/cgi-bin/stable_token"); n != 1 || calls != 1 {
				t.Fatalf("two replicas: %d tokens from %d stable_token calls, want 1 and 1", n, calls)
			}
			fake.ExpireToken()
			burst()
			if n, calls := fake.TokensIssued(), fake.Calls("/cgi-bin/stable_token"); n != 2 || calls != 2 {
				t.Fatalf("after expiry: %d tokens from %d stable_token calls, want 2 and 2", n, calls)
			}
			if n := len(fake.Codes()); n != 32 {
				t.Fatalf("%d codes made, want 32", n)
			}
		})
	}
}

// mustNotify enqueues a points notification for a resident, as the ledger
// will, and returns its id.
func mustNotify(t *testing.T, db *gorm.DB, residentID int64) int64 {
	t.Helper()
	var id int64
	err := sqldb.InTx(context.Background(), db, func(tx *gorm.DB) error {
		var err error
		id, err = notify.Enqueue(context.Background(), tx, notify.Message{ResidentID: residentID, Kind: notify.PointsAwarded,
			Data: map[string]string{"points": "5", "reason": "清理河道"}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestWeChatConfig(t *testing.T) {
	load := func(env map[string]string) (app.Config, error) {
		return app.LoadConfig(func(k string) string { return env[k] })
	}
	cfg, err := load(map[string]string{"WECHAT_APPID": "wx1", "WECHAT_SECRET": "s", "WECHAT_TEMPLATE_POINTS_DEDUCTED": "T-D", "MP_ACCESS_TOKEN_TTL": "10m"})
	if err != nil {
		t.Fatal(err)
	}
	wc := cfg.WeChat
	if wc.AppID != "wx1" || wc.Templates[notify.PointsDeducted] != "T-D" || len(wc.Templates) != 1 || wc.AccessTTL != 10*time.Minute ||
		wc.RefreshTTL != 720*time.Hour || wc.NotifyMaxAttempts != 8 || wc.DevLogin {
		t.Fatalf("config = %+v", wc)
	}
	for name, env := range map[string]map[string]string{
		"app id without secret": {"WECHAT_APPID": "wx1"},
		"secret without app id": {"WECHAT_SECRET": "s"},
		"attempts":              {"NOTIFY_MAX_ATTEMPTS": "0"},
		"ttl":                   {"INVITE_CODE_TTL": "soon"},
	} {
		if _, err := load(env); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
