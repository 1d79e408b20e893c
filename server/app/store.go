package app

import (
	"context"

	"github.com/gin-gonic/gin"

	miniprogramapi "github.com/villagepoints/jifen/miniprogram-api"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/store"
)

// wireStore builds the points store over the ledger (its orders hold and
// spend points inside the store's own transactions) and runs, as workers,
// the expiry of orders nobody picked up and the relay that turns the
// orders' hold postings into "ready for pickup" messages.
func (a *App) wireStore() error {
	var err error
	a.Store, err = store.New(a.DB, a.People, a.Identity, store.LedgerOptions(a.Ledger, store.Options{
		PickupKey: pii.DeriveKey(a.Config.SecretKey, "store-pickup-code"),
		Location:  a.Ledger.Location(),
		Log:       a.Log,
	}))
	if err != nil {
		return err
	}
	ready := ledger.NewRelay(a.Ledger, a.Store.ReadyNotices())
	a.workers = append(a.workers,
		func(ctx context.Context) { a.Store.Run(ctx, a.Config.StoreExpireEvery) },
		func(ctx context.Context) { ready.Run(ctx, ledgerInterval) },
	)
	return nil
}

// storeRoutes mounts the mini-program's store routes (the console's are
// registered by console.Handlers).
func (a *App) storeRoutes(r *gin.Engine) {
	mp := &miniprogramapi.Store{Handlers: &miniprogramapi.Handlers{Identity: a.Identity}, Store: a.Store}
	mp.Register(r.Group("/mp/v1"))
}
