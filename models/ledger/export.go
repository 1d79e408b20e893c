package ledger

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/xuri/excelize/v2"
	"gorm.io/gorm"
)

// exportColumns are the posting sheet's headings.
var exportColumns = []any{
	"链序号", "流水号", "时间", "类型", "积分类别", "转出账户", "转入账户", "分值",
	"来源类型", "来源编号", "经办人", "事由", "冲正原流水", "冻结单号", "前一哈希", "本条哈希",
}

// ExportMonth writes a village's postings of one month (village local time)
// to w as an Excel workbook for the supervision committee 村务监督委员会:
// sheet 流水 lists every posting in chain order with its chain hashes
// (postings not sealed yet come last, marked 未封存), and sheet 汇总 has the
// month's totals by type and track, the chain head and the result of
// Verify at the time of export.
func (s *Store) ExportMonth(ctx context.Context, villageID int64, year int, month time.Month, w io.Writer) error {
	totals, err := s.MonthTotals(ctx, villageID, year, month)
	if err != nil {
		return err
	}
	rep, err := s.Verify(ctx, villageID)
	if err != nil {
		return err
	}
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "流水"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	for i, width := range []float64{8, 10, 20, 12, 10, 14, 14, 8, 12, 10, 12, 30, 10, 10, 66, 66} {
		if err := sw.SetColWidth(i+1, i+1, width); err != nil {
			return err
		}
	}
	if err := sw.SetRow("A1", exportColumns); err != nil {
		return err
	}
	from, to := monthRange(year, month, s.loc)
	row := 2
	err = s.snapshot(ctx, func(tx *gorm.DB) error {
		return scanPostings(tx.Raw(`SELECT * FROM ledger_postings WHERE village_id = ? AND created_at >= ? AND created_at < ?
			ORDER BY chain_seq IS NULL, chain_seq, id`, villageID, from, to), func(p Posting) error {
			cell, _ := excelize.CoordinatesToCellName(1, row)
			row++
			return sw.SetRow(cell, s.exportRow(p))
		})
	})
	if err != nil {
		return fmt.Errorf("ledger: export postings: %w", err)
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	if err := s.writeSummary(f, villageID, year, month, totals, rep, row-2); err != nil {
		return err
	}
	if err := f.Write(w); err != nil {
		return fmt.Errorf("ledger: write workbook: %w", err)
	}
	return nil
}

func (s *Store) exportRow(p Posting) []any {
	seq, prev, hash := any(p.ChainSeq), p.PrevHash, p.Hash
	if !p.Sealed() {
		seq, prev, hash = "未封存", "", ""
	}
	opt := func(n int64) any {
		if n == 0 {
			return ""
		}
		return n
	}
	return []any{
		seq, p.ID, p.CreatedAt.In(s.loc).Format("2006-01-02 15:04:05"),
		p.Type.Label(), p.Track.Label(), accountLabel(p.FromKind, p.FromOwner), accountLabel(p.ToKind, p.ToOwner),
		p.Amount, p.Source.Type, opt(p.Source.ID), string(p.Actor), p.Reason,
		opt(p.ReversesID), opt(p.HoldID), prev, hash,
	}
}

func accountLabel(k AccountKind, owner int64) string {
	if k.System() {
		return k.Label()
	}
	return fmt.Sprintf("%s %d", k.Label(), owner)
}

func (s *Store) writeSummary(f *excelize.File, villageID int64, year int, month time.Month, totals []MonthTotal, rep Report, n int) error {
	const sheet = "汇总"
	if _, err := f.NewSheet(sheet); err != nil {
		return err
	}
	status := "通过"
	if !rep.OK {
		status = "未通过：" + rep.Problem
	}
	rows := [][]any{
		{"村编号", villageID},
		{"月份", fmt.Sprintf("%d-%02d", year, int(month))},
		{"本月流水条数", n},
		{"导出时链头序号", rep.HeadSeq},
		{"导出时链头哈希", rep.HeadHash},
		{"导出时未封存流水", rep.Unsealed},
		{"导出时账本校验", status},
		{},
		{"类型", "积分类别", "笔数", "分值合计"},
	}
	for _, t := range totals {
		rows = append(rows, []any{t.Type.Label(), t.Track.Label(), t.Count, t.Amount})
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow(sheet, cell, &r); err != nil {
			return err
		}
	}
	return f.SetColWidth(sheet, "A", "B", 20)
}
