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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/models/store"
	"github.com/villagepoints/jifen/scripts/bench/internal/benchkit"
)

func main() {
	dsn, redisURL := benchkit.ServerFlags()
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
	db, drop := benchkit.MustOpenDatabase(*dsn, "jifen_storebench", *pool)
	defer drop()
	rc, cleanRedis := benchkit.MustOpenRedis(*redisURL, "jifenstorebench")
	defer cleanRedis()

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
	for _, c := range benchkit.Ints(*clientList) {
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
	award := func(ctx context.Context, rng *rand.Rand, client int) error {
		c := customers[client]
		_, err := led.Award(ctx, ledger.AwardRequest{VillageID: c.VillageID, Holder: ledger.Resident(c.ResidentID), Track: ledger.TrackCivic,
			Amount: int64(rng.IntN(10) + 1), Source: ledger.Source{Type: "bench", ID: 1}, Actor: ledger.StaffActor(1),
			IdempotencyKey: "a" + strconv.FormatInt(keySeq.Add(1), 10)})
		return err
	}
	// A bare ledger hold, the part of an order the ledger does, for
	// telling the store's own cost from the ledger's.
	hold := func(ctx context.Context, rng *rand.Rand, client int) error {
		c := customers[client]
		_, err := led.PlaceHold(ctx, ledger.HoldRequest{VillageID: c.VillageID, Holder: ledger.Resident(c.ResidentID), Amount: 1,
			Source: ledger.Source{Type: "bench", ID: 1}, Actor: ledger.ResidentActor(c.ResidentID), IdempotencyKey: "h" + strconv.FormatInt(keySeq.Add(1), 10)})
		return err
	}
	order := func(rewards []int64) benchkit.Op {
		return func(ctx context.Context, rng *rand.Rand, client int) error {
			_, err := st.PlaceOrder(ctx, customers[client], store.OrderRequest{RewardID: rewards[rng.IntN(len(rewards))], Quantity: 1,
				IdempotencyKey: "o" + strconv.FormatInt(keySeq.Add(1), 10)})
			return err
		}
	}

	if *countStatements {
		printStatements(ctx, *dsn, db, customers, admin, *limited)
	}

	stopProfile := benchkit.StartCPUProfile(*cpuProfile)
	defer stopProfile()

	fmt.Printf("store benchmark: %s per cell and side, %d villages, MariaDB %s\n\n", *duration, *villages, benchkit.ServerVersion(db))
	fmt.Printf("%-8s %-8s %10s %10s %10s %7s %13s %13s %13s\n", "clients", "rewards", "awards/s", "holds/s", "orders/s", "ratio",
		"db cpu/award", "db cpu/hold", "db cpu/order")
	fmt.Println("(ratio: orders/s over awards/s; holds/s is the ledger's PlaceHold alone, for reference)")
	fmt.Println("(db cpu: CPU time of the local mariadbd process per operation, whoever else uses it)")
	var rewardsCreated []store.Reward
	for _, nr := range benchkit.Ints(*rewardList) {
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
		for _, c := range benchkit.Ints(*clientList) {
			var base, held, ord benchkit.Result
			bgCtx, stop := context.WithCancel(ctx)
			var bg sync.WaitGroup
			bg.Go(func() { sealer.Run(bgCtx, *every) })
			bg.Go(func() { relay.Run(bgCtx, *every) })
			bg.Go(func() { ready.Run(bgCtx, *every) })
			for range *rounds {
				base.Add(benchkit.Measure(ctx, c, *duration/time.Duration(*rounds), award))
				held.Add(benchkit.Measure(ctx, c, *duration/time.Duration(*rounds), hold))
				ord.Add(benchkit.Measure(ctx, c, *duration/time.Duration(*rounds), order(rewards)))
			}
			stop()
			bg.Wait()
			fmt.Printf("%-8d %-8d %10.0f %10.0f %10.0f %7.2f %13s %13s %13s\n", c, nr, base.Rate(), held.Rate(), ord.Rate(), ord.Rate()/base.Rate(),
				base.CPU(), held.CPU(), ord.CPU())
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
		open := benchkit.Count(db, "SELECT COALESCE(SUM(quantity), 0) FROM store_orders WHERE reward_id = ? AND status = 'open'", r.ID)
		if now.Stock+now.Reserved != r.Stock || now.Reserved != open {
			log.Fatalf("reward %d: stock %d + reserved %d != %d, or reserved != %d open", r.ID, now.Stock, now.Reserved, r.Stock, open)
		}
	}
	fmt.Printf("\nafter the runs: %d orders, %d postings; every village verifies, stock + reserved = initial stock, reserved = open orders\n",
		benchkit.Count(db, "SELECT COUNT(*) FROM store_orders"), benchkit.Count(db, "SELECT COUNT(*) FROM ledger_postings"))
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
