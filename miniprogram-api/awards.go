package miniprogramapi

import (
	"context"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/models/awards"
	"github.com/villagepoints/jifen/models/catalog"
	"github.com/villagepoints/jifen/models/evidence"
	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/web"
)

// Awards are the mini-program's routes for rule items, the caller's
// awards, self-reports 随手拍, appeals 申诉, the village's public notice
// 公示 with objections 异议, and evidence photos. Every route answers for
// the caller's own resident and village.
type Awards struct {
	*Handlers
	Catalog  *catalog.Store
	Awards   *awards.Service
	Evidence *evidence.Store
}

// Register mounts the routes on r (normally /mp/v1).
func (h *Awards) Register(r *gin.RouterGroup) {
	a := r.Group("", h.authenticate)
	a.GET("/me/rule-items", mine(bound, func(ctx context.Context, who identity.Caller) ([]catalog.Item, error) {
		return h.Catalog.Items(ctx, who.VillageID, catalog.ItemFilter{SelfReport: true})
	}))
	a.GET("/me/awards", minePage(boundAs(villager), h.Awards.MyAwards))
	a.POST("/me/evidence", web.Handle(h.uploadEvidence))
	a.GET("/me/evidence/:id", web.Handle(h.getEvidence))
	a.POST("/me/self-reports", web.Handle(h.submitReport))
	a.GET("/me/self-reports", minePage(boundAs(villager), h.Awards.MyReports))
	a.PATCH("/me/self-reports/:id", web.Handle(h.supplyInfo))
	a.POST("/me/appeals", web.Handle(h.fileAppeal))
	a.GET("/me/appeals", minePage(boundAs(villager), h.Awards.MyAppeals))
	a.GET("/me/award-notices/:period", web.Handle(h.notice))
}

func villager(who identity.Caller) awards.Villager {
	return awards.Villager{ResidentID: who.ResidentID, VillageID: who.VillageID}
}

func (h *Awards) uploadEvidence(c *gin.Context) error {
	who, err := bound(c)
	if err != nil {
		return err
	}
	data, err := web.ReadUpload(c, "file", evidence.MaxBytes)
	if err != nil {
		return err
	}
	f, err := h.Evidence.Upload(c.Request.Context(), who.VillageID, "resident:"+strconv.FormatInt(who.ResidentID, 10), data)
	if err != nil {
		return err
	}
	web.Created(c, f)
	return nil
}

// getEvidence serves a photo the caller uploaded, or one behind a
// decision about them or a duty report they filed.
func (h *Awards) getEvidence(c *gin.Context) error {
	who, err := bound(c)
	if err != nil {
		return err
	}
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	f, rc, err := h.Evidence.OpenForResident(c.Request.Context(), id, who.ResidentID, who.VillageID)
	if err != nil {
		return err
	}
	defer rc.Close()
	c.Header("Cache-Control", "private, max-age=3600")
	c.DataFromReader(200, f.SizeBytes, f.ContentType, rc, nil)
	return nil
}
