// Command ranking measures the leaderboards on MariaDB/MySQL with Redis,
// on a generated county: 300 villages in 20 townships, 300,000 residents in
// 100,000 households, 3,000,000 sealed postings over the last 12 months.
//
// It reports, in one run of one server:
//   - the full county rebuild from the ledger (the real rebuild path):
//     time, postings per second, board entries, and the Redis memory of all
//     boards (also per 100,000 residents);
//   - at the same concurrency (200 clients by default): GET /healthz, the
//     mini-program leaderboard read (top 50 + me, village and county
//     scope, real mini-program authentication), the same read without the
//     authentication (to show the leaderboard's own cost), and the same
//     read done the naive way (SQL SUM … GROUP BY … ORDER BY on postings):
//     throughput, p50 and p99, the ratio to /healthz and the speedup over
//     the naive read.
//
// The county is bulk-inserted straight into the tables (postings already
// sealed); the boards are then built by ranking.Service.RebuildRegion. It
// creates a throwaway database and Redis prefix and drops them afterwards.
// Not run in CI:
//
//	go run ./scripts/bench/ranking -dsn 'root@tcp(127.0.0.1:3306)/' -redis redis://127.0.0.1:6379/0
package main

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/models/kv"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/ranking"
	"github.com/villagepoints/jifen/rules"
	"github.com/villagepoints/jifen/scripts/bench/internal/benchkit"
	"github.com/villagepoints/jifen/server/app"
)

type opts struct {
	villages, townships, residents, postings, clients int
	duration                                          time.Duration
}

func main() {
	dsn, redisURL := benchkit.ServerFlags()
	var o opts
	flag.IntVar(&o.villages, "villages", 300, "villages")
	flag.IntVar(&o.townships, "townships", 20, "townships")
	flag.IntVar(&o.residents, "residents", 300_000, "residents")
	flag.IntVar(&o.postings, "postings", 3_000_000, "postings")
	flag.IntVar(&o.clients, "clients", 200, "concurrent clients")
	flag.DurationVar(&o.duration, "duration", 8*time.Second, "measuring time per scenario")
	keep := flag.Bool("keep", false, "keep the benchmark database and Redis keys")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the rebuild here")
	listpack := flag.Int("listpack", 0, "if set, CONFIG SET zset-max-listpack-entries to this for the run (restored after), to measure packed village boards")
	skipLoad := flag.Bool("rebuild-only", false, "stop after the rebuild")
	rounds := flag.Int("rounds", 3, "rounds alternating /healthz and each read")
	naiveFor := flag.Duration("naive-duration", 45*time.Second, "measuring time of each naive SQL scenario (its reads take seconds)")
	lastMonth := flag.Bool("last-month", false, "read last month's boards (a whole month of postings) instead of this month's (as many days as have passed)")
	only := flag.String("only", "", "if set, run only the read scenarios whose name contains this (e.g. \"county (mini\"), and the naive reads of their scope")
	pprofAddr := flag.String("pprof", "", "if set, serve net/http/pprof here (e.g. 127.0.0.1:6060) to profile the reads while they run")
	flag.Parse()
	if *pprofAddr != "" {
		go func() { log.Println(http.ListenAndServe(*pprofAddr, nil)) }()
	}
	ctx := context.Background()

	dbName, dbDSN, drop := benchkit.MustCreateDatabase(*dsn, "jifen_rankbench")
	if !*keep {
		defer drop()
	}
	prefix := fmt.Sprintf("jifenrankbench%d", os.Getpid())
	secret := strings.Repeat("ab", 32)
	env := map[string]string{"DATABASE_DSN": dbDSN, "REDIS_URL": *redisURL, "REDIS_PREFIX": prefix, "SECRET_KEY": secret,
		"LOG_LEVEL": "error", "DB_MAX_OPEN_CONNS": "64", "DATA_DIR": os.TempDir()}
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		log.Fatal(err)
	}
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	if !*keep {
		defer benchkit.CleanRedis(a.KV)
	}
	sqlDB, _ := a.DB.DB()
	fmt.Printf("database %s, redis prefix %s\n", dbName, prefix)

	start := time.Now()
	w := generate(ctx, sqlDB, o)
	fmt.Printf("generated %d villages, %d households, %d residents, %d postings in %s\n",
		o.villages, w.households, o.residents, o.postings, time.Since(start).Round(time.Millisecond))

	if *listpack > 0 {
		old, err := a.KV.ConfigGet(ctx, "zset-max-listpack-entries").Result()
		if err != nil {
			log.Fatal(err)
		}
		a.KV.ConfigSet(ctx, "zset-max-listpack-entries", strconv.Itoa(*listpack))
		defer a.KV.ConfigSet(context.Background(), "zset-max-listpack-entries", old["zset-max-listpack-entries"])
		fmt.Printf("zset-max-listpack-entries %d (was %s)\n", *listpack, old["zset-max-listpack-entries"])
	}
	stopProfile := benchkit.StartCPUProfile(*cpuProfile)
	memBefore := usedMemory(ctx, a.KV)
	rep, err := a.Ranking.RebuildRegion(ctx, audit.System, w.county)
	if err != nil {
		log.Fatal(err)
	}
	memAfter := usedMemory(ctx, a.KV)
	stopProfile()
	keys, entries := countKeys(ctx, a.KV, prefix)
	boardMem := memAfter - memBefore
	fmt.Printf("\nfull county rebuild: %s (%s computing and writing, %s swapping) for %d postings (%.0f postings/s), %d board entries, %d board keys swapped, %d keys live\n",
		rep.Took.Round(time.Millisecond), rep.Computed.Round(time.Millisecond), (rep.Took - rep.Computed).Round(time.Millisecond),
		rep.Postings, float64(rep.Postings)/rep.Took.Seconds(), entries, rep.Boards, keys)
	fmt.Printf("redis memory of all boards: %.1f MiB (%.1f MiB per 100k residents, %.1f entries per resident, %.0f bytes per entry)\n",
		mib(boardMem), mib(boardMem)/float64(o.residents)*100_000, float64(entries)/float64(o.residents), float64(boardMem)/float64(entries))
	if *skipLoad {
		return
	}
	// The relay would now re-read every posting the rebuild already
	// covered (the ledger has no way to move a consumer's cursor): start it
	// at the heads, as a rebuilt deployment would after catching up.
	if _, err := sqlDB.Exec(`INSERT INTO ledger_consumer_cursors (consumer, village_id, seq, updated_at)
		SELECT 'rankings', village_id, seq, NOW(6) FROM ledger_chain_heads`); err != nil {
		log.Fatal(err)
	}

	tokens := mustVillagers(ctx, a, sqlDB, w, o.clients, mustHex(secret))
	naive := &naiveReads{db: sqlDB, w: w}
	a.Router.GET("/bench/naive-leaderboard", naive.handle)
	a.Router.GET("/bench/leaderboard", benchRead(a, w))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: a.Router}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	now := time.Now()
	which := "this month's"
	if *lastMonth {
		now, which = rules.Month.Start(now).Add(-time.Hour), "last month's"
	}
	month := rules.Month.Key(now)
	var inMonth int64
	if err := sqlDB.QueryRow("SELECT COUNT(*) FROM ledger_postings WHERE created_at >= ? AND created_at < ?",
		rules.Month.Start(now).UTC(), rules.Month.End(now).UTC()).Scan(&inMonth); err != nil {
		log.Fatal(err)
	}

	fmt.Printf("\n%d clients, %s per scenario, top 50 + me (±2), %s (%s) total board, %d postings in the month (%.0f per village); %d rounds alternating /healthz and the reads\n",
		o.clients, o.duration, which, month, inMonth, float64(inMonth)/float64(o.villages), *rounds)
	fmt.Printf("%-8s %-44s %10s %9s %9s %9s\n", "round", "scenario", "req/s", "p50 ms", "p99 ms", "errors")
	type scenario struct {
		name string
		url  func(i int) string
		auth bool
	}
	reads := []scenario{
		{"leaderboard village (mini-program, auth)", func(int) string { return "/mp/v1/me/leaderboard?page_size=50&period=month&key=" + month }, true},
		{"leaderboard county (mini-program, auth)", func(int) string {
			return "/mp/v1/me/leaderboard?scope=county&page_size=50&period=month&key=" + month
		}, true},
		{"leaderboard village (no auth)", func(i int) string { return benchURL("village", tokens[i%len(tokens)].resident, month) }, false},
		{"leaderboard county (no auth)", func(i int) string { return benchURL("county", tokens[i%len(tokens)].resident, month) }, false},
	}
	if *only != "" {
		reads = slices.DeleteFunc(reads, func(sc scenario) bool { return !strings.Contains(sc.name, *only) })
	}
	checkNaive(base, tokens, month)
	// ratios[name] holds, per round, the scenario's throughput over the
	// /healthz throughput measured just before it.
	ratios := map[string][]float64{}
	runs := map[string][]result{}
	var healthz []float64
	show := func(round int, name string, r result) {
		fmt.Printf("%-8d %-44s %10.0f %9.2f %9.2f %9d\n", round, name, r.rps, ms(r.p50), ms(r.p99), r.errors)
	}
	for round := 1; round <= *rounds; round++ {
		for _, sc := range reads {
			h := load(base, func(int) string { return "/healthz" }, tokens, false, o.clients, o.duration)
			show(round, "GET /healthz", h)
			healthz = append(healthz, h.rps)
			r := load(base, sc.url, tokens, sc.auth, o.clients, o.duration)
			show(round, sc.name, r)
			ratios[sc.name] = append(ratios[sc.name], r.rps/h.rps)
			runs[sc.name] = append(runs[sc.name], r)
		}
	}
	naiveRes := map[string]result{}
	naiveOne := map[string]time.Duration{}
	for _, sc := range []string{"village", "county"} {
		if !slices.ContainsFunc(reads, func(r scenario) bool { return strings.Contains(r.name, sc) }) {
			continue
		}
		// One read alone first, then the same concurrency as above.
		var one []float64
		for i := range 3 {
			t := time.Now()
			resp, err := http.Get(base + naiveURL(sc, tokens[i].resident, month))
			if err != nil {
				log.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			one = append(one, float64(time.Since(t)))
		}
		naiveOne[sc] = time.Duration(median(one))
		fmt.Printf("%-8s %-44s %10s %9.2f\n", "alone", "naive SQL "+sc, "", ms(naiveOne[sc]))
		r := load(base, func(i int) string { return naiveURL(sc, tokens[i%len(tokens)].resident, month) }, tokens, false, o.clients, *naiveFor)
		show(0, "naive SQL "+sc, r)
		naiveRes[sc] = r
	}
	fmt.Printf("\nmedians over %d rounds (/healthz median %.0f req/s):\n", *rounds, median(healthz))
	for _, sc := range reads {
		rs := runs[sc.name]
		var rps, p99 []float64
		for _, r := range rs {
			rps = append(rps, r.rps)
			p99 = append(p99, ms(r.p99))
		}
		line := fmt.Sprintf("  %-44s %7.0f req/s = %3.0f%% of /healthz, p99 %6.2f ms", sc.name, median(rps), 100*median(ratios[sc.name]), median(p99))
		for _, scope := range []string{"village", "county"} {
			if !strings.Contains(sc.name, scope) {
				continue
			}
			if nr := naiveRes[scope]; nr.rps > 0 {
				line += fmt.Sprintf(", %.0f× the naive SQL read (%.2f req/s, p99 %.0f ms)", median(rps)/nr.rps, nr.rps, ms(nr.p99))
			} else {
				// Not one naive read finished in the window: it serves less
				// than one per window.
				line += fmt.Sprintf(", >%.0f× the naive SQL read (none of %d finished in %s)", median(rps)*naiveFor.Seconds(), o.clients, *naiveFor)
			}
			line += fmt.Sprintf("; naive read alone (no concurrency) %.0f ms", ms(naiveOne[scope]))
		}
		fmt.Println(line)
	}
	fmt.Printf("load average at the end: %s\n", loadAverage())
}

// loadAverage reads /proc/loadavg: the figures above are only as steady as
// the machine was.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	ys := slices.Clone(xs)
	slices.Sort(ys)
	return ys[len(ys)/2]
}

// world is what the generator made.
type world struct {
	county     int64
	townships  []int64
	villages   []int64
	townOf     map[int64]int64
	households int
	// residentsOf lists each village's resident ids.
	residentsOf map[int64][]int64
	villageOf   map[int64]int64 // resident → village
}

var (
	surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
	given    = []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰文辉建国红梅春林海燕志军鹏飞晓东宇浩然子涵欣怡梓萱俊杰")
)

func name(rng *rand.Rand) string {
	n := 1 + rng.IntN(2)
	var b strings.Builder
	b.WriteRune(surnames[rng.IntN(len(surnames))])
	for range n {
		b.WriteRune(given[rng.IntN(len(given))])
	}
	return b.String()
}

// generate bulk-inserts the county with explicit ids.
func generate(ctx context.Context, db *sql.DB, o opts) world {
	w := world{townOf: map[int64]int64{}, residentsOf: map[int64][]int64{}, villageOf: map[int64]int64{}}
	now := time.Now().UTC()
	w.county = 1
	var rows [][]any
	rows = append(rows, []any{1, nil, "county", "基准县", "BENCH-C", "/1/", now})
	for t := range o.townships {
		id := int64(2 + t)
		w.townships = append(w.townships, id)
		rows = append(rows, []any{id, 1, "township", fmt.Sprintf("第%d镇", t+1), fmt.Sprintf("BENCH-T%d", t), fmt.Sprintf("/1/%d/", id), now})
	}
	for v := range o.villages {
		id := int64(2 + o.townships + v)
		t := w.townships[v%o.townships]
		w.villages = append(w.villages, id)
		w.townOf[id] = t
		rows = append(rows, []any{id, t, "village", fmt.Sprintf("第%d村", v+1), fmt.Sprintf("BENCH-V%d", v), fmt.Sprintf("/1/%d/%d/", t, id), now})
	}
	mustInsert(ctx, db, "regions", "id, parent_id, level, name, code, path, created_at", rows)

	// Households of 1 to 5 residents, 3 on average; one in ten a party member.
	rng := rand.New(rand.NewPCG(1, 2))
	var hh, rs [][]any
	rid, hid := int64(0), int64(0)
	perVillage := o.residents / o.villages
	for _, v := range w.villages {
		for n := 0; n < perVillage; {
			hid++
			size := min(1+rng.IntN(5), perVillage-n)
			head := name(rng)
			hh = append(hh, []any{hid, v, fmt.Sprintf("%04d", hid), head, now, now})
			for m := range size {
				rid++
				nm := head
				if m > 0 {
					nm = name(rng)
				}
				rs = append(rs, []any{rid, v, hid, nm, rng.IntN(10) == 0, "active", now, now})
				w.residentsOf[v] = append(w.residentsOf[v], rid)
				w.villageOf[rid] = v
			}
			n += size
		}
	}
	w.households = len(hh)
	mustInsert(ctx, db, "households", "id, village_id, number, head_name, created_at, updated_at", hh)
	mustInsert(ctx, db, "residents", "id, village_id, household_id, name, party_member, status, created_at, updated_at", rs)

	// Postings per village in chain order over the last 12 months: awards
	// (most), deductions, volunteer hours, manual adjustments, redemptions
	// and reversals of earlier awards.
	per := o.postings / o.villages
	var g errgroup.Group
	g.SetLimit(4)
	var idBase atomic.Int64
	for vi, v := range w.villages {
		g.Go(func() error {
			rng := rand.New(rand.NewPCG(uint64(vi), 9))
			residents := w.residentsOf[v]
			first := idBase.Add(int64(per)) - int64(per)
			span := 365 * 24 * time.Hour
			t0 := now.Add(-span)
			var batch [][]any
			var awards []int64
			reversed := map[int64]bool{}
			for i := range per {
				id := first + int64(i) + 1
				seq := int64(i + 1)
				at := t0.Add(time.Duration(float64(span) * float64(i) / float64(per)))
				r := residents[rng.IntN(len(residents))]
				amount := int64(1 + rng.IntN(20))
				typ, track, fk, fo, tk, to := "rule_award", "civic", "issued", int64(0), "resident", r
				var rev any
				switch x := rng.IntN(100); {
				case x < 12:
					typ, fk, fo, tk, to = "rule_deduction", "resident", r, "deducted", 0
				case x < 22:
					typ, track = "volunteer_attendance", "volunteer"
				case x < 27:
					typ, track = "duty_assessment", "party"
				case x < 30:
					typ = "manual_adjustment"
					fk = "adjustments"
				case x < 35:
					typ, fk, fo, tk, to = "redemption_capture", "resident", r, "redeemed", 0
				case x < 37 && len(awards) > 0:
					orig := awards[rng.IntN(len(awards))]
					if !reversed[orig] {
						reversed[orig] = true
						rev = orig
						// A reversal of an award: holder → issued.
						typ, fk, fo, tk, to = "reversal", "resident", r, "issued", 0
					}
				}
				if typ == "rule_award" {
					awards = append(awards, id)
				}
				batch = append(batch, []any{id, v, id, 0, id, "resident", r, typ, track, fk, fo, tk, to, amount, "bench", 0, "staff:1", "", rev, at, seq,
					"0000000000000000000000000000000000000000000000000000000000000000", "0000000000000000000000000000000000000000000000000000000000000000"})
				if len(batch) == 2000 {
					mustInsert(ctx, db, "ledger_postings", postingCols, batch)
					batch = batch[:0]
				}
			}
			mustInsert(ctx, db, "ledger_postings", postingCols, batch)
			_, err := db.ExecContext(ctx, "INSERT INTO ledger_chain_heads (village_id, seq, hash, updated_at) VALUES (?, ?, ?, ?)",
				v, per, strings.Repeat("0", 64), now)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		log.Fatal(err)
	}
	return w
}

const postingCols = "id, village_id, request_id, leg, request_hash, holder_kind, holder_id, type, track, from_kind, from_owner, to_kind, to_owner, amount, source_type, source_id, actor, reason, reverses_id, created_at, chain_seq, prev_hash, hash"

// mustInsert writes rows with multi-row INSERTs.
func mustInsert(ctx context.Context, db *sql.DB, table, cols string, rows [][]any) {
	if len(rows) == 0 {
		return
	}
	n := len(rows[0])
	step := 60000 / n
	for i := 0; i < len(rows); i += step {
		chunk := rows[i:min(i+step, len(rows))]
		var sb strings.Builder
		sb.WriteString("INSERT INTO " + table + " (" + cols + ") VALUES ")
		args := make([]any, 0, len(chunk)*n)
		ph := "(" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")"
		for j, r := range chunk {
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(ph)
			args = append(args, r...)
		}
		if _, err := db.ExecContext(ctx, sb.String(), args...); err != nil {
			log.Fatalf("insert into %s: %v", table, err)
		}
	}
}

type villager struct {
	token    string
	resident int64
}

// mustVillagers logs in one mini-program user per client (through the
// identity service's dev login, on a second instance sharing the secret)
// and binds each to a random resident by hand.
func mustVillagers(ctx context.Context, a *app.App, db *sql.DB, w world, n int, secret []byte) []villager {
	id, err := identity.NewService(a.DB, a.KV, a.People, a.Vault, nil, identity.Config{Secret: secret, DevLogin: true})
	if err != nil {
		log.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var out []villager
	taken := map[int64]bool{} // a resident is bound to one WeChat user at most
	for i := range n {
		res, err := id.DevLogin(ctx, fmt.Sprintf("bench%d", i))
		if err != nil {
			log.Fatal(err)
		}
		v := w.villages[rng.IntN(len(w.villages))]
		r := w.residentsOf[v][rng.IntN(len(w.residentsOf[v]))]
		for taken[r] {
			v = w.villages[rng.IntN(len(w.villages))]
			r = w.residentsOf[v][rng.IntN(len(w.residentsOf[v]))]
		}
		taken[r] = true
		if _, err := db.ExecContext(ctx, "UPDATE mp_users SET resident_id = ?, village_id = ?, bound_via = 'bench', bound_at = NOW(6) WHERE openid = ?",
			r, v, fmt.Sprintf("dev_bench%d", i)); err != nil {
			log.Fatal(err)
		}
		out = append(out, villager{token: res.AccessToken, resident: r})
	}
	return out
}

func benchURL(scope string, resident int64, month string) string {
	return fmt.Sprintf("/bench/leaderboard?scope=%s&me=%d&key=%s", scope, resident, month)
}

// benchRead is the mini-program read without its authentication: the
// caller is named in the query. It isolates the leaderboard's own cost.
func benchRead(a *app.App, w world) gin.HandlerFunc {
	return func(c *gin.Context) {
		me, _ := strconv.ParseInt(c.Query("me"), 10, 64)
		b, err := a.Ranking.VillageBoard(c, w.villageOf[me], ranking.SubjectResident, ranking.ScopeKind(c.Query("scope")), rules.Month, c.Query("key"), ranking.TrackTotal)
		if err != nil {
			c.AbortWithStatus(500)
			return
		}
		page, err := a.Ranking.Read(c, ranking.ReadRequest{Board: b, Limit: 50, Me: me, Around: 2, Viewer: ranking.Villager})
		if err != nil {
			c.AbortWithStatus(500)
			return
		}
		body, err := page.MarshalJSON()
		if err != nil {
			c.AbortWithStatus(500)
			return
		}
		c.Data(200, "application/json; charset=utf-8", append(append([]byte(`{"data":`), body...), '}'))
	}
}

func naiveURL(scope string, resident int64, month string) string {
	return fmt.Sprintf("/bench/naive-leaderboard?scope=%s&me=%d&key=%s", scope, resident, month)
}

// naiveReads answers the same read from SQL, the way a CRUD system would:
// SUM … GROUP BY … ORDER BY over the postings of the month, for every
// resident of the village (or county), then the top 50, the caller's rank,
// gap and neighbours, and their names masked. It answers the board's own
// question: the postings that count (between a resident's account and the
// village's issued, deducted or adjustments account, signed), a reversal
// counted in the month of the posting it reverses, residents vetoed for
// the month left out, ties in points ordered by who reached them first
// (the latest counted posting, to the second, as the board's tie-break
// clock; equal seconds as Redis orders equal scores: member ids as strings,
// descending), standard competition ranks.
type naiveReads struct {
	db *sql.DB
	w  world
}

type standing struct {
	ID     int64  `json:"member_id"`
	Name   string `json:"name"`
	Points int64  `json:"points"`
	Rank   int    `json:"rank"`
}

func (n *naiveReads) handle(c *gin.Context) {
	me, _ := strconv.ParseInt(c.Query("me"), 10, 64)
	villages := n.w.villages
	if c.Query("scope") == "village" {
		villages = []int64{n.w.villageOf[me]}
	}
	key := c.Query("key")
	start, err := time.ParseInLocation("2006-01", key, rules.China)
	if err != nil {
		c.AbortWithStatus(400)
		return
	}
	from, to := rules.Month.Start(start).UTC(), rules.Month.End(start).UTC()
	in := strings.TrimSuffix(strings.Repeat("?,", len(villages)), ",")
	var args []any
	vs := func() {
		for _, v := range villages {
			args = append(args, v)
		}
	}
	// Postings of the month (less the reversals of earlier months'
	// postings), and reversals made later of the month's postings.
	vs()
	args = append(args, from, to, from)
	vs()
	args = append(args, to, from, to)
	vs()
	args = append(args, key)
	rows, err := n.db.QueryContext(c, `SELECT owner, SUM(delta) AS points FROM (
		SELECT CASE WHEN p.to_kind = 'resident' THEN p.to_owner ELSE p.from_owner END AS owner,
		       CASE WHEN p.to_kind = 'resident' THEN p.amount ELSE -p.amount END AS delta, p.created_at AS at
		  FROM ledger_postings p LEFT JOIN ledger_postings o ON o.id = p.reverses_id
		 WHERE p.village_id IN (`+in+`) AND p.created_at >= ? AND p.created_at < ? AND (o.id IS NULL OR o.created_at >= ?)
		   AND ((p.to_kind = 'resident' AND p.from_kind IN ('issued', 'deducted', 'adjustments'))
		     OR (p.from_kind = 'resident' AND p.to_kind IN ('issued', 'deducted', 'adjustments')))
		UNION ALL
		SELECT CASE WHEN p.to_kind = 'resident' THEN p.to_owner ELSE p.from_owner END,
		       CASE WHEN p.to_kind = 'resident' THEN p.amount ELSE -p.amount END, p.created_at
		  FROM ledger_postings p JOIN ledger_postings o ON o.id = p.reverses_id
		 WHERE p.village_id IN (`+in+`) AND p.created_at >= ? AND o.created_at >= ? AND o.created_at < ?
		   AND ((p.to_kind = 'resident' AND p.from_kind IN ('issued', 'deducted', 'adjustments'))
		     OR (p.from_kind = 'resident' AND p.to_kind IN ('issued', 'deducted', 'adjustments')))
		) x
		WHERE owner NOT IN (SELECT subject_id FROM ranking_vetoes
		  WHERE village_id IN (`+in+`) AND subject = 'resident' AND period_key = ? AND revoked_at IS NULL)
		GROUP BY owner ORDER BY points DESC, FLOOR(UNIX_TIMESTAMP(MAX(at))), CAST(owner AS CHAR) DESC`, args...)
	if err != nil {
		log.Printf("naive read: %v", err)
		c.AbortWithStatus(500)
		return
	}
	defer rows.Close()
	var all []standing
	for rows.Next() {
		var s standing
		if err := rows.Scan(&s.ID, &s.Points); err != nil {
			log.Printf("naive read: %v", err)
			c.AbortWithStatus(500)
			return
		}
		all = append(all, s)
	}
	if rows.Err() != nil {
		c.AbortWithStatus(500)
		return
	}
	mine := -1
	for i := range all {
		if i > 0 && all[i].Points == all[i-1].Points {
			all[i].Rank = all[i-1].Rank
		} else {
			all[i].Rank = i + 1
		}
		if all[i].ID == me {
			mine = i
		}
	}
	top := all[:min(50, len(all))]
	var around []standing
	if mine >= 0 {
		around = all[max(0, mine-2):min(len(all), mine+3)]
	}
	// Names of the shown residents, masked.
	ids := make([]any, 0, len(top)+len(around))
	for _, s := range append(slices.Clone(top), around...) {
		ids = append(ids, s.ID)
	}
	names := map[int64]string{}
	if len(ids) > 0 {
		nr, err := n.db.QueryContext(c, "SELECT id, name FROM residents WHERE id IN ("+strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")+")", ids...)
		if err != nil {
			c.AbortWithStatus(500)
			return
		}
		for nr.Next() {
			var id int64
			var name string
			if err := nr.Scan(&id, &name); err != nil {
				nr.Close()
				c.AbortWithStatus(500)
				return
			}
			names[id] = pii.MaskName(name)
		}
		nr.Close()
	}
	for _, list := range [][]standing{top, around} {
		for i := range list {
			list[i].Name = names[list[i].ID]
		}
	}
	out := gin.H{"total": len(all), "entries": top}
	if mine >= 0 {
		gap := int64(0)
		for i := mine - 1; i >= 0; i-- {
			if all[i].Points > all[mine].Points {
				gap = all[i].Points - all[mine].Points
				break
			}
		}
		out["me"] = gin.H{"rank": all[mine].Rank, "points": all[mine].Points, "gap_to_next_rank": gap, "neighbours": around}
	}
	c.JSON(200, gin.H{"data": out})
}

// checkNaive compares the naive read with the board read for a few
// callers at both scopes: the same top 50 (member, masked name, points,
// rank) and the same standing of the caller. Ties in points reached in the
// same second may be ordered differently; they are reported, not fatal.
func checkNaive(base string, tokens []villager, month string) {
	type page struct {
		Data struct {
			Total   int64 `json:"total"`
			Entries []struct {
				ID     int64  `json:"member_id"`
				Name   string `json:"name"`
				Points int64  `json:"points"`
				Rank   int64  `json:"rank"`
			} `json:"entries"`
			Me *struct {
				Rank   int64 `json:"rank"`
				Points int64 `json:"points"`
				Gap    int64 `json:"gap_to_next_rank"`
			} `json:"me"`
		} `json:"data"`
	}
	get := func(url string) page {
		resp, err := http.Get(base + url)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		var p page
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != 200 {
			log.Fatalf("%s: %d %v", url, resp.StatusCode, err)
		}
		return p
	}
	same, differ := 0, 0
	for _, scope := range []string{"village", "county"} {
		// A few callers, then callers ranked 10th and 40th on the board of
		// the first (most random callers have no points this month).
		var callers []int64
		for _, tk := range tokens[:min(5, len(tokens))] {
			callers = append(callers, tk.resident)
		}
		if es := get(benchURL(scope, callers[0], month)).Data.Entries; len(es) > 0 {
			callers = append(callers, es[min(9, len(es)-1)].ID, es[min(39, len(es)-1)].ID)
		}
		for _, me := range callers {
			b, n := get(benchURL(scope, me, month)), get(naiveURL(scope, me, month))
			// The board answers "not ranked" (rank 0) where the naive read
			// has no standing for the caller.
			ranked := b.Data.Me != nil && b.Data.Me.Rank > 0
			ok := b.Data.Total == n.Data.Total && len(b.Data.Entries) == len(n.Data.Entries) && ranked == (n.Data.Me != nil)
			for i := 0; ok && i < len(b.Data.Entries); i++ {
				ok = b.Data.Entries[i] == n.Data.Entries[i]
			}
			if ok && ranked {
				ok = *b.Data.Me == *n.Data.Me
			}
			if ok {
				same++
			} else {
				differ++
				fmt.Printf("naive and board differ (%s, resident %d):\n  board %+v %+v\n  naive %+v %+v\n", scope, me, b.Data.Me, b.Data.Entries, n.Data.Me, n.Data.Entries)
			}
		}
	}
	fmt.Printf("naive SQL and board reads agree on %d of %d reads (top 50 with masked names, total, my rank, points, gap)\n", same, same+differ)
}

type result struct {
	rps      float64
	p50, p99 time.Duration
	errors   int64
}

// load runs clients goroutines against url for d and measures them.
func load(base string, url func(i int) string, tokens []villager, auth bool, clients int, d time.Duration) result {
	tr := &http.Transport{MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2, MaxConnsPerHost: clients * 2}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	defer tr.CloseIdleConnections()
	// Warm the connections and caches.
	warm := time.Now().Add(time.Second)
	var done atomic.Bool
	var errs atomic.Int64
	lat := make([][]time.Duration, clients)
	var count atomic.Int64
	var wg sync.WaitGroup
	var measuring atomic.Bool
	for i := range clients {
		wg.Go(func() {
			for j := 0; !done.Load(); j++ {
				req, _ := http.NewRequest("GET", base+url(i+j*clients), nil)
				if auth {
					req.Header.Set("Authorization", "Bearer "+tokens[i%len(tokens)].token)
				}
				t := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if !measuring.Load() {
					continue
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				lat[i] = append(lat[i], time.Since(t))
				count.Add(1)
			}
		})
	}
	time.Sleep(time.Until(warm))
	measuring.Store(true)
	start := time.Now()
	time.Sleep(d)
	measuring.Store(false)
	elapsed := time.Since(start)
	done.Store(true)
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	r := result{rps: float64(count.Load()) / elapsed.Seconds(), errors: errs.Load()}
	if len(all) > 0 {
		r.p50 = all[len(all)/2]
		r.p99 = all[len(all)*99/100]
	}
	return r
}

func usedMemory(ctx context.Context, c *kv.Client) int64 {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// countKeys counts the board keys and their entries (every scope).
func countKeys(ctx context.Context, c *kv.Client, prefix string) (keys, entries int64) {
	iter := c.Scan(ctx, 0, prefix+":rank:*:b:*", 5000).Iterator()
	pipe := c.Pipeline()
	var cmds []*redis.IntCmd
	for iter.Next(ctx) {
		keys++
		cmds = append(cmds, pipe.ZCard(ctx, iter.Val()))
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		log.Fatal(err)
	}
	for _, c := range cmds {
		entries += c.Val()
	}
	return keys, entries
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		log.Fatal(err)
	}
	return b
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
