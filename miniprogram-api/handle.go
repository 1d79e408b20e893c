package miniprogramapi

import (
	"context"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/web"
)

// The helpers below build the handlers of plain calls: find out who asks,
// call the service, answer 200. Most are reads; the two cancellations
// (an order, a sign-up) fit too, since cancelling twice answers with the
// same cancelled record and needs no idempotency key. who is bound,
// customer, signedIn or a boundAs, so the route shows which callers it
// refuses.

// mine answers with what fn returns for the caller.
func mine[W, T any](who func(*gin.Context) (W, error), fn func(ctx context.Context, who W) (T, error)) gin.HandlerFunc {
	return web.Handle(func(c *gin.Context) error {
		w, err := who(c)
		if err != nil {
			return err
		}
		v, err := fn(c.Request.Context(), w)
		if err != nil {
			return err
		}
		web.OK(c, v)
		return nil
	})
}

// mineByID answers with what fn returns for the caller and the :id path
// parameter.
func mineByID[W, T any](who func(*gin.Context) (W, error), fn func(ctx context.Context, who W, id int64) (T, error)) gin.HandlerFunc {
	return web.Handle(func(c *gin.Context) error {
		w, err := who(c)
		if err != nil {
			return err
		}
		id, err := web.PathID(c, "id")
		if err != nil {
			return err
		}
		v, err := fn(c.Request.Context(), w, id)
		if err != nil {
			return err
		}
		web.OK(c, v)
		return nil
	})
}

// minePage answers with a page of fn's list (web.ListPage).
func minePage[W, T any](who func(*gin.Context) (W, error), fn func(ctx context.Context, who W, offset, limit int) ([]T, int64, error)) gin.HandlerFunc {
	return web.Handle(func(c *gin.Context) error {
		w, err := who(c)
		if err != nil {
			return err
		}
		return web.ListPage(c, func(offset, limit int) ([]T, int64, error) { return fn(c.Request.Context(), w, offset, limit) })
	})
}

// boundAs is bound, with the caller as a service knows them.
func boundAs[W any](as func(identity.Caller) W) func(*gin.Context) (W, error) {
	return func(c *gin.Context) (W, error) {
		who, err := bound(c)
		return as(who), err
	}
}

// signedIn is any logged-in caller, bound to a resident or not.
func signedIn(c *gin.Context) (identity.Caller, error) { return caller(c), nil }
