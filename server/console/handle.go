package console

import (
	"context"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/web"
)

// The helpers below build the handlers of plain reads of one village:
// check the caller holds perm in :village_id (villageParam), call the
// service, answer 200. Handlers that bind a query or body, or answer
// anything but the service's result, are written out instead.

// inVillage answers with what fn returns for the :village_id village.
func inVillage[T any](perm staff.Permission, fn func(ctx context.Context, village int64) (T, error)) gin.HandlerFunc {
	return web.Handle(func(c *gin.Context) error {
		village, err := villageParam(c, perm)
		if err != nil {
			return err
		}
		v, err := fn(c.Request.Context(), village)
		if err != nil {
			return err
		}
		web.OK(c, v)
		return nil
	})
}

// inVillagePage answers with a page of fn's list (web.ListPage).
func inVillagePage[T any](perm staff.Permission, fn func(ctx context.Context, village int64, offset, limit int) ([]T, int64, error)) gin.HandlerFunc {
	return web.Handle(func(c *gin.Context) error {
		village, err := villageParam(c, perm)
		if err != nil {
			return err
		}
		return web.ListPage(c, func(offset, limit int) ([]T, int64, error) { return fn(c.Request.Context(), village, offset, limit) })
	})
}
