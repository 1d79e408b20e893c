package sqldb_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		// sqltest already migrated once; twice more must change nothing.
		for range 2 {
			if err := sqldb.Migrate(context.Background(), db); err != nil {
				t.Fatal(err)
			}
		}
		migs, err := sqldb.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		db.Table("schema_migrations").Count(&n)
		if int(n) != len(migs) {
			t.Fatalf("schema_migrations has %d rows, want %d", n, len(migs))
		}
	})
}

func TestMigrateConcurrentRunners(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		db.Exec("DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM (SELECT version FROM schema_migrations) s)")
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() { errs <- sqldb.Migrate(context.Background(), db) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestInTxRollsBackAndDetectsDuplicates(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		insert := func(tx *gorm.DB) error {
			return tx.Exec("INSERT INTO regions (level, name, code, path, created_at) VALUES ('county', 'A县', 'C1', '/', CURRENT_TIMESTAMP)").Error
		}
		if err := sqldb.InTx(ctx, db, insert); err != nil {
			t.Fatal(err)
		}
		err := sqldb.InTx(ctx, db, insert)
		if !sqldb.IsDuplicateKey(err) {
			t.Fatalf("second insert of one code: got %v, want a duplicate-key error", err)
		}
		boom := errors.New("boom")
		err = sqldb.InTx(ctx, db, func(tx *gorm.DB) error {
			if err := tx.Exec("INSERT INTO regions (level, name, code, path, created_at) VALUES ('county', 'B县', 'C2', '/', CURRENT_TIMESTAMP)").Error; err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("got %v", err)
		}
		var n int64
		db.Table("regions").Where("code = ?", "C2").Count(&n)
		if n != 0 {
			t.Fatal("a failed transaction left its row behind")
		}
	})
}

func TestInTxSerialisesLockedCounters(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		db.Exec("INSERT INTO regions (id, level, name, code, path, created_at) VALUES (1, 'county', 'A县', 'C1', '0', CURRENT_TIMESTAMP)")
		var failures atomic.Int64
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				err := sqldb.InTx(ctx, db, func(tx *gorm.DB) error {
					var path string
					if err := sqldb.ForUpdate(tx.Table("regions").Select("path").Where("id = 1")).Scan(&path).Error; err != nil {
						return err
					}
					return tx.Exec("UPDATE regions SET path = ? WHERE id = 1", path+"x").Error
				})
				if err != nil {
					failures.Add(1)
				}
			})
		}
		wg.Wait()
		var path string
		db.Table("regions").Select("path").Where("id = 1").Scan(&path)
		if failures.Load() != 0 || len(path) != 21 {
			t.Fatalf("lost updates: path %q (len %d), %d failures", path, len(path), failures.Load())
		}
	})
}
