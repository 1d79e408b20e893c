// Package kvtest gives tests a Redis of each kind the product runs on.
package kvtest

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/villagepoints/jifen/models/kv"
)

var seq atomic.Int64

// Backend is one Redis a test runs against.
type Backend struct {
	Name   string
	Client *kv.Client
}

// MustBackends returns an embedded Redis and, when TEST_REDIS_URL is set, a
// client of that real server with a key prefix no other test uses. Keys
// under the prefix are deleted when the test ends.
func MustBackends(t testing.TB) []Backend {
	t.Helper()
	out := []Backend{{Name: "miniredis", Client: MustEmbedded(t)}}
	if url := os.Getenv("TEST_REDIS_URL"); url != "" {
		out = append(out, Backend{Name: "redis", Client: MustReal(t, url)})
	}
	return out
}

// MustEmbedded starts an in-process Redis for one test.
func MustEmbedded(t testing.TB) *kv.Client {
	t.Helper()
	c, err := kv.Open("", "t")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// MustReal connects to the Redis at url under a fresh key prefix.
func MustReal(t testing.TB, url string) *kv.Client {
	t.Helper()
	prefix := fmt.Sprintf("jt%d-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6, seq.Add(1))
	c, err := kv.Open(url, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("TEST_REDIS_URL is set but Redis does not answer: %v", err)
	}
	t.Cleanup(func() {
		DeletePrefix(c, prefix)
		c.Close()
	})
	return c
}

// DeletePrefix removes every key under prefix from a shared Redis.
func DeletePrefix(c *kv.Client, prefix string) {
	// Cleanups run after t.Context is cancelled, so use a fresh context.
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+":*", 500).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}
