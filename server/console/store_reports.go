package console

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/models/store"
	"github.com/villagepoints/jifen/web"
)

func (h *Handlers) monthReport(c *gin.Context) (store.MonthReport, error) {
	village, err := villageParam(c, staff.ReadStore)
	if err != nil {
		return store.MonthReport{}, err
	}
	y, m, err := monthParam(c)
	if err != nil {
		return store.MonthReport{}, err
	}
	return h.Store.MonthReport(c.Request.Context(), village, y, m)
}

func (h *Handlers) storeReport(c *gin.Context) error {
	rep, err := h.monthReport(c)
	if err != nil {
		return err
	}
	web.OK(c, rep)
	return nil
}

// exportStoreReport downloads the month report as Excel.
func (h *Handlers) exportStoreReport(c *gin.Context) error {
	rep, err := h.monthReport(c)
	if err != nil {
		return err
	}
	v, err := h.People.Region(c.Request.Context(), rep.VillageID)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := rep.WriteXLSX(&buf, v.Name); err != nil {
		return err
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="store-%d-%s.xlsx"`, rep.VillageID, rep.Month))
	c.Data(http.StatusOK, xlsxType, buf.Bytes())
	return nil
}

// settlementQuery names a period by its first and last day, village time.
type settlementQuery struct {
	From string `form:"from" binding:"required"`
	To   string `form:"to" binding:"required"`
}

// settlementOf computes a merchant's statement over the villages whose
// store the caller reads.
func (h *Handlers) settlementOf(c *gin.Context) (store.Settlement, error) {
	id, err := web.PathID(c, "id")
	if err != nil {
		return store.Settlement{}, err
	}
	var q settlementQuery
	if err := web.BindQuery(c, &q); err != nil {
		return store.Settlement{}, err
	}
	loc := h.Store.Location()
	from, err := time.ParseInLocation("2006-01-02", q.From, loc)
	if err != nil {
		return store.Settlement{}, apperr.Invalid("from", "日期格式应为 2026-03-01")
	}
	to, err := time.ParseInLocation("2006-01-02", q.To, loc)
	if err != nil {
		return store.Settlement{}, apperr.Invalid("to", "日期格式应为 2026-03-31")
	}
	return h.Store.Settlement(c.Request.Context(), h.storeStaff(c, staff.ReadStore), id,
		principal(c).Villages(staff.ReadStore), from, to.AddDate(0, 0, 1))
}

func (h *Handlers) settlement(c *gin.Context) error {
	st, err := h.settlementOf(c)
	if err != nil {
		return err
	}
	web.OK(c, st)
	return nil
}

// exportSettlement downloads a merchant's statement as Excel.
func (h *Handlers) exportSettlement(c *gin.Context) error {
	st, err := h.settlementOf(c)
	if err != nil {
		return err
	}
	regions, err := h.People.ListRegions(c.Request.Context(), st.Villages, people.Village)
	if err != nil {
		return err
	}
	names := make(map[int64]string, len(regions))
	for _, r := range regions {
		names[r.ID] = r.Name
	}
	var buf bytes.Buffer
	if err := st.WriteXLSX(&buf, names, h.Store.Location()); err != nil {
		return err
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="settlement-%d-%s.xlsx"`, st.Merchant.ID,
		st.From.In(h.Store.Location()).Format("20060102")))
	c.Data(http.StatusOK, xlsxType, buf.Bytes())
	return nil
}
