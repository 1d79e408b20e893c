package ranking

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/kv"
	"github.com/villagepoints/jifen/models/kv/kvtest"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
)

var ctx = context.Background()

// admin is the village admin acting in tests, as the console names them.
var admin = audit.Actor{StaffID: 7, Name: "村管理员", RequestID: "req-admin", IP: "10.0.0.7"}

// auditRow is an audit entry as tests read it.
type auditRow struct {
	ActorID    int64
	ActorName  string
	VillageID  *int64
	Action     string
	TargetType string
	TargetID   int64
	BeforeJSON *string
	AfterJSON  *string
}

// mustAudit returns the audit entries of ranking actions, oldest first.
func mustAudit(t testing.TB, e *env) []auditRow {
	t.Helper()
	var rows []auditRow
	if err := e.db.Table("audit_log").Where("action LIKE ?", "ranking.%").Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

// wantAudit checks one entry: action, actor, village, target and that
// before and after contain the given fragments.
func wantAudit(t testing.TB, got auditRow, action string, who audit.Actor, village int64, target int64, before, after []string) {
	t.Helper()
	if got.Action != action || got.ActorID != who.StaffID || got.ActorName != who.Name || got.TargetID != target ||
		(village == 0) != (got.VillageID == nil) || (got.VillageID != nil && *got.VillageID != village) {
		t.Fatalf("audit entry %+v, want %s by %+v in village %d on %d", got, action, who, village, target)
	}
	for _, c := range []struct {
		field *string
		want  []string
	}{{got.BeforeJSON, before}, {got.AfterJSON, after}} {
		for _, w := range c.want {
			if c.field == nil || !strings.Contains(*c.field, w) {
				t.Fatalf("%s: %v lacks %q", action, c.field, w)
			}
		}
	}
}

// clock is the ledger's clock in tests: postings are dated by it. The
// rankings themselves use real time, because real Redis expires board keys
// by real time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// env is one backend pair with a small county: townships A and B, villages
// A1 and A2 in A, B1 in B; every village has households of 1 to 4 members,
// every third resident a party member.
type env struct {
	db     *gorm.DB
	kv     *kv.Client
	people *people.Store
	ledger *ledger.Store
	sealer *ledger.Sealer
	svc    *Service
	clock  *clock

	county, townA, townB people.Region
	villages             []people.Region
	residents            map[int64][]people.Resident // by village
	households           map[int64][]people.Household
}

// eachEnv runs fn on SQLite with the embedded Redis and, when configured,
// on MariaDB with the real Redis.
func eachEnv(t *testing.T, fn func(t *testing.T, e *env)) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		fn(t, mustEnv(t, db))
	})
}

var codeSeq atomic.Int64

func mustEnv(t testing.TB, db *gorm.DB) *env {
	t.Helper()
	var rc *kv.Client
	if url := os.Getenv("TEST_REDIS_URL"); url != "" && sqldb.DialectOf(db) == sqldb.MySQL {
		rc = kvtest.MustReal(t, url)
	} else {
		rc = kvtest.MustEmbedded(t)
	}
	vault, err := pii.NewVault([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Now().Add(-45 * 24 * time.Hour)}
	e := &env{db: db, kv: rc, people: people.NewStore(db, vault), clock: c,
		residents: map[int64][]people.Resident{}, households: map[int64][]people.Household{}}
	e.ledger = ledger.New(db, ledger.Options{Now: c.Now})
	e.sealer = ledger.NewSealer(e.ledger)
	e.svc = New(db, rc, e.ledger, Options{PeopleTTL: time.Hour, PageTTL: -1})
	p := fmt.Sprintf("R%d-", codeSeq.Add(1))
	e.county = mustRegion(t, e, nil, people.County, "示范县", p+"C")
	e.townA = mustRegion(t, e, &e.county, people.Township, "甲镇", p+"TA")
	e.townB = mustRegion(t, e, &e.county, people.Township, "乙镇", p+"TB")
	names := []string{"张三", "李小四", "王五", "赵六", "欧阳小明", "钱七", "孙八", "周九", "吴十", "郑一"}
	for i, parent := range []*people.Region{&e.townA, &e.townA, &e.townB} {
		v := mustRegion(t, e, parent, people.Village, fmt.Sprintf("村%d", i+1), fmt.Sprintf("%sV%d", p, i))
		e.villages = append(e.villages, v)
		n := 0
		for h := range 4 {
			hh, err := e.people.CreateHousehold(ctx, audit.System, v.ID, people.HouseholdInput{Number: fmt.Sprintf("%03d", h+1), HeadName: names[(h+i)%len(names)]})
			if err != nil {
				t.Fatal(err)
			}
			e.households[v.ID] = append(e.households[v.ID], hh)
			for m := 0; m <= h; m++ {
				r, err := e.people.CreateResident(ctx, audit.System, v.ID, people.ResidentInput{HouseholdID: &hh.ID,
					Name: names[(n+i)%len(names)], Registered: true, PartyMember: n%3 == 0})
				if err != nil {
					t.Fatal(err)
				}
				e.residents[v.ID] = append(e.residents[v.ID], r)
				n++
			}
		}
		if err := e.ledger.SaveSettings(ctx, v.ID, func() ledger.Settings {
			s := ledger.DefaultSettings()
			s.AllowNegativeDeduction = true
			if i == 2 {
				s.HolderMode = ledger.HolderHousehold
			}
			return s
		}(), ledger.StaffActor(1)); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func mustRegion(t testing.TB, e *env, parent *people.Region, level people.Level, name, code string) people.Region {
	t.Helper()
	in := people.RegionInput{Level: level, Name: name, Code: code}
	if parent != nil {
		in.ParentID = &parent.ID
	}
	r, err := e.people.CreateRegion(ctx, audit.System, in)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var idem atomic.Int64

func key() string { return fmt.Sprintf("k%d", idem.Add(1)) }

func mustAward(t testing.TB, e *env, village int64, h ledger.Holder, track ledger.Track, amount int64) ledger.Posting {
	t.Helper()
	res, err := e.ledger.Award(ctx, ledger.AwardRequest{VillageID: village, Holder: h, Track: track, Amount: amount,
		Actor: ledger.StaffActor(1), IdempotencyKey: key()})
	if err != nil {
		t.Fatal(err)
	}
	return res.Postings[0]
}

func mustDeduct(t testing.TB, e *env, village int64, h ledger.Holder, track ledger.Track, amount int64) ledger.Posting {
	t.Helper()
	res, err := e.ledger.Deduct(ctx, ledger.DeductRequest{VillageID: village, Holder: h, Track: track, Amount: amount,
		Actor: ledger.StaffActor(1), IdempotencyKey: key()})
	if err != nil {
		t.Fatal(err)
	}
	return res.Postings[0]
}

func mustReverse(t testing.TB, e *env, village int64, p ledger.Posting) {
	t.Helper()
	if _, err := e.ledger.Reverse(ctx, ledger.ReverseRequest{VillageID: village, PostingID: p.ID, Actor: ledger.StaffActor(1),
		Reason: "更正", IdempotencyKey: key()}); err != nil {
		t.Fatal(err)
	}
}

// mustSync seals every posting and delivers it to the boards.
func mustSync(t testing.TB, e *env) {
	t.Helper()
	if _, err := e.sealer.SealAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

// dumpBoards renders every live board of the county (key → members with
// their scores in board order), so two states can be compared exactly.
func dumpBoards(t testing.TB, e *env) map[string]string {
	t.Helper()
	out := map[string]string{}
	pattern := e.kv.Key("rank", tag(e.county.ID), "b", "*")
	iter := e.kv.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		zs, err := e.kv.ZRevRangeWithScores(ctx, k, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		for _, z := range zs {
			p, tick := Unpack(z.Score)
			fmt.Fprintf(&sb, "%v=%d@%d ", z.Member, p, tick)
		}
		out[strings.TrimPrefix(k, e.kv.Key(""))] = sb.String()
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func diffBoards(t testing.TB, what string, want, got map[string]string) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	bad := 0
	for _, k := range keys {
		if want[k] != got[k] {
			if bad < 5 {
				t.Errorf("%s: board %s\nlive:    %s\nrebuilt: %s", what, k, want[k], got[k])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d of %d boards differ", what, bad, len(keys))
	}
}
