// Command ledger measures how fast the points ledger posts on MariaDB/MySQL
// with Redis, against a baseline of plain single-row INSERT transactions on
// the same database at the same concurrency, and prints the ratio.
//
// A ledger posting here is a complete Award: idempotency record, holder
// balance update, the posting, its outbox row and the recorded result, in
// one transaction. The Sealer (hash chain) and the outbox Relay (Redis
// balances) run in the background during the ledger runs, as in
// production; the table shows whether they kept up. The target is a ratio
// of at least 0.40 at 64 clients over 20 villages.
//
// It creates a throwaway database and drops it afterwards. Not run in CI:
//
//	go run ./scripts/bench/ledger -dsn 'root@tcp(127.0.0.1:3306)/' -redis redis://127.0.0.1:6379/0
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/kv"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/sqldb"
)

func main() {
	dsn := flag.String("dsn", envOr("TEST_MYSQL_DSN", "root@tcp(127.0.0.1:3306)/"), "MySQL/MariaDB server DSN (the database name is replaced)")
	redisURL := flag.String("redis", envOr("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL")
	duration := flag.Duration("duration", 6*time.Second, "measuring time per cell and side (baseline, ledger)")
	rounds := flag.Int("rounds", 3, "alternating baseline/ledger rounds per cell")
	clientList := flag.String("clients", "1,8,64", "concurrent clients")
	villageList := flag.String("villages", "20,1", "villages postings are spread over")
	residents := flag.Int("residents", 1000, "residents per village (each gets an account before measuring)")
	keep := flag.Bool("keep", false, "keep the benchmark database")
	every := flag.Duration("every", 500*time.Millisecond, "Sealer and Relay interval")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the benchmark process here")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}

	ctx := context.Background()
	db, drop := mustDatabase(*dsn)
	if !*keep {
		defer drop()
	}
	if err := db.Exec(`CREATE TABLE bench_baseline (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
		village_id BIGINT NOT NULL, amount BIGINT NOT NULL, created_at DATETIME(6) NOT NULL) ENGINE=InnoDB`).Error; err != nil {
		log.Fatal(err)
	}
	rc, err := kv.Open(*redisURL, fmt.Sprintf("jifenbench%d", os.Getpid()))
	if err != nil {
		log.Fatal(err)
	}
	defer cleanRedis(rc)

	store := ledger.New(db, ledger.Options{})
	sealer := ledger.NewSealer(store)
	cache := ledger.NewRedisBalances(rc)
	relay := ledger.NewRelay(store, cache)

	var keySeq atomic.Int64
	baseline := func(ctx context.Context, rng *rand.Rand, villages int) error {
		return sqldb.InTx(ctx, db, func(tx *gorm.DB) error {
			return tx.Exec("INSERT INTO bench_baseline (village_id, amount, created_at) VALUES (?, ?, ?)",
				rng.IntN(villages)+1, rng.IntN(10)+1, time.Now().UTC()).Error
		})
	}
	post := func(ctx context.Context, rng *rand.Rand, villages int) error {
		_, err := store.Award(ctx, ledger.AwardRequest{
			VillageID: int64(rng.IntN(villages) + 1), Holder: ledger.Resident(int64(rng.IntN(*residents) + 1)),
			Track: ledger.TrackCivic, Amount: int64(rng.IntN(10) + 1), Source: ledger.Source{Type: "bench", ID: 1},
			Actor: ledger.StaffActor(1), IdempotencyKey: "b" + strconv.FormatInt(keySeq.Add(1), 10),
		})
		return err
	}

	// Steady state: every resident already has an account row.
	warm := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(20**residents) {
					return
				}
				if _, err := store.Award(ctx, ledger.AwardRequest{VillageID: i%20 + 1, Holder: ledger.Resident(i/20 + 1),
					Track: ledger.TrackCivic, Amount: 1, Actor: ledger.SystemActor, IdempotencyKey: "warm" + strconv.FormatInt(i, 10)}); err != nil {
					log.Fatal(err)
				}
			}
		})
	}
	wg.Wait()
	if _, err := sealer.SealAll(ctx); err != nil {
		log.Fatal(err)
	}
	if _, err := relay.Drain(ctx); err != nil {
		log.Fatal(err)
	}
	log.Printf("warmed up %d accounts in %s", 20**residents, time.Since(warm).Round(time.Second))

	fmt.Printf("ledger benchmark: %s per cell, %d residents per village, MariaDB %s\n\n", *duration, *residents, serverVersion(db))
	fmt.Printf("%-9s %-8s %14s %14s %7s %12s %12s %16s %16s\n", "villages", "clients", "baseline tx/s", "postings/s", "ratio",
		"db cpu/tx", "db cpu/post", "unsealed at end", "undelivered end")
	fmt.Println("(db cpu: CPU time of the local mariadbd process per operation, whoever else uses it)")
	for _, v := range ints(*villageList) {
		for _, c := range ints(*clientList) {
			// Baseline and ledger alternate in short rounds, so load from
			// anything else on the machine falls on both alike.
			var base, led result
			bgCtx, stop := context.WithCancel(ctx)
			var bg sync.WaitGroup
			bg.Go(func() { sealer.Run(bgCtx, *every) })
			bg.Go(func() { relay.Run(bgCtx, *every) })
			for range *rounds {
				base.add(measure(ctx, c, v, *duration/time.Duration(*rounds), baseline))
				led.add(measure(ctx, c, v, *duration/time.Duration(*rounds), post))
			}
			unsealed := count(db, "SELECT COUNT(*) FROM ledger_postings WHERE chain_seq IS NULL")
			pending, _ := store.Pending(ctx, ledger.BalancesConsumer)
			stop()
			bg.Wait()
			fmt.Printf("%-9d %-8d %14.0f %14.0f %7.2f %12s %12s %16d %16d\n", v, c, base.rate(), led.rate(), led.rate()/base.rate(),
				base.cpu(), led.cpu(), unsealed, pending)
			// Catch up before the next cell, so it does not pay for this one.
			if _, err := sealer.SealAll(ctx); err != nil {
				log.Fatal(err)
			}
			if _, err := relay.Drain(ctx); err != nil {
				log.Fatal(err)
			}
		}
	}

	// The ledger written under load must verify, and Redis must agree.
	for v := int64(1); v <= 20; v++ {
		rep, err := store.Verify(ctx, v)
		if err != nil || !rep.OK {
			log.Fatalf("village %d does not verify: %+v %v", v, rep, err)
		}
		sqlB, _ := store.Balances(ctx, v)
		redisB, _, _ := cache.Balances(ctx, v)
		if len(sqlB) != len(redisB) {
			log.Fatalf("village %d: redis has %d balances, sql %d", v, len(redisB), len(sqlB))
		}
		for k, b := range sqlB {
			if redisB[k] != b {
				log.Fatalf("village %d: %s is %d in redis, %d in sql", v, k, redisB[k], b)
			}
		}
	}
	fmt.Printf("\nafter the runs: %d postings, every village verifies and Redis equals SQL\n", count(db, "SELECT COUNT(*) FROM ledger_postings"))
}

// serverCPU reads the CPU time the local database server process has used
// so far (Linux, server on this machine); 0 when it cannot.
func serverCPU() time.Duration {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		comm, err := os.ReadFile("/proc/" + d.Name() + "/comm")
		if err != nil {
			continue
		}
		if name := strings.TrimSpace(string(comm)); name != "mariadbd" && name != "mysqld" {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			return 0
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ = 100
	}
	return 0
}

// result accumulates measured rounds.
type result struct {
	ops     int64
	elapsed time.Duration
	cpu0    time.Duration
}

func (r *result) add(x result) {
	r.ops += x.ops
	r.elapsed += x.elapsed
	r.cpu0 += x.cpu0
}

func (r result) rate() float64 { return float64(r.ops) / r.elapsed.Seconds() }

// cpu is the database server's CPU time per operation.
func (r result) cpu() time.Duration {
	if r.ops == 0 {
		return 0
	}
	return (r.cpu0 / time.Duration(r.ops)).Round(time.Microsecond)
}

// measure runs op from clients goroutines for d (after a short warm-up)
// and returns the operations completed, the time taken and the database
// server's CPU time meanwhile.
func measure(ctx context.Context, clients, villages int, d time.Duration, op func(context.Context, *rand.Rand, int) error) result {
	var done, failed atomic.Int64
	var counting atomic.Bool
	stopAt := time.Now().Add(d + 300*time.Millisecond)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))
			for time.Now().Before(stopAt) {
				if err := op(ctx, rng, villages); err != nil {
					if failed.Add(1) < 5 {
						log.Print(err)
					}
					continue
				}
				if counting.Load() {
					done.Add(1)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	counting.Store(true)
	start, cpu := time.Now(), serverCPU()
	wg.Wait()
	return result{ops: done.Load(), elapsed: time.Since(start), cpu0: serverCPU() - cpu}
}

func mustDatabase(dsn string) (*gorm.DB, func()) {
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		log.Fatalf("-dsn: %v", err)
	}
	name := fmt.Sprintf("jifen_bench_%d", os.Getpid())
	cfg.DBName = ""
	admin, err := sqldb.Open(sqldb.Options{DSN: cfg.FormatDSN(), MaxOpenConns: 2})
	if err != nil {
		log.Fatal(err)
	}
	if err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci").Error; err != nil {
		log.Fatal(err)
	}
	cfg.DBName = name
	db, err := sqldb.Open(sqldb.Options{DSN: cfg.FormatDSN(), MaxOpenConns: 80})
	if err != nil {
		log.Fatal(err)
	}
	if err := sqldb.Migrate(context.Background(), db); err != nil {
		log.Fatal(err)
	}
	return db, func() {
		sqldb.Close(db)
		admin.Exec("DROP DATABASE IF EXISTS `" + name + "`")
		sqldb.Close(admin)
	}
}

func cleanRedis(c *kv.Client) {
	ctx := context.Background()
	iter := c.Scan(ctx, 0, c.Key("*"), 500).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
	c.Close()
}

func count(db *gorm.DB, q string) int64 {
	var n int64
	db.Raw(q).Scan(&n)
	return n
}

func serverVersion(db *gorm.DB) string {
	var v string
	db.Raw("SELECT VERSION()").Scan(&v)
	return v
}

func ints(list string) []int {
	var out []int
	for s := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			log.Fatalf("bad number %q", s)
		}
		out = append(out, n)
	}
	return out
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
