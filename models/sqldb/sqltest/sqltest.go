// Package sqltest gives storage tests a fresh, migrated database of each
// kind the product runs on: SQLite always, and MySQL/MariaDB when
// TEST_MYSQL_DSN names a server (scripts/test.sh sets it).
package sqltest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/sqldb"
)

var seq atomic.Int64

// Backend is one database a test runs against.
type Backend struct {
	Name string
	DB   *gorm.DB
}

// Each runs fn once per backend as a subtest, each with its own database.
func Each(t *testing.T, fn func(t *testing.T, db *gorm.DB)) {
	t.Helper()
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			fn(t, MustOpen(t, name))
		})
	}
}

// Names lists the backends available to this test run.
func Names() []string {
	if os.Getenv("TEST_MYSQL_DSN") != "" {
		return []string{"sqlite", "mysql"}
	}
	return []string{"sqlite"}
}

// MustOpen opens a fresh, migrated database of the named backend that is
// dropped when the test ends.
func MustOpen(t testing.TB, name string) *gorm.DB {
	t.Helper()
	if name == "sqlite" {
		db, err := sqldb.Open(sqldb.Options{SQLitePath: filepath.Join(t.TempDir(), "test.db")})
		if err != nil {
			t.Fatal(err)
		}
		mustMigrate(t, db)
		t.Cleanup(func() { sqldb.Close(db) })
		return db
	}
	return mustMySQL(t)
}

// MySQLDSN returns a DSN for a new, empty database on the TEST_MYSQL_DSN
// server and a function that drops it.
func MySQLDSN(t testing.TB) (string, func()) {
	t.Helper()
	base := os.Getenv("TEST_MYSQL_DSN")
	cfg, err := mysqldrv.ParseDSN(base)
	if err != nil {
		t.Fatalf("TEST_MYSQL_DSN: %v", err)
	}
	prefix := cfg.DBName
	if prefix == "" {
		prefix = "jifen_test"
	}
	name := fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
	cfg.DBName = ""
	admin, err := sqldb.Open(sqldb.Options{DSN: cfg.FormatDSN(), MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci").Error; err != nil {
		t.Fatalf("TEST_MYSQL_DSN is set but the server refuses CREATE DATABASE: %v", err)
	}
	cfg.DBName = name
	return cfg.FormatDSN(), func() {
		admin.Exec("DROP DATABASE IF EXISTS `" + name + "`")
		sqldb.Close(admin)
	}
}

func mustMySQL(t testing.TB) *gorm.DB {
	dsn, drop := MySQLDSN(t)
	db, err := sqldb.Open(sqldb.Options{DSN: dsn, MaxOpenConns: 64})
	if err != nil {
		drop()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sqldb.Close(db)
		drop()
	})
	mustMigrate(t, db)
	return db
}

func mustMigrate(t testing.TB, db *gorm.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := sqldb.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
}
