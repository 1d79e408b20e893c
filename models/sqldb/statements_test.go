package sqldb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
)

// Statements run in the caller's transaction, before and after they are
// prepared: a rollback takes them back, a commit keeps them, and a query
// in the transaction sees its own writes.
func TestStatementsRunInTheCallersTransaction(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		st := sqldb.NewStatements(db)
		const insert = "INSERT INTO regions (level, name, code, path, created_at) VALUES ('county', ?, ?, '/', CURRENT_TIMESTAMP)"
		const count = "SELECT COUNT(*) FROM regions WHERE code = ?"
		countIn := func(tx *gorm.DB, code string) int {
			t.Helper()
			rows, err := st.Query(tx, count, code)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				if err := rows.Scan(&n); err != nil {
					t.Fatal(err)
				}
			}
			return n
		}
		boom := errors.New("boom")
		for round := range 20 { // the first rounds run unprepared
			code := "S" + time.Now().Format("150405.000000") + string(rune('a'+round))
			err := sqldb.InTx(ctx, db, func(tx *gorm.DB) error {
				if _, err := st.Exec(tx, insert, "甲县", code); err != nil {
					return err
				}
				if n := countIn(tx, code); n != 1 {
					t.Fatalf("round %d: the transaction sees %d of its rows", round, n)
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}
			if n := countIn(db.WithContext(ctx), code); n != 0 {
				t.Fatalf("round %d: a rolled-back insert is there", round)
			}
			if err := sqldb.InTx(ctx, db, func(tx *gorm.DB) error {
				_, err := st.Exec(tx, insert, "甲县", code)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if n := countIn(db.WithContext(ctx), code); n != 1 {
				t.Fatalf("round %d: a committed insert is missing", round)
			}
			time.Sleep(5 * time.Millisecond) // let the background prepare land
		}
	})
}
