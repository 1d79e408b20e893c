package wechat

import (
	"context"
	"time"

	"github.com/silenceper/wechat/v2/cache"

	"github.com/villagepoints/jifen/models/kv"
)

// Cache adapts the product's go-redis v9 client to silenceper's
// cache.ContextCache (silenceper bundles a go-redis v8 cache, which would
// mean a second Redis client and pool). Keys live under the kv client's
// prefix and "wechat".
type Cache struct {
	kv *kv.Client
}

var _ cache.ContextCache = (*Cache)(nil)

// NewCache returns a Cache over c.
func NewCache(c *kv.Client) *Cache { return &Cache{kv: c} }

func (c *Cache) key(k string) string { return c.kv.Key("wechat", k) }

// Get returns the string stored under key, or nil.
func (c *Cache) Get(key string) interface{} { return c.GetContext(context.Background(), key) }

// GetContext returns the string stored under key, or nil when there is
// none (or Redis fails: silenceper then fetches afresh).
func (c *Cache) GetContext(ctx context.Context, key string) interface{} {
	v, err := c.kv.Get(ctx, c.key(key)).Result()
	if err != nil {
		return nil
	}
	return v
}

// Set stores val under key for timeout (no expiry when timeout <= 0).
func (c *Cache) Set(key string, val interface{}, timeout time.Duration) error {
	return c.SetContext(context.Background(), key, val, timeout)
}

// SetContext stores val under key for timeout (no expiry when timeout <= 0).
func (c *Cache) SetContext(ctx context.Context, key string, val interface{}, timeout time.Duration) error {
	if timeout < 0 {
		timeout = 0
	}
	return c.kv.Set(ctx, c.key(key), val, timeout).Err()
}

// IsExist reports whether key holds a value.
func (c *Cache) IsExist(key string) bool { return c.IsExistContext(context.Background(), key) }

// IsExistContext reports whether key holds a value.
func (c *Cache) IsExistContext(ctx context.Context, key string) bool {
	n, err := c.kv.Exists(ctx, c.key(key)).Result()
	return err == nil && n > 0
}

// Delete removes key.
func (c *Cache) Delete(key string) error { return c.DeleteContext(context.Background(), key) }

// DeleteContext removes key.
func (c *Cache) DeleteContext(ctx context.Context, key string) error {
	return c.kv.Del(ctx, c.key(key)).Err()
}
