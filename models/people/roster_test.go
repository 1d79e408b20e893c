package people_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
)

// rosterHeader is the template's header row.
var rosterHeader = []any{"户号", "户主", "地址", "网格", "姓名", "性别", "与户主关系", "户籍", "党员", "手机号", "身份证号"}

// mustXLSX builds a one-sheet workbook from rows (row 1 first; a nil row
// stays empty) and merges the given ranges ("B5:B6").
func mustXLSX(t testing.TB, rows [][]any, merges ...string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, r := range rows {
		if len(r) == 0 {
			continue
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range merges {
		from, to, _ := strings.Cut(m, ":")
		if err := f.MergeCell("Sheet1", from, to); err != nil {
			t.Fatal(err)
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rosterRow is a data row in template order.
func rosterRow(number, head, address, grid, name, gender, relation, registered, party, phone, id string) []any {
	return []any{number, head, address, grid, name, gender, relation, registered, party, phone, id}
}

func mustImport(t testing.TB, s *people.Store, villageID int64, file []byte) people.RosterResult {
	t.Helper()
	res, err := s.ImportRoster(ctx, clerk, villageID, bytes.NewReader(file))
	if err != nil {
		t.Fatalf("import: %v (details %v)", err, apperr.From(err).Details)
	}
	return res
}

// mustRejected checks that err rejects a roster and returns its row errors.
func mustRejected(t testing.TB, err error) (string, []people.RowError) {
	t.Helper()
	ae := apperr.From(err)
	if ae == nil || ae.Code != apperr.CodeImportRejected {
		t.Fatalf("got %v, want %s", err, apperr.CodeImportRejected)
	}
	rows, ok := ae.Details.([]people.RowError)
	if !ok {
		t.Fatalf("details are %T, want []people.RowError", ae.Details)
	}
	for _, r := range rows {
		if r.Reason == "" {
			t.Errorf("row %d %s has no reason", r.Row, r.Column)
		}
	}
	return ae.Message, rows
}

// counts is what the tables that an import writes hold.
type counts struct{ residents, households, audit int64 }

func mustCounts(t testing.TB, db *gorm.DB) counts {
	t.Helper()
	return counts{mustCount(t, db, "residents"), mustCount(t, db, "households"), mustCount(t, db, "audit_log")}
}

// cellsOf keeps the row and column of row errors, for comparing.
func cellsOf(errs []people.RowError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, fmt.Sprintf("%d:%s", e.Row, e.Column))
	}
	return out
}

func TestImportRoster(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		s, vault := mustStore(t, db), mustVault(t)
		a, b := mustTree(t, s, "A"), mustTree(t, s, "B")
		h001 := mustHousehold(t, s, a.village.ID, people.HouseholdInput{Number: "001", HeadName: "张三", Address: "一组 1 号", GridID: &a.grid1.ID})
		mustResident(t, s, a.village.ID, people.ResidentInput{HouseholdID: &h001.ID, Name: "张三", Relation: "户主", IDNumber: idNumber(100)})
		// The same 户号 in another village is not a match.
		mustHousehold(t, s, b.village.ID, people.HouseholdInput{Number: "002"})

		// Columns in another order, spaced-out and starred headers, a title
		// row, an extra column, an empty row and a merged 户号 cell.
		file := mustXLSX(t, [][]any{
			{"阳光村花名册（2025 年）"},
			{" 姓 名 ", "户号", "性别", "*身份证号", "手机号码", "户主", "地址", "网格", "与户主关系", "户籍（是/否）", "党员", "备注"},
			{"李梅", "001", "女", idNumber(1), "138 1234 5678", "张三", "", "", "妻子", "是", "否", "新嫁入"},
			{" 张小明 ", "001", "男", strings.ToLower(idNumber(2)), "", "", "", "", "儿子", "", ""},
			nil,
			{"王五", "002", "男", idNumber(3), int64(13900001111), "王五", "二组 3 号", "AG2", "户主", "是", "是"},
			{"赵六", "", "女", idNumber(4), "", "", "", "", "妻子", "否", "否"},
			{"孙七", "003", "男", "", "", "孙七", "一组 7 号", "一组", "户主", "是", "否"},
		}, "A1:L1", "B6:B7")
		before := mustCounts(t, db)
		var res people.RosterResult
		e := mustOneAudit(t, db, func() { res = mustImport(t, s, a.village.ID, file) })
		if want := (people.RosterResult{HouseholdsCreated: 2, HouseholdsMatched: 1, ResidentsCreated: 5}); res != want {
			t.Errorf("result = %+v, want %+v", res, want)
		}
		if after := mustCounts(t, db); after.residents != before.residents+5 || after.households != before.households+2 {
			t.Errorf("counts %+v → %+v", before, after)
		}
		if e.Action != "roster.import" || e.TargetType != "village" || e.TargetID != a.village.ID || *e.VillageID != a.village.ID ||
			!strings.Contains(*e.AfterJSON, `"residents_created":5`) || !strings.Contains(*e.AfterJSON, `"households_matched":1`) {
			t.Errorf("audit = %+v %s", e, *e.AfterJSON)
		}

		var summary struct {
			ImportedAt time.Time `json:"imported_at"`
		}
		if err := json.Unmarshal([]byte(*e.AfterJSON), &summary); err != nil {
			t.Fatal(err)
		}
		var stamped int64
		db.Table("residents").Where("created_at = ?", summary.ImportedAt).Count(&stamped)
		if stamped != 5 {
			t.Errorf("%d residents carry the import's time %v, want 5", stamped, summary.ImportedAt)
		}

		households, _, _ := s.ListHouseholds(ctx, people.HouseholdFilter{VillageIDs: []int64{a.village.ID}}, 0, 10)
		byNumber := map[string]people.Household{}
		for _, h := range households {
			byNumber[h.Number] = h
		}
		if h := byNumber["001"]; h.ID != h001.ID || h.HeadName != "张三" || h.Address != "一组 1 号" {
			t.Errorf("matched household changed: %+v", h)
		}
		if h := byNumber["002"]; h.HeadName != "王五" || h.Address != "二组 3 号" || h.GridID == nil || *h.GridID != a.grid2.ID {
			t.Errorf("household 002 (grid by code) = %+v", h)
		}
		if h := byNumber["003"]; h.HeadName != "孙七" || h.GridID == nil || *h.GridID != a.grid1.ID {
			t.Errorf("household 003 (grid by name) = %+v", h)
		}

		list, _, _ := s.ListResidents(ctx, people.ResidentFilter{VillageIDs: []int64{a.village.ID}}, 0, 10)
		got := map[string]people.Resident{}
		for _, r := range list {
			got[r.Name] = r
		}
		type want struct {
			household         int64
			grid              int64
			relation          string
			registered, party bool
			phone, id         string
		}
		for name, w := range map[string]want{
			"李梅":  {h001.ID, a.grid1.ID, "妻子", true, false, "13812345678", idNumber(1)},
			"张小明": {h001.ID, a.grid1.ID, "儿子", true, false, "", idNumber(2)},
			"王五":  {byNumber["002"].ID, a.grid2.ID, "户主", true, true, "13900001111", idNumber(3)},
			"赵六":  {byNumber["002"].ID, a.grid2.ID, "妻子", false, false, "", idNumber(4)},
			"孙七":  {byNumber["003"].ID, a.grid1.ID, "户主", true, false, "", ""},
		} {
			r, ok := got[name]
			if !ok {
				t.Errorf("%s not imported", name)
				continue
			}
			if *r.HouseholdID != w.household || r.GridID == nil || *r.GridID != w.grid || r.Relation != w.relation || r.Registered != w.registered || r.PartyMember != w.party || r.Status != people.StatusActive {
				t.Errorf("%s = %+v, want %+v", name, r, w)
			}
			// Stored sealed, indexed for lookups, shown masked.
			if w.phone != "" && strings.Contains(r.PhoneEnc, w.phone[3:]) || w.id != "" && strings.Contains(r.IDNumberEnc, w.id[6:14]) {
				t.Errorf("%s: personal data stored in clear", name)
			}
			if p, _ := vault.Open(r.PhoneEnc); p != w.phone {
				t.Errorf("%s: phone opens to %q, want %q", name, p, w.phone)
			}
			if id, _ := vault.Open(r.IDNumberEnc); id != w.id || r.IDNumberIdx != vault.Index(w.id) {
				t.Errorf("%s: ID number opens to %q, want %q", name, id, w.id)
			}
			v := s.View(r)
			if w.phone != "" && v.Phone != w.phone[:3]+"****"+w.phone[7:] || w.id != "" && v.IDNumber != w.id[:3]+"***********"+w.id[14:] {
				t.Errorf("%s: view shows %q / %q", name, v.Phone, v.IDNumber)
			}
		}
		if found, _, _ := s.ListResidents(ctx, people.ResidentFilter{VillageIDs: []int64{a.village.ID}, Phone: "13812345678"}, 0, 10); len(found) != 1 || found[0].Name != "李梅" {
			t.Errorf("lookup by imported phone = %v", found)
		}
		if _, total, _ := s.ListHouseholds(ctx, people.HouseholdFilter{VillageIDs: []int64{b.village.ID}}, 0, 10); total != 1 {
			t.Errorf("the other village now has %d households", total)
		}

		// The same roster again: every ID number is now taken.
		_, rows := mustRejected(t, func() error { _, err := s.ImportRoster(ctx, clerk, a.village.ID, bytes.NewReader(file)); return err }())
		if len(rows) != 4 {
			t.Errorf("re-import: %v", rows)
		}
	})
}

func TestImportRosterRejectsBadRows(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := mustStore(t, db)
		a := mustTree(t, s, "A")
		mustHousehold(t, s, a.village.ID, people.HouseholdInput{Number: "001"})
		badID := idNumber(11)
		badID = badID[:17] + map[bool]string{true: "0", false: "1"}[badID[17] != '0']
		file := mustXLSX(t, [][]any{
			rosterHeader,
			rosterRow("001", "", "", "", "周一", "男", "", "是", "否", "13800000001", idNumber(10)),
			rosterRow("001", "", "", "", "周二", "男", "", "是", "否", "1380000", idNumber(13)),
			rosterRow("002", "吴二", "", "", "吴三", "男", "", "是", "否", "", badID),
			rosterRow("002", "吴二", "", "", " ", "男", "", "是", "否", "", idNumber(14)),
			rosterRow("002", "吴二", "", "", "吴二", "男", "户主", "是", "否", "", idNumber(12)),
			rosterRow("003", "", "", "", "郑四", "女", "", "是", "否", "", idNumber(10)),
			rosterRow("004", "", "", "九组", "冯五", "女", "", "是", "否", "", ""),
		})
		before := mustCounts(t, db)
		_, err := s.ImportRoster(ctx, clerk, a.village.ID, bytes.NewReader(file))
		msg, rows := mustRejected(t, err)
		want := []string{"3:手机号", "4:身份证号", "5:姓名", "7:身份证号", "8:网格"}
		if got := cellsOf(rows); !reflect.DeepEqual(got, want) {
			t.Errorf("bad cells %v, want %v", got, want)
		}
		if msg != "花名册有 5 行错误，未导入任何数据" {
			t.Errorf("message %q", msg)
		}
		if len(rows) == 5 && !strings.Contains(rows[3].Reason, "第 2 行") {
			t.Errorf("a duplicate must name the first row: %q", rows[3].Reason)
		}
		if after := mustCounts(t, db); after != before {
			t.Errorf("a rejected roster wrote: %+v → %+v", before, after)
		}
	})
}

func TestImportRosterRowChecks(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := mustStore(t, db)
		a := mustTree(t, s, "A")
		h := mustHousehold(t, s, a.village.ID, people.HouseholdInput{Number: "001", HeadName: "张三", Address: "一组 1 号", GridID: &a.grid1.ID})
		mustResident(t, s, a.village.ID, people.ResidentInput{HouseholdID: &h.ID, Name: "张三", IDNumber: idNumber(1)})
		mustRegion(t, s, &a.village, people.Grid, "三组", "AG3a")
		mustRegion(t, s, &a.village, people.Grid, "三组", "AG3b")
		ok := func(number, name, id string) []any {
			return rosterRow(number, "", "", "", name, "", "", "", "", "", id)
		}
		cases := []struct {
			name   string
			rows   [][]any
			want   []string
			reason string // part of the first error's reason
		}{
			{"ID number already in the village", [][]any{ok("009", "李四", idNumber(1))}, []string{"2:身份证号"}, "本村已有"},
			{"two heads for one household", [][]any{
				rosterRow("009", "李四", "", "", "李四", "", "", "", "", "", ""),
				rosterRow("009", "李五", "", "", "李五", "", "", "", "", "", ""),
			}, []string{"3:户主"}, "第 2 行"},
			{"two grids for one household", [][]any{
				rosterRow("009", "", "", "一组", "李四", "", "", "", "", "", ""),
				rosterRow("009", "", "", "AG2", "李五", "", "", "", "", "", ""),
			}, []string{"3:网格"}, "第 2 行"},
			{"same grid by name and by code", [][]any{
				rosterRow("009", "", "", "一组", "李四", "", "", "", "", "", ""),
				rosterRow("009", "", "", "AG1", "李五", "", "", "", "", "", ""),
			}, nil, ""},
			{"existing household with another address", [][]any{rosterRow("001", "张三", "二组 9 号", "", "张四", "", "", "", "", "", "")}, []string{"2:地址"}, "不会修改"},
			{"existing household with another grid", [][]any{rosterRow("001", "", "", "二组", "张四", "", "", "", "", "", "")}, []string{"2:网格"}, "不会修改"},
			{"ambiguous grid name", [][]any{rosterRow("009", "", "", "三组", "李四", "", "", "", "", "", "")}, []string{"2:网格"}, "网格编码"},
			{"yes/no columns", [][]any{rosterRow("009", "", "", "", "李四", "", "", "有", "Y", "", "")}, []string{"2:户籍", "2:党员"}, "是"},
			{"ID number Excel turned into a number", [][]any{
				{"009", "", "", "", "李四", "", "", "", "", "", 110105194912310021},
			}, []string{"2:身份证号"}, "文本"},
			{"every bad cell of a row", [][]any{
				rosterRow("", strings.Repeat("长", 33), "", "", "李四", "M", strings.Repeat("关", 17), "", "", "123", "123"),
			}, []string{"2:户号", "2:户主", "2:性别", "2:与户主关系", "2:手机号", "2:身份证号"}, "户号"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := mustCounts(t, db)
				_, err := s.ImportRoster(ctx, clerk, a.village.ID, bytes.NewReader(mustXLSX(t, append([][]any{rosterHeader}, c.rows...))))
				if c.want == nil {
					if err != nil {
						t.Fatalf("got %v (%v)", err, apperr.From(err).Details)
					}
					return
				}
				_, rows := mustRejected(t, err)
				if got := cellsOf(rows); !reflect.DeepEqual(got, c.want) {
					t.Fatalf("bad cells %v, want %v (%v)", got, c.want, rows)
				}
				if !strings.Contains(rows[0].Reason, c.reason) {
					t.Errorf("reason %q does not say %q", rows[0].Reason, c.reason)
				}
				if after := mustCounts(t, db); after != before {
					t.Errorf("a rejected roster wrote: %+v → %+v", before, after)
				}
			})
		}
	})
}

func TestImportRosterRejectsFiles(t *testing.T) {
	many := [][]any{rosterHeader}
	for i := range people.RosterMaxRows + 1 {
		many = append(many, rosterRow(fmt.Sprint(i), "", "", "", "李四", "", "", "", "", "", ""))
	}
	tooMany := mustXLSX(t, many)
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := mustStore(t, db)
		a := mustTree(t, s, "A")
		valid := rosterRow("001", "", "", "", "李四", "", "", "", "", "", "")
		withoutID := slicesWithout(rosterHeader, "身份证号", "党员")
		cases := []struct {
			name    string
			file    []byte
			village int64
			code    apperr.Code
			says    string
		}{
			{"not a workbook", []byte("户号,姓名\n001,李四\n"), a.village.ID, apperr.CodeInvalid, ".xlsx"},
			{"empty upload", nil, a.village.ID, apperr.CodeInvalid, ".xlsx"},
			{"missing headers", mustXLSX(t, [][]any{withoutID, valid[:9]}), a.village.ID, apperr.CodeInvalid, "缺少表头：党员、身份证号"},
			{"a header naming only two columns", mustXLSX(t, [][]any{{"户号", "姓名", "备注"}, {"001", "李四"}}), a.village.ID, apperr.CodeInvalid, "缺少表头：户主、地址、性别"},
			{"too many merged cells", mustMerges(t, mustXLSX(t, [][]any{rosterHeader, valid}), 10001), a.village.ID, apperr.CodeInvalid, "合并单元格过多"},
			{"no header at all", mustXLSX(t, [][]any{{"张三", "李四"}}), a.village.ID, apperr.CodeInvalid, "没有找到表头"},
			{"header twice", mustXLSX(t, [][]any{append(append([]any{}, rosterHeader...), "姓名"), valid}), a.village.ID, apperr.CodeInvalid, "“姓名”出现了两次"},
			{"header only", mustXLSX(t, [][]any{rosterHeader}), a.village.ID, apperr.CodeInvalid, "没有村民数据"},
			{"too many rows", tooMany, a.village.ID, apperr.CodeTooLarge, "5000"},
			{"unknown village", mustXLSX(t, [][]any{rosterHeader, valid}), 999999, apperr.CodeNotFound, "村"},
			{"a township is no village", mustXLSX(t, [][]any{rosterHeader, valid}), a.township.ID, apperr.CodeNotFound, "村"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := mustCounts(t, db)
				_, err := s.ImportRoster(ctx, clerk, c.village, bytes.NewReader(c.file))
				if ae := apperr.From(err); ae == nil || ae.Code != c.code || !strings.Contains(ae.Message, c.says) {
					t.Fatalf("got %v, want %s saying %q", err, c.code, c.says)
				}
				if after := mustCounts(t, db); after != before {
					t.Errorf("a refused roster wrote: %+v → %+v", before, after)
				}
			})
		}
	})
}

// mustMerges adds n merged ranges to the first sheet of an xlsx file by
// editing its XML, as a crafted upload would; building them with excelize
// would take as long as the overlap check the importer must avoid.
func mustMerges(t testing.TB, file []byte, n int) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	var m strings.Builder
	fmt.Fprintf(&m, `</sheetData><mergeCells count="%d">`, n)
	for i := range n {
		fmt.Fprintf(&m, `<mergeCell ref="M%d:N%d"/>`, i+1, i+1)
	}
	m.WriteString("</mergeCells>")
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if zf.Name == "xl/worksheets/sheet1.xml" {
			b = bytes.Replace(b, []byte("</sheetData>"), []byte(m.String()), 1)
		}
		w, err := zw.Create(zf.Name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func slicesWithout(row []any, drop ...string) []any {
	var out []any
	for _, v := range row {
		keep := true
		for _, d := range drop {
			keep = keep && v != d
		}
		if keep {
			out = append(out, v)
		}
	}
	return out
}

func TestImportRosterCapsErrors(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := mustStore(t, db)
		a := mustTree(t, s, "A")
		rows := [][]any{rosterHeader}
		for i := range 250 {
			rows = append(rows, rosterRow(fmt.Sprint(i), "", "", "", "李四", "", "", "", "", "12345", ""))
		}
		_, err := s.ImportRoster(ctx, clerk, a.village.ID, bytes.NewReader(mustXLSX(t, rows)))
		msg, errs := mustRejected(t, err)
		if len(errs) != 200 || errs[0].Row != 2 || errs[199].Row != 201 {
			t.Errorf("%d errors listed, rows %d…%d", len(errs), errs[0].Row, errs[len(errs)-1].Row)
		}
		if !strings.Contains(msg, "250 行错误") || !strings.Contains(msg, "共 250 处") {
			t.Errorf("message %q must give the full count", msg)
		}
	})
}

func TestRosterTemplateImports(t *testing.T) {
	tpl, err := people.RosterTemplate()
	if err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(tpl))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.GetRows(f.GetSheetList()[0])
	if err != nil || len(rows) != 2 {
		t.Fatalf("template rows = %v, %v", rows, err)
	}
	for i, h := range rosterHeader {
		if rows[0][i] != h {
			t.Errorf("template column %d is %q, want %q", i+1, rows[0][i], h)
		}
	}
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := mustStore(t, db)
		a := mustTree(t, s, "A")
		res := mustImport(t, s, a.village.ID, tpl)
		if res != (people.RosterResult{HouseholdsCreated: 1, ResidentsCreated: 1}) {
			t.Errorf("the template's example row imports as %+v", res)
		}
	})
}

// BenchmarkImportRoster3000 imports a 3000-resident roster (1000
// households, three members each) into a fresh village per iteration.
func BenchmarkImportRoster3000(b *testing.B) {
	rows := [][]any{rosterHeader}
	for i := range 3000 {
		hh := i / 3
		rows = append(rows, rosterRow(fmt.Sprintf("%04d", hh), fmt.Sprintf("户主%d", hh), fmt.Sprintf("%d 号", hh), []string{"一组", "二组"}[hh%2],
			fmt.Sprintf("村民%d", i), []string{"男", "女"}[i%2], []string{"户主", "配偶", "子女"}[i%3], "是", "否",
			fmt.Sprintf("138%08d", i), idNumber(i)))
	}
	file := mustXLSX(b, rows)
	b.Logf("roster file: %d KB", len(file)/1024)
	for _, backend := range sqltest.Names() {
		b.Run(backend, func(b *testing.B) {
			db := sqltest.MustOpen(b, backend)
			s := mustStore(b, db)
			county := mustRegion(b, s, nil, people.County, "县", "C")
			township := mustRegion(b, s, &county, people.Township, "镇", "T")
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				village := mustRegion(b, s, &township, people.Village, "村", fmt.Sprintf("V%d", i))
				mustRegion(b, s, &village, people.Grid, "一组", fmt.Sprintf("V%dG1", i))
				mustRegion(b, s, &village, people.Grid, "二组", fmt.Sprintf("V%dG2", i))
				b.StartTimer()
				res := mustImport(b, s, village.ID, file)
				if res.ResidentsCreated != 3000 || res.HouseholdsCreated != 1000 {
					b.Fatalf("result %+v", res)
				}
			}
		})
	}
}
