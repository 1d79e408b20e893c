package console

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/web"
)

// registerLedger mounts the points ledger's staff routes.
func (h *Handlers) registerLedger(a *gin.RouterGroup) {
	a.GET("/residents/:id/points", require(staff.ReadLedger), web.Handle(h.residentPoints))
	a.GET("/residents/:id/points/history", require(staff.ReadLedger), web.Handle(h.residentHistory))
	a.GET("/households/:id/points", require(staff.ReadLedger), web.Handle(h.householdPoints))
	a.GET("/households/:id/points/history", require(staff.ReadLedger), web.Handle(h.householdHistory))
	a.POST("/villages/:village_id/adjustments", require(staff.AdjustLedger), web.Handle(h.adjust))
	a.GET("/villages/:village_id/postings/:id", require(staff.ReadLedger), web.Handle(h.getPosting))
	a.POST("/villages/:village_id/postings/:id/reversal", require(staff.AdjustLedger), web.Handle(h.reverse))
	a.GET("/villages/:village_id/ledger/months/:month", require(staff.ReadLedger), web.Handle(h.monthTotals))
	a.GET("/villages/:village_id/ledger/months/:month/export", require(staff.ReadLedger), web.Handle(h.exportMonth))
	a.GET("/villages/:village_id/ledger/verification", require(staff.ReadLedger), web.Handle(h.verifyLedger))
	a.GET("/villages/:village_id/ledger/settings", require(staff.ReadLedger), web.Handle(h.ledgerSettings))
	a.PUT("/villages/:village_id/ledger/settings", require(staff.AdjustLedger), web.Handle(h.saveLedgerSettings))
}

// pointsHolder is whose points a resident's activity moves: the resident,
// or their household where the village keeps points per household.
func (h *Handlers) pointsHolder(c *gin.Context, villageID int64, residentID int64, householdID *int64) (ledger.Holder, error) {
	st, err := h.Ledger.Settings(c.Request.Context(), villageID)
	if err != nil {
		return ledger.Holder{}, err
	}
	if st.HolderMode == ledger.HolderHousehold {
		if householdID == nil {
			return ledger.Holder{}, apperr.New(apperr.CodeInvalid, "本村按户计分，该村民尚未归属任何户")
		}
		return ledger.Household(*householdID), nil
	}
	return ledger.Resident(residentID), nil
}

// holderParam resolves :id of a resident or household route to its
// village and points holder, checking the caller reads that village.
func (h *Handlers) holderParam(c *gin.Context, household bool) (int64, ledger.Holder, error) {
	if household {
		hh, err := h.household(c, staff.ReadLedger)
		if err != nil {
			return 0, ledger.Holder{}, err
		}
		return hh.VillageID, ledger.Household(hh.ID), nil
	}
	r, err := h.resident(c, staff.ReadLedger)
	if err != nil {
		return 0, ledger.Holder{}, err
	}
	holder, err := h.pointsHolder(c, r.VillageID, r.ID, r.HouseholdID)
	return r.VillageID, holder, err
}

func (h *Handlers) points(c *gin.Context, household bool) error {
	village, holder, err := h.holderParam(c, household)
	if err != nil {
		return err
	}
	b, err := h.Ledger.Balance(c.Request.Context(), village, holder)
	if err != nil {
		return err
	}
	web.OK(c, b.View())
	return nil
}

func (h *Handlers) residentPoints(c *gin.Context) error  { return h.points(c, false) }
func (h *Handlers) householdPoints(c *gin.Context) error { return h.points(c, true) }

type historyQuery struct {
	BeforeID int64 `form:"before_id" binding:"omitempty,gt=0"`
	Limit    int   `form:"limit" binding:"omitempty,min=1,max=100"`
}

// historyPage answers one page of a holder's postings, newest first, with
// a cursor for the next page.
func historyPage(c *gin.Context, l *ledger.Store, village int64, holder ledger.Holder) error {
	var q historyQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	if q.Limit == 0 {
		q.Limit = web.DefaultPageSize
	}
	page, err := l.History(c.Request.Context(), ledger.HistoryQuery{VillageID: village, Holder: holder, BeforeID: q.BeforeID, Limit: q.Limit})
	if err != nil {
		return err
	}
	items := make([]ledger.PostingView, len(page.Entries))
	for i, e := range page.Entries {
		items[i] = ledger.ViewOf(e)
	}
	web.OK(c, gin.H{"items": items, "next_before_id": page.NextBeforeID})
	return nil
}

func (h *Handlers) history(c *gin.Context, household bool) error {
	village, holder, err := h.holderParam(c, household)
	if err != nil {
		return err
	}
	return historyPage(c, h.Ledger, village, holder)
}

func (h *Handlers) residentHistory(c *gin.Context) error  { return h.history(c, false) }
func (h *Handlers) householdHistory(c *gin.Context) error { return h.history(c, true) }

type adjustRequest struct {
	ResidentID  int64  `json:"resident_id" binding:"required_without=HouseholdID,omitempty,gt=0"`
	HouseholdID int64  `json:"household_id" binding:"omitempty,gt=0"`
	Track       string `json:"track" binding:"required,oneof=civic party volunteer"`
	Amount      int64  `json:"amount" binding:"required,min=-100000,max=100000"`
	Reason      string `json:"reason" binding:"required,max=500"`
}

// adjust posts a manual adjustment (人工调整) with a written reason; the
// audit entry commits with the posting.
func (h *Handlers) adjust(c *gin.Context) error {
	village, err := villageParam(c, staff.AdjustLedger)
	if err != nil {
		return err
	}
	key, err := web.IdempotencyKey(c)
	if err != nil {
		return err
	}
	var req adjustRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request.Context()
	var holder ledger.Holder
	if req.HouseholdID != 0 {
		hh, err := h.People.Household(ctx, req.HouseholdID)
		if err != nil || hh.VillageID != village {
			return apperr.Invalid("household_id", "户不存在或不属于本村")
		}
		holder = ledger.Household(hh.ID)
	} else {
		r, err := h.People.Resident(ctx, req.ResidentID)
		if err != nil || r.VillageID != village {
			return apperr.Invalid("resident_id", "村民不存在或不属于本村")
		}
		if holder, err = h.pointsHolder(c, village, r.ID, r.HouseholdID); err != nil {
			return err
		}
	}
	if err := noOwnHousehold(principal(c), holder); err != nil {
		return err
	}
	p := principal(c)
	var res *ledger.Result
	err = sqldb.InTx(ctx, h.DB, func(tx *gorm.DB) error {
		var err error
		res, err = h.Ledger.In(tx).Adjust(ctx, ledger.AdjustRequest{VillageID: village, Holder: holder, Track: ledger.Track(req.Track),
			Amount: req.Amount, Source: ledger.Source{Type: "manual", ID: p.StaffID}, Actor: ledger.StaffActor(p.StaffID),
			Reason: req.Reason, IdempotencyKey: key})
		if err != nil || res.Replayed {
			return err
		}
		return audit.Record(ctx, tx, actor(c), audit.Change{VillageID: village, Action: "ledger.adjust", TargetType: "posting",
			TargetID: res.Postings[0].ID, After: ledger.ViewOf(ledger.HistoryEntry{Posting: res.Postings[0]})})
	})
	if err != nil {
		return err
	}
	web.Created(c, postingViews(res))
	return nil
}

// noOwnHousehold keeps a staff member from adjusting their own or their
// household's points (invariant 6).
func noOwnHousehold(p staff.Principal, holder ledger.Holder) error {
	if p.HouseholdID != nil && holder.Kind == ledger.HolderHousehold && holder.ID == *p.HouseholdID {
		return apperr.New(apperr.CodeConflictInterest, "不能调整本户积分，请由其他工作人员办理")
	}
	return nil
}

func postingViews(res *ledger.Result) []ledger.PostingView {
	out := make([]ledger.PostingView, len(res.Postings))
	for i, p := range res.Postings {
		out[i] = ledger.ViewOf(ledger.HistoryEntry{Posting: p})
	}
	return out
}

func (h *Handlers) getPosting(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadLedger)
	if err != nil {
		return err
	}
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	p, err := h.Ledger.Posting(c.Request.Context(), village, id)
	if err != nil {
		return err
	}
	web.OK(c, ledger.ViewOf(ledger.HistoryEntry{Posting: p}))
	return nil
}

type reverseRequest struct {
	Reason string `json:"reason" binding:"required,max=500"`
}

// reverse posts the reversal (冲正) of a posting; a posting is reversed at
// most once, however many admins try at the same moment.
func (h *Handlers) reverse(c *gin.Context) error {
	village, err := villageParam(c, staff.AdjustLedger)
	if err != nil {
		return err
	}
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	key, err := web.IdempotencyKey(c)
	if err != nil {
		return err
	}
	var req reverseRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request.Context()
	p := principal(c)
	var res *ledger.Result
	err = sqldb.InTx(ctx, h.DB, func(tx *gorm.DB) error {
		var err error
		res, err = h.Ledger.In(tx).Reverse(ctx, ledger.ReverseRequest{VillageID: village, PostingID: id,
			Actor: ledger.StaffActor(p.StaffID), Reason: req.Reason, IdempotencyKey: key})
		if err != nil || res.Replayed {
			return err
		}
		return audit.Record(ctx, tx, actor(c), audit.Change{VillageID: village, Action: "ledger.reverse", TargetType: "posting",
			TargetID: id, After: postingViews(res)})
	})
	if err != nil {
		return err
	}
	web.Created(c, postingViews(res))
	return nil
}

// monthParam reads :month as YYYY-MM.
func monthParam(c *gin.Context) (int, time.Month, error) {
	t, err := time.Parse("2006-01", c.Param("month"))
	if err != nil {
		return 0, 0, apperr.Invalid("month", "月份格式应为 YYYY-MM，例如 2026-11")
	}
	return t.Year(), t.Month(), nil
}

func (h *Handlers) monthTotals(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadLedger)
	if err != nil {
		return err
	}
	y, m, err := monthParam(c)
	if err != nil {
		return err
	}
	totals, err := h.Ledger.MonthTotals(c.Request.Context(), village, y, m)
	if err != nil {
		return err
	}
	type row struct {
		Type      string `json:"type"`
		TypeLabel string `json:"type_label"`
		Track     string `json:"track"`
		Count     int64  `json:"count"`
		Amount    int64  `json:"amount"`
	}
	out := make([]row, len(totals))
	for i, t := range totals {
		out[i] = row{Type: string(t.Type), TypeLabel: t.Type.Label(), Track: string(t.Track), Count: t.Count, Amount: t.Amount}
	}
	web.OK(c, gin.H{"village_id": village, "month": fmt.Sprintf("%04d-%02d", y, int(m)), "totals": out})
	return nil
}

// exportMonth downloads a month's postings with their chain hashes as
// Excel, for the supervision committee.
func (h *Handlers) exportMonth(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadLedger)
	if err != nil {
		return err
	}
	y, m, err := monthParam(c)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := h.Ledger.ExportMonth(c.Request.Context(), village, y, m, &buf); err != nil {
		return err
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="ledger-%d-%04d-%02d.xlsx"`, village, y, int(m)))
	c.Data(http.StatusOK, xlsxType, buf.Bytes())
	return nil
}

func (h *Handlers) verifyLedger(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadLedger)
	if err != nil {
		return err
	}
	rep, err := h.Ledger.Verify(c.Request.Context(), village)
	if err != nil {
		return err
	}
	web.OK(c, gin.H{"village_id": rep.VillageID, "ok": rep.OK, "postings": rep.Postings, "sealed": rep.Sealed,
		"unsealed": rep.Unsealed, "head_seq": rep.HeadSeq, "head_hash": rep.HeadHash,
		"broken_posting_id": rep.BrokenPostingID, "problem": rep.Problem})
	return nil
}

type settingsView struct {
	HolderMode             string   `json:"holder_mode" binding:"required,oneof=resident household"`
	Spendable              []string `json:"spendable" binding:"max=3,dive,oneof=civic party volunteer"`
	AllowNegativeDeduction bool     `json:"allow_negative_deduction"`
	ExpiryPolicy           string   `json:"expiry_policy" binding:"required,oneof=none year_end months"`
	ExpiryMonths           int      `json:"expiry_months" binding:"min=0,max=120"`
}

func (h *Handlers) ledgerSettings(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadLedger)
	if err != nil {
		return err
	}
	st, err := h.Ledger.Settings(c.Request.Context(), village)
	if err != nil {
		return err
	}
	v := settingsView{HolderMode: string(st.HolderMode), Spendable: []string{}, AllowNegativeDeduction: st.AllowNegativeDeduction,
		ExpiryPolicy: string(st.Expiry.Policy), ExpiryMonths: st.Expiry.Months}
	for _, t := range st.Spendable {
		v.Spendable = append(v.Spendable, string(t))
	}
	web.OK(c, v)
	return nil
}

func (h *Handlers) saveLedgerSettings(c *gin.Context) error {
	village, err := villageParam(c, staff.AdjustLedger)
	if err != nil {
		return err
	}
	var req settingsView
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	st := ledger.Settings{HolderMode: ledger.HolderKind(req.HolderMode), AllowNegativeDeduction: req.AllowNegativeDeduction,
		Expiry: ledger.Expiry{Policy: ledger.ExpiryPolicy(req.ExpiryPolicy), Months: req.ExpiryMonths}}
	for _, t := range req.Spendable {
		st.Spendable = append(st.Spendable, ledger.Track(t))
	}
	ctx := c.Request.Context()
	before, err := h.Ledger.Settings(ctx, village)
	if err != nil {
		return err
	}
	p := principal(c)
	if err := h.Ledger.SaveSettings(ctx, village, st, ledger.StaffActor(p.StaffID)); err != nil {
		return err
	}
	if err := audit.Record(ctx, h.DB, actor(c), audit.Change{VillageID: village, Action: "ledger.settings", TargetType: "village",
		TargetID: village, Before: before, After: st}); err != nil {
		return err
	}
	return h.ledgerSettings(c)
}
