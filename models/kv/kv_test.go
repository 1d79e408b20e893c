package kv_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/villagepoints/jifen/models/kv/kvtest"
)

func TestAllowCountsAcrossCallers(t *testing.T) {
	for _, b := range kvtest.MustBackends(t) {
		t.Run(b.Name, func(t *testing.T) {
			var allowed atomic.Int64
			var wg sync.WaitGroup
			for range 30 {
				wg.Go(func() {
					ok, _, err := b.Client.Allow(t.Context(), "login:ip:1.2.3.4", 10, time.Minute)
					if err != nil {
						t.Error(err)
					}
					if ok {
						allowed.Add(1)
					}
				})
			}
			wg.Wait()
			if allowed.Load() != 10 {
				t.Fatalf("allowed %d of 30 with limit 10", allowed.Load())
			}
			ok, retry, _ := b.Client.Allow(t.Context(), "login:ip:1.2.3.4", 10, time.Minute)
			if ok || retry <= 0 || retry > time.Minute {
				t.Fatalf("over the limit: ok=%v retry=%v", ok, retry)
			}
			if ok, _, _ := b.Client.Allow(t.Context(), "login:ip:5.6.7.8", 10, time.Minute); !ok {
				t.Fatal("another key must have its own window")
			}
		})
	}
}

func TestRevocationsDenyUntilTheyExpire(t *testing.T) {
	for _, b := range kvtest.MustBackends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			staff := b.Client.Revocations("test-staff-revoked", time.Minute)
			mp := b.Client.Revocations("test-mp-revoked", time.Minute)
			if err := staff.Revoke(ctx, 7, 8); err != nil {
				t.Fatal(err)
			}
			for id, want := range map[int64]bool{7: true, 8: true, 9: false} {
				if got, err := staff.Revoked(ctx, id); err != nil || got != want {
					t.Fatalf("session %d revoked = %v (%v), want %v", id, got, err, want)
				}
			}
			if got, _ := mp.Revoked(ctx, 7); got {
				t.Fatal("another list shares the entry")
			}
			if ttl := b.Client.TTL(ctx, b.Client.Key("test-staff-revoked", "7")).Val(); ttl <= 0 || ttl > time.Minute {
				t.Fatalf("entry lives %v, want up to a minute", ttl)
			}
		})
	}
}
