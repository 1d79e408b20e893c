package people

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/xuri/excelize/v2"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/sqldb"
)

// RosterMaxRows is the most residents one roster (花名册) import accepts.
// Bigger villages import in several files, which keeps one transaction, and
// the time a village is locked for it, short.
const RosterMaxRows = 5000

// rosterMaxErrors caps the row errors sent back: past a few hundred nobody
// reads them, and the message still gives the full count.
const rosterMaxErrors = 200

// rosterUnzipLimit bounds how far an uploaded workbook may unpack, so a small
// zip bomb cannot exhaust memory; a full 5000-row roster unpacks to ~3 MB.
const rosterUnzipLimit = 64 << 20

// rosterBatch is the number of rows per INSERT: 500 residents × 16 columns
// stays well under the placeholder limits of MySQL (65535) and SQLite (32766).
const rosterBatch = 500

// RosterResult counts what a roster import wrote.
type RosterResult struct {
	HouseholdsCreated int `json:"households_created"`
	HouseholdsMatched int `json:"households_matched"`
	ResidentsCreated  int `json:"residents_created"`
}

// RowError is one bad cell of a rejected roster. Row is the Excel row number
// as staff see it on screen and Column the template's header text, so the
// cell can be found and fixed without guessing.
type RowError struct {
	Row    int    `json:"row"`
	Column string `json:"column"`
	Reason string `json:"reason"`
}

// rosterCol is a column of the roster template.
type rosterCol int

const (
	colNumber rosterCol = iota
	colHead
	colAddress
	colGrid
	colName
	colGender
	colRelation
	colRegistered
	colParty
	colPhone
	colIDNumber
	rosterCols
)

// rosterHeaders are the template's header texts, in its column order.
var rosterHeaders = [rosterCols]string{"户号", "户主", "地址", "网格", "姓名", "性别", "与户主关系", "户籍", "党员", "手机号", "身份证号"}

// rosterOptional are the columns a roster may leave out altogether.
var rosterOptional = [rosterCols]bool{colGrid: true}

// rosterAliases are header texts found in villages' own rosters that mean
// the same as a template header, so staff need not retype a sheet they have.
var rosterAliases = map[string]rosterCol{
	"户主姓名": colHead, "家庭住址": colAddress, "住址": colAddress, "所属网格": colGrid,
	"关系": colRelation, "与户主的关系": colRelation, "是否户籍": colRegistered, "户籍人口": colRegistered,
	"是否党员": colParty, "手机号码": colPhone, "联系电话": colPhone, "身份证号码": colIDNumber,
	"公民身份号码": colIDNumber,
}

// fieldColumns maps the input fields that Normalize names to roster columns.
var fieldColumns = map[string]rosterCol{
	"number": colNumber, "head_name": colHead, "address": colAddress,
	"name": colName, "gender": colGender, "relation": colRelation,
	"phone": colPhone, "id_number": colIDNumber,
}

// ImportRoster adds the residents listed in an .xlsx roster to a village,
// creating their households or matching them by 户号 to households the
// village already has. Matched households are never modified. Every row is
// checked first; if any is wrong nothing is written and the error
// (CodeImportRejected) lists the bad cells. Otherwise the whole roster is
// written in one transaction with one audit entry. The caller bounds the
// upload's size in bytes.
func (s *Store) ImportRoster(ctx context.Context, who audit.Actor, villageID int64, r io.Reader) (RosterResult, error) {
	lines, err := readRoster(r)
	if err != nil {
		return RosterResult{}, err
	}
	entries, rowErrs := s.normalizeRoster(lines)
	var res RosterResult
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		// The lock serialises this import with other writers of the
		// village's residents, so the ID-number checks below stay true
		// until commit.
		found, err := lockVillage(tx, villageID)
		if err != nil {
			return err
		}
		if !found {
			return apperr.NotFound("村")
		}
		known, err := s.loadRosterRefs(tx, villageID, entries)
		if err != nil {
			return err
		}
		plan := planRoster(entries, known)
		if errs := append(append([]RowError(nil), rowErrs...), plan.errs...); len(errs) > 0 {
			return rosterRejected(errs)
		}
		res, err = s.writeRoster(ctx, tx, who, villageID, plan)
		return err
	})
	if err != nil {
		return RosterResult{}, err
	}
	return res, nil
}

// rosterLine is one non-empty data row of the sheet, cells trimmed.
type rosterLine struct {
	row   int
	cells [rosterCols]string
}

// readRoster reads the first sheet of an .xlsx file: it finds the header
// row, maps columns by header text and returns the non-empty rows below it.
func readRoster(r io.Reader) ([]rosterLine, error) {
	f, err := excelize.OpenReader(r, excelize.Options{UnzipSizeLimit: rosterUnzipLimit, UnzipXMLSizeLimit: rosterUnzipLimit})
	if err != nil {
		return nil, apperr.Invalid("file", "无法读取文件，请上传 Excel 的 .xlsx 文件（旧版 .xls 请先另存为 .xlsx）").WithCause(err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, apperr.Invalid("file", "文件中没有工作表")
	}
	sheet := sheets[0]
	if n := countMerges(f); n > rosterMaxMerges {
		return nil, apperr.Invalid("file", fmt.Sprintf("文件中的合并单元格过多（%d 处），请取消合并后重新上传", n))
	}
	merges, err := f.GetMergeCells(sheet)
	if err != nil {
		return nil, apperr.Invalid("file", "无法读取第一个工作表，请检查文件是否损坏").WithCause(err)
	}
	filled := newMergeFill(merges)
	rows, err := f.Rows(sheet)
	if err != nil {
		return nil, apperr.Invalid("file", "无法读取第一个工作表，请检查文件是否损坏").WithCause(err)
	}
	defer rows.Close()

	var (
		columns   [rosterCols]int // 1-based sheet column of each roster column; 0 if absent
		headerRow int             // 0 until the header is found
		best      [rosterCols]int // the likeliest header so far, to name what it lacks
		bestFound int
		nonEmpty  int
		lines     []rosterLine
		rowNumber int
	)
	for rows.Next() {
		// Rows yields every row, empty ones included, so the count is the
		// row number Excel shows.
		rowNumber++
		raw, err := rows.Columns()
		if err != nil {
			return nil, apperr.Invalid("file", fmt.Sprintf("无法读取第 %d 行，请检查文件是否损坏", rowNumber)).WithCause(err)
		}
		if headerRow == 0 {
			if isBlank(raw) {
				continue
			}
			nonEmpty++
			cols, found, err := matchHeader(raw)
			if err != nil {
				return nil, err
			}
			// A title row ("某某村花名册") may sit above the header, so the
			// header is the first row that names several template columns.
			if found >= 3 {
				if err := checkRequired(cols); err != nil {
					return nil, err
				}
				columns, headerRow = cols, rowNumber
			} else if found > bestFound {
				best, bestFound = cols, found
			}
			if headerRow == 0 && nonEmpty >= 10 {
				break
			}
			continue
		}
		line := rosterLine{row: rowNumber}
		blank := true
		for c, sc := range columns {
			if sc == 0 {
				continue
			}
			v := ""
			if sc <= len(raw) {
				v = strings.TrimSpace(raw[sc-1])
			}
			if v == "" {
				v = filled.at(sc, rowNumber, headerRow)
			}
			line.cells[c] = v
			blank = blank && v == ""
		}
		if blank {
			continue
		}
		if len(lines) == RosterMaxRows {
			return nil, apperr.Newf(apperr.CodeTooLarge, "花名册超过 %d 行（不含表头和空行），请拆分成几个文件分批导入", RosterMaxRows)
		}
		lines = append(lines, line)
	}
	if err := rows.Error(); err != nil {
		return nil, apperr.Invalid("file", "无法读取第一个工作表，请检查文件是否损坏").WithCause(err)
	}
	if headerRow == 0 {
		if bestFound > 0 {
			return nil, checkRequired(best)
		}
		return nil, apperr.Invalid("file", "第一个工作表中没有找到表头，表头应为："+strings.Join(rosterHeaders[:], "、")+"（可下载模板对照）")
	}
	if len(lines) == 0 {
		return nil, apperr.Invalid("file", "花名册中没有村民数据")
	}
	return lines, nil
}

// rosterMaxMerges bounds the merged ranges a workbook may hold: excelize
// checks them for overlaps pairwise, so time grows with their square (10,000
// take 0.5 s, 40,000 take 7 s) and a crafted upload of a few megabytes would
// keep a CPU busy for hours. A real roster that merges the household columns
// of each household stays well below.
const rosterMaxMerges = 10000

// countMerges counts the merged ranges of every worksheet from the raw XML,
// before excelize parses them.
func countMerges(f *excelize.File) int {
	n := 0
	f.Pkg.Range(func(k, v any) bool {
		name, _ := k.(string)
		b, _ := v.([]byte)
		if strings.HasPrefix(strings.ToLower(name), "xl/worksheets/") {
			// "mergeCell" also starts the "mergeCells" wrapper, and a
			// closing tag counts it twice; erring high is safe here.
			n += bytes.Count(b, []byte("mergeCell")) - bytes.Count(b, []byte("mergeCells"))
		}
		return true
	})
	return n
}

// matchHeader maps the cells of a candidate header row to roster columns
// and counts how many it recognised.
func matchHeader(raw []string) (cols [rosterCols]int, found int, err error) {
	for i, cell := range raw {
		c, ok := headerColumn(cell)
		if !ok {
			continue
		}
		if cols[c] != 0 {
			first, _ := excelize.ColumnNumberToName(cols[c])
			second, _ := excelize.ColumnNumberToName(i + 1)
			return cols, 0, apperr.Invalid("file", fmt.Sprintf("表头“%s”出现了两次（第 %s 列和第 %s 列），请删除多余的一列", rosterHeaders[c], first, second))
		}
		cols[c] = i + 1
		found++
	}
	return cols, found, nil
}

// headerColumn recognises a header cell, ignoring spaces ("姓  名"),
// required-field stars and a trailing hint in brackets ("户籍（是/否）").
func headerColumn(cell string) (rosterCol, bool) {
	key := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '*' || r == '＊' {
			return -1
		}
		return r
	}, cell)
	if i := strings.IndexAny(key, "(（"); i > 0 {
		key = key[:i]
	}
	for c, h := range rosterHeaders {
		if key == h {
			return rosterCol(c), true
		}
	}
	c, ok := rosterAliases[key]
	return c, ok
}

func checkRequired(cols [rosterCols]int) error {
	var missing []string
	for c, sc := range cols {
		if sc == 0 && !rosterOptional[c] {
			missing = append(missing, rosterHeaders[c])
		}
	}
	if len(missing) > 0 {
		return apperr.Invalid("file", "花名册缺少表头："+strings.Join(missing, "、")+"（可下载模板对照）")
	}
	return nil
}

func isBlank(raw []string) bool {
	for _, v := range raw {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// mergeFill gives the cells hidden under a vertically merged cell the value
// the merged cell shows: rosters often merge 户号, 户主 and 地址 over all
// members of a household, and Excel stores the value only in the top cell.
type mergeFill map[int][]mergeSpan // by sheet column

type mergeSpan struct {
	top, bottom int
	value       string
}

func newMergeFill(merges []excelize.MergeCell) mergeFill {
	m := mergeFill{}
	for _, mc := range merges {
		col, top, err1 := excelize.CellNameToCoordinates(mc.GetStartAxis())
		_, bottom, err2 := excelize.CellNameToCoordinates(mc.GetEndAxis())
		v := strings.TrimSpace(mc.GetCellValue())
		if err1 != nil || err2 != nil || bottom <= top || v == "" {
			continue
		}
		// Only the merge's first column: the value belongs to the column
		// it was typed in, not to neighbours a wide merge covers.
		m[col] = append(m[col], mergeSpan{top: top, bottom: bottom, value: v})
	}
	for _, spans := range m {
		sort.Slice(spans, func(i, j int) bool { return spans[i].top < spans[j].top })
	}
	return m
}

// at returns the value a merged cell shows at (col, row), if any. Merges
// that start in or above the header row belong to the header, not the data.
func (m mergeFill) at(col, row, headerRow int) string {
	spans := m[col]
	i := sort.Search(len(spans), func(i int) bool { return spans[i].top > row }) - 1
	if i >= 0 && spans[i].bottom >= row && spans[i].top > headerRow {
		return spans[i].value
	}
	return ""
}

// rosterEntry is one roster row after the checks that need no database.
type rosterEntry struct {
	row       int
	household HouseholdInput // Number is empty when the 户号 cell is invalid
	grid      string         // the 网格 cell as typed: a grid's name or code
	resident  ResidentInput
	idIndex   string // blind index of the ID number, if valid
}

// normalizeRoster applies the same rules as CreateHousehold and
// CreateResident to every row, reporting every bad cell, not only the first
// of each row.
func (s *Store) normalizeRoster(lines []rosterLine) ([]rosterEntry, []RowError) {
	var errs []RowError
	entries := make([]rosterEntry, 0, len(lines))
	for _, l := range lines {
		bad := func(c rosterCol, reason string) {
			errs = append(errs, RowError{Row: l.row, Column: rosterHeaders[c], Reason: reason})
		}
		e := rosterEntry{row: l.row, grid: l.cells[colGrid]}
		e.household = HouseholdInput{Number: l.cells[colNumber], HeadName: l.cells[colHead], Address: l.cells[colAddress]}
		hh := &e.household
		if normalizeEach(hh.normalize, map[string]*string{"number": &hh.Number, "head_name": &hh.HeadName, "address": &hh.Address}, bad)["number"] {
			hh.Number = ""
		}
		in := ResidentInput{Name: l.cells[colName], Gender: l.cells[colGender], Relation: l.cells[colRelation], Phone: l.cells[colPhone], IDNumber: l.cells[colIDNumber]}
		if strings.ContainsAny(in.IDNumber, "Ee") && strings.Contains(in.IDNumber, "+") {
			bad(colIDNumber, "身份证号被 Excel 存成了数字，后几位已丢失；请把该列设为“文本”格式后重新填写")
			in.IDNumber = ""
		}
		normalizeEach(in.Normalize, map[string]*string{"name": &in.Name, "gender": &in.Gender, "relation": &in.Relation, "phone": &in.Phone, "id_number": &in.IDNumber}, bad)
		var ok bool
		if in.Registered, ok = yesNo(l.cells[colRegistered], true); !ok {
			bad(colRegistered, "户籍只能填“是”或“否”（留空按“是”）")
		}
		if in.PartyMember, ok = yesNo(l.cells[colParty], false); !ok {
			bad(colParty, "党员只能填“是”或“否”（留空按“否”）")
		}
		if in.IDNumber != "" {
			e.idIndex = s.vault.Index(in.IDNumber)
		}
		e.resident = in
		entries = append(entries, e)
	}
	return entries, errs
}

// normalizeEach runs normalize until it passes, reporting each field it
// rejects and replacing the value with a harmless one, so that a row reports
// every bad cell and not only the first. It returns the rejected fields.
// The replacements are never written: any bad cell rejects the whole roster.
func normalizeEach(normalize func() error, fields map[string]*string, bad func(rosterCol, string)) map[string]bool {
	rejected := map[string]bool{}
	for range len(fields) + 1 {
		err := normalize()
		if err == nil {
			break
		}
		var ae *apperr.Error
		var p *string
		if errors.As(err, &ae) {
			p = fields[ae.Field]
		}
		if p == nil || rejected[ae.Field] {
			// Not a field this roster has: Normalize grew a rule that the
			// roster cannot break. Report it on the name so it is seen.
			reason := "此行无法通过校验，请联系管理员"
			if ae != nil {
				reason = ae.Message
			}
			bad(colName, reason)
			break
		}
		rejected[ae.Field] = true
		bad(fieldColumns[ae.Field], ae.Message)
		// Empty is valid for every optional field; the required ones need
		// a stand-in so the next round goes on to the other fields.
		*p = ""
		if ae.Field == "name" || ae.Field == "number" {
			*p = "-"
		}
	}
	return rejected
}

// yesNo reads a 是/否 cell; ok is false for anything else.
func yesNo(v string, blank bool) (value, ok bool) {
	switch v {
	case "":
		return blank, true
	case "是":
		return true, true
	case "否":
		return false, true
	}
	return false, false
}

// rosterRefs is what the database already holds that a roster refers to.
type rosterRefs struct {
	grids      []Region
	households map[string]Household // by number
	takenIDs   map[string]bool      // blind indexes of ID numbers in use
}

// loadRosterRefs fetches, in a few queries, the village's grids and those
// of its households and ID numbers that the roster names.
func (s *Store) loadRosterRefs(tx *gorm.DB, villageID int64, entries []rosterEntry) (rosterRefs, error) {
	refs := rosterRefs{households: map[string]Household{}, takenIDs: map[string]bool{}}
	if err := tx.Where("level = ? AND parent_id = ?", Grid, villageID).Order("id").Find(&refs.grids).Error; err != nil {
		return refs, err
	}
	numbers, indexes := map[string]bool{}, map[string]bool{}
	for _, e := range entries {
		if e.household.Number != "" {
			numbers[e.household.Number] = true
		}
		if e.idIndex != "" {
			indexes[e.idIndex] = true
		}
	}
	for _, chunk := range chunks(keys(numbers), rosterBatch) {
		var hs []Household
		if err := tx.Where("village_id = ? AND number IN ?", villageID, chunk).Find(&hs).Error; err != nil {
			return refs, err
		}
		for _, h := range hs {
			refs.households[h.Number] = h
		}
	}
	for _, chunk := range chunks(keys(indexes), rosterBatch) {
		var taken []string
		if err := tx.Model(&Resident{}).Where("village_id = ? AND id_number_idx IN ?", villageID, chunk).Pluck("id_number_idx", &taken).Error; err != nil {
			return refs, err
		}
		for _, idx := range taken {
			refs.takenIDs[idx] = true
		}
	}
	return refs, nil
}

// plannedHousehold is one 户号 of the roster: its agreed data and where each
// piece came from, for error messages.
type plannedHousehold struct {
	existing *Household
	in       HouseholdInput
	grid     *int64
	from     [rosterCols]int // row that set a column; 0 for the database
	set      [rosterCols]bool
}

// rosterPlan is a checked roster, ready to write.
type rosterPlan struct {
	entries    []rosterEntry
	gridOf     []*int64 // per entry
	households map[string]*plannedHousehold
	order      []string // 户号 in order of first appearance
	errs       []RowError
}

// planRoster checks the rows against each other and against the database:
// ID numbers unique in the file and the village, grids known, and one set
// of household data per 户号.
func planRoster(entries []rosterEntry, refs rosterRefs) rosterPlan {
	p := rosterPlan{entries: entries, gridOf: make([]*int64, len(entries)), households: map[string]*plannedHousehold{}}
	byCode, byName := map[string]Region{}, map[string][]Region{}
	for _, g := range refs.grids {
		byCode[g.Code] = g
		byName[g.Name] = append(byName[g.Name], g)
	}
	idRow := map[string]int{}
	for _, e := range entries {
		bad := func(c rosterCol, reason string) {
			p.errs = append(p.errs, RowError{Row: e.row, Column: rosterHeaders[c], Reason: reason})
		}
		if e.idIndex != "" {
			if first, dup := idRow[e.idIndex]; dup {
				bad(colIDNumber, fmt.Sprintf("身份证号与第 %d 行重复", first))
			} else {
				idRow[e.idIndex] = e.row
				if refs.takenIDs[e.idIndex] {
					bad(colIDNumber, "本村已有该身份证号的村民，请勿重复导入")
				}
			}
		}
		var grid *int64
		if e.grid != "" {
			if g, ok := byCode[e.grid]; ok {
				grid = &g.ID
			} else if gs := byName[e.grid]; len(gs) == 1 {
				grid = &gs[0].ID
			} else if len(gs) > 1 {
				bad(colGrid, fmt.Sprintf("本村有 %d 个名为“%s”的网格，请改填网格编码", len(gs), e.grid))
			} else {
				bad(colGrid, fmt.Sprintf("本村没有名称或编码为“%s”的网格，请先在区域管理中建立该网格", e.grid))
			}
		}
		number := e.household.Number
		if number == "" {
			continue
		}
		h := p.households[number]
		if h == nil {
			h = &plannedHousehold{in: HouseholdInput{Number: number}}
			if existing, ok := refs.households[number]; ok {
				h.existing = &existing
				h.in.HeadName, h.in.Address, h.grid = existing.HeadName, existing.Address, existing.GridID
				h.set[colHead], h.set[colAddress], h.set[colGrid] = existing.HeadName != "", existing.Address != "", existing.GridID != nil
			}
			p.households[number] = h
			p.order = append(p.order, number)
		}
		agree := func(c rosterCol, same bool, assign func()) {
			switch {
			case !h.set[c]:
				assign()
				h.set[c], h.from[c] = true, e.row
			case same:
			case h.from[c] == 0:
				bad(c, fmt.Sprintf("与本村已有的户号 %s 的%s不一致；导入不会修改已有的户，请核对户号，或把此格留空", number, rosterHeaders[c]))
			default:
				bad(c, fmt.Sprintf("同一户号 %s 的%s与第 %d 行不一致", number, rosterHeaders[c], h.from[c]))
			}
		}
		if v := e.household.HeadName; v != "" {
			agree(colHead, v == h.in.HeadName, func() { h.in.HeadName = v })
		}
		if v := e.household.Address; v != "" {
			agree(colAddress, v == h.in.Address, func() { h.in.Address = v })
		}
		if grid != nil {
			agree(colGrid, h.grid != nil && *h.grid == *grid, func() { h.grid = grid })
		}
	}
	// A resident lives in its household's grid; the 网格 column describes
	// the household, so every member takes the grid the household ends with.
	for i, e := range entries {
		if h := p.households[e.household.Number]; h != nil {
			p.gridOf[i] = h.grid
		}
	}
	return p
}

// writeRoster inserts the planned households and residents in batches and
// records one audit entry for the whole import.
func (s *Store) writeRoster(ctx context.Context, tx *gorm.DB, who audit.Actor, villageID int64, p rosterPlan) (RosterResult, error) {
	var res RosterResult
	// Microseconds, as DATETIME(6) stores them, so the audit entry's
	// imported_at equals the rows' created_at exactly.
	now := time.Now().UTC().Truncate(time.Microsecond)
	var fresh []Household
	for _, number := range p.order {
		h := p.households[number]
		if h.existing != nil {
			res.HouseholdsMatched++
			continue
		}
		fresh = append(fresh, Household{VillageID: villageID, GridID: h.grid, Number: number, Address: h.in.Address, HeadName: h.in.HeadName, CreatedAt: now, UpdatedAt: now})
	}
	if len(fresh) > 0 {
		if err := tx.WithContext(ctx).CreateInBatches(&fresh, rosterBatch).Error; err != nil {
			if sqldb.IsDuplicateKey(err) {
				return res, apperr.New(apperr.CodeConflict, "导入期间本村新增了相同户号的户，请重新导入")
			}
			return res, err
		}
	}
	res.HouseholdsCreated = len(fresh)
	// Read the ids back rather than trust the driver to report every id of
	// a multi-row INSERT: MySQL only returns the first one.
	householdID := map[string]int64{}
	for _, chunk := range chunks(p.order, rosterBatch) {
		var hs []Household
		if err := tx.Select("id", "number").Where("village_id = ? AND number IN ?", villageID, chunk).Find(&hs).Error; err != nil {
			return res, err
		}
		for _, h := range hs {
			householdID[h.Number] = h.ID
		}
	}
	residents := make([]Resident, len(p.entries))
	for i, e := range p.entries {
		r := Resident{VillageID: villageID, CreatedAt: now, UpdatedAt: now}
		in := e.resident
		in.HouseholdID, in.GridID = nil, p.gridOf[i]
		if id, ok := householdID[e.household.Number]; ok {
			in.HouseholdID = &id
		}
		s.apply(&r, in)
		residents[i] = r
	}
	if err := tx.WithContext(ctx).CreateInBatches(&residents, rosterBatch).Error; err != nil {
		return res, err
	}
	res.ResidentsCreated = len(residents)
	summary := struct {
		RosterResult
		Rows int `json:"rows"`
		// ImportedAt equals the created_at of every household and resident
		// written, which lets a reader find them from this entry.
		ImportedAt time.Time `json:"imported_at"`
	}{res, len(p.entries), now}
	return res, audit.Record(ctx, tx, who, audit.Change{VillageID: villageID, Action: "roster.import", TargetType: "village", TargetID: villageID, After: summary})
}

// rosterRejected builds the error for a roster with bad rows, sorted as the
// sheet reads: by row, then by column.
func rosterRejected(errs []RowError) error {
	order := map[string]int{}
	for i, h := range rosterHeaders {
		order[h] = i
	}
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].Row != errs[j].Row {
			return errs[i].Row < errs[j].Row
		}
		return order[errs[i].Column] < order[errs[j].Column]
	})
	rows := 0
	for i := range errs {
		if i == 0 || errs[i].Row != errs[i-1].Row {
			rows++
		}
	}
	msg := fmt.Sprintf("花名册有 %d 行错误，未导入任何数据", rows)
	if len(errs) > rosterMaxErrors {
		msg = fmt.Sprintf("花名册有 %d 行错误（共 %d 处，只列出前 %d 处），未导入任何数据", rows, len(errs), rosterMaxErrors)
		errs = errs[:rosterMaxErrors]
	}
	return apperr.New(apperr.CodeImportRejected, msg).WithDetails(errs)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func chunks[T any](s []T, n int) [][]T {
	var out [][]T
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}

// RosterTemplate returns an .xlsx roster template for staff to fill in: the
// header row ImportRoster expects, one example row, drop-downs for the 是/否
// and 男/女 columns, text-formatted number columns (so Excel does not turn an
// ID number into 1.1E+17), and a sheet of instructions after the roster.
func RosterTemplate() ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "花名册"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return nil, err
	}
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49})
	if err != nil {
		return nil, err
	}
	bold, err := f.NewStyle(&excelize.Style{
		Font:      &excelize.Font{Bold: true},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
		Alignment: &excelize.Alignment{Horizontal: "center"},
	})
	if err != nil {
		return nil, err
	}
	last, _ := excelize.ColumnNumberToName(int(rosterCols))
	header := make([]any, rosterCols)
	for i, h := range rosterHeaders {
		header[i] = h
	}
	example := []any{"001", "张三", "一组 12 号", "一组", "张三", "男", "户主", "是", "否", "13800138000", "11010519491231002X"}
	dataRows := fmt.Sprintf("%d", RosterMaxRows+1)
	steps := []func() error{
		func() error { return f.SetColStyle(sheet, "A", text) },
		func() error { return f.SetColStyle(sheet, "J:K", text) },
		func() error { return f.SetSheetRow(sheet, "A1", &header) },
		func() error { return f.SetSheetRow(sheet, "A2", &example) },
		func() error { return f.SetCellStyle(sheet, "A1", last+"1", bold) },
		func() error { return f.SetColWidth(sheet, "A", last, 12) },
		func() error { return f.SetColWidth(sheet, "C", "C", 24) },
		func() error { return f.SetColWidth(sheet, "J", "K", 22) },
		func() error {
			return f.SetPanes(sheet, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"})
		},
		func() error { return dropDown(f, sheet, "F2:F"+dataRows, "男", "女") },
		func() error { return dropDown(f, sheet, "H2:I"+dataRows, "是", "否") },
		func() error { return rosterInstructions(f) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	f.SetActiveSheet(0)
	buf, err := f.WriteToBuffer()
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func dropDown(f *excelize.File, sheet, ref string, values ...string) error {
	dv := excelize.NewDataValidation(true)
	dv.Sqref = ref
	if err := dv.SetDropList(values); err != nil {
		return err
	}
	return f.AddDataValidation(sheet, dv)
}

// rosterInstructions adds the 填写说明 sheet. ImportRoster reads only the
// first sheet, so the instructions may stay in the file when it is uploaded.
func rosterInstructions(f *excelize.File) error {
	const sheet = "填写说明"
	if _, err := f.NewSheet(sheet); err != nil {
		return err
	}
	notes := []string{
		"1. 每行填写一位村民；同一户的成员填写相同的户号，户主、地址、网格只需在其中一行填写，填写多行时必须一致。",
		"2. 户号在本村已存在时，村民会加入该户；已有户的户主、地址、网格不会被修改，填写时须与系统中一致。",
		"3. 必填：户号、姓名。性别填“男”或“女”；户籍、党员填“是”或“否”（户籍留空为“是”，党员留空为“否”）。",
		"4. 网格填写本村网格的名称或编码，可留空。手机号为 11 位手机号；身份证号为 18 位，末位 X 可大写或小写。",
		fmt.Sprintf("5. 每次最多导入 %d 行；只读取第一个工作表，空行会被跳过。", RosterMaxRows),
		"6. 任何一行有错误时整份文件都不会导入，请按提示的行号和列名修改后重新上传。",
		"7. 第 2 行是示例，导入前请删除或改成真实数据。",
	}
	for i, n := range notes {
		if err := f.SetCellStr(sheet, fmt.Sprintf("A%d", i+1), n); err != nil {
			return err
		}
	}
	return f.SetColWidth(sheet, "A", "A", 110)
}
