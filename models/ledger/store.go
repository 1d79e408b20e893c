package ledger

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/sqldb"
)

// Options configure a Store.
type Options struct {
	// Now is the clock; tests pass a fake one. Default time.Now.
	Now func() time.Time
	// Location is the villages' local time, for expiry days and months.
	// Default China Standard Time (UTC+8, no daylight saving).
	Location *time.Location
	// SettingsTTL is how long a Store keeps a village's settings before
	// reading them again (default 5s), so postings do not read them every
	// time. SaveSettings refreshes the saving Store at once; other replicas
	// follow within the TTL. A negative value reads them in every
	// transaction.
	SettingsTTL time.Duration
}

// Store is the ledger's storage: it writes postings with their balance
// updates and idempotency records, and answers queries.
type Store struct {
	db *gorm.DB
	// stmts runs the fixed statements of the posting path prepared once
	// per connection: one round trip each, in transactions too.
	stmts *sqldb.Statements
	now   func() time.Time
	loc   *time.Location

	settingsTTL time.Duration
	cache       *settingsCache
	// outer is the caller's transaction when this Store is a view made
	// by In; writes then run inside it instead of in their own.
	outer *gorm.DB
}

// settingsCache is shared by a Store and the views In makes of it.
type settingsCache struct {
	mu sync.Mutex
	m  map[int64]cachedSettings
}

type cachedSettings struct {
	s    Settings
	read time.Time
}

// New returns a Store over a migrated database.
func New(db *gorm.DB, opts Options) *Store {
	s := &Store{
		db: db, stmts: sqldb.NewStatements(db),
		now: opts.Now, loc: opts.Location,
		settingsTTL: opts.SettingsTTL, cache: &settingsCache{m: map[int64]cachedSettings{}},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.loc == nil {
		s.loc = time.FixedZone("CST", 8*3600)
	}
	if s.settingsTTL == 0 {
		s.settingsTTL = 5 * time.Second
	}
	return s
}

// In returns a view of the Store whose writes run inside tx, a
// transaction the caller opened (with sqldb.InTx) for a use case that
// writes its own rows too: an order that reserves stock and holds points,
// an award that checks a cap and posts. The caller's record is then the
// idempotency anchor, so the view neither retries nor replays: a write
// whose idempotency key was already used in the village comes back as a
// replay only if it is the same request, and the caller's transaction
// decides what commits. Reads on the view are the Store's own.
func (s *Store) In(tx *gorm.DB) *Store {
	v := *s
	v.outer = tx
	return &v
}

// Location is the villages' local time the Store uses for days and months.
func (s *Store) Location() *time.Location { return s.loc }

// clock is the current instant as the ledger stores it.
func (s *Store) clock() time.Time { return dbTime(s.now()) }

// inTx runs fn as one retried transaction (see sqldb.InTx).
func (s *Store) inTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return sqldb.InTx(ctx, s.db, fn)
}

// snapshot runs fn in a read-only transaction that sees one consistent
// snapshot of the database (REPEATABLE READ on MySQL; SQLite transactions
// always do), for reads that combine several tables.
func (s *Store) snapshot(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.db.WithContext(ctx).Transaction(fn, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
}
