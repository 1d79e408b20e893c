package console

import (
	"github.com/gin-gonic/gin"
	"github.com/villagepoints/jifen/apperr"

	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/web"
)

type householdRequest struct {
	GridID   *int64 `json:"grid_id" binding:"omitempty,gt=0"`
	Number   string `json:"number" binding:"required,max=32"`
	Address  string `json:"address" binding:"max=255"`
	HeadName string `json:"head_name" binding:"max=64"`
}

func (r householdRequest) input() people.HouseholdInput {
	return people.HouseholdInput{GridID: r.GridID, Number: r.Number, Address: r.Address, HeadName: r.HeadName}
}

type listHouseholdsQuery struct {
	GridID int64  `form:"grid_id" binding:"omitempty,gt=0"`
	Query  string `form:"q" binding:"max=64"`
}

func (h *Handlers) listHouseholds(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadPeople)
	if err != nil {
		return err
	}
	var q listHouseholdsQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	return web.ListPage(c, func(offset, limit int) ([]people.Household, int64, error) {
		return h.People.ListHouseholds(c.Request.Context(), people.HouseholdFilter{VillageIDs: []int64{village}, GridID: q.GridID, Query: q.Query}, offset, limit)
	})
}

func (h *Handlers) createHousehold(c *gin.Context) error {
	village, err := villageParam(c, staff.WritePeople)
	if err != nil {
		return err
	}
	var req householdRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	hh, err := h.People.CreateHousehold(c.Request.Context(), actor(c), village, req.input())
	if err != nil {
		return err
	}
	web.Created(c, hh)
	return nil
}

// household loads the :id household if the caller holds perm in its village.
func (h *Handlers) household(c *gin.Context, perm staff.Permission) (people.Household, error) {
	id, err := web.PathID(c, "id")
	if err != nil {
		return people.Household{}, err
	}
	hh, err := h.People.Household(c.Request.Context(), id)
	if err == people.ErrNotFound {
		return hh, apperr.NotFound("户")
	}
	if err != nil {
		return hh, err
	}
	return hh, inScope(c, perm, hh.VillageID, "户")
}

func (h *Handlers) getHousehold(c *gin.Context) error {
	hh, err := h.household(c, staff.ReadPeople)
	if err != nil {
		return err
	}
	web.OK(c, hh)
	return nil
}

func (h *Handlers) updateHousehold(c *gin.Context) error {
	hh, err := h.household(c, staff.WritePeople)
	if err != nil {
		return err
	}
	var req householdRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	out, err := h.People.UpdateHousehold(c.Request.Context(), actor(c), hh.ID, req.input())
	if err != nil {
		return err
	}
	web.OK(c, out)
	return nil
}
