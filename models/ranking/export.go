package ranking

import (
	"bytes"
	"fmt"
	"time"

	"github.com/xuri/excelize/v2"
)

// ExportExcel writes a version as a workbook: the ranking (masked names,
// as published) with its period, version, notice window and digest, and
// the black side on a second sheet when there is one. p must be a villager
// view.
func ExportExcel(p Publication, now time.Time) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	sheet := "排名"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return nil, err
	}
	title, _ := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 16, Color: "C8102E"},
		Alignment: &excelize.Alignment{Horizontal: "center"}})
	head, _ := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Color: "FFFFFF"},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"C8102E"}}, Alignment: &excelize.Alignment{Horizontal: "center"}})
	set := func(sh, cell string, v any) {
		_ = f.SetCellValue(sh, cell, v)
	}
	set(sheet, "A1", p.VillageName+p.PeriodLabel+"积分排名")
	_ = f.MergeCell(sheet, "A1", "C1")
	_ = f.SetCellStyle(sheet, "A1", "A1", title)
	info := [][2]string{
		{"排名对象", p.Subject.Label() + TrackLabel(p.Track)},
		{"版本", fmt.Sprintf("第%d版（%s）", p.Version, statusLabel(p.Status))},
		{"公示", noticeWindow(p)},
		{"截至账本", fmt.Sprintf("第%d笔流水", p.AsOfSeq)},
		{"校验码 SHA-256", p.Digest},
		{"落款", p.Committee},
		{"导出时间", now.In(chinaZone()).Format("2006-01-02 15:04")},
	}
	row := 2
	for _, kv := range info {
		set(sheet, fmt.Sprintf("A%d", row), kv[0])
		set(sheet, fmt.Sprintf("B%d", row), kv[1])
		_ = f.MergeCell(sheet, fmt.Sprintf("B%d", row), fmt.Sprintf("C%d", row))
		row++
	}
	row++
	points := "积分"
	if p.Basis == BasisPerMember {
		points = "户均积分"
	}
	writeTable := func(sh string, start int, headers [3]string, es []PubEntry, perMember bool) {
		for i, h := range headers {
			cell, _ := excelize.CoordinatesToCellName(i+1, start)
			set(sh, cell, h)
		}
		_ = f.SetCellStyle(sh, fmt.Sprintf("A%d", start), fmt.Sprintf("C%d", start), head)
		for i, e := range es {
			r := start + 1 + i
			set(sh, fmt.Sprintf("A%d", r), e.Rank)
			set(sh, fmt.Sprintf("B%d", r), e.Name)
			if perMember {
				set(sh, fmt.Sprintf("C%d", r), e.PointsText)
			} else {
				set(sh, fmt.Sprintf("C%d", r), e.Points)
			}
		}
	}
	writeTable(sheet, row, [3]string{"名次", "姓名", points}, p.Entries, p.Basis == BasisPerMember)
	_ = f.SetColWidth(sheet, "A", "A", 16)
	_ = f.SetColWidth(sheet, "B", "B", 24)
	_ = f.SetColWidth(sheet, "C", "C", 70)
	if len(p.Black) > 0 {
		if _, err := f.NewSheet("黑榜"); err != nil {
			return nil, err
		}
		set("黑榜", "A1", p.VillageName+p.PeriodLabel+"扣分名单（黑榜）")
		_ = f.MergeCell("黑榜", "A1", "C1")
		_ = f.SetCellStyle("黑榜", "A1", "A1", title)
		writeTable("黑榜", 3, [3]string{"序号", "姓名", "扣分"}, p.Black, false)
		_ = f.SetColWidth("黑榜", "A", "C", 16)
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func statusLabel(s Status) string {
	switch s {
	case StatusFrozen:
		return "已冻结"
	case StatusPublished:
		return "公示中"
	case StatusSuperseded:
		return "已被更正"
	case StatusFinal:
		return "已定稿"
	}
	return string(s)
}

func chinaZone() *time.Location { return time.FixedZone("CST", 8*3600) }
