package duty

import (
	"context"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/villagepoints/jifen/rules"
)

// Export is one batch as the branch hands it to 评优评先 and 两委后备人选
// decisions: the batch, its items with full member names (a staff view)
// and when it was generated.
type Export struct {
	VillageName string
	Assessment  Assessment
	Items       []ItemView
	Generated   time.Time
}

// ExportAssessment gathers a batch for WriteXLSX; inScope checks its village.
func (s *Service) ExportAssessment(ctx context.Context, id int64, villageName func(int64) (string, error), inScope func(int64) bool) (Export, error) {
	a, err := s.Assessment(ctx, id, inScope)
	if err != nil {
		return Export{}, err
	}
	items, err := s.Items(ctx, id)
	if err != nil {
		return Export{}, err
	}
	name, err := villageName(a.VillageID)
	if err != nil {
		return Export{}, err
	}
	return Export{VillageName: name, Assessment: a, Items: items, Generated: s.clock()}, nil
}

// ExportHeadings are the column headings of the items table (row 3).
var ExportHeadings = []any{"序号", "姓名", "责任岗", "评价阶段", "等次", "分项得分", "得分合计", "积分", "评语"}

var stageNames = map[int]string{0: "未评", StageSelf: "自评", StageGroup: "小组评", StageBranch: "支部评"}

// WriteXLSX writes the batch as an Excel workbook 考评结果: a title row
// (village, period, status, generated time), a blank row, the headings,
// then one row per member.
func (e Export) WriteXLSX(w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "考评结果"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	for i, width := range []float64{6, 12, 16, 10, 10, 20, 10, 8, 40} {
		if err := sw.SetColWidth(i+1, i+1, width); err != nil {
			return err
		}
	}
	title := strings.Join([]string{e.VillageName, "党员责任岗考评", e.Assessment.PeriodKey, "状态：" + statusLabel(e.Assessment.Status),
		"生成时间：" + e.Generated.In(rules.China).Format("2006-01-02 15:04")}, "  ")
	if err := sw.SetRow("A1", []any{title}); err != nil {
		return err
	}
	if err := sw.SetRow("A3", ExportHeadings); err != nil {
		return err
	}
	for i, it := range e.Items {
		scores := make([]string, len(it.ScoreList))
		for k, v := range it.ScoreList {
			scores[k] = strconv.FormatInt(v, 10)
		}
		total := any("")
		if len(it.ScoreList) > 0 {
			total = it.ScoreTotal
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+4)
		if err := sw.SetRow(cell, []any{i + 1, it.ResidentName, it.PostName, stageNames[it.Stage], it.GradeLabel,
			strings.Join(scores, "、"), total, it.Points, it.Comment}); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.Write(w)
}
