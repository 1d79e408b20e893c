package console

import (
	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/models/store"
	"github.com/villagepoints/jifen/web"
)

type listRedemptionsQuery struct {
	Status     string `form:"status" binding:"omitempty,oneof=open completed cancelled expired refunded"`
	Channel    string `form:"channel" binding:"omitempty,oneof=online counter"`
	ResidentID int64  `form:"resident_id" binding:"omitempty,gt=0"`
	RewardID   int64  `form:"reward_id" binding:"omitempty,gt=0"`
}

func (h *Handlers) listRedemptions(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadStore)
	if err != nil {
		return err
	}
	var q listRedemptionsQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	return web.ListPage(c, func(offset, limit int) ([]store.Order, int64, error) {
		return h.Store.VillageOrders(c.Request.Context(), village, store.OrderFilter{
			Status: store.Status(q.Status), Channel: store.Channel(q.Channel), ResidentID: q.ResidentID, RewardID: q.RewardID,
		}, offset, limit)
	})
}

func (h *Handlers) getRedemption(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	o, err := h.Store.Order(c.Request.Context(), h.storeStaff(c, staff.ReadStore), id)
	if err != nil {
		return err
	}
	web.OK(c, o)
	return nil
}

// verifyRequest carries what the clerk scanned (the order's rotating QR
// code) or typed (its six-digit code).
type verifyRequest struct {
	Code string `json:"code" binding:"required,max=256"`
}

func (h *Handlers) verifyRedemption(c *gin.Context) error {
	village, err := villageParam(c, staff.VerifyRedemption)
	if err != nil {
		return err
	}
	var req verifyRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	o, err := h.Store.Verify(c.Request.Context(), h.storeStaff(c, staff.VerifyRedemption), village, req.Code)
	if err != nil {
		return err
	}
	web.OK(c, o)
	return nil
}

type saleItemRequest struct {
	RewardID int64 `json:"reward_id" binding:"required,gt=0"`
	Quantity int64 `json:"quantity" binding:"required,gt=0,lte=100"`
}

// counterRedemptionRequest is a counter sale: the personal code of the
// villager at the counter and what they picked.
type counterRedemptionRequest struct {
	Code  string            `json:"code" binding:"required,max=256"`
	Items []saleItemRequest `json:"items" binding:"required,min=1,max=20,dive"`
}

func (h *Handlers) counterRedemption(c *gin.Context) error {
	village, err := villageParam(c, staff.VerifyRedemption)
	if err != nil {
		return err
	}
	key, err := web.IdempotencyKey(c)
	if err != nil {
		return err
	}
	var req counterRedemptionRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	items := make([]store.SaleItem, len(req.Items))
	for i, it := range req.Items {
		items[i] = store.SaleItem{RewardID: it.RewardID, Quantity: it.Quantity}
	}
	os, err := h.Store.Sell(c.Request.Context(), h.storeStaff(c, staff.VerifyRedemption), store.SaleRequest{
		VillageID: village, Code: req.Code, Items: items, IdempotencyKey: key})
	if err != nil {
		return err
	}
	web.Created(c, os)
	return nil
}

type reasonRequest struct {
	Reason string `json:"reason" binding:"required,max=500"`
}

func (h *Handlers) cancelRedemption(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req reasonRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	o, err := h.Store.CancelByStaff(c.Request.Context(), h.storeStaff(c, staff.ManageStore), id, req.Reason)
	if err != nil {
		return err
	}
	web.OK(c, o)
	return nil
}

// refundRequest undoes a completed order; restock says the goods came
// back to the store.
type refundRequest struct {
	Reason  string `json:"reason" binding:"required,max=500"`
	Restock bool   `json:"restock"`
}

func (h *Handlers) refundRedemption(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req refundRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	o, err := h.Store.Refund(c.Request.Context(), h.storeStaff(c, staff.ManageStore), id, req.Reason, req.Restock)
	if err != nil {
		return err
	}
	web.OK(c, o)
	return nil
}
