package kv

import (
	"context"
	"strconv"
	"time"
)

// Revocations is a deny list of session ids: a revoked session's entry
// lives as long as one of its access tokens can, so every replica refuses
// the session at once without a database read per request.
type Revocations struct {
	c    *Client
	name string
	ttl  time.Duration
}

// Revocations returns the deny list called name (a key segment) whose
// entries last ttl.
func (c *Client) Revocations(name string, ttl time.Duration) Revocations {
	return Revocations{c: c, name: name, ttl: ttl}
}

// Revoke denies the sessions.
func (r Revocations) Revoke(ctx context.Context, ids ...int64) error {
	pipe := r.c.Pipeline()
	for _, id := range ids {
		pipe.Set(ctx, r.key(id), 1, r.ttl)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// Revoked reports whether the session is denied.
func (r Revocations) Revoked(ctx context.Context, id int64) (bool, error) {
	n, err := r.c.Exists(ctx, r.key(id)).Result()
	return n > 0, err
}

func (r Revocations) key(id int64) string { return r.c.Key(r.name, strconv.FormatInt(id, 10)) }
