package miniprogramapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/duty"
	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/rules"
	"github.com/villagepoints/jifen/web"
)

// Duty is the party member's side of duty posts 党员责任岗: the village's
// posts, claims 认领, duty reports 履职纪实, self-assessment 自评, results
// and objections 异议 during the notice 公示. Every route answers for the
// caller's own resident and village; the duty service refuses callers who
// are not active party members of the village.
type Duty struct {
	*Handlers
	Duty *duty.Service
}

// Register mounts the routes on r (normally /mp/v1).
func (h *Duty) Register(r *gin.RouterGroup) {
	a := r.Group("", h.authenticate)
	// The open posts of the caller's village with seats left.
	a.GET("/duty-posts", mine(bound, func(ctx context.Context, who identity.Caller) ([]duty.Post, error) {
		return h.Duty.Posts(ctx, who.VillageID, true)
	}))
	a.POST("/me/duty-claims", web.Handle(h.claim))
	a.GET("/me/duty-claims", mine(bound, func(ctx context.Context, who identity.Caller) ([]duty.ClaimView, error) {
		return h.Duty.MyClaims(ctx, who.VillageID, who.ResidentID)
	}))
	a.POST("/me/duty-reports", web.Handle(h.fileReport))
	a.GET("/me/duty-reports", minePage(bound, func(ctx context.Context, who identity.Caller, offset, limit int) ([]duty.Report, int64, error) {
		return h.Duty.Reports(ctx, who.VillageID, duty.ReportFilter{ResidentID: who.ResidentID}, false, offset, limit)
	}))
	a.GET("/me/duty-assessments", mine(bound, func(ctx context.Context, who identity.Caller) ([]duty.ItemView, error) {
		return h.Duty.MyResults(ctx, who.VillageID, who.ResidentID)
	}))
	a.PUT("/me/duty-assessments/:id/self-assessment", web.Handle(h.selfAssess))
	a.GET("/duty-assessments/:id/notice", web.Handle(h.notice))
	a.POST("/duty-assessment-items/:id/objections", web.Handle(h.object))
	a.GET("/me/duty-objections", mine(bound, func(ctx context.Context, who identity.Caller) ([]duty.Objection, error) {
		return h.Duty.MyObjections(ctx, who.VillageID, who.ResidentID)
	}))
}

// dutyCreated answers 201 for a new row, 200 for a retry's replay.
func dutyCreated(c *gin.Context, replayed bool, v any) {
	c.Header("Cache-Control", "no-store")
	status := http.StatusCreated
	if replayed {
		status = http.StatusOK
	}
	c.JSON(status, web.Envelope{Data: v, RequestID: web.RequestID(c)})
}

type dutyClaimRequest struct {
	PostID int64 `json:"post_id" binding:"required,gt=0"`
}

func (h *Duty) claim(c *gin.Context) error {
	who, err := bound(c)
	if err != nil {
		return err
	}
	key, err := web.IdempotencyKey(c)
	if err != nil {
		return err
	}
	var req dutyClaimRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	cl, err := h.Duty.ClaimPost(c.Request.Context(), who.VillageID, who.ResidentID, req.PostID, key)
	if err != nil {
		return err
	}
	dutyCreated(c, cl.Replayed, cl)
	return nil
}

// dutyReportRequest is a duty report: the day (China time), what was done,
// photos uploaded first through POST /me/evidence, an optional location.
type dutyReportRequest struct {
	PostID     int64    `json:"post_id" binding:"required,gt=0"`
	ReportDate string   `json:"report_date" binding:"required,datetime=2006-01-02"`
	Content    string   `json:"content" binding:"required,max=2000"`
	Photos     []int64  `json:"photos" binding:"max=9,dive,gt=0"`
	Lat        *float64 `json:"lat" binding:"omitempty,min=-90,max=90"`
	Lng        *float64 `json:"lng" binding:"omitempty,min=-180,max=180"`
}

func (h *Duty) fileReport(c *gin.Context) error {
	who, err := bound(c)
	if err != nil {
		return err
	}
	key, err := web.IdempotencyKey(c)
	if err != nil {
		return err
	}
	var req dutyReportRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	day, err := time.ParseInLocation(time.DateOnly, req.ReportDate, rules.China)
	if err != nil {
		return apperr.Invalid("report_date", "日期格式应为 YYYY-MM-DD")
	}
	r, err := h.Duty.FileReport(c.Request.Context(), duty.ReportInput{VillageID: who.VillageID, ResidentID: who.ResidentID, PostID: req.PostID,
		Date: day, Content: req.Content, Photos: req.Photos, Lat: req.Lat, Lng: req.Lng, IdempotencyKey: key})
	if err != nil {
		return err
	}
	dutyCreated(c, r.Replayed, r)
	return nil
}

// dutySelfAssessmentRequest is the member's own grade or criterion scores.
type dutySelfAssessmentRequest struct {
	Grade   string  `json:"grade" binding:"omitempty,oneof=excellent qualified basic_pass unqualified"`
	Scores  []int64 `json:"scores" binding:"max=20,dive,min=0,max=100"`
	Comment string  `json:"comment" binding:"max=500"`
}

func (h *Duty) selfAssess(c *gin.Context) error {
	who, err := bound(c)
	if err != nil {
		return err
	}
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req dutySelfAssessmentRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	it, err := h.Duty.SelfScore(c.Request.Context(), who.VillageID, who.ResidentID, id, duty.Score{Grade: rules.Grade(req.Grade), Scores: req.Scores, Comment: req.Comment})
	if err != nil {
		return err
	}
	web.OK(c, it)
	return nil
}

// notice is a published batch of the caller's village with masked names,
// so members can check each other's results and object.
func (h *Duty) notice(c *gin.Context) error {
	who, err := bound(c)
	if err != nil {
		return err
	}
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	a, lines, err := h.Duty.Notice(c.Request.Context(), who.VillageID, id)
	if err != nil {
		return err
	}
	web.OK(c, gin.H{"assessment": a, "items": lines})
	return nil
}

type dutyObjectionRequest struct {
	Reason string `json:"reason" binding:"required,max=500"`
}

func (h *Duty) object(c *gin.Context) error {
	who, err := bound(c)
	if err != nil {
		return err
	}
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req dutyObjectionRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	o, err := h.Duty.Object(c.Request.Context(), who.VillageID, who.ResidentID, id, req.Reason)
	if err != nil {
		return err
	}
	web.Created(c, o)
	return nil
}
