// Command store measures how fast the points store takes redemption
// orders on MariaDB/MySQL with Redis, next to the ledger's plain posting
// rate (an Award) in the same run, at the same concurrency, and prints the
// ratio. The target is at least 0.50 at 64 concurrent residents.
//
// An order is the whole mini-program use case: the reward read, then one
// transaction with the order row and its pickup code, the ledger hold
// (postings, holder balances, hold row) through ledger.In, and the
// reward's stock reserved last. Each client is one resident ordering for
// themselves; the baseline client awards points to the same resident.
// Rewards belong to a township store shared by every village, so
// -rewards 1 is a single hot reward all clients fight over. The ledger's
// Sealer and outbox Relays (Redis balances, and the store's "ready for
// pickup" messages) run in the background during all sides, as in
// production, so their cost is in the figures.
//
// Before measuring it counts what one award, hold and order send to the
// server (-statements): statements, BEGIN and COMMIT included, and
// prepares, which should be 0 once the statement caches are warm.
// -cpuprofile profiles the client side of the measured runs.
//
// It creates a throwaway database and drops it afterwards. Not run in CI:
//
//	go run ./scripts/bench/store -dsn 'root@tcp(127.0.0.1:3306)/' -redis redis://127.0.0.1:6379/0
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

	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/kv"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/models/store"
)

func main() {
	dsn := flag.String("dsn", envOr("TEST_MYSQL_DSN", "root@tcp(127.0.0.1:3306)/"), "MySQL/MariaDB server DSN (the database name is replaced)")
	redisURL := flag.String("redis", envOr("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL")
	duration := flag.Duration("duration", 6*time.Second, "measuring time per cell and side (awards, orders)")
	rounds := flag.Int("rounds", 3, "alternating award/order rounds per cell")
	clientList := flag.String("clients", "64", "concurrent residents")
	rewardList := flag.String("rewards", "20,1", "rewards the orders are spread over")
	villages := flag.Int("villages", 20, "villages the residents are spread over")
	limited := flag.Bool("limited", false, "give every reward a monthly limit per resident and household, so orders also count them")
	every := flag.Duration("every", 500*time.Millisecond, "Sealer and Relay interval")
	countStatements := flag.Bool("statements", true, "first count the SQL statements of one award, hold and order (run one after another on a one-connection pool)")
	pool := flag.Int("pool", 0, "connections in the server's pool (0: the server's default, as DB_MAX_OPEN_CONNS leaves it)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measured runs (this process: the client side) to this file")
	flag.Parse()

	ctx := context.Background()
	db, drop := mustDatabase(*dsn, *pool)
	defer drop()
	rc, err := kv.Open(*redisURL, fmt.Sprintf("jifenstorebench%d", os.Getpid()))
	if err != nil {
		log.Fatal(err)
	}
	defer cleanRedis(rc)

	vault, err := pii.NewVault([]byte(strings.Repeat("b", 32)))
	if err != nil {
		log.Fatal(err)
	}
	ps := people.NewStore(db, vault)
	led := ledger.New(db, ledger.Options{})
	st, err := store.New(db, ps, nil, store.LedgerOptions(led, store.Options{PickupKey: []byte(strings.Repeat("k", 32))}))
	if err != nil {
		log.Fatal(err)
	}
	sealer := ledger.NewSealer(led)
	relay := ledger.NewRelay(led, ledger.NewRedisBalances(rc))
	ready := ledger.NewRelay(led, st.ReadyNotices())

	// A county, one township, its villages.
	region := func(parent *int64, level people.Level, name string) int64 {
		r, err := ps.CreateRegion(ctx, audit.System, people.RegionInput{ParentID: parent, Level: level, Name: name, Code: name})
		if err != nil {
			log.Fatal(err)
		}
		return r.ID
	}
	county := region(nil, people.County, "bench-county")
	town := region(&county, people.Township, "bench-town")
	villageIDs := make([]int64, *villages)
	for i := range villageIDs {
		villageIDs[i] = region(&town, people.Village, fmt.Sprintf("bench-village-%d", i))
	}
	admin := store.Staff{Actor: audit.Actor{StaffID: 1, Name: "bench"}, In: func(int64) bool { return true }}

	maxClients := 0
	for _, c := range ints(*clientList) {
		maxClients = max(maxClients, c)
	}
	// Client i is resident i+1 of village i % villages, rich enough for
	// every order of the run.
	customers := make([]store.Customer, maxClients)
	for i := range customers {
		customers[i] = store.Customer{VillageID: villageIDs[i%len(villageIDs)], ResidentID: int64(i + 1), HouseholdID: int64(i/2 + 1)}
		for range 5 {
			if _, err := led.Award(ctx, ledger.AwardRequest{VillageID: customers[i].VillageID, Holder: ledger.Resident(int64(i + 1)),
				Track: ledger.TrackCivic, Amount: ledger.MaxAmount, Actor: ledger.SystemActor, IdempotencyKey: fmt.Sprintf("rich-%d-%d", i, rand.Int64())}); err != nil {
				log.Fatal(err)
			}
		}
	}

	var keySeq atomic.Int64
	award := func(ctx context.Context, rng *rand.Rand, client int, _ []int64) error {
		c := customers[client]
		_, err := led.Award(ctx, ledger.AwardRequest{VillageID: c.VillageID, Holder: ledger.Resident(c.ResidentID), Track: ledger.TrackCivic,
			Amount: int64(rng.IntN(10) + 1), Source: ledger.Source{Type: "bench", ID: 1}, Actor: ledger.StaffActor(1),
			IdempotencyKey: "a" + strconv.FormatInt(keySeq.Add(1), 10)})
		return err
	}
	// A bare ledger hold, the part of an order the ledger does, for
	// telling the store's own cost from the ledger's.
	hold := func(ctx context.Context, rng *rand.Rand, client int, _ []int64) error {
		c := customers[client]
		_, err := led.PlaceHold(ctx, ledger.HoldRequest{VillageID: c.VillageID, Holder: ledger.Resident(c.ResidentID), Amount: 1,
			Source: ledger.Source{Type: "bench", ID: 1}, Actor: ledger.ResidentActor(c.ResidentID), IdempotencyKey: "h" + strconv.FormatInt(keySeq.Add(1), 10)})
		return err
	}
	order := func(ctx context.Context, rng *rand.Rand, client int, rewards []int64) error {
		_, err := st.PlaceOrder(ctx, customers[client], store.OrderRequest{RewardID: rewards[rng.IntN(len(rewards))], Quantity: 1,
			IdempotencyKey: "o" + strconv.FormatInt(keySeq.Add(1), 10)})
		return err
	}

	if *countStatements {
		printStatements(ctx, *dsn, db, customers, admin, *limited)
	}

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

	fmt.Printf("store benchmark: %s per cell and side, %d villages, MariaDB %s\n\n", *duration, *villages, serverVersion(db))
	fmt.Printf("%-8s %-8s %10s %10s %10s %7s %13s %13s %13s\n", "clients", "rewards", "awards/s", "holds/s", "orders/s", "ratio",
		"db cpu/award", "db cpu/hold", "db cpu/order")
	fmt.Println("(ratio: orders/s over awards/s; holds/s is the ledger's PlaceHold alone, for reference)")
	fmt.Println("(db cpu: CPU time of the local mariadbd process per operation, whoever else uses it)")
	var rewardsCreated []store.Reward
	for _, nr := range ints(*rewardList) {
		rewards := make([]int64, nr)
		for i := range rewards {
			in := store.RewardInput{Kind: store.KindGoods, Name: fmt.Sprintf("奖品-%d-%d", nr, i), Points: 1, CostFen: 100,
				OnShelf: true, StockTracked: true, InitialStock: 9_000_000}
			if *limited {
				in.LimitResidentMonth, in.LimitHouseholdMonth = 1000, 1000
			}
			r, err := st.CreateReward(ctx, admin, town, in)
			if err != nil {
				log.Fatal(err)
			}
			rewards[i] = r.ID
			rewardsCreated = append(rewardsCreated, r)
		}
		for _, c := range ints(*clientList) {
			var base, held, ord result
			bgCtx, stop := context.WithCancel(ctx)
			var bg sync.WaitGroup
			bg.Go(func() { sealer.Run(bgCtx, *every) })
			bg.Go(func() { relay.Run(bgCtx, *every) })
			bg.Go(func() { ready.Run(bgCtx, *every) })
			for range *rounds {
				base.add(measure(ctx, c, *duration/time.Duration(*rounds), rewards, award))
				held.add(measure(ctx, c, *duration/time.Duration(*rounds), rewards, hold))
				ord.add(measure(ctx, c, *duration/time.Duration(*rounds), rewards, order))
			}
			stop()
			bg.Wait()
			fmt.Printf("%-8d %-8d %10.0f %10.0f %10.0f %7.2f %13s %13s %13s\n", c, nr, base.rate(), held.rate(), ord.rate(), ord.rate()/base.rate(),
				base.cpu(), held.cpu(), ord.cpu())
			if _, err := sealer.SealAll(ctx); err != nil {
				log.Fatal(err)
			}
			if _, err := relay.Drain(ctx); err != nil {
				log.Fatal(err)
			}
			if _, err := ready.Drain(ctx); err != nil {
				log.Fatal(err)
			}
		}
	}

	// What was written under load must add up: every village's ledger
	// verifies, and each reward's stock plus reservations is what it
	// started with, the reservations being exactly its open orders.
	for _, v := range villageIDs {
		rep, err := led.Verify(ctx, v)
		if err != nil || !rep.OK {
			log.Fatalf("village %d does not verify: %+v %v", v, rep, err)
		}
	}
	for _, r := range rewardsCreated {
		now, err := st.Reward(ctx, admin, r.ID)
		if err != nil {
			log.Fatal(err)
		}
		open := count(db, "SELECT COALESCE(SUM(quantity), 0) FROM store_orders WHERE reward_id = ? AND status = 'open'", r.ID)
		if now.Stock+now.Reserved != r.Stock || now.Reserved != open {
			log.Fatalf("reward %d: stock %d + reserved %d != %d, or reserved != %d open", r.ID, now.Stock, now.Reserved, r.Stock, open)
		}
	}
	fmt.Printf("\nafter the runs: %d orders, %d postings; every village verifies, stock + reserved = initial stock, reserved = open orders\n",
		count(db, "SELECT COUNT(*) FROM store_orders"), count(db, "SELECT COUNT(*) FROM ledger_postings"))
}

// printStatements counts what one award, one bare hold and one order send
// to the server, measured with the session's Questions counter on a pool of
// one connection (so every statement of the operation, its transaction's
// BEGIN and COMMIT included, is on that session). The operations run one
// after another, so nothing waits or retries.
func printStatements(ctx context.Context, dsn string, shared *gorm.DB, customers []store.Customer, admin store.Staff, limited bool) {
	var name string
	shared.Raw("SELECT DATABASE()").Scan(&name)
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		log.Fatal(err)
	}
	cfg.DBName = name
	db, err := sqldb.Open(sqldb.Options{DSN: cfg.FormatDSN(), MaxOpenConns: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer sqldb.Close(db)
	led := ledger.New(db, ledger.Options{})
	st, err := store.New(db, people.NewStore(db, nil), nil, store.LedgerOptions(led, store.Options{PickupKey: []byte(strings.Repeat("k", 32))}))
	if err != nil {
		log.Fatal(err)
	}
	rw, err := store.New(shared, people.NewStore(shared, nil), nil, store.LedgerOptions(ledger.New(shared, ledger.Options{}), store.Options{PickupKey: []byte(strings.Repeat("k", 32))}))
	if err != nil {
		log.Fatal(err)
	}
	in := store.RewardInput{Kind: store.KindGoods, Name: "statements", Points: 1, OnShelf: true, StockTracked: true, InitialStock: 1000}
	if limited {
		in.LimitResidentMonth, in.LimitHouseholdMonth = 1000, 1000
	}
	reward, err := rw.CreateReward(ctx, admin, customers[0].VillageID, in)
	if err != nil {
		log.Fatal(err)
	}
	c := customers[0]
	// status reads the session's counters: statements (Questions; BEGIN
	// and COMMIT count, prepares do not) and prepares.
	status := func() (int64, int64) {
		var rows []struct {
			VariableName string
			Value        int64
		}
		if err := db.Raw("SHOW SESSION STATUS WHERE Variable_name IN ('Questions', 'Com_stmt_prepare')").Scan(&rows).Error; err != nil {
			log.Fatal(err)
		}
		var q, p int64
		for _, r := range rows {
			if r.VariableName == "Questions" {
				q = r.Value
			} else {
				p = r.Value
			}
		}
		return q, p
	}
	const n = 20
	type count struct{ statements, prepares float64 }
	per := func(op func(i int) error) count {
		for i := range 3 { // warm caches and prepared statements
			if err := op(-1 - i); err != nil {
				log.Fatal(err)
			}
		}
		q0, p0 := status()
		for i := range n {
			if err := op(i); err != nil {
				log.Fatal(err)
			}
		}
		q1, p1 := status()
		return count{float64(q1-q0-1) / n, float64(p1-p0) / n} // less the SHOW itself
	}
	award := per(func(i int) error {
		_, err := led.Award(ctx, ledger.AwardRequest{VillageID: c.VillageID, Holder: ledger.Resident(c.ResidentID), Track: ledger.TrackCivic,
			Amount: 1, Actor: ledger.StaffActor(1), IdempotencyKey: fmt.Sprintf("stmt-a%d", i)})
		return err
	})
	hold := per(func(i int) error {
		_, err := led.PlaceHold(ctx, ledger.HoldRequest{VillageID: c.VillageID, Holder: ledger.Resident(c.ResidentID), Amount: 1,
			Source: ledger.Source{Type: "bench", ID: 1}, Actor: ledger.ResidentActor(c.ResidentID), IdempotencyKey: fmt.Sprintf("stmt-h%d", i)})
		return err
	})
	order := per(func(i int) error {
		_, err := st.PlaceOrder(ctx, c, store.OrderRequest{RewardID: reward.ID, Quantity: 1, IdempotencyKey: fmt.Sprintf("stmt-o%d", i)})
		return err
	})
	fmt.Printf("per operation: statements (BEGIN/COMMIT included) and prepares\n  award %.1f + %.1f, hold %.1f + %.1f, order %.1f + %.1f\n\n",
		award.statements, award.prepares, hold.statements, hold.prepares, order.statements, order.prepares)
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

func (r result) cpu() time.Duration {
	if r.ops == 0 {
		return 0
	}
	return (r.cpu0 / time.Duration(r.ops)).Round(time.Microsecond)
}

// measure runs op from clients goroutines for d (after a short warm-up)
// and returns the operations completed, the time taken and the database
// server's CPU time meanwhile. Client i always acts as the same resident.
func measure(ctx context.Context, clients int, d time.Duration, rewards []int64, op func(context.Context, *rand.Rand, int, []int64) error) result {
	var done, failed atomic.Int64
	var counting atomic.Bool
	stopAt := time.Now().Add(d + 300*time.Millisecond)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))
			for time.Now().Before(stopAt) {
				if err := op(ctx, rng, i, rewards); err != nil {
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

func mustDatabase(dsn string, pool int) (*gorm.DB, func()) {
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		log.Fatalf("-dsn: %v", err)
	}
	name := fmt.Sprintf("jifen_storebench_%d", os.Getpid())
	cfg.DBName = ""
	admin, err := sqldb.Open(sqldb.Options{DSN: cfg.FormatDSN(), MaxOpenConns: 2})
	if err != nil {
		log.Fatal(err)
	}
	if err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci").Error; err != nil {
		log.Fatal(err)
	}
	cfg.DBName = name
	db, err := sqldb.Open(sqldb.Options{DSN: cfg.FormatDSN(), MaxOpenConns: pool})
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

func count(db *gorm.DB, q string, args ...any) int64 {
	var n int64
	db.Raw(q, args...).Scan(&n)
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
