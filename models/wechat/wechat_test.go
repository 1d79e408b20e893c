package wechat_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/kv"
	"github.com/villagepoints/jifen/models/kv/kvtest"
	"github.com/villagepoints/jifen/models/wechat"
	"github.com/villagepoints/jifen/models/wechat/wechattest"
)

var ctx = context.Background()

func mustClient(t testing.TB, app *wechattest.App, c *kv.Client) *wechat.Client {
	t.Helper()
	wx, err := wechat.New(wechat.Config{AppID: app.ID, Secret: app.Secret, APIBase: wechattest.Shared().URL, Redis: c})
	if err != nil {
		t.Fatal(err)
	}
	return wx
}

// mustSecondClient connects another client (another replica) to the Redis
// c talks to, under the same key prefix.
func mustSecondClient(t testing.TB, c *kv.Client) *kv.Client {
	t.Helper()
	prefix := strings.TrimSuffix(c.Key(""), ":")
	c2, err := kv.Open("redis://"+c.Options().Addr+"/"+strconv.Itoa(c.Options().DB), prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Close() })
	return c2
}

// wantAppErr checks err is an apperr with code (and field, when given) and
// that its text carries nothing secret.
func wantAppErr(t testing.TB, err error, code apperr.Code, field string, app *wechattest.App) {
	t.Helper()
	if !apperr.Is(err, code) {
		t.Fatalf("got %v, want %s", err, code)
	}
	if f := apperr.From(err).Field; f != field {
		t.Fatalf("field %q, want %q", f, field)
	}
	for _, secret := range []string{app.Secret, wechattest.SessionKey, "TOKEN-"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error text leaks %q: %v", secret, err)
		}
	}
}

func TestCode2Session(t *testing.T) {
	fake := wechattest.Shared()
	app := fake.NewApp(t)
	wx := mustClient(t, app, kvtest.MustEmbedded(t))
	app.AddLogin("good", "openid-1", "union-1")
	s, err := wx.Code2Session(ctx, "good")
	if err != nil || s.OpenID != "openid-1" || s.UnionID != "union-1" {
		t.Fatalf("valid code: %+v, %v", s, err)
	}
	// A wx.login code works once.
	_, err = wx.Code2Session(ctx, "good")
	wantAppErr(t, err, apperr.CodeUnauthenticated, "", app)

	app.FailLogin("limited", 45011)
	app.FailLogin("busy", -1)
	app.FailLogin("risky", 40226)
	app.FailLogin("odd", 99999)
	cases := []struct {
		code string
		want apperr.Code
	}{
		{"never-issued", apperr.CodeUnauthenticated},
		{"limited", apperr.CodeRateLimited},
		{"busy", apperr.CodeUnavailable},
		{"risky", apperr.CodeForbidden},
		{"odd", apperr.CodeUnavailable},
	}
	for _, c := range cases {
		_, err := wx.Code2Session(ctx, c.code)
		wantAppErr(t, err, c.want, "", app)
		var we *wechat.Error
		if !errors.As(err, &we) || we.API != "jscode2session" {
			t.Errorf("%s: the WeChat errcode is not the cause: %v", c.code, err)
		}
	}
}

func TestWrongSecretAndBrokenProxyDoNotLeakTheSecret(t *testing.T) {
	fake := wechattest.Shared()
	app := fake.NewApp(t)
	wx, err := wechat.New(wechat.Config{AppID: app.ID, Secret: "the-wrong-secret", APIBase: fake.URL, Redis: kvtest.MustEmbedded(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wx.PhoneNumber(ctx, "x")
	wantAppErr(t, err, apperr.CodeUnavailable, "", app)
	if strings.Contains(err.Error(), "the-wrong-secret") || !strings.Contains(err.Error(), "40125") {
		t.Fatalf("token error = %v", err)
	}

	app.Break()
	wx = mustClient(t, app, kvtest.MustEmbedded(t))
	_, err = wx.Code2Session(ctx, "any")
	wantAppErr(t, err, apperr.CodeUnavailable, "", app)
	// silenceper puts the whole URL, secret included, in transport errors.
	if !strings.Contains(err.Error(), "secret=***") {
		t.Fatalf("transport error not scrubbed as expected: %v", err)
	}
}

func TestPhoneNumber(t *testing.T) {
	fake := wechattest.Shared()
	app := fake.NewApp(t)
	wx := mustClient(t, app, kvtest.MustEmbedded(t))
	app.AddPhone("p1", "13800000001")
	p, err := wx.PhoneNumber(ctx, "p1")
	if err != nil || p.Number != "13800000001" || p.CountryCode != "86" {
		t.Fatalf("phone: %+v, %v", p, err)
	}
	_, err = wx.PhoneNumber(ctx, "p1")
	wantAppErr(t, err, apperr.CodeInvalid, "code", app)
}

func TestWXACodeUnlimit(t *testing.T) {
	fake := wechattest.Shared()
	app := fake.NewApp(t)
	wx := mustClient(t, app, kvtest.MustEmbedded(t))
	img, err := wx.WXACodeUnlimit(ctx, wechat.WXACode{Scene: "p1-2.abcdEFGH_-12", Page: "pages/place/index"})
	if err != nil || !bytes.HasPrefix(img, []byte{0xFF, 0xD8}) || !bytes.Contains(img, []byte("p1-2.abcdEFGH_-12")) {
		t.Fatalf("wxacode: %q, %v", img, err)
	}
	_, err = wx.WXACodeUnlimit(ctx, wechat.WXACode{Scene: "ok", Page: "pages/missing"})
	wantAppErr(t, err, apperr.CodeInvalid, "page", app)
	_, err = wx.WXACodeUnlimit(ctx, wechat.WXACode{Scene: strings.Repeat("x", 33)})
	wantAppErr(t, err, apperr.CodeInvalid, "scene", app)
}

func TestSendSubscribe(t *testing.T) {
	fake := wechattest.Shared()
	app := fake.NewApp(t)
	wx := mustClient(t, app, kvtest.MustEmbedded(t))
	msg := wechat.Subscribe{ToOpenID: "o1", TemplateID: "T1", Page: "pages/inbox/index", Data: map[string]string{"thing1": "打扫卫生", "number2": "5"}}
	if err := wx.SendSubscribe(ctx, msg); err != nil {
		t.Fatal(err)
	}
	sent := app.Sent()
	if len(sent) != 1 || sent[0].ToUser != "o1" || sent[0].Data["thing1"]["value"] != "打扫卫生" {
		t.Fatalf("sent = %+v", sent)
	}

	permanent := func(err error) bool {
		var p interface{ Permanent() bool }
		return errors.As(err, &p) && p.Permanent()
	}
	app.Refuse("o2")
	err := wx.SendSubscribe(ctx, wechat.Subscribe{ToOpenID: "o2", TemplateID: "T1"})
	if err == nil || !permanent(err) || !strings.Contains(err.Error(), "43101") {
		t.Fatalf("refused user: %v (permanent %v)", err, permanent(err))
	}
	app.FailSends(-1)
	err = wx.SendSubscribe(ctx, msg)
	if err == nil || permanent(err) || !apperr.Is(err, apperr.CodeUnavailable) {
		t.Fatalf("transient error: %v", err)
	}
	if err := wx.SendSubscribe(ctx, msg); err != nil {
		t.Fatalf("after a transient error: %v", err)
	}
}

func TestExpiredAndRefusedTokensAreReplacedOnce(t *testing.T) {
	for _, b := range kvtest.MustBackends(t) {
		t.Run(b.Name, func(t *testing.T) {
			app := wechattest.Shared().NewApp(t)
			wx := mustClient(t, app, b.Client)
			msg := wechat.Subscribe{ToOpenID: "o1", TemplateID: "T1"}
			if err := wx.SendSubscribe(ctx, msg); err != nil {
				t.Fatal(err)
			}
			if n := app.TokensIssued(); n != 1 {
				t.Fatalf("%d tokens issued, want 1", n)
			}
			// WeChat expired the token before our cache did: 42001, one
			// refresh, and the call succeeds.
			app.ExpireToken()
			if err := wx.SendSubscribe(ctx, msg); err != nil {
				t.Fatalf("after expiry: %v", err)
			}
			if n := app.TokensIssued(); n != 2 {
				t.Fatalf("%d tokens issued after expiry, want 2", n)
			}
			// WeChat refuses a token (40001) that stable_token still hands
			// out: the client forces a refresh.
			app.PoisonToken()
			if _, err := wx.PhoneNumber(ctx, "unknown"); !apperr.Is(err, apperr.CodeInvalid) {
				t.Fatalf("after a refused token the call must reach the API: %v", err)
			}
			if n, f := app.TokensIssued(), app.ForcedRefreshes(); n != 3 || f != 1 {
				t.Fatalf("issued %d (forced %d), want 3 (1)", n, f)
			}
			// Only one retry: a second refusal is the caller's error.
			app.PoisonToken()
			app.FailSends(40001)
			if err := wx.SendSubscribe(ctx, msg); !apperr.Is(err, apperr.CodeUnavailable) {
				t.Fatalf("40001 twice: %v", err)
			}
		})
	}
}

// TestReplicasShareOneToken runs two clients (two replicas) over one Redis:
// they fetch one token between them, and when WeChat expires it they
// replace it once and both keep working.
func TestReplicasShareOneToken(t *testing.T) {
	for _, b := range kvtest.MustBackends(t) {
		t.Run(b.Name, func(t *testing.T) {
			app := wechattest.Shared().NewApp(t)
			replicas := []*wechat.Client{mustClient(t, app, b.Client), mustClient(t, app, mustSecondClient(t, b.Client))}
			burst := func() {
				t.Helper()
				var wg sync.WaitGroup
				errs := make(chan error, 40)
				for i := range 40 {
					wx := replicas[i%2]
					wg.Go(func() {
						errs <- wx.SendSubscribe(ctx, wechat.Subscribe{ToOpenID: "o", TemplateID: "T"})
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			burst()
			if n := app.TokensIssued(); n != 1 {
				t.Fatalf("two replicas fetched %d tokens, want 1", n)
			}
			app.ExpireToken()
			burst()
			if n := app.TokensIssued(); n != 2 {
				t.Fatalf("after expiry the replicas fetched %d tokens in all, want 2", n)
			}
			if n := app.Calls("/cgi-bin/stable_token"); n != 2 {
				t.Fatalf("stable_token called %d times, want 2", n)
			}
		})
	}
}

func TestOneAPIBasePerProcess(t *testing.T) {
	app := wechattest.Shared().NewApp(t)
	mustClient(t, app, kvtest.MustEmbedded(t))
	_, err := wechat.New(wechat.Config{AppID: app.ID, Secret: app.Secret, APIBase: "http://elsewhere.invalid", Redis: kvtest.MustEmbedded(t)})
	if err == nil {
		t.Fatal("a second API base in one process was accepted")
	}
}

func TestCacheAdapter(t *testing.T) {
	for _, b := range kvtest.MustBackends(t) {
		t.Run(b.Name, func(t *testing.T) {
			c := wechat.NewCache(b.Client)
			if c.Get("k") != nil || c.IsExist("k") {
				t.Fatal("empty cache has k")
			}
			if err := c.Set("k", "v", time.Minute); err != nil {
				t.Fatal(err)
			}
			if c.Get("k") != "v" || !c.IsExistContext(ctx, "k") {
				t.Fatalf("get k = %v", c.Get("k"))
			}
			// Keys live under the deployment prefix.
			if got, _ := b.Client.Get(ctx, b.Client.Key("wechat", "k")).Result(); got != "v" {
				t.Fatalf("raw key holds %q", got)
			}
			if ttl := b.Client.TTL(ctx, b.Client.Key("wechat", "k")).Val(); ttl <= 0 || ttl > time.Minute {
				t.Fatalf("ttl %v", ttl)
			}
			if err := c.Delete("k"); err != nil || c.IsExist("k") {
				t.Fatalf("delete: %v", err)
			}
		})
	}
}
