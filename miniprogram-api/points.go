package miniprogramapi

import (
	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/web"
)

// Points are the mini-program's "my points" routes: the balance with
// upcoming expiry, and the history with each posting's cause. They answer
// only for the caller's own points: the resident's, or their household's
// where the village keeps points per household.
type Points struct {
	*Handlers
	Ledger *ledger.Store
}

// Register mounts the points routes on r (normally /mp/v1).
func (h *Points) Register(r *gin.RouterGroup) {
	a := r.Group("", h.authenticate)
	a.GET("/me/points", web.Handle(h.myPoints))
	a.GET("/me/points/history", web.Handle(h.myHistory))
}

// holder is whose points the caller sees.
func (h *Points) holder(c *gin.Context) (int64, ledger.Holder, error) {
	who, err := bound(c)
	if err != nil {
		return 0, ledger.Holder{}, err
	}
	st, err := h.Ledger.Settings(c.Request.Context(), who.VillageID)
	if err != nil {
		return 0, ledger.Holder{}, err
	}
	if st.HolderMode == ledger.HolderHousehold && who.HouseholdID != 0 {
		return who.VillageID, ledger.Household(who.HouseholdID), nil
	}
	return who.VillageID, ledger.Resident(who.ResidentID), nil
}

func (h *Points) myPoints(c *gin.Context) error {
	village, holder, err := h.holder(c)
	if err != nil {
		return err
	}
	b, err := h.Ledger.Balance(c.Request.Context(), village, holder)
	if err != nil {
		return err
	}
	web.OK(c, b.View())
	return nil
}

type pointsHistoryQuery struct {
	BeforeID int64 `form:"before_id" binding:"omitempty,gt=0"`
	Limit    int   `form:"limit" binding:"omitempty,min=1,max=100"`
}

func (h *Points) myHistory(c *gin.Context) error {
	village, holder, err := h.holder(c)
	if err != nil {
		return err
	}
	var q pointsHistoryQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	if q.Limit == 0 {
		q.Limit = web.DefaultPageSize
	}
	page, err := h.Ledger.History(c.Request.Context(), ledger.HistoryQuery{VillageID: village, Holder: holder, BeforeID: q.BeforeID, Limit: q.Limit})
	if err != nil {
		return err
	}
	items := make([]ledger.PostingView, len(page.Entries))
	for i, e := range page.Entries {
		items[i] = ledger.ViewOf(e)
	}
	web.OK(c, gin.H{"items": items, "next_before_id": page.NextBeforeID})
	return nil
}
