package miniprogramapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/models/store"
	"github.com/villagepoints/jifen/web"
)

// Store is the mini-program's points store 积分超市: the shelf of the
// caller's village and township, and the caller's redemption orders. Every
// order route answers for the caller's own orders only: the resident's, or
// their household's where the village keeps points per household.
type Store struct {
	*Handlers
	Store *store.Store
}

// Register mounts the store routes on r (normally /mp/v1).
func (h *Store) Register(r *gin.RouterGroup) {
	a := r.Group("", h.authenticate)
	a.GET("/rewards", minePage(customer, h.Store.Shelf))
	a.GET("/rewards/:id", mineByID(customer, h.Store.ShelfReward))
	a.POST("/me/redemptions", web.Handle(h.placeOrder))
	a.GET("/me/redemptions", web.Handle(h.myOrders))
	a.GET("/me/redemptions/:id", mineByID(customer, h.Store.CustomerOrder))
	a.GET("/me/redemptions/:id/pickup-code", web.Handle(h.pickupCode))
	a.POST("/me/redemptions/:id/cancellation", mineByID(customer, h.Store.Cancel))
}

// customer is the bound caller as the store knows them.
func customer(c *gin.Context) (store.Customer, error) {
	who, err := bound(c)
	return store.Customer{VillageID: who.VillageID, ResidentID: who.ResidentID, HouseholdID: who.HouseholdID}, err
}

// orderRequest orders a reward; whose points pay is the caller's, never
// named in the request.
type orderRequest struct {
	RewardID int64 `json:"reward_id" binding:"required,gt=0"`
	Quantity int64 `json:"quantity" binding:"omitempty,gt=0,lte=100"`
}

func (h *Store) placeOrder(c *gin.Context) error {
	cu, err := customer(c)
	if err != nil {
		return err
	}
	key, err := web.IdempotencyKey(c)
	if err != nil {
		return err
	}
	var req orderRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	if req.Quantity == 0 {
		req.Quantity = 1
	}
	o, err := h.Store.PlaceOrder(c.Request.Context(), cu, store.OrderRequest{RewardID: req.RewardID, Quantity: req.Quantity, IdempotencyKey: key})
	if err != nil {
		return err
	}
	if o.Replayed {
		web.OK(c, o)
		return nil
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, web.Envelope{Data: o, RequestID: web.RequestID(c)})
	return nil
}

type myOrdersQuery struct {
	Status string `form:"status" binding:"omitempty,oneof=open completed cancelled expired refunded"`
}

func (h *Store) myOrders(c *gin.Context) error {
	cu, err := customer(c)
	if err != nil {
		return err
	}
	var q myOrdersQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	return web.ListPage(c, func(offset, limit int) ([]store.CustomerOrder, int64, error) {
		return h.Store.CustomerOrders(c.Request.Context(), cu, store.Status(q.Status), offset, limit)
	})
}

func (h *Store) pickupCode(c *gin.Context) error {
	cu, err := customer(c)
	if err != nil {
		return err
	}
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	pc, err := h.Store.PickupCode(c.Request.Context(), cu, id)
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	web.OK(c, pc)
	return nil
}
