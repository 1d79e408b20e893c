package ledger

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/villagepoints/jifen/models/kv"
)

// RedisBalances is the Redis balance cache: one hash per village mapping
// account keys ("resident:12:civic") to balances, for fast reads. It is the
// BalancesConsumer of the outbox and derived state: Rebuild recomputes it
// from postings.
//
// Delivery is idempotent in effect: the hash also holds "seq", the chain_seq
// of the last posting applied, and a Lua script applies a posting only if it
// is the next one. A redelivery after a crash changes nothing; a hash that
// was lost (Redis flushed) is noticed at the next delivery, answered with
// ErrStale, and rebuilt by the Relay.
type RedisBalances struct {
	kv *kv.Client
}

// NewRedisBalances returns the cache over a Redis client.
func NewRedisBalances(c *kv.Client) *RedisBalances { return &RedisBalances{kv: c} }

// Name is BalancesConsumer.
func (r *RedisBalances) Name() string { return BalancesConsumer }

const seqField = "seq"

func (r *RedisBalances) key(villageID int64) string {
	return r.kv.Key("ledger", "balances", strconv.FormatInt(villageID, 10))
}

// applyScript books postings given as (chain_seq, from, to, amount)
// quadruples in chain order. It skips what is already applied and refuses
// (returning -1, changing nothing) when the first new posting is not the
// next one.
var applyScript = redis.NewScript(`
local applied = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
local n = 0
for i = 1, #ARGV, 4 do
  local seq = tonumber(ARGV[i])
  if seq > applied + 1 then
    if n == 0 then return -1 end
    break
  end
  if seq == applied + 1 then
    local amount = tonumber(ARGV[i+3])
    redis.call('HINCRBY', KEYS[1], ARGV[i+1], -amount)
    redis.call('HINCRBY', KEYS[1], ARGV[i+2], amount)
    applied = seq
    n = n + 1
  end
end
redis.call('HSET', KEYS[1], 'seq', applied)
return n
`)

// Deliver books one village's postings, each once.
func (r *RedisBalances) Deliver(ctx context.Context, villageID int64, events []Event) error {
	args := make([]any, 0, 4*len(events))
	for _, e := range events {
		p := e.Posting
		args = append(args, p.ChainSeq, p.From().String(), p.To().String(), p.Amount)
	}
	n, err := applyScript.Run(ctx, r.kv, []string{r.key(villageID)}, args...).Int64()
	if err != nil {
		return fmt.Errorf("ledger: apply postings to redis: %w", err)
	}
	if n < 0 {
		return ErrStale
	}
	return nil
}

// Reset replaces a village's cached balances with b, as of chain_seq seq,
// in one atomic step.
func (r *RedisBalances) Reset(ctx context.Context, villageID int64, b Balances, seq int64) error {
	k := r.key(villageID)
	fields := make([]any, 0, 2*len(b)+2)
	fields = append(fields, seqField, seq)
	for acct, v := range b {
		fields = append(fields, acct.String(), v)
	}
	_, err := r.kv.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k)
		p.HSet(ctx, k, fields...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: reset redis balances: %w", err)
	}
	return nil
}

// Balances reads a village's cached balances (zeros left out) and the
// chain_seq they are current to.
func (r *RedisBalances) Balances(ctx context.Context, villageID int64) (Balances, int64, error) {
	m, err := r.kv.HGetAll(ctx, r.key(villageID)).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("ledger: read redis balances: %w", err)
	}
	out := Balances{}
	var seq int64
	for f, v := range m {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("ledger: redis balance %s=%q: %w", f, v, err)
		}
		if f == seqField {
			seq = n
			continue
		}
		k, err := ParseAccountKey(f)
		if err != nil {
			return nil, 0, err
		}
		if n != 0 {
			out[k] = n
		}
	}
	return out, seq, nil
}

// Holder reads one holder's cached balances per track: available (own
// account) and held; Spendable is left false, being a village setting. The
// cache trails SQL by the Sealer's and the Relay's intervals; use
// Store.Balance where a decision depends on the balance, and where this
// returns ErrStale: the village's cache is missing (lost, or the village
// has no sealed postings yet) until the Relay or Rebuild restores it.
func (r *RedisBalances) Holder(ctx context.Context, villageID int64, h Holder) ([]TrackBalance, error) {
	fields := make([]string, 0, 2*len(Tracks)+1)
	fields = append(fields, seqField)
	for _, t := range Tracks {
		fields = append(fields,
			AccountKey{Kind: h.main(), Owner: h.ID, Track: t}.String(),
			AccountKey{Kind: h.held(), Owner: h.ID, Track: t}.String())
	}
	vals, err := r.kv.HMGet(ctx, r.key(villageID), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("ledger: read redis balance: %w", err)
	}
	if vals[0] == nil {
		return nil, ErrStale
	}
	vals = vals[1:]
	num := func(v any) int64 {
		s, _ := v.(string)
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	out := make([]TrackBalance, len(Tracks))
	for i, t := range Tracks {
		out[i] = TrackBalance{Track: t, Available: num(vals[2*i]), Held: num(vals[2*i+1])}
	}
	return out, nil
}
