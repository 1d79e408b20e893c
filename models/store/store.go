package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Error codes of this package.
const (
	// CodeLimitReached refuses an order beyond a reward's monthly limit.
	CodeLimitReached apperr.Code = "REDEMPTION_LIMIT_REACHED"
	// CodeUnavailable refuses an order for a reward that is off the shelf
	// or outside its validity.
	CodeUnavailable apperr.Code = "REWARD_UNAVAILABLE"
)

// Points is the ledger as the store uses it: its write operations, run in
// the transaction the store passes to Options.Points. In that mode the
// ledger does not retry or replay; the store's order row is the idempotency
// anchor and the ledger keys are derived from it.
type Points interface {
	PlaceHold(ctx context.Context, r ledger.HoldRequest) (*ledger.Result, error)
	Capture(ctx context.Context, r ledger.CaptureRequest) (*ledger.Result, error)
	Release(ctx context.Context, r ledger.ReleaseRequest) (*ledger.Result, error)
	Redeem(ctx context.Context, r ledger.RedeemRequest) (*ledger.Result, error)
	Reverse(ctx context.Context, r ledger.ReverseRequest) (*ledger.Result, error)
}

// Scanner resolves a personal code a clerk scanned (identity.Service).
type Scanner interface {
	ResolveScan(ctx context.Context, scope identity.Scope, code string) (identity.ScanResult, error)
}

// Options configure a Store.
type Options struct {
	// Points runs the ledger's operations inside tx; production passes
	// ledgerStore.In.
	Points func(tx *gorm.DB) Points
	// HolderMode says whether a village keeps points per resident or per
	// household (the ledger's settings).
	HolderMode func(ctx context.Context, villageID int64) (ledger.HolderKind, error)
	// OpenHolds lists a holder's open ledger holds, where a closing order
	// finds its own.
	OpenHolds func(ctx context.Context, villageID int64, h ledger.Holder) ([]ledger.Hold, error)
	// PickupKey signs the rotating pickup QR codes (32+ bytes).
	PickupKey []byte
	// PickupQRTTL is how long one pickup QR code is accepted (default 60s).
	PickupQRTTL time.Duration
	// Now is the clock (default time.Now); Location the villages' local
	// time for months and dates (default China Standard Time).
	Now      func() time.Time
	Location *time.Location
	// CacheTTL is how long village settings and holder modes are kept
	// before being read again (default 5s); other replicas follow an edit
	// within it.
	CacheTTL time.Duration
	Log      *slog.Logger
}

// Store is the points store's storage and use cases.
type Store struct {
	db *gorm.DB
	// stmts runs the fixed statements of the order path prepared once per
	// connection: one round trip each, in transactions too.
	stmts     *sqldb.Statements
	people    *people.Store
	scanner   Scanner
	points    func(tx *gorm.DB) Points
	mode      func(ctx context.Context, villageID int64) (ledger.HolderKind, error)
	openHolds func(ctx context.Context, villageID int64, h ledger.Holder) ([]ledger.Hold, error)
	key       []byte
	qrTTL     time.Duration
	now       func() time.Time
	loc       *time.Location
	ttl       time.Duration
	log       *slog.Logger

	mu        sync.Mutex
	townships map[int64]int64 // village → township; villages never move
	cache     map[int64]cachedVillage
	rewards   map[int64]cachedReward // see orderReward
}

// cachedVillage is what a write reads about a village on every order.
type cachedVillage struct {
	settings Settings
	mode     ledger.HolderKind
	read     time.Time
}

// New returns a Store over a migrated database.
func New(db *gorm.DB, ps *people.Store, scanner Scanner, opts Options) (*Store, error) {
	if opts.Points == nil || opts.HolderMode == nil || opts.OpenHolds == nil {
		return nil, errors.New("store: Points, HolderMode and OpenHolds are required (see LedgerOptions)")
	}
	if len(opts.PickupKey) < 32 {
		return nil, errors.New("store: pickup key must be at least 32 bytes")
	}
	s := &Store{
		db: db, stmts: sqldb.NewStatements(db), people: ps, scanner: scanner, points: opts.Points, mode: opts.HolderMode, openHolds: opts.OpenHolds,
		key: opts.PickupKey, qrTTL: opts.PickupQRTTL, now: opts.Now, loc: opts.Location, ttl: opts.CacheTTL, log: opts.Log,
		townships: map[int64]int64{}, cache: map[int64]cachedVillage{}, rewards: map[int64]cachedReward{},
	}
	if s.qrTTL <= 0 {
		s.qrTTL = 60 * time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.loc == nil {
		s.loc = time.FixedZone("CST", 8*3600)
	}
	if s.ttl == 0 {
		s.ttl = 5 * time.Second
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// LedgerOptions wires a Store to the ledger: its holder mode, and its
// operations run inside the store's transactions.
func LedgerOptions(l *ledger.Store, opts Options) Options {
	opts.Points = func(tx *gorm.DB) Points { return l.In(tx) }
	opts.HolderMode = func(ctx context.Context, villageID int64) (ledger.HolderKind, error) {
		st, err := l.Settings(ctx, villageID)
		return st.HolderMode, err
	}
	opts.OpenHolds = l.OpenHolds
	return opts
}

// clock is the current instant as stored.
func (s *Store) clock() time.Time { return dbTime(s.now()) }

// dbTime is t as the database keeps it: UTC, microseconds.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// monthOf is the YYYYMM of t in the villages' time, the key of the limit
// counters.
func (s *Store) monthOf(t time.Time) int {
	l := t.In(s.loc)
	return l.Year()*100 + int(l.Month())
}

// Staff is a staff member acting in the store: who, for the audit log and
// the ledger, and In, which says whether they may act in a region (a
// village, or a township for its shared store). In may read the database,
// so the store calls it before it opens a transaction, never inside one.
type Staff struct {
	Actor audit.Actor
	In    func(regionID int64) bool
}

func (st Staff) ledgerActor() ledger.Actor { return ledger.StaffActor(st.Actor.StaffID) }

// Customer is a bound villager in the mini-program: their resident, their
// household (0 if none) and their village.
type Customer struct {
	VillageID   int64
	ResidentID  int64
	HouseholdID int64
}

// holder is whose points the customer spends, by the village's mode.
func (c Customer) holder(mode ledger.HolderKind) (ledger.Holder, error) {
	if mode == ledger.HolderHousehold {
		if c.HouseholdID == 0 {
			return ledger.Holder{}, apperr.New(apperr.CodeConflict, "本村积分按户记账，您尚未加入任何户，请联系社工")
		}
		return ledger.Household(c.HouseholdID), nil
	}
	return ledger.Resident(c.ResidentID), nil
}

// village returns the cached settings and holder mode of a village.
func (s *Store) village(ctx context.Context, villageID int64) (cachedVillage, error) {
	s.mu.Lock()
	c, ok := s.cache[villageID]
	s.mu.Unlock()
	if ok && time.Since(c.read) < s.ttl {
		return c, nil
	}
	st, err := loadSettings(s.db.WithContext(ctx), villageID)
	if err != nil {
		return c, err
	}
	mode, err := s.mode(ctx, villageID)
	if err != nil {
		return c, err
	}
	c = cachedVillage{settings: st, mode: mode, read: time.Now()}
	if s.ttl > 0 {
		s.mu.Lock()
		s.cache[villageID] = c
		s.mu.Unlock()
	}
	return c, nil
}

func (s *Store) forget(villageID int64) {
	s.mu.Lock()
	delete(s.cache, villageID)
	s.mu.Unlock()
}

// township returns the township a village belongs to, whose shared store
// its residents may use too.
func (s *Store) township(ctx context.Context, villageID int64) (int64, error) {
	s.mu.Lock()
	t, ok := s.townships[villageID]
	s.mu.Unlock()
	if ok {
		return t, nil
	}
	r, err := s.people.Region(ctx, villageID)
	if errors.Is(err, people.ErrNotFound) || err == nil && (r.Level != people.Village || r.ParentID == nil) {
		return 0, apperr.NotFound("村")
	}
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.townships[villageID] = *r.ParentID
	s.mu.Unlock()
	return *r.ParentID, nil
}

// requestHash fingerprints a request, so a reused idempotency key with a
// different request is told apart from a retry.
func requestHash(fields ...any) int64 {
	b, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	return hash63(b)
}

// requestID names a request by who sent it and their idempotency key, so
// two clients never collide on one key; orders carry it under a unique
// index.
func requestID(actor, key string) int64 { return hash63([]byte(actor + "\x00" + key)) }

func hash63(b []byte) int64 {
	sum := sha256.Sum256(b)
	return int64(binary.BigEndian.Uint64(sum[:8]) >> 1)
}

// maxKeyLen bounds a client's idempotency key.
const maxKeyLen = 128

func checkKey(key string) error {
	if key == "" || len(key) > maxKeyLen {
		return apperr.Invalid("idempotency_key", "缺少幂等键或幂等键过长（最多 128 个字符）")
	}
	return nil
}

// scopedKey scopes a client's idempotency key to who sent it, so two
// clients can never collide on one key.
func scopedKey(actor, key string) string { return actor + "|" + key }

func residentActor(id int64) string { return "resident:" + strconv.FormatInt(id, 10) }

func staffActor(id int64) string { return "staff:" + strconv.FormatInt(id, 10) }

// systemActor closes orders nobody picked up.
const systemActor = "system"

// Location is the villages' local time the Store uses for months and days.
func (s *Store) Location() *time.Location { return s.loc }
