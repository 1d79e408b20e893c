package console

import (
	"github.com/gin-gonic/gin"
	"github.com/villagepoints/jifen/apperr"

	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/web"
)

type residentRequest struct {
	HouseholdID *int64 `json:"household_id" binding:"omitempty,gt=0"`
	GridID      *int64 `json:"grid_id" binding:"omitempty,gt=0"`
	Name        string `json:"name" binding:"required,max=64"`
	Gender      string `json:"gender" binding:"omitempty,oneof=男 女"`
	Relation    string `json:"relation" binding:"max=32"`
	Registered  *bool  `json:"registered" binding:"required"`
	PartyMember bool   `json:"party_member"`
	Phone       string `json:"phone" binding:"max=20"`
	IDNumber    string `json:"id_number" binding:"max=18"`
	Status      string `json:"status" binding:"omitempty,oneof=active moved_out deceased"`
}

func (r residentRequest) input() people.ResidentInput {
	return people.ResidentInput{HouseholdID: r.HouseholdID, GridID: r.GridID, Name: r.Name, Gender: r.Gender,
		Relation: r.Relation, Registered: *r.Registered, PartyMember: r.PartyMember, Phone: r.Phone,
		IDNumber: r.IDNumber, Status: r.Status}
}

type listResidentsQuery struct {
	HouseholdID int64  `form:"household_id" binding:"omitempty,gt=0"`
	GridID      int64  `form:"grid_id" binding:"omitempty,gt=0"`
	PartyMember *bool  `form:"party_member"`
	Registered  *bool  `form:"registered"`
	Status      string `form:"status" binding:"omitempty,oneof=active moved_out deceased"`
	Name        string `form:"name" binding:"max=32"`
	Phone       string `form:"phone" binding:"max=20"`
}

func (h *Handlers) listResidents(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadPeople)
	if err != nil {
		return err
	}
	var q listResidentsQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	page, err := web.ParsePage(c)
	if err != nil {
		return err
	}
	rs, total, err := h.People.ListResidents(c.Request.Context(), people.ResidentFilter{
		VillageIDs: []int64{village}, HouseholdID: q.HouseholdID, GridID: q.GridID, PartyMember: q.PartyMember,
		Registered: q.Registered, Status: q.Status, Name: q.Name, Phone: q.Phone,
	}, page.Offset(), page.Size)
	if err != nil {
		return err
	}
	views := make([]people.ResidentView, len(rs))
	for i, r := range rs {
		views[i] = h.People.View(r)
	}
	web.List(c, views, page, total)
	return nil
}

func (h *Handlers) createResident(c *gin.Context) error {
	village, err := villageParam(c, staff.WritePeople)
	if err != nil {
		return err
	}
	var req residentRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	r, err := h.People.CreateResident(c.Request.Context(), actor(c), village, req.input())
	if err != nil {
		return err
	}
	web.Created(c, h.People.View(r))
	return nil
}

// resident loads the :id resident if the caller holds perm in its village.
func (h *Handlers) resident(c *gin.Context, perm staff.Permission) (people.Resident, error) {
	id, err := web.PathID(c, "id")
	if err != nil {
		return people.Resident{}, err
	}
	r, err := h.People.Resident(c.Request.Context(), id)
	if err == people.ErrNotFound {
		return r, apperr.NotFound("村民")
	}
	if err != nil {
		return r, err
	}
	return r, inScope(c, perm, r.VillageID, "村民")
}

func (h *Handlers) getResident(c *gin.Context) error {
	r, err := h.resident(c, staff.ReadPeople)
	if err != nil {
		return err
	}
	web.OK(c, h.People.View(r))
	return nil
}

func (h *Handlers) updateResident(c *gin.Context) error {
	r, err := h.resident(c, staff.WritePeople)
	if err != nil {
		return err
	}
	var req residentRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	out, err := h.People.UpdateResident(c.Request.Context(), actor(c), r.ID, req.input())
	if err != nil {
		return err
	}
	web.OK(c, h.People.View(out))
	return nil
}
