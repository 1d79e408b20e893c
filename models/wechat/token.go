package wechat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/credential"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/kv"
)

// SharedToken is the app's access token, shared by every replica through
// Redis. It implements silenceper's credential.AccessTokenContextHandle,
// fetching through silenceper's StableAccessToken (the stable_token
// endpoint, whose token a normal fetch does not invalidate). silenceper's
// own lock is a mutex, per process; here a Redis lock makes one replica
// refresh while the others wait for its token, and Replace swaps a token
// WeChat refused (40001/42001) only if no replica has done so already.
type SharedToken struct {
	stable  *credential.StableAccessToken
	cache   *Cache
	kv      *kv.Client
	key     string // cache key of the token
	lockKey string // full Redis key of the refresh lock
	lockTTL time.Duration
	wait    time.Duration
}

var _ credential.AccessTokenContextHandle = (*SharedToken)(nil)

// NewSharedToken returns the shared token of one app. lockTTL bounds a
// refresh (default 10s); wait is how long a replica waits for another's
// refresh (default lockTTL).
func NewSharedToken(appID, secret string, c *kv.Client, lockTTL, wait time.Duration) *SharedToken {
	if lockTTL <= 0 {
		lockTTL = 10 * time.Second
	}
	if wait <= 0 {
		wait = lockTTL
	}
	cache := NewCache(c)
	stable := credential.NewStableAccessToken(appID, secret, credential.CacheKeyMiniProgramPrefix, cache).(*credential.StableAccessToken)
	return &SharedToken{stable: stable, cache: cache, kv: c, key: "access_token:" + appID,
		lockKey: c.Key("wechat", "access_token_lock", appID), lockTTL: lockTTL, wait: wait}
}

// GetAccessToken returns the current token, fetching one if none is cached.
func (t *SharedToken) GetAccessToken() (string, error) {
	return t.GetAccessTokenContext(context.Background())
}

// GetAccessTokenContext returns the current token, fetching one if none is
// cached; while another replica fetches, it waits for that token.
func (t *SharedToken) GetAccessTokenContext(ctx context.Context) (string, error) {
	if tok := t.cached(ctx); tok != "" {
		return tok, nil
	}
	return t.refresh(ctx, "")
}

// Replace is called when WeChat refused bad: it drops bad from the cache
// (unless another replica already replaced it) and returns a token that is
// not bad, forcing WeChat to issue a new one if it hands bad back.
func (t *SharedToken) Replace(ctx context.Context, bad string) (string, error) {
	if err := compareAndDelete.Run(ctx, t.kv.Client, []string{t.cache.key(t.key)}, bad).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return "", err
	}
	return t.refresh(ctx, bad)
}

// compareAndDelete deletes KEYS[1] only while it holds ARGV[1].
var compareAndDelete = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

func (t *SharedToken) cached(ctx context.Context) string {
	s, _ := t.cache.GetContext(ctx, t.key).(string)
	return s
}

// refresh fetches a token under the Redis lock, or waits for the replica
// holding it. bad, when set, is a token known to be refused.
func (t *SharedToken) refresh(ctx context.Context, bad string) (string, error) {
	deadline := time.Now().Add(t.wait)
	for {
		owner, err := t.lock(ctx)
		if err != nil {
			return "", err
		}
		if owner != "" {
			defer compareAndDelete.Run(context.WithoutCancel(ctx), t.kv.Client, []string{t.lockKey}, owner)
			return t.fetch(ctx, bad)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if tok := t.cached(ctx); tok != "" && tok != bad {
			return tok, nil
		}
		if time.Now().After(deadline) {
			return "", apperr.New(apperr.CodeUnavailable, msgUnavailable).WithCause(errors.New("wechat: timed out waiting for another replica to refresh the access token"))
		}
	}
}

// fetch runs with the lock held: another replica may have stored a token
// while this one waited for the lock.
func (t *SharedToken) fetch(ctx context.Context, bad string) (string, error) {
	if tok := t.cached(ctx); tok != "" && tok != bad {
		return tok, nil
	}
	res, err := t.stable.GetAccessTokenDirectly(ctx, false)
	if err == nil && bad != "" && res.AccessToken == bad {
		// WeChat still hands out the token it refused: make it issue a new one.
		res, err = t.stable.GetAccessTokenDirectly(ctx, true)
	}
	if err != nil {
		return "", fail(apiToken, err)
	}
	if res.AccessToken == "" {
		return "", apperr.New(apperr.CodeUnavailable, msgUnavailable).WithCause(errors.New("wechat stable_token: empty access_token"))
	}
	// Stop using a token five minutes before WeChat does, as silenceper does.
	ttl := time.Duration(res.ExpiresIn-300) * time.Second
	if ttl < 30*time.Second {
		ttl = 30 * time.Second
	}
	if err := t.cache.SetContext(ctx, t.key, res.AccessToken, ttl); err != nil {
		return "", err
	}
	return res.AccessToken, nil
}

// lock takes the refresh lock, returning its owner value, or "" when
// another replica holds it.
func (t *SharedToken) lock(ctx context.Context) (string, error) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	owner := hex.EncodeToString(b[:])
	ok, err := t.kv.SetNX(ctx, t.lockKey, owner, t.lockTTL).Result()
	if err != nil {
		return "", err
	}
	if !ok {
		return "", nil
	}
	return owner, nil
}
