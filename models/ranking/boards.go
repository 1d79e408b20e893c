package ranking

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/kv"
	"github.com/villagepoints/jifen/models/ledger"
)

// ConsumerName is the rankings' name as a ledger outbox consumer.
const ConsumerName = "rankings"

// Options configure a Service.
type Options struct {
	// Now is the clock (default time.Now); it decides which periods'
	// boards still exist.
	Now func() time.Time
	// PeopleTTL is how long the directory of a village's people is used
	// before it is read again (default 1 minute).
	PeopleTTL time.Duration
	// Workers is how many villages a rebuild computes at once (default 4).
	Workers int
	// PageTTL is how long a read page of a board is served from memory
	// (default 1s; negative: never).
	PageTTL time.Duration
}

// Service is the rankings: the Redis leaderboards (a ledger outbox
// consumer), their reads and rebuild, vetoes, and the monthly ranking
// publication with its exports.
type Service struct {
	db     *gorm.DB
	kv     *kv.Client
	keys   keyspace
	ledger *ledger.Store
	relay  *ledger.Relay
	dir    *directory
	pages  *pageCache
	batch  batchers
	now    func() time.Time
	opts   Options

	mu sync.Mutex
	// origins caches the creation time of reversed postings.
	origins map[int64]time.Time
	// stale and paused collect the villages a delivery could not apply:
	// stale ones need a rebuild, paused ones wait for a running rebuild.
	stale  map[int64]bool
	paused map[int64]bool
	// dirty lists villages whose people changed: their boards are rebuilt.
	dirty map[int64]bool
}

// New returns the rankings service over the database, Redis and the ledger.
func New(db *gorm.DB, c *kv.Client, l *ledger.Store, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PeopleTTL <= 0 {
		opts.PeopleTTL = time.Minute
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.PageTTL == 0 {
		opts.PageTTL = time.Second
	}
	s := &Service{
		db: db, kv: c, keys: keyspace{c}, ledger: l, dir: newDirectory(db, opts.PeopleTTL), now: opts.Now, opts: opts,
		pages:   &pageCache{ttl: opts.PageTTL, m: map[pageKey]pageEntry{}},
		origins: map[int64]time.Time{}, stale: map[int64]bool{}, paused: map[int64]bool{}, dirty: map[int64]bool{},
	}
	s.relay = ledger.NewRelay(l, s)
	return s
}

// Name is ConsumerName.
func (s *Service) Name() string { return ConsumerName }

// needData is returned by Deliver when it lacks something only the
// database has; the relay loop loads it and delivers again.
type needData struct {
	village  int64
	reload   bool
	reversed []int64
}

func (e *needData) Error() string {
	return fmt.Sprintf("ranking: village %d needs people (%v) or reversed postings %v", e.village, e.reload, e.reversed)
}

// applyScript applies board updates of one village's events in chain
// order, each event once. KEYS: the county's applied-seq hash, the
// village's veto set, the county's pause flag. ARGV: the village id, the
// number of events, then per event its chain_seq, its number of updates
// and 7 fields per update: op (A adds to a board, P derives a per-member
// board from the points the previous A left), key, member, delta or
// divisor, tick, expireat (0 = never), veto member. It returns the number
// of events applied, -1 when the first new event is not the next one
// (state lost), -2 while a rebuild of the county runs. Every key shares the
// county's hash tag, so it runs on one Redis Cluster slot. Numbers stay
// below 2^53, so Lua's doubles hold them exactly.
var applyScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[3]) == 1 then return -2 end
local applied = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local SPAN = 67108864
local MAXP = 134217727
local i = 3
local n = 0
local last = 0
for e = 1, tonumber(ARGV[2]) do
  local seq = tonumber(ARGV[i])
  local nops = tonumber(ARGV[i+1])
  i = i + 2
  if seq > applied + 1 then
    if n == 0 then return -1 end
    break
  end
  if seq == applied + 1 then
    for o = 1, nops do
      local veto = ARGV[i+6]
      if veto == '' or redis.call('SISMEMBER', KEYS[2], veto) == 0 then
        local key, member, a, tick = ARGV[i+1], ARGV[i+2], tonumber(ARGV[i+3]), tonumber(ARGV[i+4])
        local v
        if ARGV[i] == 'A' then
          local s = redis.call('ZSCORE', key, member)
          local p = 0
          if s then p = math.floor(tonumber(s) / SPAN) end
          v = p + a
          last = v
        else
          v = math.floor(last * 100 / a)
        end
        if v > MAXP then v = MAXP elseif v < -MAXP then v = -MAXP end
        redis.call('ZADD', key, v * SPAN + (SPAN - 1 - tick), member)
        if ARGV[i+5] ~= '0' then redis.call('EXPIREAT', key, ARGV[i+5]) end
      end
      i = i + 7
    end
    applied = seq
    n = n + 1
  else
    i = i + 7 * nops
  end
end
redis.call('HSET', KEYS[1], ARGV[1], applied)
return n
`)

// Deliver applies one village's ledger events to the boards. It never
// queries the database (it runs inside the relay's transaction): what it
// lacks it reports as needData for the relay loop to load.
func (s *Service) Deliver(ctx context.Context, villageID int64, events []ledger.Event) error {
	v := s.dir.cached(villageID)
	if v == nil {
		return &needData{village: villageID, reload: true}
	}
	now := s.now()
	need := &needData{village: villageID}
	type planned struct {
		seq int64
		ops []update
	}
	plan := make([]planned, 0, len(events))
	s.mu.Lock()
	for _, ev := range events {
		p := ev.Posting
		var origAt time.Time
		if p.ReversesID != 0 {
			t, ok := s.origins[p.ReversesID]
			if !ok {
				need.reversed = append(need.reversed, p.ReversesID)
			}
			origAt = t
		}
		pl := planned{seq: p.ChainSeq}
		if e, ok := EffectOf(p, origAt); ok {
			if e.Holder.Kind == ledger.HolderResident {
				if _, known := v.mapping.Residents[e.Holder.ID]; !known && !v.loadedAt.After(p.CreatedAt) {
					need.reload = true
				}
			}
			updatesOf(e, v.geo, v.mapping, now, Scopes, func(u update) { pl.ops = append(pl.ops, u) })
		}
		plan = append(plan, pl)
	}
	s.mu.Unlock()
	if need.reload || len(need.reversed) > 0 {
		return need
	}
	keys := []string{s.keys.applied(v.geo.County), s.keys.vetoes(v.geo.County, villageID), s.keys.pause(v.geo.County)}
	village := strconv.FormatInt(villageID, 10)
	for start := 0; start < len(plan); {
		args := []any{village, 0}
		nev, nops := 0, 0
		for start+nev < len(plan) && (nev == 0 || nops+len(plan[start+nev].ops) <= 4000) {
			pl := plan[start+nev]
			args = append(args, pl.seq, len(pl.ops))
			for _, u := range pl.ops {
				op, a := "A", u.delta
				if u.perMember > 0 {
					op, a = "P", int64(u.perMember)
				}
				exp := int64(0)
				if !u.expire.IsZero() {
					exp = u.expire.Unix()
				}
				args = append(args, op, s.keys.board(u.board), u.member, a, u.tick, exp, u.veto)
			}
			nops += len(pl.ops)
			nev++
		}
		args[1] = nev
		n, err := applyScript.Run(ctx, s.kv, keys, args...).Int64()
		if err != nil {
			return fmt.Errorf("ranking: apply events: %w", err)
		}
		switch n {
		case -1:
			s.mark(s.stale, villageID)
			return ledger.ErrStale
		case -2:
			s.mark(s.paused, villageID)
			return ledger.ErrStale
		}
		start += nev
	}
	return nil
}

func (s *Service) mark(set map[int64]bool, village int64) {
	s.mu.Lock()
	set[village] = true
	s.mu.Unlock()
}

// take empties a set and returns what it held.
func (s *Service) take(set map[int64]bool) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int64
	for v := range set {
		out = append(out, v)
		delete(set, v)
	}
	return out
}

// loadNeeds reads what a delivery reported missing.
func (s *Service) loadNeeds(ctx context.Context, n *needData) error {
	if n.reload {
		if _, _, err := s.dir.load(ctx, n.village); err != nil {
			return err
		}
	}
	if len(n.reversed) == 0 {
		return nil
	}
	var rows []struct {
		ID        int64
		CreatedAt time.Time
	}
	if err := s.db.WithContext(ctx).Raw("SELECT id, created_at FROM ledger_postings WHERE id IN ?", n.reversed).Scan(&rows).Error; err != nil {
		return fmt.Errorf("ranking: read reversed postings: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.origins) > 100_000 {
		clear(s.origins)
	}
	for _, r := range rows {
		s.origins[r.ID] = r.CreatedAt.UTC()
	}
	for _, id := range n.reversed {
		if _, ok := s.origins[id]; !ok {
			// The reversed posting is gone (it cannot be): count the
			// reversal at its own time rather than wait forever.
			s.origins[id] = time.Time{}
		}
	}
	return nil
}

// lagging lists the villages with sealed postings this consumer has not had
// yet (read-only, from the ledger's own tables).
func (s *Service) lagging(ctx context.Context) ([]int64, error) {
	var out []int64
	err := s.db.WithContext(ctx).Raw(`SELECT h.village_id FROM ledger_chain_heads h
		LEFT JOIN ledger_consumer_cursors c ON c.consumer = ? AND c.village_id = h.village_id
		WHERE h.seq > COALESCE(c.seq, 0) ORDER BY h.village_id`, ConsumerName).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("ranking: find lagging villages: %w", err)
	}
	return out, nil
}

// DeliverOnce runs one round of the relay loop: it loads the people of the
// villages with new postings, delivers one batch, loads what the delivery
// reported missing (and delivers again), and rebuilds the villages whose
// boards were lost or whose people changed. It reports how many events
// were delivered.
func (s *Service) DeliverOnce(ctx context.Context) (int, error) {
	villages, err := s.lagging(ctx)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	for _, v := range villages {
		if _, changed, err := s.dir.fresh(ctx, v, now); err != nil {
			return 0, err
		} else if changed {
			s.mark(s.dirty, v)
		}
	}
	total := 0
	for attempt := 0; attempt < 4; attempt++ {
		n, err := s.relay.DeliverBatch(ctx)
		total += n
		var need *needData
		if errors.As(err, &need) {
			if err := s.loadNeeds(ctx, need); err != nil {
				return total, err
			}
			continue
		}
		s.mu.Lock()
		blocked := len(s.stale) + len(s.paused)
		s.mu.Unlock()
		if err != nil && blocked == 0 {
			return total, err
		}
		break
	}
	s.take(s.paused) // they are delivered once the rebuild ends
	for _, v := range append(s.take(s.stale), s.take(s.dirty)...) {
		if _, err := s.RebuildVillage(ctx, v); err != nil {
			return total, err
		}
	}
	return total, nil
}

// Drain delivers until every sealed posting has reached the boards.
func (s *Service) Drain(ctx context.Context) error {
	for {
		n, err := s.DeliverOnce(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			pending, err := s.lagging(ctx)
			if err != nil || len(pending) == 0 {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// Run is the relay loop: it delivers every interval until ctx ends, at
// once again after a busy round. Errors go to logf and the round is
// retried at the next tick.
func (s *Service) Run(ctx context.Context, interval time.Duration, logf func(msg string, args ...any)) {
	for {
		n, err := s.DeliverOnce(ctx)
		if err != nil && ctx.Err() == nil && logf != nil {
			logf("ranking: relay", "err", err)
		}
		if n >= 500 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
