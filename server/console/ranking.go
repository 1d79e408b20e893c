package console

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/ranking"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/rules"
	"github.com/villagepoints/jifen/web"
)

// registerRanking mounts the staff side of rankings: leaderboards of a
// village or a wider region, participation rates, rebuilds, the village's
// ranking settings, and the monthly ranking publication with its
// objections and exports.
func (h *Handlers) registerRanking(a *gin.RouterGroup) {
	a.GET("/villages/:village_id/leaderboard", require(staff.ReadRanking), web.Handle(h.villageLeaderboard))
	a.GET("/regions/:id/leaderboard", require(staff.ReadRanking), web.Handle(h.regionLeaderboard))
	a.GET("/regions/:id/ranking-participation", require(staff.ReadRanking), web.Handle(h.rankingParticipation))
	a.POST("/regions/:id/leaderboard-rebuilds", require(staff.RebuildRanking), web.Handle(h.rebuildLeaderboards))
	a.GET("/villages/:village_id/ranking-settings", require(staff.ReadRanking), inVillage(staff.ReadRanking, h.Ranking.Settings))
	a.PUT("/villages/:village_id/ranking-settings", require(staff.PublishRanking), web.Handle(h.putRankingSettings))
	// Staff list every version, the frozen and superseded ones too.
	a.GET("/villages/:village_id/monthly-rankings", require(staff.ReadRanking), inVillagePage(staff.ReadRanking,
		func(ctx context.Context, village int64, offset, limit int) ([]ranking.Publication, int64, error) {
			return h.Ranking.Publications(ctx, village, ranking.Staff, offset, limit)
		}))
	a.POST("/villages/:village_id/monthly-rankings", require(staff.PublishRanking), web.Handle(h.freezeMonthlyRanking))
	a.GET("/monthly-rankings/:id", require(staff.ReadRanking), web.Handle(h.getMonthlyRanking))
	a.POST("/monthly-rankings/:id/publication", require(staff.PublishRanking), web.Handle(h.publishMonthlyRanking))
	a.POST("/monthly-rankings/:id/finalization", require(staff.PublishRanking), web.Handle(h.finalizeMonthlyRanking))
	a.GET("/monthly-rankings/:id/objections", require(staff.ReadRanking), web.Handle(h.listRankingObjections))
	a.POST("/ranking-objections/:id/resolution", require(staff.PublishRanking), web.Handle(h.resolveRankingObjection))
	a.GET("/monthly-rankings/:id/workbook.xlsx", require(staff.ReadRanking), web.Handle(h.exportMonthlyRanking))
	a.GET("/monthly-rankings/:id/notice.png", require(staff.ReadRanking), web.Handle(h.monthlyRankingNotice))
	a.GET("/monthly-rankings/:id/red-black.png", require(staff.ReadRanking), web.Handle(h.monthlyRankingRedBlack))
}

// boardQuery selects a board and a page of it.
type boardQuery struct {
	Subject string `form:"subject" binding:"omitempty,oneof=resident household household_per_member party"`
	Period  string `form:"period" binding:"omitempty,oneof=month quarter year all"`
	Key     string `form:"key" binding:"max=16"`
	Track   string `form:"track" binding:"omitempty,oneof=civic party volunteer total"`
}

func (q boardQuery) parts() (ranking.Subject, rules.Period, ledger.Track) {
	sub, period, track := ranking.Subject(q.Subject), rules.Period(q.Period), ledger.Track(q.Track)
	if sub == "" {
		sub = ranking.SubjectResident
	}
	if period == "" {
		period = rules.Month
	}
	if track == "" {
		track = ranking.TrackTotal
	}
	return sub, period, track
}

func (h *Handlers) readBoard(c *gin.Context, b ranking.Board) error {
	page, err := web.ParsePage(c)
	if err != nil {
		return err
	}
	out, err := h.Ranking.Read(c.Request.Context(), ranking.ReadRequest{Board: b, Offset: page.Offset(), Limit: page.Size, Viewer: ranking.Staff})
	if err != nil {
		return err
	}
	web.List(c, out, page, out.Total)
	return nil
}

func (h *Handlers) villageLeaderboard(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadRanking)
	if err != nil {
		return err
	}
	var q boardQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	sub, period, track := q.parts()
	b, err := h.Ranking.VillageBoard(c.Request.Context(), village, sub, ranking.ScopeVillage, period, q.Key, track)
	if err != nil {
		return err
	}
	return h.readBoard(c, b)
}

// coveredRegion reads :id and checks the caller holds perm on that region
// (through a grant on it or above it).
func (h *Handlers) coveredRegion(c *gin.Context, perm staff.Permission) (people.Region, error) {
	id, err := web.PathID(c, "id")
	if err != nil {
		return people.Region{}, err
	}
	r, err := h.People.Region(c.Request.Context(), id)
	if err == people.ErrNotFound {
		return r, apperr.NotFound("区域")
	}
	if err != nil {
		return r, err
	}
	if !principal(c).Covers(perm, r) {
		return r, apperr.New(apperr.CodeOutOfScope, "该区域不在您的管理范围内")
	}
	return r, nil
}

// regionLeaderboard is the cross-village board of a township or county.
func (h *Handlers) regionLeaderboard(c *gin.Context) error {
	r, err := h.coveredRegion(c, staff.ReadRanking)
	if err != nil {
		return err
	}
	var q boardQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	sub, period, track := q.parts()
	b, err := h.Ranking.RegionBoard(c.Request.Context(), r.ID, sub, period, q.Key, track)
	if err != nil {
		return err
	}
	return h.readBoard(c, b)
}

type participationQuery struct {
	Period string `form:"period" binding:"omitempty,oneof=month quarter year all"`
	Key    string `form:"key" binding:"max=16"`
}

func (h *Handlers) rankingParticipation(c *gin.Context) error {
	r, err := h.coveredRegion(c, staff.ReadRanking)
	if err != nil {
		return err
	}
	var q participationQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	if q.Period == "" {
		q.Period = string(rules.Month)
	}
	out, err := h.Ranking.Participation(c.Request.Context(), r.ID, rules.Period(q.Period), q.Key)
	if err != nil {
		return err
	}
	web.OK(c, out)
	return nil
}

func (h *Handlers) rebuildLeaderboards(c *gin.Context) error {
	r, err := h.coveredRegion(c, staff.RebuildRanking)
	if err != nil {
		return err
	}
	rep, err := h.Ranking.RebuildRegion(c.Request.Context(), actor(c), r.ID)
	if err != nil {
		return err
	}
	web.OK(c, rep)
	return nil
}

type titleRuleRequest struct {
	Subject string `json:"subject" binding:"required,oneof=resident household party"`
	Track   string `json:"track" binding:"required,oneof=civic party volunteer total"`
	TopN    int    `json:"top_n" binding:"required,min=1,max=1000"`
	Title   string `json:"title" binding:"required,max=64"`
}

type rankingSettingsRequest struct {
	HouseholdBasis string             `json:"household_basis" binding:"required,oneof=total per_member"`
	RedBlack       bool               `json:"red_black_enabled"`
	NoticeDays     int                `json:"notice_days" binding:"required,min=1,max=30"`
	Committee      string             `json:"committee" binding:"max=150"`
	Titles         []titleRuleRequest `json:"title_rules" binding:"max=20,dive"`
}

func (h *Handlers) putRankingSettings(c *gin.Context) error {
	village, err := villageParam(c, staff.PublishRanking)
	if err != nil {
		return err
	}
	var req rankingSettingsRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	st := ranking.Settings{HouseholdBasis: ranking.Basis(req.HouseholdBasis), RedBlack: req.RedBlack, NoticeDays: req.NoticeDays, Committee: req.Committee}
	for _, t := range req.Titles {
		st.Titles = append(st.Titles, ranking.TitleRule{Subject: ranking.Subject(t.Subject), Track: ledger.Track(t.Track), TopN: t.TopN, Title: t.Title})
	}
	out, err := h.Ranking.SaveSettings(c.Request.Context(), actor(c), village, st)
	if err != nil {
		return err
	}
	web.OK(c, out)
	return nil
}

type freezeRequest struct {
	PeriodKey string `json:"period_key" binding:"required,max=7"`
	Subject   string `json:"subject" binding:"omitempty,oneof=resident household party"`
	Track     string `json:"track" binding:"omitempty,oneof=civic party volunteer total"`
}

func (h *Handlers) freezeMonthlyRanking(c *gin.Context) error {
	village, err := villageParam(c, staff.PublishRanking)
	if err != nil {
		return err
	}
	var req freezeRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	p, err := h.Ranking.Freeze(c.Request.Context(), actor(c), ranking.FreezeRequest{VillageID: village, PeriodKey: req.PeriodKey,
		Subject: ranking.Subject(req.Subject), Track: ledger.Track(req.Track)})
	if err != nil {
		return err
	}
	web.Created(c, p)
	return nil
}

// monthlyRanking reads :id and checks the caller holds perm in its village.
func (h *Handlers) monthlyRanking(c *gin.Context, perm staff.Permission) (int64, error) {
	id, err := web.PathID(c, "id")
	if err != nil {
		return 0, err
	}
	village, err := h.Ranking.VillageOf(c.Request.Context(), id)
	if err != nil {
		return 0, err
	}
	return id, inScope(c, perm, village, "排名")
}

func (h *Handlers) getMonthlyRanking(c *gin.Context) error {
	id, err := h.monthlyRanking(c, staff.ReadRanking)
	if err != nil {
		return err
	}
	p, err := h.Ranking.Publication(c.Request.Context(), id, ranking.Staff)
	if err != nil {
		return err
	}
	web.OK(c, p)
	return nil
}

type publishRequest struct {
	NoticeDays int `json:"notice_days" binding:"omitempty,min=1,max=30"`
}

func (h *Handlers) publishMonthlyRanking(c *gin.Context) error {
	id, err := h.monthlyRanking(c, staff.PublishRanking)
	if err != nil {
		return err
	}
	var req publishRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	p, err := h.Ranking.Publish(c.Request.Context(), actor(c), id, req.NoticeDays)
	if err != nil {
		return err
	}
	web.OK(c, p)
	return nil
}

func (h *Handlers) finalizeMonthlyRanking(c *gin.Context) error {
	id, err := h.monthlyRanking(c, staff.PublishRanking)
	if err != nil {
		return err
	}
	p, err := h.Ranking.Finalize(c.Request.Context(), actor(c), id)
	if err != nil {
		return err
	}
	web.OK(c, p)
	return nil
}

func (h *Handlers) listRankingObjections(c *gin.Context) error {
	id, err := h.monthlyRanking(c, staff.ReadRanking)
	if err != nil {
		return err
	}
	out, err := h.Ranking.Objections(c.Request.Context(), id)
	if err != nil {
		return err
	}
	web.OK(c, out)
	return nil
}

type resolveRequest struct {
	Decision string `json:"decision" binding:"required,oneof=rejected corrected"`
	Reply    string `json:"reply" binding:"required,max=1500"`
}

func (h *Handlers) resolveRankingObjection(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	village, err := h.Ranking.ObjectionVillage(c.Request.Context(), id)
	if err != nil {
		return err
	}
	if err := inScope(c, staff.PublishRanking, village, "异议"); err != nil {
		return err
	}
	var req resolveRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	o, p, err := h.Ranking.Resolve(c.Request.Context(), actor(c), id, ranking.Resolution{Corrected: req.Decision == "corrected", Reply: req.Reply})
	if err != nil {
		return err
	}
	web.OK(c, gin.H{"objection": o, "correction": p})
	return nil
}

// publicRanking loads a published (or final) version as villagers see it,
// for exports.
func (h *Handlers) publicRanking(c *gin.Context) (ranking.Publication, error) {
	id, err := h.monthlyRanking(c, staff.ReadRanking)
	if err != nil {
		return ranking.Publication{}, err
	}
	p, err := h.Ranking.Publication(c.Request.Context(), id, ranking.Villager)
	if apperr.Is(err, apperr.CodeNotFound) {
		return p, apperr.New(apperr.CodeConflict, "排名公示后才能导出")
	}
	return p, err
}

func (h *Handlers) exportMonthlyRanking(c *gin.Context) error {
	p, err := h.publicRanking(c)
	if err != nil {
		return err
	}
	b, err := ranking.ExportExcel(p, time.Now())
	if err != nil {
		return err
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="ranking-%d-%s-v%d.xlsx"`, p.VillageID, p.PeriodKey, p.Version))
	c.Data(http.StatusOK, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b)
	return nil
}

type noticeQuery struct {
	Top int `form:"top" binding:"omitempty,min=1,max=60"`
	// Page (notice only) prints page Page of the whole ranking instead of
	// its top (ranking.NoticePerPage names a page); the answer's
	// X-Total-Pages header says how many there are.
	Page int `form:"page" binding:"omitempty,min=1,max=1000"`
}

func (h *Handlers) notice(c *gin.Context, render func(ranking.Publication, int, string, time.Time) ([]byte, error), p ranking.Publication) error {
	var q noticeQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	if q.Top == 0 {
		q.Top = 30
	}
	b, err := render(p, q.Top, h.RankingFont, time.Now())
	if err != nil {
		return err
	}
	c.Data(http.StatusOK, "image/png", b)
	return nil
}

func (h *Handlers) monthlyRankingNotice(c *gin.Context) error {
	p, err := h.publicRanking(c)
	if err != nil {
		return err
	}
	var q noticeQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	if q.Page == 0 {
		return h.notice(c, ranking.RenderNotice, p)
	}
	b, err := ranking.RenderNoticePage(p, q.Page, h.RankingFont, time.Now())
	if err != nil {
		return err
	}
	c.Header("X-Total-Pages", strconv.Itoa(ranking.NoticePages(p)))
	c.Data(http.StatusOK, "image/png", b)
	return nil
}

func (h *Handlers) monthlyRankingRedBlack(c *gin.Context) error {
	p, err := h.publicRanking(c)
	if err != nil {
		return err
	}
	st, err := h.Ranking.Settings(c.Request.Context(), p.VillageID)
	if err != nil {
		return err
	}
	if !st.RedBlack {
		return apperr.New(apperr.CodeConflict, "本村未启用红黑榜")
	}
	return h.notice(c, ranking.RenderRedBlack, p)
}
