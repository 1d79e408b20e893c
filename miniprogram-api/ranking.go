package miniprogramapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

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
	a.GET("/me/monthly-rankings", minePage(bound, func(ctx context.Context, who identity.Caller, offset, limit int) ([]ranking.Publication, int64, error) {
		return h.Ranking.Publications(ctx, who.VillageID, ranking.Villager, offset, limit)
	}))
	a.GET("/monthly-rankings/:id", web.Handle(h.monthlyRanking))
	a.POST("/monthly-rankings/:id/objections", web.Handle(h.objectToRanking))
}

// leaderboardQuery is the leaderboard's query. It is parsed by hand
// (parse), not by gin's reflective binding: this is the mini-program's
// busiest read, and binding cost as much as the board read itself.
type leaderboardQuery struct {
	Subject ranking.Subject   // resident (default), household, party
	Scope   ranking.ScopeKind // village (default), township, county
	Period  rules.Period      // month (default), quarter, year, all
	Key     string            // the period's key, at most 16 bytes; "" the current one
	Track   ledger.Track      // civic, party, volunteer, total (default)
	Around  int               // neighbours each side, 0 to 10 (0: 2)
}

// parse reads and checks the query; an invalid value names its field, as
// web.BindQuery would.
func (q *leaderboardQuery) parse(c *gin.Context) error {
	oneOf := func(field, def string, allowed ...string) (string, error) {
		v, ok := c.GetQuery(field)
		if !ok || v == "" {
			return def, nil
		}
		if !slices.Contains(allowed, v) {
			return "", apperr.Invalid(field, fmt.Sprintf("字段 %s 只能取 %s 之一", field, strings.Join(allowed, " ")))
		}
		return v, nil
	}
	var v string
	var err error
	if v, err = oneOf("subject", "resident", "resident", "household", "party"); err != nil {
		return err
	}
	q.Subject = ranking.Subject(v)
	if v, err = oneOf("scope", "village", "village", "township", "county"); err != nil {
		return err
	}
	q.Scope = ranking.ScopeKind(v)
	if v, err = oneOf("period", "month", "month", "quarter", "year", "all"); err != nil {
		return err
	}
	q.Period = rules.Period(v)
	if v, err = oneOf("track", string(ranking.TrackTotal), "civic", "party", "volunteer", "total"); err != nil {
		return err
	}
	q.Track = ledger.Track(v)
	if q.Key = c.Query("key"); len(q.Key) > 16 {
		return apperr.Invalid("key", "字段 key 超出上限 16")
	}
	q.Around = 2
	if s := c.Query("around"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 10 {
			return apperr.Invalid("around", "around 必须是 0 到 10 之间的整数")
		}
		if n > 0 {
			q.Around = n
		}
	}
	return nil
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
	if err := q.parse(c); err != nil {
		return err
	}
	page, err := web.ParsePage(c)
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	sub, me := q.Subject, who.ResidentID
	if sub == ranking.SubjectHousehold {
		st, err := h.Ranking.Settings(ctx, who.VillageID)
		if err != nil {
			return err
		}
		sub, me = st.HouseholdSubject(), who.HouseholdID
	}
	b, err := h.Ranking.VillageBoard(ctx, who.VillageID, sub, q.Scope, q.Period, q.Key, q.Track)
	if err != nil {
		return err
	}
	out, err := h.Ranking.Read(ctx, ranking.ReadRequest{Board: b, Offset: page.Offset(), Limit: page.Size, Me: me, Around: q.Around, Viewer: ranking.Villager})
	if err != nil {
		return err
	}
	return writeList(c, out, page, out.Total)
}

// writeList writes the same envelope as web.List around a board page,
// encoding the page straight into the response's buffer: encoding/json
// would re-scan (compact) the page's encoding, which on this, the
// mini-program's busiest read, costs as much as encoding it.
func writeList(c *gin.Context, page ranking.BoardPage, p web.Page, total int64) error {
	buf := listBuffers.Get().(*[]byte)
	defer func() {
		if cap(*buf) <= 64<<10 {
			listBuffers.Put(buf)
		}
	}()
	b := append((*buf)[:0], `{"data":`...)
	b, err := page.AppendJSON(b)
	if err != nil {
		return err
	}
	b = append(b, `,"page":{"page":`...)
	b = strconv.AppendInt(b, int64(p.Number), 10)
	b = append(b, `,"page_size":`...)
	b = strconv.AppendInt(b, int64(p.Size), 10)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, total, 10)
	b = append(b, `},"request_id":`...)
	b = strconv.AppendQuote(b, web.RequestID(c)) // [0-9A-Za-z._-], see web.WithRequestID
	b = append(b, '}')
	*buf = b
	c.Data(http.StatusOK, "application/json; charset=utf-8", b) // written through before it returns: b can be reused
	return nil
}

// listBuffers are the response buffers of writeList (a page of 100 with
// neighbours is about 8 KiB).
var listBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

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
