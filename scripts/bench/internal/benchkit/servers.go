package benchkit

import (
	"context"
	"fmt"
	"log"
	"os"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/kv"
	"github.com/villagepoints/jifen/models/sqldb"
)

// MustCreateDatabase creates an empty database on the server of dsn, named
// prefix_<pid> so concurrent runs do not collide, and returns its name, a
// DSN for it and a func that drops it. It exits on failure.
func MustCreateDatabase(dsn, prefix string) (name, dbDSN string, drop func()) {
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		log.Fatalf("-dsn: %v", err)
	}
	name = fmt.Sprintf("%s_%d", prefix, os.Getpid())
	cfg.DBName = ""
	admin, err := sqldb.Open(sqldb.Options{DSN: cfg.FormatDSN(), MaxOpenConns: 2})
	if err != nil {
		log.Fatal(err)
	}
	if err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci").Error; err != nil {
		log.Fatal(err)
	}
	cfg.DBName = name
	return name, cfg.FormatDSN(), func() {
		admin.Exec("DROP DATABASE IF EXISTS `" + name + "`")
		sqldb.Close(admin)
	}
}

// MustOpenDatabase creates a database as MustCreateDatabase does, opens it
// with at most pool connections (0: sqldb's default) and migrates it. drop
// closes it and drops it.
func MustOpenDatabase(dsn, prefix string, pool int) (db *gorm.DB, drop func()) {
	_, dbDSN, dropDatabase := MustCreateDatabase(dsn, prefix)
	db, err := sqldb.Open(sqldb.Options{DSN: dbDSN, MaxOpenConns: pool})
	if err != nil {
		log.Fatal(err)
	}
	if err := sqldb.Migrate(context.Background(), db); err != nil {
		log.Fatal(err)
	}
	return db, func() {
		sqldb.Close(db)
		dropDatabase()
	}
}

// MustOpenRedis connects to the Redis at url with the key prefix
// prefix<pid>, so concurrent runs do not collide. cleanup deletes the
// keys and closes the connection. It exits on failure.
func MustOpenRedis(url, prefix string) (c *kv.Client, cleanup func()) {
	c, err := kv.Open(url, fmt.Sprintf("%s%d", prefix, os.Getpid()))
	if err != nil {
		log.Fatal(err)
	}
	return c, func() {
		CleanRedis(c)
		c.Close()
	}
}

// CleanRedis deletes every key under c's prefix. It unlinks them in
// batches, as a ranking run leaves hundreds of thousands of board keys.
func CleanRedis(c *kv.Client) {
	pattern := c.Key("*")
	if pattern == "*" {
		return // no prefix: the keys are not the benchmark's alone
	}
	ctx := context.Background()
	iter := c.Scan(ctx, 0, pattern, 5000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			c.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		c.Unlink(ctx, batch...)
	}
}

// Count runs a query that yields one number.
func Count(db *gorm.DB, query string, args ...any) int64 {
	var n int64
	db.Raw(query, args...).Scan(&n)
	return n
}

// ServerVersion is the database server's VERSION().
func ServerVersion(db *gorm.DB) string {
	var v string
	db.Raw("SELECT VERSION()").Scan(&v)
	return v
}
