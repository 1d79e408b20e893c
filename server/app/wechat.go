package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	miniprogramapi "github.com/villagepoints/jifen/miniprogram-api"
	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/models/notify"
	"github.com/villagepoints/jifen/models/wechat"
	"github.com/villagepoints/jifen/server/console"
)

// WeChatConfig is the mini-program's part of the configuration.
type WeChatConfig struct {
	AppID   string // WECHAT_APPID: empty = no WeChat login, no subscribe messages
	Secret  string // WECHAT_SECRET
	APIBase string // WECHAT_API_BASE: empty = https://api.weixin.qq.com (tests: a fake)
	// Templates are the subscribe template ids, WECHAT_TEMPLATE_<KIND>
	// (e.g. WECHAT_TEMPLATE_POINTS_AWARDED); a kind without one is inbox only.
	Templates         map[notify.Kind]string
	NotifyMaxAttempts int           // NOTIFY_MAX_ATTEMPTS
	AccessTTL         time.Duration // MP_ACCESS_TOKEN_TTL
	RefreshTTL        time.Duration // MP_REFRESH_TOKEN_TTL
	InviteTTL         time.Duration // INVITE_CODE_TTL
	// CallerTTL (MP_CALLER_CACHE_TTL) is how long a process reuses a
	// session's resolved login and binding: the longest another replica
	// may take to see a logout, unbind or rebind. 0 turns the cache off.
	CallerTTL time.Duration
	// DevLogin (DEV_LOGIN=1) mounts a login that takes any code, for the
	// demo; it is refused whenever DATABASE_DSN is set.
	DevLogin bool
}

// loadWeChatConfig reads the WECHAT_*, MP_*, INVITE_CODE_TTL,
// NOTIFY_MAX_ATTEMPTS and DEV_LOGIN variables.
func loadWeChatConfig(get func(k, def string) string, embedded bool) (WeChatConfig, error) {
	c := WeChatConfig{AppID: get("WECHAT_APPID", ""), Secret: get("WECHAT_SECRET", ""), APIBase: get("WECHAT_API_BASE", ""),
		Templates: map[notify.Kind]string{}}
	if (c.AppID == "") != (c.Secret == "") {
		return c, errors.New("WECHAT_APPID and WECHAT_SECRET go together: set both or neither")
	}
	for _, k := range notify.Kinds {
		if id := get("WECHAT_TEMPLATE_"+strings.ToUpper(string(k)), ""); id != "" {
			c.Templates[k] = id
		}
	}
	var err error
	if c.NotifyMaxAttempts, err = strconv.Atoi(get("NOTIFY_MAX_ATTEMPTS", "8")); err != nil || c.NotifyMaxAttempts <= 0 {
		return c, errors.New("NOTIFY_MAX_ATTEMPTS: want a positive integer")
	}
	for _, d := range []struct {
		key, def string
		into     *time.Duration
	}{
		{"MP_ACCESS_TOKEN_TTL", "30m", &c.AccessTTL},
		{"MP_REFRESH_TOKEN_TTL", "720h", &c.RefreshTTL},
		{"INVITE_CODE_TTL", "72h", &c.InviteTTL},
	} {
		if *d.into, err = time.ParseDuration(get(d.key, d.def)); err != nil || *d.into <= 0 {
			return c, fmt.Errorf("%s: want a duration such as %s", d.key, d.def)
		}
	}
	if c.CallerTTL, err = time.ParseDuration(get("MP_CALLER_CACHE_TTL", "5s")); err != nil || c.CallerTTL < 0 || c.CallerTTL > time.Minute {
		return c, errors.New("MP_CALLER_CACHE_TTL: want a duration from 0 (off) to 1m, such as 5s")
	}
	switch v := get("DEV_LOGIN", ""); v {
	case "", "0":
	case "1":
		if !embedded {
			return c, errors.New("DEV_LOGIN=1 is refused when DATABASE_DSN is set: the dev login is for the embedded demo only")
		}
		c.DevLogin = true
	default:
		return c, fmt.Errorf("DEV_LOGIN: want 1 or nothing, got %q", v)
	}
	return c, nil
}

// wireWeChat builds the WeChat client (when configured), the identity
// service, the inbox and the notification dispatcher, whose loop runs as a
// worker.
func (a *App) wireWeChat() error {
	cfg := a.Config.WeChat
	var wx identity.WeChat
	var send notify.Sender
	if cfg.AppID != "" {
		c, err := wechat.New(wechat.Config{AppID: cfg.AppID, Secret: cfg.Secret, APIBase: cfg.APIBase, Redis: a.KV})
		if err != nil {
			return err
		}
		a.WeChat = c
		wx = wechatIdentity{c}
		send = func(ctx context.Context, m notify.Outgoing) error {
			return c.SendSubscribe(ctx, wechat.Subscribe{ToOpenID: m.OpenID, TemplateID: m.TemplateID, Page: m.Page, Data: m.Data})
		}
	}
	var err error
	callerTTL := cfg.CallerTTL
	if callerTTL == 0 {
		callerTTL = -1 // off
	}
	a.Identity, err = identity.NewService(a.DB, a.KV, a.People, a.Vault, wx, identity.Config{
		Secret: a.Config.SecretKey, AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.RefreshTTL, InviteTTL: cfg.InviteTTL, DevLogin: cfg.DevLogin,
		CallerTTL: callerTTL,
	})
	if err != nil {
		return err
	}
	a.Inbox = notify.NewInbox(a.DB)
	a.Notifier = notify.NewDispatcher(a.DB, send, a.Identity.OpenIDOf, notify.DispatcherConfig{
		Templates: cfg.Templates, MaxAttempts: cfg.NotifyMaxAttempts, Log: a.Log})
	a.workers = append(a.workers, a.Notifier.Run)
	return nil
}

// wechatRoutes mounts the mini-program API and the console's WeChat routes.
func (a *App) wechatRoutes(r *gin.Engine, cons *console.Handlers) {
	(&console.WeChat{Handlers: cons, Identity: a.Identity}).Register(r.Group("/api/v1"))
	// The dev login route exists in the embedded mode only; without
	// DEV_LOGIN=1 it answers 404 like a missing route.
	mp := &miniprogramapi.Handlers{Identity: a.Identity, Inbox: a.Inbox, Staff: a.Staff, MountDevLogin: a.Config.Embedded()}
	mp.Register(r.Group("/mp/v1"))
}

// wechatIdentity adapts the WeChat client to what identity needs.
type wechatIdentity struct{ c *wechat.Client }

func (w wechatIdentity) Code2Session(ctx context.Context, code string) (string, string, error) {
	s, err := w.c.Code2Session(ctx, code)
	return s.OpenID, s.UnionID, err
}

func (w wechatIdentity) PhoneNumber(ctx context.Context, code string) (string, string, error) {
	p, err := w.c.PhoneNumber(ctx, code)
	return p.Number, p.CountryCode, err
}

func (w wechatIdentity) WXACode(ctx context.Context, scene, page string) ([]byte, error) {
	return w.c.WXACodeUnlimit(ctx, wechat.WXACode{Scene: scene, Page: page})
}
