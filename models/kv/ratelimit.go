package kv

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// fixedWindow increments a counter and starts its window on first use, in
// one round trip, so every replica counts against the same limit.
var fixedWindow = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
`)

// Allow counts one event under key and reports whether it is within limit
// events per window; when it is not, retry says how long until the window
// ends. key is prefixed by the client.
func (c *Client) Allow(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retry time.Duration, err error) {
	res, err := fixedWindow.Run(ctx, c.Client, []string{c.Key("rl", key)}, window.Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, err
	}
	if res[0] <= int64(limit) {
		return true, 0, nil
	}
	return false, time.Duration(res[1]) * time.Millisecond, nil
}
