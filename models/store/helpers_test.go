package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
)

var ctx = context.Background()

// clock is the tests' clock, shared by the store and the ledger.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// t0 is 2024-03-10 10:00 China time.
var t0 = time.Date(2024, 3, 10, 2, 0, 0, 0, time.UTC)

// fakeScanner resolves personal codes "P:<resident>" to residents the test
// registered, standing in for identity's signed codes.
type fakeScanner struct {
	mu        sync.Mutex
	residents map[string]people.ResidentView
}

func (f *fakeScanner) ResolveScan(_ context.Context, scope identity.Scope, code string) (identity.ScanResult, error) {
	f.mu.Lock()
	r, ok := f.residents[code]
	f.mu.Unlock()
	if !ok {
		return identity.ScanResult{}, apperr.Invalid("code", "无法识别的二维码")
	}
	if !scope(r.VillageID) {
		return identity.ScanResult{}, apperr.NotFound("村民")
	}
	return identity.ScanResult{Kind: "resident", Resident: &r}, nil
}

// code registers a customer and returns the personal code that stands for
// them.
func (f *fakeScanner) code(c Customer) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	code := fmt.Sprintf("P:%d", c.ResidentID)
	v := people.ResidentView{ID: c.ResidentID, VillageID: c.VillageID}
	if c.HouseholdID != 0 {
		h := c.HouseholdID
		v.HouseholdID = &h
	}
	f.residents[code] = v
	return code
}

// env is one backend with a small county: township T with villages A
// (points per resident) and B (points per household), and the other
// township's village C. Residents are ids only: the store never reads the
// resident table, it trusts the caller's identity.
type env struct {
	db      *gorm.DB
	people  *people.Store
	ledger  *ledger.Store
	store   *Store
	clock   *clock
	scanner *fakeScanner

	township, villageA, villageB, villageC people.Region
}

// eachEnv runs fn on SQLite and, when TEST_MYSQL_DSN is set, on MariaDB.
// Every test has databases of its own, so tests run in parallel: most of
// their time is spent creating and migrating them.
func eachEnv(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		fn(t, mustEnv(t, db))
	})
}

var regionSeq atomic.Int64

func mustEnv(t testing.TB, db *gorm.DB) *env {
	t.Helper()
	vault, err := pii.NewVault([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: t0}
	e := &env{db: db, people: people.NewStore(db, vault), clock: c, scanner: &fakeScanner{residents: map[string]people.ResidentView{}}}
	e.ledger = ledger.New(db, ledger.Options{Now: c.Now})
	e.store, err = New(db, e.people, e.scanner, LedgerOptions(e.ledger, Options{
		PickupKey: []byte(strings.Repeat("p", 32)), Now: c.Now,
	}))
	if err != nil {
		t.Fatal(err)
	}
	p := fmt.Sprintf("S%d-", regionSeq.Add(1))
	county := mustRegion(t, e, nil, people.County, "示范县", p+"C")
	e.township = mustRegion(t, e, &county.ID, people.Township, "甲镇", p+"T")
	other := mustRegion(t, e, &county.ID, people.Township, "乙镇", p+"T2")
	e.villageA = mustRegion(t, e, &e.township.ID, people.Village, "甲村", p+"A")
	e.villageB = mustRegion(t, e, &e.township.ID, people.Village, "乙村", p+"B")
	e.villageC = mustRegion(t, e, &other.ID, people.Village, "丙村", p+"C3")
	st := ledger.DefaultSettings()
	st.HolderMode = ledger.HolderHousehold
	if err := e.ledger.SaveSettings(ctx, e.villageB.ID, st, ledger.StaffActor(1)); err != nil {
		t.Fatal(err)
	}
	return e
}

func mustRegion(t testing.TB, e *env, parent *int64, level people.Level, name, code string) people.Region {
	t.Helper()
	r, err := e.people.CreateRegion(ctx, audit.System, people.RegionInput{ParentID: parent, Level: level, Name: name, Code: code})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// admin may act in every region of the test county.
var admin = Staff{Actor: audit.Actor{StaffID: 7, Name: "管理员"}, In: func(int64) bool { return true }}

// clerk is another staff member.
var clerk = Staff{Actor: audit.Actor{StaffID: 8, Name: "店员"}, In: func(int64) bool { return true }}

var keySeq atomic.Int64

// key returns a fresh idempotency key.
func key() string { return fmt.Sprintf("k-%d", keySeq.Add(1)) }

func mustAward(t testing.TB, e *env, village int64, h ledger.Holder, amount int64) {
	t.Helper()
	if _, err := e.ledger.Award(ctx, ledger.AwardRequest{VillageID: village, Holder: h, Track: ledger.TrackCivic, Amount: amount,
		Source: ledger.Source{Type: "award", ID: 1}, Actor: ledger.StaffActor(1), IdempotencyKey: key()}); err != nil {
		t.Fatalf("award %d to %s: %v", amount, h, err)
	}
}

func mustBalance(t testing.TB, e *env, village int64, h ledger.Holder) ledger.HolderBalance {
	t.Helper()
	b, err := e.ledger.Balance(ctx, village, h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustReward creates a reward in region from a goods template changed by
// fn.
func mustReward(t testing.TB, e *env, region int64, fn func(*RewardInput)) Reward {
	t.Helper()
	in := RewardInput{Kind: KindGoods, Name: fmt.Sprintf("大米%d", keySeq.Add(1)), Points: 30, CostFen: 2500,
		OnShelf: true, StockTracked: true, InitialStock: 100}
	if fn != nil {
		fn(&in)
	}
	r, err := e.store.CreateReward(ctx, admin, region, in)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustFindReward(t testing.TB, e *env, id int64) Reward {
	t.Helper()
	r, err := e.store.Reward(ctx, admin, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustOrder(t testing.TB, e *env, c Customer, rewardID, qty int64) CustomerOrder {
	t.Helper()
	o, err := e.store.PlaceOrder(ctx, c, OrderRequest{RewardID: rewardID, Quantity: qty, IdempotencyKey: key()})
	if err != nil {
		t.Fatalf("order %d of reward %d: %v", qty, rewardID, err)
	}
	return o
}

func mustStaffOrder(t testing.TB, e *env, id int64) Order {
	t.Helper()
	o, err := e.store.Order(ctx, admin, id)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func mustHold(t testing.TB, e *env, o Order) ledger.Hold {
	t.Helper()
	h, err := e.ledger.Hold(ctx, o.VillageID, *o.HoldID)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// mustVerifyLedger seals the village's postings and fails unless its
// ledger verifies (chain and cached balances).
func mustVerifyLedger(t testing.TB, e *env, village int64) {
	t.Helper()
	if _, err := ledger.NewSealer(e.ledger).SealAll(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := e.ledger.Verify(ctx, village)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("village %d does not verify: %+v", village, rep)
	}
}

// wantCode fails unless err is an apperr with code.
func wantCode(t testing.TB, err error, code apperr.Code) {
	t.Helper()
	if !apperr.Is(err, code) {
		t.Fatalf("want %s, got %v", code, err)
	}
}

// mustDeliverNotices seals the ledger and delivers its events to the
// "ready for pickup" consumer, as the server's workers do.
func mustDeliverNotices(t testing.TB, e *env) {
	t.Helper()
	if _, err := ledger.NewSealer(e.ledger).SealAll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.NewRelay(e.ledger, e.store.ReadyNotices()).Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

// mustAwardTrack credits amount on one track.
func mustAwardTrack(t testing.TB, e *env, village int64, h ledger.Holder, track ledger.Track, amount int64) {
	t.Helper()
	if _, err := e.ledger.Award(ctx, ledger.AwardRequest{VillageID: village, Holder: h, Track: track, Amount: amount,
		Source: ledger.Source{Type: "award", ID: 1}, Actor: ledger.StaffActor(1), IdempotencyKey: key()}); err != nil {
		t.Fatalf("award %d %s to %s: %v", amount, track, h, err)
	}
}

// wantField fails unless err is an invalid-argument error about field.
func wantField(t testing.TB, err error, field string) {
	t.Helper()
	if e := apperr.From(err); err == nil || e.Code != apperr.CodeInvalid || e.Field != field {
		t.Fatalf("want INVALID_ARGUMENT on %s, got %v", field, err)
	}
}
