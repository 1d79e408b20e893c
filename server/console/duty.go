package console

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/duty"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/rules"
	"github.com/villagepoints/jifen/web"
)

// Duty is the party branch's console for duty posts 党员责任岗: settings,
// posts, claims 认领, duty reports 履职纪实 and the missing-report list,
// and assessments 考评 with their objections 异议 and Excel export. Every
// write is audited by the duty service in its own transaction; a record
// of another village answers 404.
type Duty struct {
	*Handlers
	Duty *duty.Service
}

// Register mounts the routes on r (normally /api/v1).
func (h *Duty) Register(r *gin.RouterGroup) {
	a := r.Group("", h.authenticate)
	a.GET("/villages/:village_id/duty-settings", require(staff.ReadDuty), inVillage(staff.ReadDuty, h.Duty.Settings))
	a.PUT("/villages/:village_id/duty-settings", require(staff.ManageDuty), web.Handle(h.saveSettings))
	a.GET("/villages/:village_id/duty-posts", require(staff.ReadDuty), web.Handle(h.listPosts))
	a.POST("/villages/:village_id/duty-posts", require(staff.ManageDuty), web.Handle(h.createPost))
	a.PATCH("/duty-posts/:id", require(staff.ManageDuty), web.Handle(h.updatePost))
	a.GET("/villages/:village_id/duty-claims", require(staff.ReadDuty), web.Handle(h.listClaims))
	a.POST("/duty-claims/:id/decision", require(staff.ManageDuty), web.Handle(h.decideClaim))
	a.POST("/duty-claims/:id/release", require(staff.ManageDuty), web.Handle(h.releaseClaim))
	a.GET("/villages/:village_id/duty-reports", require(staff.ReadDuty), web.Handle(h.listReports))
	a.GET("/villages/:village_id/duty-missing-reports", require(staff.ReadDuty), web.Handle(h.missingReports))
	a.GET("/villages/:village_id/duty-assessments", require(staff.ReadDuty), inVillage(staff.ReadDuty, h.Duty.Assessments))
	a.POST("/villages/:village_id/duty-assessments", require(staff.ManageDuty), web.Handle(h.openAssessment))
	a.GET("/duty-assessments/:id", require(staff.ReadDuty), web.Handle(h.getAssessment))
	a.PATCH("/duty-assessments/:id", require(staff.ManageDuty), web.Handle(h.advanceAssessment))
	a.GET("/duty-assessments/:id/items", require(staff.ReadDuty), web.Handle(h.listItems))
	a.GET("/duty-assessments/:id/objections", require(staff.ReadDuty), web.Handle(h.listObjections))
	a.GET("/duty-assessments/:id/workbook.xlsx", require(staff.ReadDuty), web.Handle(h.exportAssessment))
	a.PUT("/duty-assessment-items/:id/score", require(staff.ManageDuty), web.Handle(h.scoreItem))
	a.POST("/duty-objections/:id/resolution", require(staff.ManageDuty), web.Handle(h.resolveObjection))
}

type dutySettingsRequest struct {
	Period      string                `json:"period" binding:"required,oneof=month quarter"`
	MaxPosts    int                   `json:"max_posts" binding:"required,min=1,max=10"`
	NoticeDays  *int                  `json:"notice_days" binding:"required,min=0,max=30"`
	GradePoints map[rules.Grade]int64 `json:"grade_points"`
}

func (h *Duty) saveSettings(c *gin.Context) error {
	village, err := villageParam(c, staff.ManageDuty)
	if err != nil {
		return err
	}
	var req dutySettingsRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	st, err := h.Duty.SaveSettings(c.Request.Context(), actor(c), village, duty.SettingsInput{Period: rules.Period(req.Period),
		MaxPosts: req.MaxPosts, NoticeDays: *req.NoticeDays, Grades: req.GradePoints})
	if err != nil {
		return err
	}
	web.OK(c, st)
	return nil
}

type listDutyPostsQuery struct {
	Active bool `form:"active"`
}

func (h *Duty) listPosts(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadDuty)
	if err != nil {
		return err
	}
	var q listDutyPostsQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	posts, err := h.Duty.Posts(c.Request.Context(), village, q.Active)
	if err != nil {
		return err
	}
	web.OK(c, posts)
	return nil
}

type dutyPostRequest struct {
	Name       string `json:"name" binding:"required,max=100"`
	Duties     string `json:"duties" binding:"max=2000"`
	Capacity   int    `json:"capacity" binding:"required,min=1,max=1000"`
	BasePoints int64  `json:"base_points" binding:"min=0,max=1000"`
}

func (h *Duty) createPost(c *gin.Context) error {
	village, err := villageParam(c, staff.ManageDuty)
	if err != nil {
		return err
	}
	var req dutyPostRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	p, err := h.Duty.CreatePost(c.Request.Context(), actor(c), village, duty.PostInput{Name: req.Name, Duties: req.Duties, Capacity: req.Capacity, BasePoints: req.BasePoints})
	if err != nil {
		return err
	}
	web.Created(c, p)
	return nil
}

type dutyPostPatch struct {
	Name       *string `json:"name" binding:"omitempty,max=100"`
	Duties     *string `json:"duties" binding:"omitempty,max=2000"`
	Capacity   *int    `json:"capacity" binding:"omitempty,min=1,max=1000"`
	BasePoints *int64  `json:"base_points" binding:"omitempty,min=0,max=1000"`
	Active     *bool   `json:"active"`
}

func (h *Duty) updatePost(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req dutyPostPatch
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	p, err := h.Duty.UpdatePost(c.Request.Context(), actor(c), id, duty.PostPatch{Name: req.Name, Duties: req.Duties, Capacity: req.Capacity,
		BasePoints: req.BasePoints, Active: req.Active}, villageScope(c, staff.ManageDuty))
	if err != nil {
		return err
	}
	web.OK(c, p)
	return nil
}

type listDutyClaimsQuery struct {
	Status     string `form:"status" binding:"omitempty,oneof=pending approved rejected released"`
	PostID     int64  `form:"post_id" binding:"omitempty,gt=0"`
	ResidentID int64  `form:"resident_id" binding:"omitempty,gt=0"`
}

func (h *Duty) listClaims(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadDuty)
	if err != nil {
		return err
	}
	var q listDutyClaimsQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	return web.ListPage(c, func(offset, limit int) ([]duty.ClaimView, int64, error) {
		return h.Duty.Claims(c.Request.Context(), village, duty.ClaimFilter{Status: q.Status, PostID: q.PostID, ResidentID: q.ResidentID}, offset, limit)
	})
}

type dutyClaimDecision struct {
	Approve *bool  `json:"approve" binding:"required"`
	Reason  string `json:"reason" binding:"max=200"`
}

func (h *Duty) decideClaim(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req dutyClaimDecision
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	cl, err := h.Duty.DecideClaim(c.Request.Context(), actor(c), id, *req.Approve, req.Reason, villageScope(c, staff.ManageDuty))
	if err != nil {
		return err
	}
	web.OK(c, cl)
	return nil
}

type dutyReleaseRequest struct {
	Reason string `json:"reason" binding:"required,max=200"`
}

// releaseClaim ends a member's claim, freeing the seat.
func (h *Duty) releaseClaim(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req dutyReleaseRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	cl, err := h.Duty.ReleaseClaim(c.Request.Context(), actor(c), id, req.Reason, villageScope(c, staff.ManageDuty))
	if err != nil {
		return err
	}
	web.OK(c, cl)
	return nil
}

// dutyDay parses a day, China time, defaulting to now.
func dutyDay(s string) (time.Time, error) {
	if s == "" {
		return time.Now(), nil
	}
	d, err := time.ParseInLocation(time.DateOnly, s, rules.China)
	if err != nil {
		return d, apperr.Invalid("date", "日期格式应为 YYYY-MM-DD")
	}
	return d, nil
}

// listDutyReportsQuery filters by member and post, and by period: the
// village's assessment period containing date, or an explicit from/to.
type listDutyReportsQuery struct {
	ResidentID int64  `form:"resident_id" binding:"omitempty,gt=0"`
	PostID     int64  `form:"post_id" binding:"omitempty,gt=0"`
	Date       string `form:"date" binding:"omitempty,datetime=2006-01-02"`
	From       string `form:"from" binding:"omitempty,datetime=2006-01-02"`
	To         string `form:"to" binding:"omitempty,datetime=2006-01-02"`
}

func (h *Duty) listReports(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadDuty)
	if err != nil {
		return err
	}
	var q listDutyReportsQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	page, err := web.ParsePage(c)
	if err != nil {
		return err
	}
	f := duty.ReportFilter{ResidentID: q.ResidentID, PostID: q.PostID, From: q.From, To: q.To}
	if q.Date != "" {
		at, err := dutyDay(q.Date)
		if err != nil {
			return err
		}
		if _, f.From, f.To, err = h.Duty.PeriodOf(c.Request.Context(), village, at); err != nil {
			return err
		}
	}
	list, total, err := h.Duty.Reports(c.Request.Context(), village, f, true, page.Offset(), page.Size)
	if err != nil {
		return err
	}
	web.List(c, list, page, total)
	return nil
}

type dutyDayQuery struct {
	Date string `form:"date" binding:"omitempty,datetime=2006-01-02"`
}

func (h *Duty) missingReports(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadDuty)
	if err != nil {
		return err
	}
	var q dutyDayQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	at, err := dutyDay(q.Date)
	if err != nil {
		return err
	}
	m, err := h.Duty.MissingReports(c.Request.Context(), village, at)
	if err != nil {
		return err
	}
	web.OK(c, m)
	return nil
}

// dutyOpenRequest names a day of the period to assess (default
// today): the batch covers the village's month or quarter containing it.
type dutyOpenRequest struct {
	Date string `json:"date" binding:"omitempty,datetime=2006-01-02"`
}

func (h *Duty) openAssessment(c *gin.Context) error {
	village, err := villageParam(c, staff.ManageDuty)
	if err != nil {
		return err
	}
	var req dutyOpenRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	at, err := dutyDay(req.Date)
	if err != nil {
		return err
	}
	a, err := h.Duty.OpenAssessment(c.Request.Context(), actor(c), village, at)
	if err != nil {
		return err
	}
	web.Created(c, a)
	return nil
}

// assessment reads the :id batch the caller may see with perm.
func (h *Duty) assessment(c *gin.Context, perm staff.Permission) (duty.Assessment, error) {
	id, err := web.PathID(c, "id")
	if err != nil {
		return duty.Assessment{}, err
	}
	return h.Duty.Assessment(c.Request.Context(), id, villageScope(c, perm))
}

func (h *Duty) getAssessment(c *gin.Context) error {
	a, err := h.assessment(c, staff.ReadDuty)
	if err != nil {
		return err
	}
	web.OK(c, a)
	return nil
}

type dutyAdvanceRequest struct {
	Status string `json:"status" binding:"required,oneof=review notice final"`
}

func (h *Duty) advanceAssessment(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req dutyAdvanceRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	a, err := h.Duty.Advance(c.Request.Context(), actor(c), id, req.Status, villageScope(c, staff.ManageDuty))
	if err != nil {
		return err
	}
	web.OK(c, a)
	return nil
}

func (h *Duty) listItems(c *gin.Context) error {
	a, err := h.assessment(c, staff.ReadDuty)
	if err != nil {
		return err
	}
	items, err := h.Duty.Items(c.Request.Context(), a.ID)
	if err != nil {
		return err
	}
	web.OK(c, items)
	return nil
}

func (h *Duty) listObjections(c *gin.Context) error {
	a, err := h.assessment(c, staff.ReadDuty)
	if err != nil {
		return err
	}
	list, err := h.Duty.Objections(c.Request.Context(), a.ID)
	if err != nil {
		return err
	}
	web.OK(c, list)
	return nil
}

// exportAssessment downloads a batch as Excel for 评优评先 and 两委后备人选.
func (h *Duty) exportAssessment(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	e, err := h.Duty.ExportAssessment(ctx, id, func(v int64) (string, error) {
		r, err := h.People.Region(ctx, v)
		return r.Name, err
	}, villageScope(c, staff.ReadDuty))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := e.WriteXLSX(&buf); err != nil {
		return err
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="duty-assessment-%d-%s.xlsx"`, e.Assessment.VillageID, e.Assessment.PeriodKey))
	c.Data(http.StatusOK, xlsxType, buf.Bytes())
	return nil
}

// dutyScoreRequest is one stage's evaluation: a grade or criterion scores.
type dutyScoreRequest struct {
	Stage   int     `json:"stage" binding:"required,min=1,max=3"`
	Grade   string  `json:"grade" binding:"omitempty,oneof=excellent qualified basic_pass unqualified"`
	Scores  []int64 `json:"scores" binding:"max=20,dive,min=0,max=100"`
	Comment string  `json:"comment" binding:"max=500"`
}

func (h *Duty) scoreItem(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req dutyScoreRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	it, err := h.Duty.ScoreItem(c.Request.Context(), actor(c), id, duty.Score{Stage: req.Stage, Grade: rules.Grade(req.Grade), Scores: req.Scores, Comment: req.Comment},
		villageScope(c, staff.ManageDuty))
	if err != nil {
		return err
	}
	web.OK(c, it)
	return nil
}

type dutyRescoreRequest struct {
	Grade   string  `json:"grade" binding:"omitempty,oneof=excellent qualified basic_pass unqualified"`
	Scores  []int64 `json:"scores" binding:"max=20,dive,min=0,max=100"`
	Comment string  `json:"comment" binding:"max=500"`
}

// dutyResolutionRequest answers an objection; rescore corrects the
// disputed result at the branch stage.
type dutyResolutionRequest struct {
	Reply   string              `json:"reply" binding:"required,max=500"`
	Rescore *dutyRescoreRequest `json:"rescore"`
}

func (h *Duty) resolveObjection(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req dutyResolutionRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	r := duty.Resolution{Reply: req.Reply}
	if req.Rescore != nil {
		r.Rescore = &duty.Score{Grade: rules.Grade(req.Rescore.Grade), Scores: req.Rescore.Scores, Comment: req.Rescore.Comment}
	}
	o, err := h.Duty.ResolveObjection(c.Request.Context(), actor(c), id, r, villageScope(c, staff.ManageDuty))
	if err != nil {
		return err
	}
	web.OK(c, o)
	return nil
}
