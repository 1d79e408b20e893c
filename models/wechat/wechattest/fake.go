// Package wechattest is a fake of the WeChat mini-program API for tests, so
// no test reaches WeChat: code2session, getuserphonenumber,
// getwxacodeunlimit, subscribe send and stable_token, with their errcodes.
//
// silenceper's HTTP client is per process, so one fake serves the whole
// test binary (Shared) and every test takes its own app (NewApp): a fresh
// appid whose logins, phones, tokens and sent messages no other test sees.
package wechattest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server is the fake WeChat API.
type Server struct {
	*httptest.Server
	mu   sync.Mutex
	apps map[string]*App
	// tokens maps every access token ever issued to its app.
	tokens map[string]*App
	seq    atomic.Int64
}

var (
	shared     *Server
	sharedOnce sync.Once
)

// Shared returns the fake every test of this process uses. It is never
// closed: it lives as long as the test binary.
func Shared() *Server {
	sharedOnce.Do(func() {
		s := &Server{apps: map[string]*App{}, tokens: map[string]*App{}}
		s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
		shared = s
	})
	return shared
}

// SessionKey is what the fake returns as every session_key, so tests can
// check it never leaves the server.
const SessionKey = "FAKE-SESSION-KEY-must-never-leak"

// App is one fake mini-program (appid) and what WeChat knows about it.
type App struct {
	ID, Secret string
	srv        *Server

	mu       sync.Mutex
	logins   map[string]Login // wx.login code → user
	loginErr map[string]int   // wx.login code → errcode
	phones   map[string]string
	current  string    // the stable token
	expires  time.Time // when current expires
	rejected map[string]int
	issued   int
	forced   int
	// TokenTTL is the expires_in of new tokens (default 7200s).
	TokenTTL time.Duration
	refused  map[string]bool // openids that refuse subscribe messages
	sendErrs []int           // errcodes for the next sends, in order
	sent     []Sent
	codes    []Code
	calls    map[string]int
	broken   bool
}

// Login is a user a wx.login code stands for.
type Login struct{ OpenID, UnionID string }

// Sent is one subscribe message the fake accepted.
type Sent struct {
	ToUser     string                       `json:"touser"`
	TemplateID string                       `json:"template_id"`
	Page       string                       `json:"page"`
	Data       map[string]map[string]string `json:"data"`
}

// Code is one getwxacodeunlimit request.
type Code struct {
	Scene string `json:"scene"`
	Page  string `json:"page"`
}

// NewApp registers a fresh app for one test.
func (s *Server) NewApp(t testing.TB) *App {
	n := s.seq.Add(1)
	a := &App{ID: fmt.Sprintf("wxfake%06d", n), Secret: fmt.Sprintf("secret-%06d-%d", n, time.Now().UnixNano()), srv: s,
		logins: map[string]Login{}, loginErr: map[string]int{}, phones: map[string]string{}, rejected: map[string]int{},
		refused: map[string]bool{}, calls: map[string]int{}, TokenTTL: 2 * time.Hour}
	s.mu.Lock()
	s.apps[a.ID] = a
	s.mu.Unlock()
	return a
}

// AddLogin makes code a valid wx.login code for openid (single use).
func (a *App) AddLogin(code, openID, unionID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.logins[code] = Login{OpenID: openID, UnionID: unionID}
}

// FailLogin makes code2session answer errcode for code.
func (a *App) FailLogin(code string, errcode int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.loginErr[code] = errcode
}

// AddPhone makes code a valid getPhoneNumber code for phone (single use).
func (a *App) AddPhone(code, phone string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.phones[code] = phone
}

// Break makes every API of the app answer HTTP 502, like a failing proxy.
func (a *App) Break() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.broken = true
}

// Refuse makes openid refuse subscribe messages (43101).
func (a *App) Refuse(openID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refused[openID] = true
}

// FailSends makes the next sends answer these errcodes, one each.
func (a *App) FailSends(errcodes ...int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sendErrs = append(a.sendErrs, errcodes...)
}

// ExpireToken makes the current token expired: APIs answer 42001 and
// stable_token issues a new one.
func (a *App) ExpireToken() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expires = time.Now().Add(-time.Second)
}

// PoisonToken makes APIs refuse the current token (40001) while
// stable_token, unforced, still hands it out: only force_refresh helps.
func (a *App) PoisonToken() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rejected[a.current] = 40001
}

// TokensIssued counts the tokens stable_token issued (forced ones too).
func (a *App) TokensIssued() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.issued
}

// ForcedRefreshes counts stable_token calls with force_refresh.
func (a *App) ForcedRefreshes() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.forced
}

// Sent lists the subscribe messages accepted so far.
func (a *App) Sent() []Sent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Sent(nil), a.sent...)
}

// Codes lists the mini-program codes generated so far.
func (a *App) Codes() []Code {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Code(nil), a.codes...)
}

// Calls counts requests per API path.
func (a *App) Calls(path string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[path]
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func errcode(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, map[string]any{"errcode": code, "errmsg": msg})
}

func (s *Server) app(id string) *App {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apps[id]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/sns/jscode2session":
		s.code2session(w, r)
	case "/cgi-bin/stable_token":
		s.stableToken(w, r)
	case "/wxa/business/getuserphonenumber", "/wxa/getwxacodeunlimit", "/cgi-bin/message/subscribe/send":
		s.withToken(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) code2session(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a := s.app(q.Get("appid"))
	if a == nil {
		errcode(w, 40013, "invalid appid")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls[r.URL.Path]++
	if a.broken {
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	}
	if q.Get("secret") != a.Secret {
		errcode(w, 40125, "invalid appsecret")
		return
	}
	code := q.Get("js_code")
	if ec, ok := a.loginErr[code]; ok {
		errcode(w, ec, "fake error")
		return
	}
	l, ok := a.logins[code]
	if !ok {
		errcode(w, 40029, "invalid code")
		return
	}
	delete(a.logins, code)
	writeJSON(w, map[string]any{"openid": l.OpenID, "unionid": l.UnionID, "session_key": SessionKey})
}

func (s *Server) stableToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.GrantType != "client_credential" {
		errcode(w, 40002, "invalid grant_type")
		return
	}
	a := s.app(req.AppID)
	if a == nil {
		errcode(w, 40013, "invalid appid")
		return
	}
	a.mu.Lock()
	a.calls[r.URL.Path]++
	if a.broken {
		a.mu.Unlock()
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	}
	if req.Secret != a.Secret {
		a.mu.Unlock()
		errcode(w, 40125, "invalid appsecret")
		return
	}
	now := time.Now()
	if req.ForceRefresh {
		a.forced++
	}
	if req.ForceRefresh || a.current == "" || !now.Before(a.expires) {
		a.issued++
		a.current = fmt.Sprintf("TOKEN-%s-%d", a.ID, a.issued)
		a.expires = now.Add(a.TokenTTL)
	}
	tok, left := a.current, int(a.expires.Sub(now).Seconds())
	a.mu.Unlock()
	s.mu.Lock()
	s.tokens[tok] = a
	s.mu.Unlock()
	writeJSON(w, map[string]any{"access_token": tok, "expires_in": left})
}

// withToken checks the access token, then serves the API for its app.
func (s *Server) withToken(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("access_token")
	s.mu.Lock()
	a := s.tokens[tok]
	s.mu.Unlock()
	if a == nil {
		errcode(w, 40001, "invalid credential, access_token is invalid or not latest")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls[r.URL.Path]++
	if ec, ok := a.rejected[tok]; ok {
		errcode(w, ec, "invalid credential, access_token is invalid or not latest")
		return
	}
	if tok != a.current {
		errcode(w, 40001, "invalid credential, access_token is invalid or not latest")
		return
	}
	if !time.Now().Before(a.expires) {
		errcode(w, 42001, "access_token expired")
		return
	}
	switch r.URL.Path {
	case "/wxa/business/getuserphonenumber":
		a.phoneNumber(w, r)
	case "/wxa/getwxacodeunlimit":
		a.wxacode(w, r)
	case "/cgi-bin/message/subscribe/send":
		a.send(w, r)
	}
}

func (a *App) phoneNumber(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code string `json:"code"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	phone, ok := a.phones[req.Code]
	if !ok {
		errcode(w, 40029, "invalid code")
		return
	}
	delete(a.phones, req.Code)
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "phone_info": map[string]any{
		"phoneNumber": "+86" + phone, "purePhoneNumber": phone, "countryCode": "86",
		"watermark": map[string]any{"timestamp": time.Now().Unix(), "appid": a.ID},
	}})
}

// sceneChars are the characters WeChat allows in a scene.
var sceneChars = regexp.MustCompile(`^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$`)

func (a *App) wxacode(w http.ResponseWriter, r *http.Request) {
	var req Code
	_ = json.NewDecoder(r.Body).Decode(&req)
	if !sceneChars.MatchString(req.Scene) {
		errcode(w, 40169, "invalid length for scene, or the data is not json string")
		return
	}
	if strings.HasPrefix(req.Page, "/") || strings.Contains(req.Page, "missing") {
		errcode(w, 41030, "invalid page")
		return
	}
	a.codes = append(a.codes, req)
	w.Header().Set("Content-Type", "image/jpeg")
	// A JPEG start-of-image marker, then the scene so tests can read it back.
	_, _ = w.Write(append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, []byte("scene="+req.Scene)...))
}

func (a *App) send(w http.ResponseWriter, r *http.Request) {
	var m Sent
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.ToUser == "" || m.TemplateID == "" {
		errcode(w, 47003, "argument invalid")
		return
	}
	if len(a.sendErrs) > 0 {
		ec := a.sendErrs[0]
		a.sendErrs = a.sendErrs[1:]
		errcode(w, ec, "fake error")
		return
	}
	if a.refused[m.ToUser] {
		errcode(w, 43101, "user refuse to accept the msg")
		return
	}
	a.sent = append(a.sent, m)
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "msgid": len(a.sent)})
}
