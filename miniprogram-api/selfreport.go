package miniprogramapi

import (
	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/models/awards"
	"github.com/villagepoints/jifen/web"
)

type selfReportRequest struct {
	RuleItemID     int64   `json:"rule_item_id" binding:"required,gt=0"`
	Note           string  `json:"note" binding:"required,max=500"`
	Photos         []int64 `json:"photos" binding:"max=9"`
	IdempotencyKey string  `json:"idempotency_key" binding:"required,max=128"`
}

func (h *Awards) submitReport(c *gin.Context) error {
	who, err := bound(c)
	if err != nil {
		return err
	}
	var req selfReportRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	rep, err := h.Awards.SubmitReport(c.Request.Context(), villager(who), awards.ReportRequest{RuleItemID: req.RuleItemID, Note: req.Note,
		Photos: req.Photos, IdempotencyKey: req.IdempotencyKey})
	if err != nil {
		return err
	}
	if rep.Replayed {
		web.OK(c, rep)
	} else {
		web.Created(c, rep)
	}
	return nil
}

// supplyInfoRequest answers a reviewer's request for more information.
type supplyInfoRequest struct {
	Note   string  `json:"note" binding:"required,max=500"`
	Photos []int64 `json:"photos" binding:"max=9"`
}

func (h *Awards) supplyInfo(c *gin.Context) error {
	who, err := bound(c)
	if err != nil {
		return err
	}
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req supplyInfoRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	rep, err := h.Awards.SupplyInfo(c.Request.Context(), villager(who), id, req.Note, req.Photos)
	if err != nil {
		return err
	}
	web.OK(c, rep)
	return nil
}
