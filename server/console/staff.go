package console

import (
	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/web"
)

type grantRequest struct {
	Role     string `json:"role" binding:"required,max=32"`
	RegionID int64  `json:"region_id" binding:"required,gt=0"`
}

func grants(rs []grantRequest) []staff.Grant {
	out := make([]staff.Grant, len(rs))
	for i, g := range rs {
		out[i] = staff.Grant{Role: staff.Role(g.Role), RegionID: g.RegionID}
	}
	return out
}

type createStaffRequest struct {
	Username    string         `json:"username" binding:"required,max=32"`
	DisplayName string         `json:"display_name" binding:"required,max=64"`
	Password    string         `json:"password" binding:"required,max=72"`
	ResidentID  *int64         `json:"resident_id" binding:"omitempty,gt=0"`
	Grants      []grantRequest `json:"grants" binding:"required,min=1,max=20,dive"`
}

func (h *Handlers) createStaff(c *gin.Context) error {
	var req createStaffRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	u, err := h.Staff.CreateUser(c.Request.Context(), principal(c), actor(c), staff.NewUser{
		Username: req.Username, DisplayName: req.DisplayName, Password: req.Password,
		ResidentID: req.ResidentID, Grants: grants(req.Grants),
	})
	if err != nil {
		return err
	}
	web.Created(c, u)
	return nil
}

func (h *Handlers) listStaff(c *gin.Context) error {
	return web.ListPage(c, func(offset, limit int) ([]staff.UserView, int64, error) {
		return h.Staff.ListUsers(c.Request.Context(), principal(c), offset, limit)
	})
}

func (h *Handlers) getStaff(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	u, err := h.Staff.User(c.Request.Context(), principal(c), id)
	if err != nil {
		return err
	}
	web.OK(c, u)
	return nil
}

type updateStaffRequest struct {
	DisplayName *string         `json:"display_name" binding:"omitempty,max=64"`
	Disabled    *bool           `json:"disabled"`
	Password    *string         `json:"password" binding:"omitempty,max=72"`
	Grants      *[]grantRequest `json:"grants" binding:"omitempty,max=20,dive"`
	Unlock      bool            `json:"unlock"`
}

func (h *Handlers) updateStaff(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req updateStaffRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	ch := staff.UserChange{DisplayName: req.DisplayName, Disabled: req.Disabled, Password: req.Password, Unlock: req.Unlock}
	if req.Grants != nil {
		g := grants(*req.Grants)
		ch.Grants = &g
	}
	u, err := h.Staff.UpdateUser(c.Request.Context(), principal(c), actor(c), id, ch)
	if err != nil {
		return err
	}
	web.OK(c, u)
	return nil
}
