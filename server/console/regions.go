package console

import (
	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/web"
)

type listRegionsQuery struct {
	Level string `form:"level" binding:"omitempty,oneof=village grid"`
}

func (h *Handlers) listRegions(c *gin.Context) error {
	var q listRegionsQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	if q.Level == "" {
		q.Level = string(people.Village)
	}
	rs, err := h.People.ListRegions(c.Request.Context(), principal(c).Villages(staff.ReadRegions), people.Level(q.Level))
	if err != nil {
		return err
	}
	web.OK(c, rs)
	return nil
}

type createRegionRequest struct {
	ParentID int64  `json:"parent_id" binding:"required,gt=0"`
	Level    string `json:"level" binding:"required,oneof=township village grid"`
	Name     string `json:"name" binding:"required,max=100"`
	Code     string `json:"code" binding:"required,max=32"`
}

// createRegion adds a township, village or grid. Townships and villages
// need regions.manage above them; grids need regions.grids in the village.
func (h *Handlers) createRegion(c *gin.Context) error {
	var req createRegionRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request.Context()
	parent, err := h.People.Region(ctx, req.ParentID)
	if err != nil {
		if err == people.ErrNotFound {
			return apperr.NotFound("上级区域")
		}
		return err
	}
	perm := staff.ManageRegions
	if people.Level(req.Level) == people.Grid {
		perm = staff.ManageGrids
	}
	if !principal(c).Covers(perm, parent) {
		return apperr.New(apperr.CodeOutOfScope, "上级区域不在您的管理范围内")
	}
	r, err := h.People.CreateRegion(ctx, actor(c), people.RegionInput{ParentID: &req.ParentID, Level: people.Level(req.Level), Name: req.Name, Code: req.Code})
	if err != nil {
		return err
	}
	web.Created(c, r)
	return nil
}
