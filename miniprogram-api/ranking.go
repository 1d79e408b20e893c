package miniprogramapi

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/ranking"
	"github.com/villagepoints/jifen/rules"
	"github.com/villagepoints/jifen/web"
)

// Rankings are the mini-program's ranking routes: the leaderboards around
// the caller and their village's published monthly rankings, with
// objections. Every name is masked. They share the mini-program's login
// (Handlers.authenticate) and answer for the caller's own village only.
type Rankings struct {
	*Handlers
	Ranking *ranking.Service
}

// Register mounts the ranking routes on r (normally /mp/v1).
func (h *Rankings) Register(r *gin.RouterGroup) {
	a := r.Group("", h.authenticate)
	a.GET("/me/leaderboard", web.Handle(h.myLeaderboard))
	a.GET("/me/monthly-rankings", web.Handle(h.myMonthlyRankings))
	a.GET("/monthly-rankings/:id", web.Handle(h.monthlyRanking))
	a.POST("/monthly-rankings/:id/objections", web.Handle(h.objectToRanking))
}

type leaderboardQuery struct {
	Subject  string `form:"subject" binding:"omitempty,oneof=resident household party"`
	Scope    string `form:"scope" binding:"omitempty,oneof=village township county"`
	Period   string `form:"period" binding:"omitempty,oneof=month quarter year all"`
	Key      string `form:"key" binding:"max=16"`
	Track    string `form:"track" binding:"omitempty,oneof=civic party volunteer total"`
	Around   int    `form:"around" binding:"omitempty,min=0,max=10"`
	PageSize int    `form:"page_size" binding:"omitempty,min=1,max=100"`
}

// myLeaderboard is one page of a board of the caller's village, township
// or county, with the caller's rank, points, gap to the next rank and
// neighbours. The household board follows the village's basis (total or
// points per member).
func (h *Rankings) myLeaderboard(c *gin.Context) error {
	who, err := bound(c)
	if err != nil {
		return err
	}
	var q leaderboardQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	page, err := web.ParsePage(c)
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	sub, scope, period, track := ranking.Subject(q.Subject), ranking.ScopeKind(q.Scope), rules.Period(q.Period), ledger.Track(q.Track)
	if sub == "" {
		sub = ranking.SubjectResident
	}
	if scope == "" {
		scope = ranking.ScopeVillage
	}
	if period == "" {
		period = rules.Month
	}
	if track == "" {
		track = ranking.TrackTotal
	}
	me := who.ResidentID
	if sub == ranking.SubjectHousehold {
		st, err := h.Ranking.Settings(ctx, who.VillageID)
		if err != nil {
			return err
		}
		sub, me = st.HouseholdSubject(), who.HouseholdID
	}
	if q.Around == 0 {
		q.Around = 2
	}
	b, err := h.Ranking.VillageBoard(ctx, who.VillageID, sub, scope, period, q.Key, track)
	if err != nil {
		return err
	}
	out, err := h.Ranking.Read(ctx, ranking.ReadRequest{Board: b, Offset: page.Offset(), Limit: page.Size, Me: me, Around: q.Around, Viewer: ranking.Villager})
	if err != nil {
		return err
	}
	return writeList(c, out, page, out.Total)
}

// writeList writes the same envelope as web.List, for a value that encodes
// itself: encoding/json would re-scan (compact) the page's encoding, which
// on this, the mini-program's busiest read, costs as much as encoding it.
func writeList(c *gin.Context, data json.Marshaler, p web.Page, total int64) error {
	body, err := data.MarshalJSON()
	if err != nil {
		return err
	}
	rid, _ := json.Marshal(web.RequestID(c))
	b := make([]byte, 0, len(body)+128)
	b = append(b, `{"data":`...)
	b = append(b, body...)
	b = fmt.Appendf(b, `,"page":{"page":%d,"page_size":%d,"total":%d},"request_id":%s}`, p.Number, p.Size, total, rid)
	c.Data(http.StatusOK, "application/json; charset=utf-8", b)
	return nil
}

func (h *Rankings) myMonthlyRankings(c *gin.Context) error {
	who, err := bound(c)
	if err != nil {
		return err
	}
	page, err := web.ParsePage(c)
	if err != nil {
		return err
	}
	out, total, err := h.Ranking.Publications(c.Request.Context(), who.VillageID, ranking.Villager, page.Offset(), page.Size)
	if err != nil {
		return err
	}
	web.List(c, out, page, total)
	return nil
}

// villageRanking reads :id, a published ranking of the caller's village;
// others answer as not found.
func (h *Rankings) villageRanking(c *gin.Context) (identity.Caller, int64, error) {
	who, err := bound(c)
	if err != nil {
		return who, 0, err
	}
	id, err := web.PathID(c, "id")
	if err != nil {
		return who, 0, err
	}
	village, err := h.Ranking.VillageOf(c.Request.Context(), id)
	if err != nil {
		return who, 0, err
	}
	if village != who.VillageID {
		return who, 0, apperr.NotFound("排名")
	}
	return who, id, nil
}

func (h *Rankings) monthlyRanking(c *gin.Context) error {
	_, id, err := h.villageRanking(c)
	if err != nil {
		return err
	}
	p, err := h.Ranking.Publication(c.Request.Context(), id, ranking.Villager)
	if err != nil {
		return err
	}
	web.OK(c, p)
	return nil
}

type objectionRequest struct {
	Reason string `json:"reason" binding:"required,max=1500"`
}

// objectToRanking raises the caller's objection 异议 during the notice
// window.
func (h *Rankings) objectToRanking(c *gin.Context) error {
	who, id, err := h.villageRanking(c)
	if err != nil {
		return err
	}
	var req objectionRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	o, err := h.Ranking.Object(c.Request.Context(), id, who.VillageID, who.ResidentID, req.Reason)
	if err != nil {
		return err
	}
	web.Created(c, o)
	return nil
}
