package console

import (
	"time"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/models/store"
	"github.com/villagepoints/jifen/web"
)

// registerStore mounts the points store's 积分超市 staff routes: rewards and
// their stock, merchants, orders at the counter, settings, budgets, alerts,
// reports and statements.
func (h *Handlers) registerStore(a *gin.RouterGroup) {
	a.GET("/villages/:village_id/rewards", require(staff.ReadStore), web.Handle(h.listRewards))
	a.POST("/rewards", require(staff.ManageStore), web.Handle(h.createReward))
	a.GET("/rewards/:id", require(staff.ReadStore), web.Handle(h.getReward))
	a.PATCH("/rewards/:id", require(staff.ManageStore), web.Handle(h.updateReward))
	a.GET("/rewards/:id/stock-movements", require(staff.ReadStore), web.Handle(h.listMovements))
	a.POST("/rewards/:id/stock-movements", require(staff.ManageStock), web.Handle(h.moveStock))

	a.GET("/villages/:village_id/merchants", require(staff.ReadStore), inVillage(staff.ReadStore, h.Store.VillageMerchants))
	a.POST("/merchants", require(staff.ManageStore), web.Handle(h.createMerchant))
	a.GET("/merchants/:id/settlement", require(staff.ReadStore), web.Handle(h.settlement))
	a.GET("/merchants/:id/settlement/export", require(staff.ReadStore), web.Handle(h.exportSettlement))

	a.GET("/villages/:village_id/redemptions", require(staff.ReadStore), web.Handle(h.listRedemptions))
	a.GET("/redemptions/:id", require(staff.ReadStore), web.Handle(h.getRedemption))
	a.POST("/villages/:village_id/redemption-verifications", require(staff.VerifyRedemption), web.Handle(h.verifyRedemption))
	a.POST("/villages/:village_id/counter-redemptions", require(staff.VerifyRedemption), web.Handle(h.counterRedemption))
	a.POST("/redemptions/:id/cancellation", require(staff.ManageStore), web.Handle(h.cancelRedemption))
	a.POST("/redemptions/:id/refund", require(staff.ManageStore), web.Handle(h.refundRedemption))

	a.GET("/villages/:village_id/store-settings", require(staff.ReadStore), inVillage(staff.ReadStore, h.Store.Settings))
	a.PUT("/villages/:village_id/store-settings", require(staff.ManageStore), web.Handle(h.saveStoreSettings))
	a.PUT("/villages/:village_id/store-budgets/:year", require(staff.ManageStore), web.Handle(h.setStoreBudget))
	a.GET("/villages/:village_id/stock-alerts", require(staff.ReadStore), inVillage(staff.ReadStore, h.Store.Alerts))
	a.GET("/villages/:village_id/store-reports/:month", require(staff.ReadStore), web.Handle(h.storeReport))
	a.GET("/villages/:village_id/store-reports/:month/export", require(staff.ReadStore), web.Handle(h.exportStoreReport))
}

// storeStaff is the caller acting in the store with perm. They act in a
// village where they hold perm, and in a township's shared store where a
// role holding perm was granted on the township or above; readers of a
// village also read the shared store its residents use.
func (h *Handlers) storeStaff(c *gin.Context, perm staff.Permission) store.Staff {
	p := principal(c)
	ctx := c.Request.Context()
	return store.Staff{Actor: actor(c), In: func(region int64) bool {
		if p.Can(perm, region) {
			return true
		}
		r, err := h.People.Region(ctx, region)
		if err != nil || r.Level != people.Township {
			return false
		}
		if p.Covers(perm, r) {
			return true
		}
		if perm != staff.ReadStore {
			return false
		}
		villages, err := h.People.VillagesUnder(ctx, []int64{r.ID})
		if err != nil {
			return false
		}
		for _, v := range villages {
			if p.Can(perm, v) {
				return true
			}
		}
		return false
	}}
}

type listRewardsQuery struct {
	OnShelf *bool  `form:"on_shelf"`
	Kind    string `form:"kind" binding:"omitempty,oneof=goods service voucher"`
	Query   string `form:"q" binding:"max=64"`
}

func (h *Handlers) listRewards(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadStore)
	if err != nil {
		return err
	}
	var q listRewardsQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	return web.ListPage(c, func(offset, limit int) ([]store.Reward, int64, error) {
		return h.Store.VillageRewards(c.Request.Context(), village, store.RewardFilter{OnShelf: q.OnShelf, Kind: store.Kind(q.Kind), Query: q.Query}, offset, limit)
	})
}

// createRewardRequest is a new reward. Photos are URLs or keys of images
// uploaded elsewhere; stock_tracked defaults to true except for services.
type createRewardRequest struct {
	RegionID            int64      `json:"region_id" binding:"required,gt=0"`
	Kind                string     `json:"kind" binding:"required,oneof=goods service voucher"`
	Name                string     `json:"name" binding:"required,max=100"`
	Description         string     `json:"description" binding:"max=1000"`
	Points              int64      `json:"points" binding:"required,gt=0"`
	CostFen             int64      `json:"cost_fen" binding:"gte=0"`
	LimitResidentMonth  int        `json:"limit_resident_month" binding:"gte=0,lte=1000"`
	LimitHouseholdMonth int        `json:"limit_household_month" binding:"gte=0,lte=1000"`
	OnShelf             bool       `json:"on_shelf"`
	StockTracked        *bool      `json:"stock_tracked"`
	InitialStock        int64      `json:"initial_stock" binding:"gte=0"`
	LowStockAt          int64      `json:"low_stock_at" binding:"gte=0"`
	ValidFrom           *time.Time `json:"valid_from"`
	ValidUntil          *time.Time `json:"valid_until"`
	MerchantID          *int64     `json:"merchant_id" binding:"omitempty,gt=0"`
	Photos              []string   `json:"photos" binding:"max=9"`

	// Tracks are the point tracks that may pay (civic, party,
	// volunteer); empty or absent: any the village lets be spent.
	Tracks []ledger.Track `json:"tracks"`
}

func (h *Handlers) createReward(c *gin.Context) error {
	var req createRewardRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	tracked := req.Kind != string(store.KindService)
	if req.StockTracked != nil {
		tracked = *req.StockTracked
	}
	r, err := h.Store.CreateReward(c.Request.Context(), h.storeStaff(c, staff.ManageStore), req.RegionID, store.RewardInput{
		Kind: store.Kind(req.Kind), Name: req.Name, Description: req.Description, Points: req.Points, CostFen: req.CostFen,
		LimitResidentMonth: req.LimitResidentMonth, LimitHouseholdMonth: req.LimitHouseholdMonth, OnShelf: req.OnShelf,
		Tracks: req.Tracks, StockTracked: tracked, InitialStock: req.InitialStock, LowStockAt: req.LowStockAt, ValidFrom: req.ValidFrom,
		ValidUntil: req.ValidUntil, MerchantID: req.MerchantID, Photos: req.Photos,
	})
	if err != nil {
		return err
	}
	web.Created(c, r)
	return nil
}

func (h *Handlers) getReward(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	r, err := h.Store.Reward(c.Request.Context(), h.storeStaff(c, staff.ReadStore), id)
	if err != nil {
		return err
	}
	web.OK(c, r)
	return nil
}

// updateRewardRequest changes what it names. valid_from and valid_until
// (or clear_validity) replace both bounds together; clear_merchant
// removes the merchant.
type updateRewardRequest struct {
	Name                *string    `json:"name" binding:"omitempty,max=100"`
	Description         *string    `json:"description" binding:"omitempty,max=1000"`
	Points              *int64     `json:"points" binding:"omitempty,gt=0"`
	CostFen             *int64     `json:"cost_fen" binding:"omitempty,gte=0"`
	LimitResidentMonth  *int       `json:"limit_resident_month" binding:"omitempty,gte=0,lte=1000"`
	LimitHouseholdMonth *int       `json:"limit_household_month" binding:"omitempty,gte=0,lte=1000"`
	OnShelf             *bool      `json:"on_shelf"`
	LowStockAt          *int64     `json:"low_stock_at" binding:"omitempty,gte=0"`
	ValidFrom           *time.Time `json:"valid_from"`
	ValidUntil          *time.Time `json:"valid_until"`
	ClearValidity       bool       `json:"clear_validity"`
	MerchantID          *int64     `json:"merchant_id" binding:"omitempty,gt=0"`
	ClearMerchant       bool       `json:"clear_merchant"`
	Photos              *[]string  `json:"photos" binding:"omitempty,max=9"`

	// Tracks replaces the tracks that may pay; [] means any.
	Tracks *[]ledger.Track `json:"tracks"`
}

func (h *Handlers) updateReward(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req updateRewardRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	p := store.RewardPatch{Name: req.Name, Description: req.Description, Points: req.Points, CostFen: req.CostFen,
		LimitResidentMonth: req.LimitResidentMonth, LimitHouseholdMonth: req.LimitHouseholdMonth, OnShelf: req.OnShelf,
		Tracks: req.Tracks, LowStockAt: req.LowStockAt, Photos: req.Photos,
		SetValidity: req.ClearValidity || req.ValidFrom != nil || req.ValidUntil != nil,
		SetMerchant: req.ClearMerchant || req.MerchantID != nil}
	if !req.ClearValidity {
		p.ValidFrom, p.ValidUntil = req.ValidFrom, req.ValidUntil
	}
	if !req.ClearMerchant {
		p.MerchantID = req.MerchantID
	}
	r, err := h.Store.UpdateReward(c.Request.Context(), h.storeStaff(c, staff.ManageStore), id, p)
	if err != nil {
		return err
	}
	web.OK(c, r)
	return nil
}

func (h *Handlers) listMovements(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	return web.ListPage(c, func(offset, limit int) ([]store.Movement, int64, error) {
		return h.Store.Movements(c.Request.Context(), h.storeStaff(c, staff.ReadStore), id, offset, limit)
	})
}

type moveStockRequest struct {
	Kind     string `json:"kind" binding:"required,oneof=restock write_off"`
	Quantity int64  `json:"quantity" binding:"required,gt=0"`
	Reason   string `json:"reason" binding:"max=500"`
}

func (h *Handlers) moveStock(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	key, err := web.IdempotencyKey(c)
	if err != nil {
		return err
	}
	var req moveStockRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	m, err := h.Store.MoveStock(c.Request.Context(), h.storeStaff(c, staff.ManageStock), id, store.MoveRequest{
		Kind: store.MoveKind(req.Kind), Quantity: req.Quantity, Reason: req.Reason, IdempotencyKey: key})
	if err != nil {
		return err
	}
	web.Created(c, m)
	return nil
}

type createMerchantRequest struct {
	RegionID int64  `json:"region_id" binding:"required,gt=0"`
	Name     string `json:"name" binding:"required,max=100"`
	Contact  string `json:"contact" binding:"max=100"`
}

func (h *Handlers) createMerchant(c *gin.Context) error {
	var req createMerchantRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	m, err := h.Store.CreateMerchant(c.Request.Context(), h.storeStaff(c, staff.ManageStore), req.RegionID, req.Name, req.Contact)
	if err != nil {
		return err
	}
	web.Created(c, m)
	return nil
}

type storeSettingsRequest struct {
	PickupDays  int    `json:"pickup_days" binding:"required,gte=1,lte=90"`
	PickupPlace string `json:"pickup_place" binding:"max=100"`
}

func (h *Handlers) saveStoreSettings(c *gin.Context) error {
	village, err := villageParam(c, staff.ManageStore)
	if err != nil {
		return err
	}
	var req storeSettingsRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	st, err := h.Store.SaveSettings(c.Request.Context(), h.storeStaff(c, staff.ManageStore), village,
		store.Settings{PickupDays: req.PickupDays, PickupPlace: req.PickupPlace})
	if err != nil {
		return err
	}
	web.OK(c, st)
	return nil
}

type storeBudgetRequest struct {
	AmountFen int64 `json:"amount_fen" binding:"gte=0"`
}

func (h *Handlers) setStoreBudget(c *gin.Context) error {
	village, err := villageParam(c, staff.ManageStore)
	if err != nil {
		return err
	}
	year, err := web.PathID(c, "year")
	if err != nil {
		return err
	}
	var req storeBudgetRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	b, err := h.Store.SetBudget(c.Request.Context(), h.storeStaff(c, staff.ManageStore), village, int(year), req.AmountFen)
	if err != nil {
		return err
	}
	web.OK(c, b)
	return nil
}
