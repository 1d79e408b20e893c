package ranking

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reads of "my standing" are batched: while one script call for a county
// is on its way to Redis, the requests that arrive meanwhile queue up and go
// together in the next call. A lone request goes at once (no timer, no
// added latency); under load one round trip serves dozens of villagers.
// Every key of a county shares a hash tag, so a batch stays on one Redis
// Cluster slot. Each request still reads the board as it is then.

// standingsScript reads the standing of several members, each on its own
// board. KEYS are the boards; ARGV are triples (board index, member,
// neighbours on each side). Per triple it returns {card} when the member is
// not on the board, else {card, score, position, first neighbour's
// position, neighbours with scores, members with more points than the
// first neighbour, lowest score with more points than the member}.
var standingsScript = redis.NewScript(`
local SPAN = 67108864
local out = {}
for i = 1, #ARGV, 3 do
  local key = KEYS[tonumber(ARGV[i])]
  local me, k = ARGV[i+1], tonumber(ARGV[i+2])
  local card = redis.call('ZCARD', key)
  local s = redis.call('ZSCORE', key, me)
  if not s then
    out[#out+1] = {card}
  else
    local r = redis.call('ZREVRANK', key, me)
    local lo = r - k
    if lo < 0 then lo = 0 end
    local nb = redis.call('ZREVRANGE', key, lo, r + k, 'WITHSCORES')
    local p = math.floor(tonumber(s) / SPAN)
    local q = math.floor(tonumber(nb[2]) / SPAN)
    local nxt = redis.call('ZRANGEBYSCORE', key, (p + 1) * SPAN, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    local n = ''
    if #nxt > 0 then n = nxt[2] end
    out[#out+1] = {card, s, r, lo, nb, redis.call('ZCOUNT', key, (q + 1) * SPAN, '+inf'), n}
  end
end
return out
`)

// maxBatch bounds the members one script call reads.
const maxBatch = 64

type standingReq struct {
	key, member string
	around      int
	res         []any
}

type standingBatch struct {
	reqs []*standingReq
	done chan struct{}
	err  error
}

type batcher struct {
	mu   sync.Mutex
	busy bool
	next *standingBatch
}

type batchers struct {
	mu sync.Mutex
	m  map[int64]*batcher
}

func (bs *batchers) of(county int64) *batcher {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if bs.m == nil {
		bs.m = map[int64]*batcher{}
	}
	b := bs.m[county]
	if b == nil {
		b = &batcher{}
		bs.m[county] = b
	}
	return b
}

// standing reads one member's standing on a board (of county), batched
// with concurrent reads of the same county.
func (s *Service) standing(ctx context.Context, county int64, key, member string, around int) ([]any, error) {
	bt := s.batch.of(county)
	req := &standingReq{key: key, member: member, around: around}
	bt.mu.Lock()
	if bt.next == nil {
		bt.next = &standingBatch{done: make(chan struct{})}
	}
	b := bt.next
	b.reqs = append(b.reqs, req)
	if bt.busy {
		bt.mu.Unlock()
		select {
		case <-b.done:
			return req.res, b.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	bt.busy, bt.next = true, nil
	bt.mu.Unlock()
	s.runBatch(b)
	// Hand what queued meanwhile to a goroutine, so this request is not
	// kept waiting on others' reads.
	bt.mu.Lock()
	if bt.next != nil {
		go s.drain(bt)
	} else {
		bt.busy = false
	}
	bt.mu.Unlock()
	return req.res, b.err
}

// drain runs queued batches until none is left.
func (s *Service) drain(bt *batcher) {
	bt.mu.Lock()
	for bt.next != nil {
		b := bt.next
		bt.next = nil
		bt.mu.Unlock()
		s.runBatch(b)
		bt.mu.Lock()
	}
	bt.busy = false
	bt.mu.Unlock()
}

// runBatch reads a batch in script calls of at most maxBatch members
// (Redis runs one script at a time: a bounded script keeps others'
// commands waiting briefly), all sent in one pipeline: one round trip
// however large the batch. It does not use a request's context: one caller
// giving up must not fail the others.
func (s *Service) runBatch(b *standingBatch) {
	defer close(b.done)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var chunks [][]*standingReq
	for start := 0; start < len(b.reqs); start += maxBatch {
		chunks = append(chunks, b.reqs[start:min(start+maxBatch, len(b.reqs))])
	}
	cmds := s.sendStandings(ctx, chunks)
	if slices.ContainsFunc(cmds, func(c *redis.Cmd) bool { return isNoScript(c.Err()) }) {
		// A fresh or flushed Redis does not know the script yet.
		if err := standingsScript.Load(ctx, s.kv).Err(); err != nil {
			b.err = fmt.Errorf("ranking: load standings script: %w", err)
			return
		}
		cmds = s.sendStandings(ctx, chunks)
	}
	for i, reqs := range chunks {
		res, err := cmds[i].Slice()
		if err == nil && len(res) != len(reqs) {
			err = fmt.Errorf("ranking: %d standings for %d requests", len(res), len(reqs))
		}
		if err != nil {
			b.err = fmt.Errorf("ranking: read standings: %w", err)
			return
		}
		for j, r := range reqs {
			r.res, _ = res[j].([]any)
		}
	}
}

// sendStandings sends one script call per chunk in one pipeline.
func (s *Service) sendStandings(ctx context.Context, chunks [][]*standingReq) []*redis.Cmd {
	pipe := s.kv.Pipeline()
	cmds := make([]*redis.Cmd, len(chunks))
	for c, reqs := range chunks {
		var keys []string
		index := map[string]int{}
		args := make([]any, 0, 3*len(reqs))
		for _, r := range reqs {
			i, ok := index[r.key]
			if !ok {
				keys = append(keys, r.key)
				i = len(keys)
				index[r.key] = i
			}
			args = append(args, strconv.Itoa(i), r.member, r.around)
		}
		cmds[c] = standingsScript.EvalSha(ctx, pipe, keys, args...)
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	return cmds
}

// isNoScript reports whether Redis refused EVALSHA for an unknown script.
func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}
