package miniprogramapi

import (
	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/models/awards"
	"github.com/villagepoints/jifen/web"
)

// appealRequest is an appeal 申诉 of a deduction or a rejected self-report
// (kind appeal), or an objection 异议 to an award on public notice (kind
// objection).
type appealRequest struct {
	Kind       string `json:"kind" binding:"required,oneof=appeal objection"`
	TargetType string `json:"target_type" binding:"required,oneof=award self_report"`
	TargetID   int64  `json:"target_id" binding:"required,gt=0"`
	Reason     string `json:"reason" binding:"required,max=500"`
}

func (h *Awards) fileAppeal(c *gin.Context) error {
	who, err := bound(c)
	if err != nil {
		return err
	}
	var req appealRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	ap, err := h.Awards.File(c.Request.Context(), villager(who), awards.AppealRequest{Kind: awards.AppealKind(req.Kind),
		TargetType: req.TargetType, TargetID: req.TargetID, Reason: req.Reason})
	if err != nil {
		return err
	}
	if ap.Replayed {
		web.OK(c, ap)
	} else {
		web.Created(c, ap)
	}
	return nil
}

// notice is the caller's village's public notice of one month, names
// masked.
func (h *Awards) notice(c *gin.Context) error {
	who, err := bound(c)
	if err != nil {
		return err
	}
	page, err := web.ParsePage(c)
	if err != nil {
		return err
	}
	n, err := h.Awards.Notice(c.Request.Context(), who.VillageID, c.Param("period"), page.Offset(), page.Size)
	if err != nil {
		return err
	}
	web.OK(c, n)
	return nil
}
