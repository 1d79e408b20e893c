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
