// Package wechat adapts github.com/silenceper/wechat/v2 to the product: the
// few mini-program APIs it calls (code2session, getPhoneNumber,
// getwxacodeunlimit, subscribe send), an access token shared by every
// replica through Redis, and WeChat's errcodes turned into apperr errors a
// villager can act on. Nothing else in the product imports silenceper.
//
// silenceper sends every request through package-level state in its util
// package, so the API base (WECHAT_API_BASE, a fake server in tests) and the
// HTTP timeout are set once per process; a second Client asking for another
// base is refused rather than silently sent elsewhere.
package wechat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/silenceper/wechat/v2/miniprogram"
	mpconfig "github.com/silenceper/wechat/v2/miniprogram/config"
	"github.com/silenceper/wechat/v2/miniprogram/qrcode"
	"github.com/silenceper/wechat/v2/miniprogram/subscribe"
	"github.com/silenceper/wechat/v2/util"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/kv"
)

// DefaultBase is WeChat's API origin.
const DefaultBase = "https://api.weixin.qq.com"

// Config configures a Client.
type Config struct {
	AppID  string
	Secret string
	// APIBase replaces DefaultBase (tests point it at a fake server).
	APIBase string
	// Redis holds the shared access token and its refresh lock.
	Redis *kv.Client
	// HTTPTimeout bounds each call to WeChat (default 8s).
	HTTPTimeout time.Duration
	// LockTTL bounds how long one replica may hold the refresh lock
	// (default 10s); Wait is how long the others wait for its token
	// (default LockTTL).
	LockTTL, Wait time.Duration
}

// Client calls the mini-program APIs as one app (AppID).
type Client struct {
	appID string
	mp    *miniprogram.MiniProgram
	token *SharedToken
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.AppID == "" || cfg.Secret == "" {
		return nil, errors.New("wechat: AppID and Secret are required")
	}
	if cfg.Redis == nil {
		return nil, errors.New("wechat: Redis is required (the access token is shared by every replica)")
	}
	if cfg.HTTPTimeout <= 0 {
		cfg.HTTPTimeout = 8 * time.Second
	}
	if err := configureProcess(cfg.APIBase, cfg.HTTPTimeout); err != nil {
		return nil, err
	}
	cache := NewCache(cfg.Redis)
	mp := miniprogram.NewMiniProgram(&mpconfig.Config{AppID: cfg.AppID, AppSecret: cfg.Secret, Cache: cache, UseStableAK: true})
	tok := NewSharedToken(cfg.AppID, cfg.Secret, cfg.Redis, cfg.LockTTL, cfg.Wait)
	mp.SetAccessTokenContextHandle(tok)
	return &Client{appID: cfg.AppID, mp: mp, token: tok}, nil
}

// Token is the client's shared access token (for tests and diagnostics).
func (c *Client) Token() *SharedToken { return c.token }

// Session is who code2session says is calling. The session_key WeChat also
// returns is dropped on the spot: the product never decrypts user data with
// it, so it is never stored, returned or logged.
type Session struct {
	OpenID  string
	UnionID string
}

// Code2Session exchanges a wx.login code for the caller's openid.
func (c *Client) Code2Session(ctx context.Context, code string) (Session, error) {
	res, err := c.mp.GetAuth().Code2SessionContext(ctx, code)
	if err != nil {
		return Session{}, fail(apiCode2Session, err)
	}
	if res.OpenID == "" {
		return Session{}, apperr.New(apperr.CodeUnavailable, msgUnavailable).WithCause(errors.New("wechat jscode2session: no openid in answer"))
	}
	return Session{OpenID: res.OpenID, UnionID: res.UnionID}, nil
}

// Phone is the number getPhoneNumber returns.
type Phone struct {
	Number      string // without country code
	CountryCode string
}

// PhoneNumber exchanges a getPhoneNumber code for the user's phone number.
func (c *Client) PhoneNumber(ctx context.Context, code string) (Phone, error) {
	var res Phone
	err := c.withToken(ctx, func() error {
		r, err := c.mp.GetAuth().GetPhoneNumberContext(ctx, code)
		if err != nil {
			return err
		}
		res = Phone{Number: r.PhoneInfo.PurePhoneNumber, CountryCode: r.PhoneInfo.CountryCode}
		return nil
	})
	if err != nil {
		return Phone{}, fail(apiPhoneNumber, err)
	}
	return res, nil
}

// WXACode describes an unlimited mini-program code.
type WXACode struct {
	Scene string // at most 32 visible characters
	Page  string // a published page without leading slash; empty = home
	Width int
}

// WXACodeUnlimit returns the JPEG of an unlimited mini-program code.
func (c *Client) WXACodeUnlimit(ctx context.Context, req WXACode) ([]byte, error) {
	var img []byte
	err := c.withToken(ctx, func() error {
		var err error
		img, err = c.mp.GetQRCode().GetWXACodeUnlimit(qrcode.QRCoder{Scene: req.Scene, Page: req.Page, Width: req.Width})
		return err
	})
	if err != nil {
		return nil, fail(apiWXACode, err)
	}
	return img, nil
}

// Subscribe is one subscribe message 订阅消息.
type Subscribe struct {
	ToOpenID   string
	TemplateID string
	Page       string
	// Data maps template keywords ("thing1", "number2") to values.
	Data map[string]string
}

// SendSubscribe sends a subscribe message. A refusal that retrying cannot
// change (43101: the user did not subscribe or refused) carries an *Error
// whose Permanent method says so.
func (c *Client) SendSubscribe(ctx context.Context, m Subscribe) error {
	data := make(map[string]*subscribe.DataItem, len(m.Data))
	for k, v := range m.Data {
		data[k] = &subscribe.DataItem{Value: v}
	}
	err := c.withToken(ctx, func() error {
		return c.mp.GetSubscribe().Send(&subscribe.Message{ToUser: m.ToOpenID, TemplateID: m.TemplateID, Page: m.Page, Data: data})
	})
	if err != nil {
		return fail(apiSubscribe, err)
	}
	return nil
}

// withToken runs call, which takes the access token from the shared
// handle; when WeChat answers that the token is invalid or expired
// (40001, 42001, 40014) it replaces that token once and runs call again.
func (c *Client) withToken(ctx context.Context, call func() error) error {
	used, err := c.token.GetAccessTokenContext(ctx)
	if err != nil {
		return err
	}
	err = call()
	if code, _, ok := errcodeOf(err); ok && staleToken(code) {
		if _, rerr := c.token.Replace(ctx, used); rerr != nil {
			return rerr
		}
		err = call()
	}
	return err
}

func staleToken(code int64) bool { return code == 40001 || code == 42001 || code == 40014 }

// The APIs, as named in errors and logs.
const (
	apiCode2Session = "jscode2session"
	apiPhoneNumber  = "getuserphonenumber"
	apiWXACode      = "getwxacodeunlimit"
	apiSubscribe    = "subscribe.send"
	apiToken        = "stable_token"
)

// Error is an errcode WeChat answered with. It travels as the cause of the
// apperr.Error a client sees, so logs show the errcode and code that decides
// whether to retry can find it with errors.As.
type Error struct {
	API  string
	Code int64
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("wechat %s: errcode=%d errmsg=%s", e.API, e.Code, e.Msg)
}

// Permanent reports whether sending the same request again cannot succeed:
// the user refused or never subscribed (43101), the openid, template or its
// data are wrong (40003, 40037, 47003), the page does not exist (41030) or
// the code was already used or is invalid (40029, 40163). A wrong app
// secret (40125) is not: once the operator fixes it, retries succeed.
func (e *Error) Permanent() bool {
	switch e.Code {
	case 43101, 40003, 40037, 47003, 41030, 40029, 40163:
		return true
	}
	return false
}

const msgUnavailable = "微信服务暂时无法访问，请稍后再试"

// userErrors says what a villager is told for each errcode, per API where
// the meaning differs. Anything else is "WeChat is unavailable" (a 503 that
// is logged with its errcode).
var userErrors = map[int64]*apperr.Error{
	-1:    apperr.New(apperr.CodeUnavailable, "微信服务繁忙，请稍后再试"),
	40029: apperr.New(apperr.CodeUnauthenticated, "微信登录凭证无效或已过期，请重新进入小程序"),
	40163: apperr.New(apperr.CodeUnauthenticated, "微信登录凭证已被使用，请重新进入小程序"),
	40226: apperr.New(apperr.CodeForbidden, "微信提示该账号存在风险，暂时无法登录"),
	45011: apperr.New(apperr.CodeRateLimited, "微信登录过于频繁，请稍后再试"),
	45009: apperr.New(apperr.CodeRateLimited, "今日微信接口调用次数已达上限，请明天再试"),
	43101: apperr.New(apperr.CodeForbidden, "用户未订阅或已拒收该消息"),
	41030: apperr.Invalid("page", "小程序页面不存在或尚未发布"),
	40169: apperr.Invalid("scene", "小程序码参数不合法"),
}

var userErrorsByAPI = map[string]map[int64]*apperr.Error{
	apiPhoneNumber: {
		40029: apperr.Invalid("code", "手机号授权已失效，请重新授权"),
		40163: apperr.Invalid("code", "手机号授权已被使用，请重新授权"),
		45011: apperr.New(apperr.CodeRateLimited, "获取手机号过于频繁，请稍后再试"),
	},
}

// fail turns a silenceper error into the apperr a client sees, with the
// WeChat error (secrets scrubbed) as its cause.
func fail(api string, err error) error {
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return err // already ours (the token handle's)
	}
	code, msg, ok := errcodeOf(err)
	if !ok {
		return apperr.New(apperr.CodeUnavailable, msgUnavailable).WithCause(scrub(err))
	}
	we := &Error{API: api, Code: code, Msg: scrubString(msg)}
	if e, ok := userErrorsByAPI[api][code]; ok {
		return e.WithCause(we)
	}
	if e, ok := userErrors[code]; ok {
		return e.WithCause(we)
	}
	return apperr.New(apperr.CodeUnavailable, msgUnavailable).WithCause(we)
}

var errcodePattern = regexp.MustCompile(`errcode=(-?\d+)\s*,?\s*(?:errmsg|errormsg)=(.*)$`)

// errcodeOf finds the errcode in a silenceper error: a *util.CommonError,
// an *Error, or (for the calls that format their own) the "errcode=N"
// in the message.
func errcodeOf(err error) (int64, string, bool) {
	if err == nil {
		return 0, "", false
	}
	var ce *util.CommonError
	if errors.As(err, &ce) {
		return ce.ErrCode, ce.ErrMsg, true
	}
	var we *Error
	if errors.As(err, &we) {
		return we.Code, we.Msg, true
	}
	m := errcodePattern.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, "", false
	}
	code, perr := strconv.ParseInt(m[1], 10, 64)
	if perr != nil || code == 0 {
		return 0, "", false
	}
	return code, strings.TrimSpace(m[2]), true
}

// secretParam matches query parameters that must never reach a log: the
// app secret, access tokens and login codes. silenceper puts the full URL
// (secret included) into its transport errors.
var secretParam = regexp.MustCompile(`\b(secret|access_token|js_code)=[^&\s"']*`)

func scrubString(s string) string { return secretParam.ReplaceAllString(s, "$1=***") }

func scrub(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(scrubString(err.Error()))
}

// process is the state silenceper keeps per process: its HTTP client.
var process struct {
	sync.Mutex
	base string
}

// configureProcess points silenceper's package-level HTTP client at base
// (once per process) with a timeout; silenceper's default client has none.
// The rewrite happens in the transport, not through util.SetURIModifier,
// because some of silenceper's calls (getwxacodeunlimit among them) skip
// the URI modifier.
func configureProcess(base string, timeout time.Duration) error {
	if base == "" {
		base = DefaultBase
	}
	base = strings.TrimRight(base, "/")
	to, err := url.Parse(base)
	if err != nil || to.Scheme == "" || to.Host == "" {
		return fmt.Errorf("wechat: WECHAT_API_BASE %q is not an absolute URL", base)
	}
	process.Lock()
	defer process.Unlock()
	if process.base != "" {
		if process.base != base {
			return fmt.Errorf("wechat: this process already talks to %s; WECHAT_API_BASE %s cannot differ within one process", process.base, base)
		}
		return nil
	}
	process.base = base
	var rt http.RoundTripper = http.DefaultTransport
	if base != DefaultBase {
		rt = rebase{to: to, next: http.DefaultTransport}
	}
	util.DefaultHTTPClient = &http.Client{Timeout: timeout, Transport: rt}
	return nil
}

// rebase sends requests for WeChat's API host to another origin.
type rebase struct {
	to   *url.URL
	next http.RoundTripper
}

func (r rebase) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != "api.weixin.qq.com" {
		return r.next.RoundTrip(req)
	}
	out := req.Clone(req.Context())
	u := *req.URL
	u.Scheme, u.Host, u.Path = r.to.Scheme, r.to.Host, strings.TrimRight(r.to.Path, "/")+req.URL.Path
	out.URL, out.Host = &u, r.to.Host
	return r.next.RoundTrip(out)
}
