package sqldb

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations lists the embedded migrations in version order. File names are
// NNNN_name.sql; the SQL uses two placeholders that the dialect fills in:
// {{ID}} for an auto-increment primary key and {{TABLE}} for table options.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		num, rest, ok := strings.Cut(name, "_")
		if !ok || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("sqldb: migration %q is not NNNN_name.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("sqldb: migration %q: bad version", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("sqldb: migrations %q and %q share version %d", other, name, v)
		}
		seen[v] = name
		b, err := migrationFiles.ReadFile("migrations/" + name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(rest, ".sql"), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// render fills the dialect placeholders of a migration.
func render(d Dialect, src string) string {
	if d == MySQL {
		return strings.NewReplacer(
			"{{ID}}", "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
			"{{TABLE}}", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
		).Replace(src)
	}
	return strings.NewReplacer(
		"{{ID}}", "INTEGER PRIMARY KEY AUTOINCREMENT",
		"{{TABLE}}", "",
		"CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ",
		"CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX IF NOT EXISTS ",
		// The SQLite driver parses times only for columns declared exactly
		// DATETIME; MySQL needs the (6) to keep microseconds.
		"DATETIME(6)", "DATETIME",
	).Replace(src)
}

// statements splits a migration at semicolons that end a line. Migrations
// hold plain DDL, so no statement carries such a semicolon inside it.
func statements(src string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || trimmed == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// Migrate applies every migration not yet recorded in schema_migrations.
// It is safe to run again and from several replicas at once: on MySQL a
// named lock serialises the runners, and a statement whose object already
// exists (left by a run that died half-way, since MySQL DDL does not roll
// back) is taken as done. On SQLite each migration is one transaction.
func Migrate(ctx context.Context, db *gorm.DB) error {
	migs, err := Migrations()
	if err != nil {
		return err
	}
	d := DialectOf(db)
	return db.WithContext(ctx).Connection(func(pinned *gorm.DB) error {
		// A fresh statement per call: gorm otherwise accumulates the first
		// error on the pinned handle and skips everything after it.
		conn := pinned.Session(&gorm.Session{NewDB: true})
		if d == MySQL {
			var got int
			if err := conn.Raw("SELECT GET_LOCK('jifen_migrate', 120)").Scan(&got).Error; err != nil || got != 1 {
				return fmt.Errorf("sqldb: take migration lock: %v (got %d)", err, got)
			}
			defer conn.Exec("SELECT RELEASE_LOCK('jifen_migrate')")
		}
		if err := conn.Exec(render(d, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version BIGINT NOT NULL PRIMARY KEY,
			name VARCHAR(200) NOT NULL,
			applied_at DATETIME(6) NOT NULL) {{TABLE}}`)).Error; err != nil {
			return fmt.Errorf("sqldb: create schema_migrations: %w", err)
		}
		var applied []int
		if err := conn.Raw("SELECT version FROM schema_migrations").Scan(&applied).Error; err != nil {
			return err
		}
		done := map[int]bool{}
		for _, v := range applied {
			done[v] = true
		}
		for _, m := range migs {
			if done[m.Version] {
				continue
			}
			if err := apply(conn, d, m); err != nil {
				return fmt.Errorf("sqldb: migration %04d_%s: %w", m.Version, m.Name, err)
			}
		}
		return nil
	})
}

func apply(conn *gorm.DB, d Dialect, m Migration) error {
	stmts := statements(render(d, m.SQL))
	record := func(tx *gorm.DB) error {
		return tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.Version, m.Name, time.Now().UTC()).Error
	}
	if d == SQLite {
		return conn.Transaction(func(tx *gorm.DB) error {
			for _, s := range stmts {
				if err := tx.Exec(s).Error; err != nil && !alreadyExists(err) {
					return fmt.Errorf("%w\n%s", err, s)
				}
			}
			return record(tx)
		})
	}
	for _, s := range stmts {
		if err := conn.Exec(s).Error; err != nil && !alreadyExists(err) {
			return fmt.Errorf("%w\n%s", err, s)
		}
	}
	return record(conn)
}

// alreadyExists reports errors that mean a DDL statement's effect is
// already in place: on MySQL table exists, duplicate key name, duplicate
// column; on SQLite, whose ALTER TABLE ADD COLUMN has no IF NOT EXISTS, a
// duplicate column (a failed statement leaves its transaction usable).
func alreadyExists(err error) bool {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1050 || me.Number == 1061 || me.Number == 1060
	}
	return err != nil && strings.Contains(err.Error(), "duplicate column name")
}
