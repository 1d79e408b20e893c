package miniprogramapi

import (
	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/models/notify"
	"github.com/villagepoints/jifen/web"
)

type listNotificationsQuery struct {
	Unread bool `form:"unread"`
}

func (h *Handlers) listNotifications(c *gin.Context) error {
	who := caller(c)
	if !who.Bound() {
		return identity.ErrNotBound
	}
	var q listNotificationsQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	return web.ListPage(c, func(offset, limit int) ([]notify.Item, int64, error) {
		return h.Inbox.List(c.Request.Context(), who.ResidentID, q.Unread, offset, limit)
	})
}

// updateNotificationRequest can only mark a message read.
type updateNotificationRequest struct {
	Read *bool `json:"read" binding:"required"`
}

func (h *Handlers) updateNotification(c *gin.Context) error {
	who := caller(c)
	if !who.Bound() {
		return identity.ErrNotBound
	}
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req updateNotificationRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	if !*req.Read {
		return apperr.Invalid("read", "只能将消息标记为已读")
	}
	it, err := h.Inbox.MarkRead(c.Request.Context(), who.ResidentID, id)
	if err != nil {
		return err
	}
	web.OK(c, it)
	return nil
}
