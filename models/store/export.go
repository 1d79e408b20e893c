package store

import (
	"io"
	"time"

	"github.com/xuri/excelize/v2"
)

// writeSheet writes a workbook of one sheet: a title row, headings, rows.
func writeSheet(w io.Writer, sheet, title string, headings []any, widths []float64, rows [][]any) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	for i, width := range widths {
		if err := sw.SetColWidth(i+1, i+1, width); err != nil {
			return err
		}
	}
	if err := sw.SetRow("A1", []any{title}); err != nil {
		return err
	}
	if err := sw.SetRow("A2", headings); err != nil {
		return err
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+3)
		if err := sw.SetRow(cell, r); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.Write(w)
}

// WriteXLSX writes the month report as an Excel workbook 月度报表: one row
// per reward, a total row and the budget lines. Money is in yuan, written
// from integer fen.
func (r MonthReport) WriteXLSX(w io.Writer, villageName string) error {
	headings := []any{"商品编号", "商品", "类型", "兑换数量", "兑换积分", "兑换成本（元）", "退款数量", "退款积分", "退款成本（元）",
		"净兑换数量", "净积分", "净成本（元）", "当前库存", "待领取预留"}
	line := func(l ReportLine, id any) []any {
		stock, reserved := any(l.Stock), any(l.Reserved)
		if !l.StockTracked {
			stock, reserved = "不限", "-"
		}
		return []any{id, l.RewardName, l.Kind.Label(), l.Redeemed.Quantity, l.Redeemed.Points, Yuan(l.Redeemed.CostFen),
			l.Refunded.Quantity, l.Refunded.Points, Yuan(l.Refunded.CostFen), l.Net.Quantity, l.Net.Points, Yuan(l.Net.CostFen),
			stock, reserved}
	}
	var rows [][]any
	for _, l := range r.Lines {
		rows = append(rows, line(l, l.RewardID))
	}
	total := []any{"", "合计", "", r.Total.Redeemed.Quantity, r.Total.Redeemed.Points, Yuan(r.Total.Redeemed.CostFen),
		r.Total.Refunded.Quantity, r.Total.Refunded.Points, Yuan(r.Total.Refunded.CostFen),
		r.Total.Net.Quantity, r.Total.Net.Points, Yuan(r.Total.Net.CostFen)}
	budget := "未设置"
	if r.Budget.AmountFen > 0 {
		budget = Yuan(r.Budget.AmountFen)
	}
	rows = append(rows, total, []any{},
		[]any{"", "年度预算（元）", budget},
		[]any{"", "本年累计支出（元）", Yuan(r.Budget.SpentFen)},
		[]any{"", "预算余额（元）", Yuan(r.Budget.RemainingFen)})
	return writeSheet(w, "月度报表", villageName+" 积分超市 "+r.Month+" 月度报表", headings,
		[]float64{10, 24, 8, 10, 10, 14, 10, 10, 14, 12, 10, 14, 10, 12}, rows)
}

// WriteXLSX writes the merchant's statement as an Excel workbook 结算单.
func (s Settlement) WriteXLSX(w io.Writer, villageNames map[int64]string, loc *time.Location) error {
	headings := []any{"村", "商品编号", "商品", "单价（元）", "交付数量", "退回数量", "结算数量", "金额（元）"}
	var rows [][]any
	for _, l := range s.Lines {
		rows = append(rows, []any{villageNames[l.VillageID], l.RewardID, l.RewardName, Yuan(l.UnitCostFen), l.Handed, l.Returned, l.Quantity, Yuan(l.AmountFen)})
	}
	rows = append(rows, []any{"合计", "", "", "", "", "", "", Yuan(s.TotalFen)})
	title := s.Merchant.Name + " 结算单 " + s.From.In(loc).Format("2006-01-02") + " 至 " + s.To.In(loc).Add(-time.Second).Format("2006-01-02")
	return writeSheet(w, "结算单", title, headings, []float64{14, 10, 24, 12, 10, 10, 10, 14}, rows)
}
