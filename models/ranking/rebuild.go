package ranking

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/rules"
)

// RebuildReport says what a rebuild did.
type RebuildReport struct {
	RegionID int64 `json:"region_id"`
	Villages int   `json:"villages"`
	// Postings is how many sealed postings were read.
	Postings int64 `json:"postings"`
	// Entries is how many village-board entries were written; township
	// and county boards repeat them.
	Entries int64 `json:"entries"`
	// Boards is how many board keys were swapped in or removed.
	Boards int           `json:"boards"`
	Took   time.Duration `json:"took_ns"`
	// Computed is the part of Took spent reading the ledger and writing
	// the new boards; the rest is the swap.
	Computed time.Duration `json:"computed_ns"`
}

// family is one board of every region: subject, period, track.
type family struct {
	subject Subject
	period  rules.Period
	key     string
	track   ledger.Track
}

func (f family) board(sc ScopeKind, id, county int64) Board {
	return Board{Subject: f.subject, Scope: sc, ScopeID: id, County: county, Period: f.period, Key: f.key, Track: f.track}
}

// families lists every board family whose period exists at now.
func families(now time.Time) []family {
	var out []family
	for _, p := range Periods {
		for _, key := range retainedKeys(p, now) {
			for _, sub := range Subjects {
				for _, tr := range Tracks {
					out = append(out, family{subject: sub, period: p, key: key, track: tr})
				}
			}
		}
	}
	return out
}

// aggKey is one member of one board family.
type aggKey struct {
	family
	member int64
}

type agg struct {
	points, tick int64
	divisor      int
}

// aggregate folds a village's postings (up to head) into board entries of
// village scope, equal to what the live deliveries of the same postings
// leave: for each holder, period and track the summed points and the tick
// of the last change in chain order. Residents' sums then feed the
// resident, party and household boards (a household's entry sums its
// members' and its own, with the tick of whichever changed last), so each
// posting costs a few integer-keyed map updates. Vetoed members are left
// out; keep filters families.
func (s *Service) aggregate(ctx context.Context, village, head int64, g geo, m Mapping, vetoes map[string]bool, now time.Time,
	keep func(family) bool) (map[aggKey]*agg, int64, error) {
	type period struct {
		kind       rules.Period
		key        string
		start, end time.Time
		retained   bool
	}
	var periods []period
	index := map[string]uint8{}
	var last [4]int // per period kind, the index of the period seen last
	for i := range last {
		last[i] = -1
	}
	periodOfAt := func(pi int, p rules.Period, at time.Time) (int, bool) {
		if l := last[pi]; l >= 0 && !at.Before(periods[l].start) && at.Before(periods[l].end) {
			return l, periods[l].retained
		}
		key := p.Key(at)
		i, ok := index[key]
		if !ok {
			start := p.Start(at)
			i = uint8(len(periods))
			periods = append(periods, period{kind: p, key: key, start: start, end: p.End(start), retained: retained(p, at, now)})
			index[key] = i
		}
		last[pi] = int(i)
		return int(i), periods[i].retained
	}
	type hkey struct {
		household bool
		id        int64
		period    uint8
		track     uint8
	}
	type hval struct{ points, tick, seq int64 }
	trackIdx := func(t ledger.Track) uint8 {
		for i, x := range Tracks {
			if x == t {
				return uint8(i)
			}
		}
		return 0
	}
	total := trackIdx(TrackTotal)
	sums := map[hkey]*hval{}
	n, err := s.scanVillage(ctx, village, head, func(p scanned) {
		e, ok := EffectOf(p.Posting, p.OrigAt)
		if !ok {
			return
		}
		tr := trackIdx(e.Track)
		for pi, pk := range Periods {
			i, ok := periodOfAt(pi, pk, e.At)
			if !ok {
				continue
			}
			tick := Tick(pk, periods[i].start, e.Changed)
			for _, t := range [2]uint8{tr, total} {
				k := hkey{household: e.Holder.Kind == ledger.HolderHousehold, id: e.Holder.ID, period: uint8(i), track: t}
				v := sums[k]
				if v == nil {
					v = &hval{}
					sums[k] = v
				}
				v.points += e.Delta
				v.tick, v.seq = tick, p.ChainSeq
			}
		}
	})
	if err != nil {
		return nil, n, err
	}
	out := map[aggKey]*agg{}
	add := func(f family, member int64, v hval, divisor int) {
		if keep != nil && !keep(f) {
			return
		}
		out[aggKey{family: f, member: member}] = &agg{points: v.points, tick: v.tick, divisor: divisor}
	}
	households := map[hkey]*hval{}
	for k, v := range sums {
		pd := periods[k.period]
		f := family{period: pd.kind, key: pd.key, track: Tracks[k.track]}
		hh := k.id
		if !k.household {
			mem := m.Residents[k.id]
			hh = mem.Household
			if !vetoes[vetoMember(SubjectResident, k.id, pd.key)] {
				f.subject = SubjectResident
				add(f, k.id, *v, 0)
				if mem.Party {
					f.subject = SubjectParty
					add(f, k.id, *v, 0)
				}
			}
		}
		if hh == 0 {
			continue
		}
		hk := hkey{household: true, id: hh, period: k.period, track: k.track}
		h := households[hk]
		if h == nil {
			h = &hval{}
			households[hk] = h
		}
		h.points += v.points
		if v.seq > h.seq {
			h.tick, h.seq = v.tick, v.seq
		}
	}
	for k, h := range households {
		pd := periods[k.period]
		if vetoes[vetoMember(SubjectHousehold, k.id, pd.key)] {
			continue
		}
		f := family{subject: SubjectHousehold, period: pd.kind, key: pd.key, track: Tracks[k.track]}
		add(f, k.id, *h, 0)
		f.subject = SubjectHouseholdPerMember
		members := max(m.Members[k.id], 1)
		add(f, k.id, hval{points: PerMember(ClampPoints(h.points), members), tick: h.tick}, members)
	}
	for _, a := range out {
		a.points = ClampPoints(a.points)
	}
	return out, n, nil
}

var villageScope = []ScopeKind{ScopeVillage}

// vetoSet reads a village's standing vetoes as veto members.
func (s *Service) vetoSet(ctx context.Context, village int64) (map[string]bool, error) {
	vs, err := s.Vetoes(ctx, village)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, v := range vs {
		sub := SubjectResident
		if v.Subject == VetoHousehold {
			sub = SubjectHousehold
		}
		out[vetoMember(sub, v.SubjectID, v.PeriodKey)] = true
	}
	return out, nil
}

// RebuildRegion rebuilds every board of a village, township or county from
// the ledger for who (a staff member, or audit.System for the command
// line) and audits it once it is done: the boards live in Redis, so the
// entry cannot share a transaction with them; a failed rebuild changed
// nothing a reader sees (the swap is the last step) and is not audited.
func (s *Service) RebuildRegion(ctx context.Context, who audit.Actor, regionID int64) (RebuildReport, error) {
	rep, village, err := s.rebuildRegion(ctx, regionID)
	if err != nil {
		return rep, err
	}
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		return audit.Record(ctx, tx, who, audit.Change{VillageID: village, Action: "ranking.rebuild", TargetType: "region", TargetID: regionID,
			After: map[string]any{"villages": rep.Villages, "postings": rep.Postings, "entries": rep.Entries, "boards": rep.Boards,
				"took_ms": rep.Took.Milliseconds()}})
	})
	return rep, err
}

// rebuildRegion rebuilds a region's boards; village is the region's id
// when it is a village (0 for a township or county).
func (s *Service) rebuildRegion(ctx context.Context, regionID int64) (RebuildReport, int64, error) {
	var regs []struct {
		Level string
		Path  string
	}
	if err := s.db.WithContext(ctx).Raw("SELECT level, path FROM regions WHERE id = ?", regionID).Scan(&regs).Error; err != nil {
		return RebuildReport{}, 0, err
	}
	if len(regs) == 0 {
		return RebuildReport{}, 0, apperr.NotFound("区域")
	}
	switch regs[0].Level {
	case "village":
		rep, err := s.RebuildVillage(ctx, regionID)
		return rep, regionID, err
	case "township", "county":
	default:
		return RebuildReport{}, 0, apperr.Invalid("region_id", "只能重建村、乡镇或县的排行榜")
	}
	var villages []int64
	if err := s.db.WithContext(ctx).Raw("SELECT id FROM regions WHERE level = 'village' AND path LIKE ? ORDER BY id", regs[0].Path+"%").
		Scan(&villages).Error; err != nil {
		return RebuildReport{}, 0, err
	}
	ids := parsePath(regs[0].Path)
	county := ids[0]
	whole := map[ScopeKind]bool{ScopeVillage: true, ScopeTownship: true, ScopeCounty: regs[0].Level == "county"}
	rep, err := s.rebuild(ctx, county, villages, whole)
	rep.RegionID = regionID
	return rep, 0, err
}

// RebuildVillage rebuilds a village's boards and its members' entries in
// its township's and county's boards.
func (s *Service) RebuildVillage(ctx context.Context, village int64) (RebuildReport, error) {
	g, err := s.dir.geoOf(ctx, village)
	if err != nil {
		return RebuildReport{}, err
	}
	rep, err := s.rebuild(ctx, g.County, []int64{village}, map[ScopeKind]bool{ScopeVillage: true})
	rep.RegionID = village
	return rep, err
}

// rebuild recomputes the boards of villages (all of one county) from the
// ledger and swaps them in. Boards of a scope marked whole are rebuilt
// outright; in the others (the township and county of a lone village) the
// villages' members are replaced. Live deliveries to the county pause
// meanwhile (reads go on: every board key is swapped atomically), and each
// village is rebuilt to its chain head read under that pause, which is at
// or past what the live boards had applied.
func (s *Service) rebuild(ctx context.Context, county int64, villages []int64, whole map[ScopeKind]bool) (RebuildReport, error) {
	start := time.Now()
	rep := RebuildReport{Villages: len(villages)}
	token := randomToken()
	release, err := s.pause(ctx, county, token)
	if err != nil {
		return rep, err
	}
	defer release()
	now := s.now()
	fams := families(now)
	type result struct {
		head   int64
		vetoes map[string]bool
		geo    geo
	}
	results := make([]result, len(villages))
	townships := map[int64]bool{}
	var mu sync.Mutex
	workers := s.opts.Workers
	if sqldb.DialectOf(s.db) == sqldb.SQLite {
		workers = 1
	}
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(workers)
	for i, v := range villages {
		eg.Go(func() error {
			dir, _, err := s.dir.load(ectx, v)
			if err != nil {
				return err
			}
			head, err := s.chainHead(ectx, v)
			if err != nil {
				return err
			}
			vetoes, err := s.vetoSet(ectx, v)
			if err != nil {
				return err
			}
			entries, n, err := s.aggregate(ectx, v, head, dir.geo, dir.mapping, vetoes, now, nil)
			if err != nil {
				return err
			}
			written, err := s.writeTemp(ectx, token, dir.geo, entries)
			if err != nil {
				return err
			}
			mu.Lock()
			results[i] = result{head: head, vetoes: vetoes, geo: dir.geo}
			townships[dir.geo.Township] = true
			rep.Postings += n
			rep.Entries += written
			mu.Unlock()
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		s.dropTemp(county, token, fams, villages, townships)
		return rep, err
	}
	geos := make([]geo, len(results))
	for i, r := range results {
		geos[i] = r.geo
	}
	if err := s.unionTemp(ctx, token, county, fams, villages, geos, whole); err != nil {
		s.dropTemp(county, token, fams, villages, townships)
		return rep, err
	}
	rep.Computed = time.Since(start)
	for _, f := range fams {
		args := []any{}
		var whole2 []string
		for _, v := range villages {
			b := f.board(ScopeVillage, v, county)
			whole2 = append(whole2, s.keys.board(b), s.keys.temp(b, token))
		}
		var diffTargets []string
		for t := range townships {
			b := f.board(ScopeTownship, t, county)
			if whole[ScopeTownship] {
				whole2 = append(whole2, s.keys.board(b), s.keys.temp(b, token))
			} else {
				diffTargets = append(diffTargets, s.keys.board(b))
			}
		}
		cb := f.board(ScopeCounty, county, county)
		if whole[ScopeCounty] {
			whole2 = append(whole2, s.keys.board(cb), s.keys.temp(cb, token))
		} else {
			diffTargets = append(diffTargets, s.keys.board(cb))
		}
		exp := int64(0)
		if st, err := periodStart(f.period, f.key); err == nil {
			if e := expiresAt(f.period, st); !e.IsZero() {
				exp = e.Unix()
			}
		}
		args = append(args, exp, len(villages), len(diffTargets))
		for _, k := range diffTargets {
			args = append(args, k)
		}
		for _, k := range whole2 {
			args = append(args, k)
		}
		if err := swapScript.Run(ctx, s.kv, []string{s.keys.pause(county)}, args...).Err(); err != nil {
			return rep, fmt.Errorf("ranking: swap boards: %w", err)
		}
		rep.Boards += len(whole2) / 2
	}
	// Record how far each village is applied, with its vetoes, and end the
	// pause: deliveries resume after the heads just rebuilt to.
	_, err = s.kv.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i, v := range villages {
			r := results[i]
			p.HSet(ctx, s.keys.applied(county), strconv.FormatInt(v, 10), r.head)
			vk := s.keys.vetoes(county, v)
			p.Del(ctx, vk)
			if len(r.vetoes) > 0 {
				ms := make([]any, 0, len(r.vetoes))
				for m := range r.vetoes {
					ms = append(ms, m)
				}
				p.SAdd(ctx, vk, ms...)
			}
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("ranking: record rebuilt heads: %w", err)
	}
	rep.Took = time.Since(start)
	return rep, nil
}

// swapScript swaps one board family in. KEYS[1] is the county's pause
// flag (routing only). ARGV: expireat (0 = never), the number of villages
// V, the number of diff targets D, the D diff targets (boards of a wider
// scope that keep other villages' members), then pairs (live, temp): the
// first V pairs are the villages' boards, the rest wider boards rebuilt
// outright. For each diff target the villages' old members (read from
// their live boards) are removed and their new entries (from their temp
// boards) added; then every live board is replaced by its temp board (or
// removed when the temp is empty). One family is one script, so a reader
// sees a board entirely old or entirely new.
var swapScript = redis.NewScript(`
local exp = ARGV[1]
local nv = tonumber(ARGV[2])
local nd = tonumber(ARGV[3])
local i0 = 4 + nd
local function each(list, step, fn)
  for j = 1, #list, step do
    fn(unpack(list, j, math.min(j + step - 1, #list)))
  end
end
for d = 4, 3 + nd do
  local target = ARGV[d]
  for v = 0, nv - 1 do
    local live, tmp = ARGV[i0 + 2*v], ARGV[i0 + 2*v + 1]
    local old = redis.call('ZRANGE', live, 0, -1)
    each(old, 500, function(...) redis.call('ZREM', target, ...) end)
    local new = redis.call('ZRANGE', tmp, 0, -1, 'WITHSCORES')
    local args = {}
    for j = 1, #new, 2 do
      args[#args+1] = new[j+1]
      args[#args+1] = new[j]
      if #args >= 1000 then redis.call('ZADD', target, unpack(args)); args = {} end
    end
    if #args > 0 then redis.call('ZADD', target, unpack(args)) end
  end
  if exp ~= '0' and redis.call('EXISTS', target) == 1 then redis.call('EXPIREAT', target, exp) end
end
for j = i0, #ARGV, 2 do
  local live, tmp = ARGV[j], ARGV[j+1]
  redis.call('UNLINK', live)
  if redis.call('EXISTS', tmp) == 1 then
    redis.call('RENAME', tmp, live)
    if exp ~= '0' then redis.call('EXPIREAT', live, exp) else redis.call('PERSIST', live) end
  end
end
return 1
`)

// unionTemp builds the temp boards of the townships and county rebuilt
// outright inside Redis, as unions of their villages' temp boards (members
// are disjoint and carry the same scores at every scope): far cheaper than
// sending every entry three times.
func (s *Service) unionTemp(ctx context.Context, token string, county int64, fams []family, villages []int64, geos []geo, whole map[ScopeKind]bool) error {
	if !whole[ScopeTownship] && !whole[ScopeCounty] {
		return nil
	}
	byTown := map[int64][]int64{}
	for i, v := range villages {
		byTown[geos[i].Township] = append(byTown[geos[i].Township], v)
	}
	pipe := s.kv.Pipeline()
	queued := 0
	for _, f := range fams {
		var towns []string
		for t, vs := range byTown {
			tk := s.keys.temp(f.board(ScopeTownship, t, county), token)
			towns = append(towns, tk)
			if !whole[ScopeTownship] {
				continue
			}
			src := make([]string, len(vs))
			for i, v := range vs {
				src[i] = s.keys.temp(f.board(ScopeVillage, v, county), token)
			}
			pipe.ZUnionStore(ctx, tk, &redis.ZStore{Keys: src, Aggregate: "MAX"})
			pipe.Expire(ctx, tk, time.Hour)
			queued++
		}
		if whole[ScopeCounty] && whole[ScopeTownship] {
			ck := s.keys.temp(f.board(ScopeCounty, county, county), token)
			pipe.ZUnionStore(ctx, ck, &redis.ZStore{Keys: towns, Aggregate: "MAX"})
			pipe.Expire(ctx, ck, time.Hour)
		}
		if queued >= 50 {
			if _, err := pipe.Exec(ctx); err != nil {
				return fmt.Errorf("ranking: build wider boards: %w", err)
			}
			queued = 0
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return fmt.Errorf("ranking: build wider boards: %w", err)
	}
	return nil
}

// writeTemp writes a village's entries into its temp boards and reports
// how many entries it wrote.
func (s *Service) writeTemp(ctx context.Context, token string, g geo, entries map[aggKey]*agg) (int64, error) {
	byFamily := map[family][]redis.Z{}
	for k, a := range entries {
		byFamily[k.family] = append(byFamily[k.family], redis.Z{Score: Score(a.points, a.tick), Member: memberString(k.member)})
	}
	byKey := make(map[string][]redis.Z, 3*len(byFamily))
	for f, zs := range byFamily {
		byKey[s.keys.temp(f.board(ScopeVillage, g.Village, g.County), token)] = zs
	}
	var written int64
	pipe := s.kv.Pipeline()
	queued := 0
	for key, zs := range byKey {
		for i := 0; i < len(zs); i += 1000 {
			pipe.ZAdd(ctx, key, zs[i:min(i+1000, len(zs))]...)
			queued++
		}
		pipe.Expire(ctx, key, time.Hour)
		written += int64(len(zs))
		if queued >= 64 {
			if _, err := pipe.Exec(ctx); err != nil {
				return written, fmt.Errorf("ranking: write rebuilt boards: %w", err)
			}
			queued = 0
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return written, fmt.Errorf("ranking: write rebuilt boards: %w", err)
	}
	return written, nil
}

// dropTemp removes a failed rebuild's temp boards (they would expire within
// the hour anyway).
func (s *Service) dropTemp(county int64, token string, fams []family, villages []int64, townships map[int64]bool) {
	ctx := context.Background()
	pipe := s.kv.Pipeline()
	for _, f := range fams {
		for _, v := range villages {
			pipe.Unlink(ctx, s.keys.temp(f.board(ScopeVillage, v, county), token))
		}
		for t := range townships {
			pipe.Unlink(ctx, s.keys.temp(f.board(ScopeTownship, t, county), token))
		}
		pipe.Unlink(ctx, s.keys.temp(f.board(ScopeCounty, county, county), token))
	}
	_, _ = pipe.Exec(ctx)
}

// pause makes deliveries to a county wait (the apply script refuses while
// the flag exists) and serialises rebuilds of the county. It waits for a
// running rebuild to finish, keeps the flag alive while the rebuild runs
// (it expires by itself if the process dies), and returns its release.
func (s *Service) pause(ctx context.Context, county int64, token string) (func(), error) {
	key := s.keys.pause(county)
	const ttl = 30 * time.Second
	for {
		ok, err := s.kv.SetNX(ctx, key, token, ttl).Result()
		if err != nil {
			return nil, fmt.Errorf("ranking: pause deliveries: %w", err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				renewScript.Run(context.Background(), s.kv, []string{key}, token, ttl.Milliseconds())
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		releaseScript.Run(context.Background(), s.kv, []string{key}, token)
	}, nil
}

var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

func randomToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
