package ledger

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/kv"
	"github.com/villagepoints/jifen/models/kv/kvtest"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// t0 is 2024-03-01 10:00 China time.
var t0 = time.Date(2024, 3, 1, 2, 0, 0, 0, time.UTC)

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// env is one backend pair under test: a database with a Store over it, and
// a Redis with the balance cache.
type env struct {
	db     *gorm.DB
	store  *Store
	kv     *kv.Client
	cache  *RedisBalances
	relay  *Relay
	sealer *Sealer
	clock  *fakeClock
}

// eachEnv runs fn on SQLite with the embedded Redis and, when configured, on
// MariaDB with the real Redis.
func eachEnv(t *testing.T, fn func(t *testing.T, e *env)) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		fn(t, mustEnv(t, db))
	})
}

func mustEnv(t testing.TB, db *gorm.DB) *env {
	t.Helper()
	var rc *kv.Client
	if url := os.Getenv("TEST_REDIS_URL"); url != "" && sqldb.DialectOf(db) == sqldb.MySQL {
		rc = kvtest.MustReal(t, url)
	} else {
		rc = kvtest.MustEmbedded(t)
	}
	clock := &fakeClock{now: t0}
	st := New(db, Options{Now: clock.Now})
	cache := NewRedisBalances(rc)
	return &env{db: db, store: st, kv: rc, cache: cache, relay: NewRelay(st, cache), sealer: NewSealer(st), clock: clock}
}

var keySeq atomic.Int64

// key returns a fresh idempotency key.
func key() string { return fmt.Sprintf("k-%d", keySeq.Add(1)) }

var staff = StaffActor(7)

func mustAward(t testing.TB, e *env, village int64, h Holder, track Track, amount int64) *Result {
	t.Helper()
	res, err := e.store.Award(context.Background(), AwardRequest{
		VillageID: village, Holder: h, Track: track, Amount: amount,
		Source: Source{Type: "award", ID: 1}, Actor: staff, IdempotencyKey: key(),
	})
	if err != nil {
		t.Fatalf("award %d to %s: %v", amount, h, err)
	}
	return res
}

func mustSettings(t testing.TB, e *env, village int64, fn func(*Settings)) {
	t.Helper()
	s := DefaultSettings()
	fn(&s)
	if err := e.store.SaveSettings(context.Background(), village, s, staff); err != nil {
		t.Fatal(err)
	}
}

func mustBalance(t testing.TB, e *env, village int64, h Holder) HolderBalance {
	t.Helper()
	b, err := e.store.Balance(context.Background(), village, h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustSeal(t testing.TB, e *env) {
	t.Helper()
	if _, err := e.sealer.SealAll(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func mustDrain(t testing.TB, e *env) {
	t.Helper()
	if _, err := e.relay.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// mustVerify fails the test unless the village's ledger verifies.
func mustVerify(t testing.TB, e *env, village int64) Report {
	t.Helper()
	rep, err := e.store.Verify(context.Background(), village)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("village %d does not verify: posting %d: %s", village, rep.BrokenPostingID, rep.Problem)
	}
	return rep
}

// mustRedisMatches seals and delivers everything, then fails unless the
// Redis cache equals the SQL balances.
func mustRedisMatches(t testing.TB, e *env, village int64) Balances {
	t.Helper()
	ctx := context.Background()
	mustSeal(t, e)
	mustDrain(t, e)
	sqlB, err := e.store.Balances(ctx, village)
	if err != nil {
		t.Fatal(err)
	}
	redisB, _, err := e.cache.Balances(ctx, village)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := fmtBalances(sqlB), fmtBalances(redisB); a != b {
		t.Fatalf("village %d: redis differs from SQL\nsql:   %s\nredis: %s", village, a, b)
	}
	return sqlB
}

func fmtBalances(b Balances) string {
	var parts []string
	for _, k := range sortedKeys(b.nonZero()) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, b[k]))
	}
	return strings.Join(parts, " ")
}

// dumpState renders every cached balance row and hold of a village exactly
// as stored, so a refused operation can be shown to change nothing.
func dumpState(t testing.TB, db *gorm.DB, village int64) string {
	t.Helper()
	var accounts []accountRow
	if err := db.Raw("SELECT * FROM ledger_accounts WHERE village_id = ? ORDER BY kind, owner_id, track", village).Scan(&accounts).Error; err != nil {
		t.Fatal(err)
	}
	var holds []holdRow
	if err := db.Raw("SELECT * FROM ledger_holds WHERE village_id = ? ORDER BY id", village).Scan(&holds).Error; err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := db.Raw("SELECT COUNT(*) FROM ledger_postings WHERE village_id = ?", village).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, a := range accounts {
		fmt.Fprintf(&sb, "%s/%d/%s=%d@%s\n", a.Kind, a.OwnerID, a.Track, a.Balance, a.UpdatedAt.UTC().Format(time.RFC3339Nano))
	}
	for _, h := range holds {
		fmt.Fprintf(&sb, "hold %d %s %d %s\n", h.ID, h.Status, h.Amount, h.Legs)
	}
	fmt.Fprintf(&sb, "postings %d\n", n)
	return sb.String()
}

// holderRows reads the cached holder balances of a village.
func holderRows(t testing.TB, db *gorm.DB, village int64) Balances {
	t.Helper()
	var rows []accountRow
	if err := db.Raw("SELECT * FROM ledger_accounts WHERE village_id = ?", village).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	b := Balances{}
	for _, r := range rows {
		if !AccountKind(r.Kind).System() {
			b[r.key()] = r.Balance
		}
	}
	return b
}

func wantCode(t testing.TB, err error, code apperr.Code) {
	t.Helper()
	if !apperr.Is(err, code) {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func countRows(t testing.TB, db *gorm.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Raw(q, args...).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func postingIDs(ps []Posting) []int64 {
	ids := make([]int64, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
