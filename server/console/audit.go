package console

import (
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/web"
)

type listAuditQuery struct {
	VillageID  int64     `form:"village_id" binding:"omitempty,gt=0"`
	ActorID    int64     `form:"actor_id" binding:"omitempty,gt=0"`
	Action     string    `form:"action" binding:"max=64"`
	TargetType string    `form:"target_type" binding:"max=32"`
	TargetID   int64     `form:"target_id" binding:"omitempty,gt=0"`
	Since      time.Time `form:"since" time_format:"2006-01-02T15:04:05Z07:00"`
	Until      time.Time `form:"until" time_format:"2006-01-02T15:04:05Z07:00"`
}

// listAudit shows the audit log of the caller's villages; county admins
// also see entries not tied to a village (regions, staff of townships).
func (h *Handlers) listAudit(c *gin.Context) error {
	var q listAuditQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	page, err := web.ParsePage(c)
	if err != nil {
		return err
	}
	p := principal(c)
	villages := p.Villages(staff.ReadAudit)
	if q.VillageID != 0 {
		if !slices.Contains(villages, q.VillageID) {
			return apperr.New(apperr.CodeOutOfScope, "该村不在您的管理范围内")
		}
		villages = []int64{q.VillageID}
	}
	f := audit.Filter{VillageIDs: villages, IncludeGlobal: q.VillageID == 0 && len(p.RegionsFor(staff.CountyAdmin)) > 0,
		ActorID: q.ActorID, Action: q.Action, TargetType: q.TargetType, TargetID: q.TargetID, Since: q.Since, Until: q.Until}
	es, total, err := audit.List(c.Request.Context(), h.DB, f, page.Offset(), page.Size)
	if err != nil {
		return err
	}
	web.List(c, es, page, total)
	return nil
}
