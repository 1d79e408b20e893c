package console

import (
	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/models/awards"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/web"
)

type awardSettingsRequest struct {
	ConfirmDeductions *bool `json:"confirm_deductions" binding:"required"`
	AppealDays        int   `json:"appeal_days" binding:"required"`
	NoticeDays        int   `json:"notice_days"`
	ReviewSLAHours    int   `json:"review_sla_hours" binding:"required"`
}

func (h *Awards) saveAwardSettings(c *gin.Context) error {
	village, err := villageParam(c, staff.DecideAppeals)
	if err != nil {
		return err
	}
	var req awardSettingsRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	st, err := h.Awards.SaveSettings(c.Request.Context(), awardsStaff(c, village), village, awards.Settings{ConfirmDeductions: *req.ConfirmDeductions,
		AppealDays: req.AppealDays, NoticeDays: req.NoticeDays, ReviewSLAHours: req.ReviewSLAHours})
	if err != nil {
		return err
	}
	web.OK(c, st)
	return nil
}

type listAwardsQuery struct {
	Status     string `form:"status" binding:"omitempty,oneof=pending posted rejected reversed"`
	ResidentID int64  `form:"resident_id" binding:"omitempty,gt=0"`
	ItemCode   string `form:"item_code" binding:"max=32"`
}

func (h *Awards) listAwards(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadAwards)
	if err != nil {
		return err
	}
	var q listAwardsQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	return web.ListPage(c, func(offset, limit int) ([]awards.Award, int64, error) {
		return h.Awards.List(c.Request.Context(), village, awards.AwardFilter{Status: awards.Status(q.Status), ResidentID: q.ResidentID, ItemCode: q.ItemCode},
			offset, limit)
	})
}

// awardRequest is one award: a resident (picked, or resolved from a
// scanned personal code through POST /scans), a rule item version, photos.
type awardRequest struct {
	RuleItemID     int64   `json:"rule_item_id" binding:"required,gt=0"`
	ResidentID     int64   `json:"resident_id" binding:"required,gt=0"`
	Photos         []int64 `json:"photos" binding:"max=9"`
	Note           string  `json:"note" binding:"max=500"`
	IdempotencyKey string  `json:"idempotency_key" binding:"required,max=128"`
}

func (h *Awards) createAward(c *gin.Context) error {
	village, err := villageParam(c, staff.AwardPoints)
	if err != nil {
		return err
	}
	var req awardRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	a, err := h.Awards.Give(c.Request.Context(), awardsStaff(c, village), awards.GiveRequest{VillageID: village, RuleItemID: req.RuleItemID,
		ResidentID: req.ResidentID, Photos: req.Photos, Note: req.Note, IdempotencyKey: req.IdempotencyKey})
	if err != nil {
		return err
	}
	if a.Replayed {
		web.OK(c, a)
	} else {
		web.Created(c, a)
	}
	return nil
}

type batchRequest struct {
	RuleItemID     int64   `json:"rule_item_id" binding:"required,gt=0"`
	ResidentIDs    []int64 `json:"resident_ids" binding:"required,min=1,max=200"`
	Photos         []int64 `json:"photos" binding:"max=9"`
	Note           string  `json:"note" binding:"max=500"`
	IdempotencyKey string  `json:"idempotency_key" binding:"required,max=128"`
}

func (h *Awards) createBatch(c *gin.Context) error {
	village, err := villageParam(c, staff.AwardPoints)
	if err != nil {
		return err
	}
	var req batchRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	b, err := h.Awards.GiveBatch(c.Request.Context(), awardsStaff(c, village), awards.BatchRequest{VillageID: village, RuleItemID: req.RuleItemID,
		ResidentIDs: req.ResidentIDs, Photos: req.Photos, Note: req.Note, IdempotencyKey: req.IdempotencyKey})
	if err != nil {
		return err
	}
	if b.Replayed {
		web.OK(c, b)
	} else {
		web.Created(c, b)
	}
	return nil
}

func (h *Awards) getAward(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	a, err := h.Awards.Get(c.Request.Context(), id, villageScope(c, staff.ReadAwards))
	if err != nil {
		return err
	}
	web.OK(c, a)
	return nil
}

type confirmRequest struct {
	Approve *bool  `json:"approve" binding:"required"`
	Note    string `json:"note" binding:"max=500"`
}

func (h *Awards) confirmAward(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req confirmRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	scope := villageScope(c, staff.AwardPoints)
	a, err := h.Awards.Get(c.Request.Context(), id, scope)
	if err != nil {
		return err
	}
	out, err := h.Awards.Confirm(c.Request.Context(), awardsStaff(c, a.VillageID), scope, awards.ConfirmRequest{AwardID: id, Approve: *req.Approve, Note: req.Note})
	if err != nil {
		return err
	}
	web.OK(c, out)
	return nil
}

type listReportsQuery struct {
	Status   string `form:"status" binding:"omitempty,oneof=pending needs_info approved rejected"`
	ItemCode string `form:"item_code" binding:"max=32"`
	Overdue  bool   `form:"overdue"`
}

func (h *Awards) listReports(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadAwards)
	if err != nil {
		return err
	}
	var q listReportsQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	return web.ListPage(c, func(offset, limit int) ([]awards.Report, int64, error) {
		return h.Awards.Queue(c.Request.Context(), village, awards.QueueFilter{Status: awards.ReportStatus(q.Status), ItemCode: q.ItemCode, Overdue: q.Overdue},
			offset, limit)
	})
}

type reviewRequest struct {
	Action string `json:"action" binding:"required,oneof=approve reject request_info"`
	Note   string `json:"note" binding:"max=500"`
}

func (h *Awards) reviewReport(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req reviewRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	scope := villageScope(c, staff.ReviewReports)
	// The reviewer's roles do not matter to a self-report approval; only
	// their identity (conflict of interest) does.
	who := awardsStaff(c, 0)
	out, err := h.Awards.Review(c.Request.Context(), who, scope, id, awards.ReviewAction(req.Action), req.Note)
	if err != nil {
		return err
	}
	web.OK(c, out)
	return nil
}

type listAppealsQuery struct {
	Status string `form:"status" binding:"omitempty,oneof=pending upheld overturned"`
	Kind   string `form:"kind" binding:"omitempty,oneof=appeal objection"`
}

func (h *Awards) listAppeals(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadAwards)
	if err != nil {
		return err
	}
	var q listAppealsQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	return web.ListPage(c, func(offset, limit int) ([]awards.Appeal, int64, error) {
		return h.Awards.Appeals(c.Request.Context(), village, awards.AppealFilter{Status: q.Status, Kind: awards.AppealKind(q.Kind)}, offset, limit)
	})
}

type appealDecisionRequest struct {
	Outcome string `json:"outcome" binding:"required,oneof=uphold overturn"`
	Reason  string `json:"reason" binding:"required,max=500"`
}

func (h *Awards) decideAppeal(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req appealDecisionRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	out, err := h.Awards.Decide(c.Request.Context(), awardsStaff(c, 0), villageScope(c, staff.DecideAppeals), id,
		awards.Decision{Overturn: req.Outcome == "overturn", Reason: req.Reason})
	if err != nil {
		return err
	}
	web.OK(c, out)
	return nil
}

func (h *Awards) notice(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadAwards)
	if err != nil {
		return err
	}
	page, err := web.ParsePage(c)
	if err != nil {
		return err
	}
	n, err := h.Awards.Notice(c.Request.Context(), village, c.Param("period"), page.Offset(), page.Size)
	if err != nil {
		return err
	}
	web.OK(c, n)
	return nil
}
