package app

import (
	"context"
	"fmt"
	"time"

	"github.com/gin-gonic/gin"

	miniprogramapi "github.com/villagepoints/jifen/miniprogram-api"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/people"
)

// ledgerInterval is how often the sealer, the Redis balance relay and the
// hold-expiry job run: the delay before a posting is in the hash chain and
// in Redis.
const ledgerInterval = 500 * time.Millisecond

// wireLedger builds the points ledger and its background jobs: the
// Sealer (hash chain), the relay that keeps Redis balances, the release
// of expired redemption holds, and the nightly expiry of points under
// each village's policy.
func (a *App) wireLedger() {
	a.Ledger = ledger.New(a.DB, ledger.Options{})
	a.Balances = ledger.NewRedisBalances(a.KV)
	sealer := ledger.NewSealer(a.Ledger)
	relay := ledger.NewRelay(a.Ledger, a.Balances)
	a.workers = append(a.workers,
		func(ctx context.Context) { sealer.Run(ctx, ledgerInterval) },
		func(ctx context.Context) { relay.Run(ctx, ledgerInterval) },
		func(ctx context.Context) { every(ctx, 30*time.Second, a.expireHolds) },
		func(ctx context.Context) { every(ctx, time.Hour, a.expirePoints) },
	)
}

// every runs job now and then every d until ctx ends.
func every(ctx context.Context, d time.Duration, job func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		job(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *App) expireHolds(ctx context.Context) {
	if n, err := a.Ledger.ExpireHolds(ctx, time.Now()); err != nil && ctx.Err() == nil {
		a.Log.Warn("expire holds", "err", err)
	} else if n > 0 {
		a.Log.Info("released expired holds", "count", n)
	}
}

// expirePoints posts lapsed points of every village; villages without an
// expiry policy post nothing.
func (a *App) expirePoints(ctx context.Context) {
	ids, err := a.villageIDs(ctx)
	if err != nil {
		a.Log.Warn("expire points: list villages", "err", err)
		return
	}
	for _, id := range ids {
		if _, err := a.Ledger.ExpirePoints(ctx, id, time.Now()); err != nil && ctx.Err() == nil {
			a.Log.Warn("expire points", "village", id, "err", err)
		}
	}
}

func (a *App) villageIDs(ctx context.Context) ([]int64, error) {
	var ids []int64
	err := a.DB.WithContext(ctx).Model(&people.Region{}).Where("level = ?", people.Village).Order("id").Pluck("id", &ids).Error
	return ids, err
}

// ledgerRoutes mounts the mini-program's points routes (the console's are
// registered by console.Handlers).
func (a *App) ledgerRoutes(r *gin.Engine) {
	mp := &miniprogramapi.Points{Handlers: &miniprogramapi.Handlers{Identity: a.Identity}, Ledger: a.Ledger}
	mp.Register(r.Group("/mp/v1"))
}

// VerifyLedger re-computes the hash chain and zero-sum of one village, or of
// every village when villageID is 0, sealing what is pending first so the
// whole ledger is checked. It returns the reports and an error naming the
// first broken posting.
func VerifyLedger(ctx context.Context, a *App, villageID int64) ([]ledger.Report, error) {
	if _, err := ledger.NewSealer(a.Ledger).SealAll(ctx); err != nil {
		return nil, err
	}
	ids := []int64{villageID}
	if villageID == 0 {
		var err error
		if ids, err = a.villageIDs(ctx); err != nil {
			return nil, err
		}
	}
	var reps []ledger.Report
	for _, id := range ids {
		rep, err := a.Ledger.Verify(ctx, id)
		if err != nil {
			return reps, err
		}
		reps = append(reps, rep)
		if err := rep.Err(); err != nil {
			return reps, err
		}
	}
	return reps, nil
}

// RebuildLedger recomputes the cached balances (SQL and Redis) of one
// village, or of all when villageID is 0, from the postings.
func RebuildLedger(ctx context.Context, a *App, villageID int64) ([]ledger.RebuildReport, error) {
	ids := []int64{villageID}
	if villageID == 0 {
		var err error
		if ids, err = a.villageIDs(ctx); err != nil {
			return nil, err
		}
	}
	var reps []ledger.RebuildReport
	for _, id := range ids {
		rep, err := a.Ledger.Rebuild(ctx, id, a.Balances)
		if err != nil {
			return reps, fmt.Errorf("village %d: %w", id, err)
		}
		reps = append(reps, rep)
	}
	return reps, nil
}
