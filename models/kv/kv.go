// Package kv connects to Redis: a real server in deployment, an in-process
// miniredis in the embedded mode. Callers get the same *redis.Client either
// way and build every key through Client.Key, so several deployments (or
// tests) can share one Redis without seeing each other's keys.
package kv

import (
	"context"
	"fmt"
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Client is a Redis connection with the deployment's key prefix.
type Client struct {
	*redis.Client
	prefix string
	mini   *miniredis.Miniredis
}

// Open connects to url (redis://…); an empty url starts an in-process
// Redis that lives as long as the Client.
func Open(url, prefix string) (*Client, error) {
	if url == "" {
		m := miniredis.NewMiniRedis()
		if err := m.Start(); err != nil {
			return nil, fmt.Errorf("kv: start embedded redis: %w", err)
		}
		return &Client{Client: redis.NewClient(&redis.Options{Addr: m.Addr()}), prefix: prefix, mini: m}, nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("kv: parse REDIS_URL: %w", err)
	}
	return &Client{Client: redis.NewClient(opts), prefix: prefix}, nil
}

// Embedded reports whether this is the in-process Redis.
func (c *Client) Embedded() bool { return c.mini != nil }

// Key joins parts with ':' under the client's prefix.
func (c *Client) Key(parts ...string) string {
	if c.prefix == "" {
		return strings.Join(parts, ":")
	}
	return c.prefix + ":" + strings.Join(parts, ":")
}

// Ping checks that Redis answers, for readiness probes.
func (c *Client) Ping(ctx context.Context) error { return c.Client.Ping(ctx).Err() }

// Close closes the connection and stops an embedded server.
func (c *Client) Close() error {
	err := c.Client.Close()
	if c.mini != nil {
		c.mini.Close()
	}
	return err
}
