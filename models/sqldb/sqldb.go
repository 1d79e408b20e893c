// Package sqldb opens the relational database and owns every difference
// between the two dialects the product runs on: SQLite (embedded mode) and
// MySQL/MariaDB (deployment). No other package asks which one it talks to.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// Dialect names a supported database family.
type Dialect string

const (
	SQLite Dialect = "sqlite"
	MySQL  Dialect = "mysql"
)

// Options configure Open.
type Options struct {
	// DSN is a MySQL DSN ("user:pass@tcp(host:3306)/db"). Empty selects SQLite.
	DSN string
	// SQLitePath is the SQLite file used when DSN is empty.
	SQLitePath string
	// MaxOpenConns bounds the MySQL pool (default 32).
	MaxOpenConns int
}

// Open connects to the database described by opts.
func Open(opts Options) (*gorm.DB, error) {
	cfg := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
		TranslateError:         false,
	}
	if opts.DSN == "" {
		return openSQLite(opts.SQLitePath, cfg)
	}
	mc, err := mysqldrv.ParseDSN(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("sqldb: parse DATABASE_DSN: %w", err)
	}
	// The ledger relies on these: times in UTC, full Unicode for names.
	mc.ParseTime = true
	mc.Loc = time.UTC
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	mc.Params["charset"] = "utf8mb4"
	mc.MultiStatements = false
	// Arguments are escaped by the driver into the statement text (safe
	// with utf8mb4), so a query with arguments is one round trip instead
	// of prepare, execute and close. Hot paths that repeat fixed SQL keep
	// server-side statements through Statements.
	mc.InterpolateParams = true
	db, err := gorm.Open(mysql.New(mysql.Config{DSNConfig: mc}), cfg)
	if err != nil {
		return nil, fmt.Errorf("sqldb: open mysql: %w", err)
	}
	sqlDB, _ := db.DB()
	n := opts.MaxOpenConns
	if n <= 0 {
		n = 32
	}
	sqlDB.SetMaxOpenConns(n)
	sqlDB.SetMaxIdleConns(n)
	sqlDB.SetConnMaxLifetime(30 * time.Minute)
	return db, nil
}

func openSQLite(path string, cfg *gorm.Config) (*gorm.DB, error) {
	if path == "" {
		return nil, errors.New("sqldb: no DSN and no SQLite path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqldb: create data dir: %w", err)
	}
	dsn := path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := gorm.Open(sqlite.Open(dsn), cfg)
	if err != nil {
		return nil, fmt.Errorf("sqldb: open sqlite %s: %w", path, err)
	}
	sqlDB, _ := db.DB()
	// SQLite has one writer. A single connection turns lock contention into
	// an orderly queue in database/sql instead of SQLITE_BUSY storms, which
	// is the right trade for the embedded mode's small villages.
	sqlDB.SetMaxOpenConns(1)
	return db, nil
}

// DialectOf reports which dialect db speaks.
func DialectOf(db *gorm.DB) Dialect {
	if db.Dialector.Name() == "mysql" {
		return MySQL
	}
	return SQLite
}

// ForUpdate adds a row lock to a SELECT on MySQL. SQLite transactions here
// start IMMEDIATE and hold the single write lock, so no clause is needed.
func ForUpdate(tx *gorm.DB) *gorm.DB {
	if DialectOf(tx) == MySQL {
		return tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return tx
}

// IsDuplicateKey reports whether err is a unique-constraint violation.
func IsDuplicateKey(err error) bool {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// isRetryable reports whether a transaction failed only because it raced
// another one and may simply run again.
func isRetryable(err error) bool {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		// 1213 deadlock, 1205 lock wait timeout, 1020 record changed since
		// it was read (MariaDB's snapshot check).
		return me.Number == 1213 || me.Number == 1205 || me.Number == 1020
	}
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "SQLITE_BUSY") || strings.Contains(s, "database is locked")
}

// maxAttempts bounds retries of a racing transaction.
const maxAttempts = 8

// InTx runs fn in one transaction, retrying it from the start when the
// database reports a deadlock or lock timeout. fn must therefore have no
// effects outside tx. This is the one shared retry helper for write paths.
func InTx(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		// READ COMMITTED avoids InnoDB's gap locks on the insert-heavy
		// ledger paths; every read that decides a write locks its row.
		err = db.WithContext(ctx).Transaction(fn, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
		if err == nil || !isRetryable(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		backoff := time.Duration(attempt*attempt) * time.Millisecond * time.Duration(2+rand.IntN(5))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

// Ping checks that the database answers, for readiness probes.
func Ping(ctx context.Context, db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Close closes the underlying pool.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}
