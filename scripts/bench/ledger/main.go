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
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/scripts/bench/internal/benchkit"
)

func main() {
	dsn, redisURL := benchkit.ServerFlags()
	duration := flag.Duration("duration", 6*time.Second, "measuring time per cell and side (baseline, ledger)")
	rounds := flag.Int("rounds", 3, "alternating baseline/ledger rounds per cell")
	clientList := flag.String("clients", "1,8,64", "concurrent clients")
	villageList := flag.String("villages", "20,1", "villages postings are spread over")
	residents := flag.Int("residents", 1000, "residents per village (each gets an account before measuring)")
	keep := flag.Bool("keep", false, "keep the benchmark database")
	every := flag.Duration("every", 500*time.Millisecond, "Sealer and Relay interval")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the benchmark process here")
	flag.Parse()
	stopProfile := benchkit.StartCPUProfile(*cpuProfile)
	defer stopProfile()

	ctx := context.Background()
	db, drop := benchkit.MustOpenDatabase(*dsn, "jifen_bench", 80)
	if !*keep {
		defer drop()
	}
	if err := db.Exec(`CREATE TABLE bench_baseline (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
		village_id BIGINT NOT NULL, amount BIGINT NOT NULL, created_at DATETIME(6) NOT NULL) ENGINE=InnoDB`).Error; err != nil {
		log.Fatal(err)
	}
	rc, cleanRedis := benchkit.MustOpenRedis(*redisURL, "jifenbench")
	defer cleanRedis()

	store := ledger.New(db, ledger.Options{})
	sealer := ledger.NewSealer(store)
	cache := ledger.NewRedisBalances(rc)
	relay := ledger.NewRelay(store, cache)

	var keySeq atomic.Int64
	baseline := func(villages int) benchkit.Op {
		return func(ctx context.Context, rng *rand.Rand, _ int) error {
			return sqldb.InTx(ctx, db, func(tx *gorm.DB) error {
				return tx.Exec("INSERT INTO bench_baseline (village_id, amount, created_at) VALUES (?, ?, ?)",
					rng.IntN(villages)+1, rng.IntN(10)+1, time.Now().UTC()).Error
			})
		}
	}
	post := func(villages int) benchkit.Op {
		return func(ctx context.Context, rng *rand.Rand, _ int) error {
			_, err := store.Award(ctx, ledger.AwardRequest{
				VillageID: int64(rng.IntN(villages) + 1), Holder: ledger.Resident(int64(rng.IntN(*residents) + 1)),
				Track: ledger.TrackCivic, Amount: int64(rng.IntN(10) + 1), Source: ledger.Source{Type: "bench", ID: 1},
				Actor: ledger.StaffActor(1), IdempotencyKey: "b" + strconv.FormatInt(keySeq.Add(1), 10),
			})
			return err
		}
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

	fmt.Printf("ledger benchmark: %s per cell, %d residents per village, MariaDB %s\n\n", *duration, *residents, benchkit.ServerVersion(db))
	fmt.Printf("%-9s %-8s %14s %14s %7s %12s %12s %16s %16s\n", "villages", "clients", "baseline tx/s", "postings/s", "ratio",
		"db cpu/tx", "db cpu/post", "unsealed at end", "undelivered end")
	fmt.Println("(db cpu: CPU time of the local mariadbd process per operation, whoever else uses it)")
	for _, v := range benchkit.Ints(*villageList) {
		for _, c := range benchkit.Ints(*clientList) {
			// Baseline and ledger alternate in short rounds, so load from
			// anything else on the machine falls on both alike.
			var base, led benchkit.Result
			bgCtx, stop := context.WithCancel(ctx)
			var bg sync.WaitGroup
			bg.Go(func() { sealer.Run(bgCtx, *every) })
			bg.Go(func() { relay.Run(bgCtx, *every) })
			for range *rounds {
				base.Add(benchkit.Measure(ctx, c, *duration/time.Duration(*rounds), baseline(v)))
				led.Add(benchkit.Measure(ctx, c, *duration/time.Duration(*rounds), post(v)))
			}
			unsealed := benchkit.Count(db, "SELECT COUNT(*) FROM ledger_postings WHERE chain_seq IS NULL")
			pending, _ := store.Pending(ctx, ledger.BalancesConsumer)
			stop()
			bg.Wait()
			fmt.Printf("%-9d %-8d %14.0f %14.0f %7.2f %12s %12s %16d %16d\n", v, c, base.Rate(), led.Rate(), led.Rate()/base.Rate(),
				base.CPU(), led.CPU(), unsealed, pending)
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
	fmt.Printf("\nafter the runs: %d postings, every village verifies and Redis equals SQL\n", benchkit.Count(db, "SELECT COUNT(*) FROM ledger_postings"))
}
