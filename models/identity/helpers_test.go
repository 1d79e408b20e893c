package identity_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/models/kv"
	"github.com/villagepoints/jifen/models/kv/kvtest"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/pii"
)

var (
	ctx       = context.Background()
	secret    = []byte(strings.Repeat("s", 32))
	socialA   = audit.Actor{StaffID: 11, Name: "甲村社工", RequestID: "req-a", IP: "10.0.0.1"}
	socialB   = audit.Actor{StaffID: 12, Name: "乙村社工", RequestID: "req-b", IP: "10.0.0.2"}
	villagers = audit.Actor{Name: "微信用户", RequestID: "req-v", IP: "10.0.0.9"}
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeWeChat stands in for WeChat: a wx.login code "c" is the openid
// "openid-c" ("bad" is refused), phone codes are registered.
type fakeWeChat struct {
	mu     sync.Mutex
	phones map[string]string
}

func (f *fakeWeChat) Code2Session(_ context.Context, code string) (string, string, error) {
	if code == "bad" {
		return "", "", apperr.New(apperr.CodeUnauthenticated, "微信登录凭证无效")
	}
	return "openid-" + code, "union-" + code, nil
}

func (f *fakeWeChat) PhoneNumber(_ context.Context, code string) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.phones[code]
	if !ok {
		return "", "", apperr.Invalid("code", "手机号授权已失效")
	}
	return p, "86", nil
}

func (f *fakeWeChat) addPhone(code, phone string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.phones[code] = phone
}

func (f *fakeWeChat) WXACode(_ context.Context, scene, page string) ([]byte, error) {
	return []byte("IMG:" + scene + ":" + page), nil
}

// env is one test's service over a fresh database, with two villages.
type env struct {
	db      *gorm.DB
	kv      *kv.Client
	s       *identity.Service
	people  *people.Store
	wx      *fakeWeChat
	clock   *clock
	vault   *pii.Vault
	a, b    people.Region // villages
	hA, hA2 people.Household
	hB      people.Household
	// zhang, wang are of household hA; li of hA2; zhao of village B's hB.
	zhang, wang, li, zhao people.Resident
}

func mustVault(t testing.TB) *pii.Vault {
	t.Helper()
	v, err := pii.NewVault(secret)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustEnv(t *testing.T, db *gorm.DB) *env {
	t.Helper()
	e := &env{db: db, vault: mustVault(t), wx: &fakeWeChat{phones: map[string]string{}}, clock: &clock{now: time.Now().UTC()}}
	e.people = people.NewStore(db, e.vault)
	e.kv = kvtest.MustEmbedded(t)
	var err error
	e.s, err = identity.NewService(db, e.kv, e.people, e.vault, e.wx, identity.Config{Secret: secret, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(parent *int64, level people.Level, name, code string) people.Region {
		r, err := e.people.CreateRegion(ctx, audit.System, people.RegionInput{ParentID: parent, Level: level, Name: name, Code: code})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	county := mk(nil, people.County, "县", "C")
	town := mk(&county.ID, people.Township, "镇", "T")
	e.a = mk(&town.ID, people.Village, "甲村", "VA")
	e.b = mk(&town.ID, people.Village, "乙村", "VB")
	hh := func(v int64, n string) people.Household {
		h, err := e.people.CreateHousehold(ctx, audit.System, v, people.HouseholdInput{Number: n, HeadName: "张大山"})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	e.hA, e.hA2, e.hB = hh(e.a.ID, "A1"), hh(e.a.ID, "A2"), hh(e.b.ID, "B1")
	res := func(v int64, h people.Household, name, relation, phone string) people.Resident {
		r, err := e.people.CreateResident(ctx, audit.System, v, people.ResidentInput{HouseholdID: &h.ID, Name: name, Relation: relation, Registered: true, Phone: phone})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	e.zhang = res(e.a.ID, e.hA, "张大山", "户主", "13800000001")
	e.wang = res(e.a.ID, e.hA, "王秀英", "配偶", "13800000002")
	e.li = res(e.a.ID, e.hA2, "李小红", "户主", "13800000003")
	e.zhao = res(e.b.ID, e.hB, "赵四", "户主", "13800000004")
	return e
}

// in is a Scope of the given villages.
func in(villages ...int64) identity.Scope {
	return func(v int64) bool {
		for _, x := range villages {
			if x == v {
				return true
			}
		}
		return false
	}
}

// mustCaller logs in the WeChat user of code and authenticates its token.
func mustCaller(t testing.TB, e *env, code string) identity.Caller {
	t.Helper()
	res, err := e.s.Login(ctx, code, "10.1.1.1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.s.Authenticate(ctx, res.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mustReload authenticates again, picking up binding changes.
func mustReload(t testing.TB, e *env, code string) identity.Caller { return mustCaller(t, e, code) }

func mustInvite(t testing.TB, e *env, target identity.InviteTarget) identity.Invite {
	t.Helper()
	inv, err := e.s.CreateInvite(ctx, in(e.a.ID), socialA, target)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func wantCode(t testing.TB, err error, code apperr.Code) {
	t.Helper()
	if !apperr.Is(err, code) {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func mustAuditActions(t testing.TB, db *gorm.DB) []string {
	t.Helper()
	var actions []string
	if err := db.Model(&audit.Entry{}).Order("id").Where("action LIKE ? OR action LIKE ?", "wechat.%", "household_card.%").Pluck("action", &actions).Error; err != nil {
		t.Fatal(err)
	}
	return actions
}
