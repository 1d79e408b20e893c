package people_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
)

var (
	ctx   = context.Background()
	clerk = audit.Actor{StaffID: 7, Name: "王社工", RequestID: "req-1", IP: "10.0.0.1"}
)

// mustVault returns the vault every test store seals personal data with.
func mustVault(t testing.TB) *pii.Vault {
	t.Helper()
	v, err := pii.NewVault([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustStore(t testing.TB, db *gorm.DB) *people.Store {
	t.Helper()
	return people.NewStore(db, mustVault(t))
}

func mustRegion(t testing.TB, s *people.Store, parent *people.Region, level people.Level, name, code string) people.Region {
	t.Helper()
	in := people.RegionInput{Level: level, Name: name, Code: code}
	if parent != nil {
		in.ParentID = &parent.ID
	}
	r, err := s.CreateRegion(ctx, clerk, in)
	if err != nil {
		t.Fatalf("create %s %s: %v", level, code, err)
	}
	return r
}

// tree is a county with one township, one village and two grids.
type tree struct {
	county, township, village, grid1, grid2 people.Region
}

// mustTree builds a tree whose codes start with prefix, so one test can
// build several.
func mustTree(t testing.TB, s *people.Store, prefix string) tree {
	t.Helper()
	var tr tree
	tr.county = mustRegion(t, s, nil, people.County, prefix+"县", prefix+"C")
	tr.township = mustRegion(t, s, &tr.county, people.Township, prefix+"镇", prefix+"T")
	tr.village = mustRegion(t, s, &tr.township, people.Village, prefix+"村", prefix+"V")
	tr.grid1 = mustRegion(t, s, &tr.village, people.Grid, "一组", prefix+"G1")
	tr.grid2 = mustRegion(t, s, &tr.village, people.Grid, "二组", prefix+"G2")
	return tr
}

func mustHousehold(t testing.TB, s *people.Store, villageID int64, in people.HouseholdInput) people.Household {
	t.Helper()
	h, err := s.CreateHousehold(ctx, clerk, villageID, in)
	if err != nil {
		t.Fatalf("create household %s: %v", in.Number, err)
	}
	return h
}

func mustResident(t testing.TB, s *people.Store, villageID int64, in people.ResidentInput) people.Resident {
	t.Helper()
	r, err := s.CreateResident(ctx, clerk, villageID, in)
	if err != nil {
		t.Fatalf("create resident %s: %v", in.Name, err)
	}
	return r
}

func mustCount(t testing.TB, db *gorm.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := db.Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// mustOneAudit runs write and checks that it left exactly one audit row by
// clerk, which it returns.
func mustOneAudit(t testing.TB, db *gorm.DB, write func()) audit.Entry {
	t.Helper()
	var last int64
	db.Model(&audit.Entry{}).Select("COALESCE(MAX(id), 0)").Scan(&last)
	write()
	var got []audit.Entry
	if err := db.Where("id > ?", last).Find(&got).Error; err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("write left %d audit rows, want 1", len(got))
	}
	e := got[0]
	if e.ActorID != clerk.StaffID || e.ActorName != clerk.Name || e.RequestID != clerk.RequestID || e.IP != clerk.IP {
		t.Errorf("audit actor = %d %q %q %q, want the clerk", e.ActorID, e.ActorName, e.RequestID, e.IP)
	}
	return e
}

// mustNoAudit runs a write that must fail and checks that it left no audit row.
func mustNoAudit(t testing.TB, db *gorm.DB, write func()) {
	t.Helper()
	before := mustCount(t, db, "audit_log")
	write()
	if after := mustCount(t, db, "audit_log"); after != before {
		t.Fatalf("a refused write left %d audit rows", after-before)
	}
}

func wantCode(t testing.TB, err error, code apperr.Code) {
	t.Helper()
	if !apperr.Is(err, code) {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func wantInvalid(t testing.TB, err error, field string) {
	t.Helper()
	wantCode(t, err, apperr.CodeInvalid)
	if ae := apperr.From(err); ae.Field != field {
		t.Fatalf("invalid field %q, want %q (%v)", ae.Field, field, err)
	}
}

// idNumber returns a valid, distinct 18-character ID number for each seq.
func idNumber(seq int) string {
	body := fmt.Sprintf("110105%04d0101%03d", 1950+seq/1000, seq%1000)
	weights := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(body[i]-'0') * w
	}
	return body + string("10X98765432"[sum%11])
}

func TestIDNumberHelperIsValid(t *testing.T) {
	seen := map[string]bool{}
	for i := range 6000 {
		id := idNumber(i)
		if _, ok := pii.NormalizeIDNumber(id); !ok || seen[id] {
			t.Fatalf("idNumber(%d) = %s: invalid or repeated", i, id)
		}
		seen[id] = true
	}
}

func TestRegionTree(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := mustStore(t, db)
		var county people.Region
		e := mustOneAudit(t, db, func() { county = mustRegion(t, s, nil, people.County, " 甲县 ", "C1") })
		if county.Name != "甲县" || county.Path != fmt.Sprintf("/%d/", county.ID) || county.ParentID != nil {
			t.Errorf("county = %+v", county)
		}
		if e.Action != "region.create" || e.TargetID != county.ID || e.VillageID != nil || e.BeforeJSON != nil || e.AfterJSON == nil {
			t.Errorf("county audit = %+v", e)
		}
		township := mustRegion(t, s, &county, people.Township, "乙镇", "T1")
		var village people.Region
		e = mustOneAudit(t, db, func() { village = mustRegion(t, s, &township, people.Village, "丙村", "V1") })
		if e.VillageID == nil || *e.VillageID != village.ID {
			t.Errorf("a village's creation is logged under the village, got %v", e.VillageID)
		}
		var grid people.Region
		e = mustOneAudit(t, db, func() { grid = mustRegion(t, s, &village, people.Grid, "一组", "G1") })
		if e.VillageID == nil || *e.VillageID != village.ID {
			t.Errorf("a grid's creation is logged under its village, got %v", e.VillageID)
		}
		want := fmt.Sprintf("/%d/%d/%d/%d/", county.ID, township.ID, village.ID, grid.ID)
		if grid.Path != want {
			t.Errorf("grid path %q, want %q", grid.Path, want)
		}
		if got, err := s.Region(ctx, grid.ID); err != nil || got.Path != want {
			t.Errorf("stored grid = %+v, %v", got, err)
		}

		missing := int64(999999)
		refused := []struct {
			name   string
			in     people.RegionInput
			code   apperr.Code
			field  string
			parent *people.Region
		}{
			{"county under a county", people.RegionInput{Level: people.County, Name: "x", Code: "X1"}, apperr.CodeInvalid, "parent_id", &county},
			{"township without parent", people.RegionInput{Level: people.Township, Name: "x", Code: "X2"}, apperr.CodeInvalid, "parent_id", nil},
			{"village under county", people.RegionInput{Level: people.Village, Name: "x", Code: "X3"}, apperr.CodeInvalid, "level", &county},
			{"grid under township", people.RegionInput{Level: people.Grid, Name: "x", Code: "X4"}, apperr.CodeInvalid, "level", &township},
			{"township under village", people.RegionInput{Level: people.Township, Name: "x", Code: "X5"}, apperr.CodeInvalid, "level", &village},
			{"anything under a grid", people.RegionInput{Level: people.Grid, Name: "x", Code: "X6"}, apperr.CodeInvalid, "level", &grid},
			{"empty name", people.RegionInput{Level: people.Grid, Name: "  ", Code: "X7"}, apperr.CodeInvalid, "name", &village},
			{"empty code", people.RegionInput{Level: people.Grid, Name: "x", Code: " "}, apperr.CodeInvalid, "code", &village},
			{"code too long", people.RegionInput{Level: people.Grid, Name: "x", Code: strings.Repeat("9", 33)}, apperr.CodeInvalid, "code", &village},
			{"duplicate code", people.RegionInput{Level: people.Grid, Name: "二组", Code: "G1"}, apperr.CodeConflict, "", &village},
			{"duplicate code at another level", people.RegionInput{Level: people.County, Name: "丁县", Code: "V1"}, apperr.CodeConflict, "", nil},
			{"missing parent", people.RegionInput{Level: people.Grid, Name: "x", Code: "X8", ParentID: &missing}, apperr.CodeNotFound, "", nil},
		}
		for _, c := range refused {
			if c.parent != nil {
				c.in.ParentID = &c.parent.ID
			}
			mustNoAudit(t, db, func() {
				_, err := s.CreateRegion(ctx, clerk, c.in)
				if !apperr.Is(err, c.code) || apperr.From(err).Field != c.field {
					t.Errorf("%s: got %v, want %s on %q", c.name, err, c.code, c.field)
				}
			})
		}
		if n := mustCount(t, db, "regions"); n != 4 {
			t.Errorf("%d regions stored, want the 4 accepted ones", n)
		}
	})
}

func TestVillagesUnder(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := mustStore(t, db)
		county := mustRegion(t, s, nil, people.County, "甲县", "C")
		t1 := mustRegion(t, s, &county, people.Township, "一镇", "T1")
		t0 := mustRegion(t, s, &county, people.Township, "零镇", "T0")
		var v0 []int64
		for i := 0; ; i++ {
			v0 = append(v0, mustRegion(t, s, &t0, people.Village, "村", fmt.Sprintf("T0V%d", i)).ID)
			if v0[i]+1 == t1.ID*10 {
				break
			}
		}
		// t2's id starts with t1's digits (2 and 20), so a path match that
		// forgot the closing slash would put t2's villages under t1.
		t2 := mustRegion(t, s, &county, people.Township, "二镇", "T2")
		if !strings.HasPrefix(fmt.Sprint(t2.ID), fmt.Sprint(t1.ID)) {
			t.Fatalf("ids %d and %d do not share a prefix", t1.ID, t2.ID)
		}
		var v1, v2 []int64
		for i := range 3 {
			v1 = append(v1, mustRegion(t, s, &t1, people.Village, "村", fmt.Sprintf("T1V%d", i)).ID)
			v2 = append(v2, mustRegion(t, s, &t2, people.Village, "村", fmt.Sprintf("T2V%d", i)).ID)
		}
		v1r, _ := s.Region(ctx, v1[0])
		grid := mustRegion(t, s, &v1r, people.Grid, "一组", "G")
		other := mustRegion(t, s, nil, people.County, "乙县", "C2")

		all := slices.Concat(v0, v1, v2)
		cases := []struct {
			name    string
			regions []int64
			want    []int64
		}{
			{"county", []int64{county.ID}, all},
			{"township", []int64{t1.ID}, v1},
			{"other township", []int64{t2.ID}, v2},
			{"village", []int64{v2[2]}, []int64{v2[2]}},
			{"village and its township", []int64{v1[1], t1.ID}, v1},
			{"two villages", []int64{v1[2], v2[0]}, []int64{v1[2], v2[0]}},
			{"grid has no villages", []int64{grid.ID}, nil},
			{"empty county", []int64{other.ID}, nil},
			{"unknown region", []int64{999999}, nil},
			{"nothing", nil, nil},
		}
		for _, c := range cases {
			got, err := s.VillagesUnder(ctx, c.regions)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(c.want)
			slices.Sort(want)
			if len(got) != 0 || len(want) != 0 {
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: got %v, want %v", c.name, got, want)
				}
			}
		}

		grids, err := s.ListRegions(ctx, []int64{v1[0]}, people.Grid)
		if err != nil || len(grids) != 1 || grids[0].ID != grid.ID {
			t.Errorf("ListRegions grid = %v, %v", grids, err)
		}
		villages, err := s.ListRegions(ctx, v1, people.Village)
		if err != nil || len(villages) != len(v1) {
			t.Errorf("ListRegions village = %v, %v", villages, err)
		}
		_, err = s.ListRegions(ctx, v1, people.County)
		wantInvalid(t, err, "level")
	})
}

func TestHouseholds(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := mustStore(t, db)
		a, b := mustTree(t, s, "A"), mustTree(t, s, "B")
		var h people.Household
		e := mustOneAudit(t, db, func() {
			h = mustHousehold(t, s, a.village.ID, people.HouseholdInput{GridID: &a.grid1.ID, Number: " 001 ", Address: " 一组 1 号 ", HeadName: " 张三 "})
		})
		if h.Number != "001" || h.Address != "一组 1 号" || h.HeadName != "张三" || h.VillageID != a.village.ID || *h.GridID != a.grid1.ID {
			t.Errorf("household = %+v", h)
		}
		if e.Action != "household.create" || e.TargetID != h.ID || *e.VillageID != a.village.ID || e.BeforeJSON != nil || !strings.Contains(*e.AfterJSON, `"number":"001"`) {
			t.Errorf("create audit = %+v", e)
		}
		mustNoAudit(t, db, func() {
			_, err := s.CreateHousehold(ctx, clerk, a.village.ID, people.HouseholdInput{Number: "001"})
			wantCode(t, err, apperr.CodeConflict)
			_, err = s.CreateHousehold(ctx, clerk, a.village.ID, people.HouseholdInput{Number: " "})
			wantInvalid(t, err, "number")
			_, err = s.CreateHousehold(ctx, clerk, a.village.ID, people.HouseholdInput{Number: "002", Address: strings.Repeat("路", 121)})
			wantInvalid(t, err, "address")
			_, err = s.CreateHousehold(ctx, clerk, a.village.ID, people.HouseholdInput{Number: "002", GridID: &b.grid1.ID})
			wantInvalid(t, err, "grid_id")
			_, err = s.CreateHousehold(ctx, clerk, a.village.ID, people.HouseholdInput{Number: "002", GridID: &a.village.ID})
			wantInvalid(t, err, "grid_id")
		})
		// The same number in another village is another household.
		other := mustHousehold(t, s, b.village.ID, people.HouseholdInput{Number: "001"})
		h2 := mustHousehold(t, s, a.village.ID, people.HouseholdInput{Number: "002"})

		var updated people.Household
		e = mustOneAudit(t, db, func() {
			var err error
			updated, err = s.UpdateHousehold(ctx, clerk, h.ID, people.HouseholdInput{GridID: &a.grid2.ID, Number: "001", Address: "二组 9 号", HeadName: "张四"})
			if err != nil {
				t.Fatal(err)
			}
		})
		if updated.HeadName != "张四" || *updated.GridID != a.grid2.ID || updated.UpdatedAt.Before(h.UpdatedAt) {
			t.Errorf("updated = %+v", updated)
		}
		if e.Action != "household.update" || e.BeforeJSON == nil || !strings.Contains(*e.BeforeJSON, `"head_name":"张三"`) || !strings.Contains(*e.AfterJSON, `"head_name":"张四"`) {
			t.Errorf("update audit = %+v", e)
		}
		if got, _ := s.Household(ctx, h.ID); got.Address != "二组 9 号" {
			t.Errorf("stored household = %+v", got)
		}
		mustNoAudit(t, db, func() {
			_, err := s.UpdateHousehold(ctx, clerk, h2.ID, people.HouseholdInput{Number: "001"})
			wantCode(t, err, apperr.CodeConflict)
			_, err = s.UpdateHousehold(ctx, clerk, other.ID, people.HouseholdInput{Number: "001", GridID: &a.grid1.ID})
			wantInvalid(t, err, "grid_id")
			_, err = s.UpdateHousehold(ctx, clerk, 999999, people.HouseholdInput{Number: "009"})
			wantCode(t, err, apperr.CodeNotFound)
		})
		if _, err := s.Household(ctx, 999999); err != people.ErrNotFound {
			t.Errorf("missing household: %v", err)
		}

		list, total, err := s.ListHouseholds(ctx, people.HouseholdFilter{VillageIDs: []int64{a.village.ID}, Query: "张"}, 0, 10)
		if err != nil || total != 1 || list[0].ID != h.ID {
			t.Errorf("query 张 = %v (%d), %v", list, total, err)
		}
		_, total, _ = s.ListHouseholds(ctx, people.HouseholdFilter{VillageIDs: []int64{a.village.ID, b.village.ID}}, 0, 10)
		if total != 3 {
			t.Errorf("two villages hold %d households, want 3", total)
		}
		_, total, _ = s.ListHouseholds(ctx, people.HouseholdFilter{VillageIDs: []int64{a.village.ID}, Query: "%"}, 0, 10)
		if total != 0 {
			t.Errorf("a %% in the query must match literally, matched %d", total)
		}
		_, total, _ = s.ListHouseholds(ctx, people.HouseholdFilter{}, 0, 10)
		if total != 0 {
			t.Errorf("no villages must mean no households, got %d", total)
		}
	})
}

func TestResidents(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		s, vault := mustStore(t, db), mustVault(t)
		a, b := mustTree(t, s, "A"), mustTree(t, s, "B")
		h := mustHousehold(t, s, a.village.ID, people.HouseholdInput{Number: "001", HeadName: "张小三"})
		hb := mustHousehold(t, s, b.village.ID, people.HouseholdInput{Number: "001"})
		id1, id2 := idNumber(1), idNumber(2)

		var r people.Resident
		e := mustOneAudit(t, db, func() {
			r = mustResident(t, s, a.village.ID, people.ResidentInput{
				HouseholdID: &h.ID, GridID: &a.grid1.ID, Name: " 张小三 ", Gender: "男", Relation: "户主",
				Registered: true, PartyMember: true, Phone: "+86 138-1234-5678", IDNumber: strings.ToLower(id1),
			})
		})
		if r.Name != "张小三" || r.Status != people.StatusActive || r.VillageID != a.village.ID {
			t.Errorf("resident = %+v", r)
		}
		// Personal data is sealed at rest and masked when shown.
		var raw struct{ PhoneEnc, IDNumberEnc string }
		db.Table("residents").Select("phone_enc, id_number_enc").Where("id = ?", r.ID).Scan(&raw)
		if strings.Contains(raw.PhoneEnc, "5678") || strings.Contains(raw.IDNumberEnc, id1[6:14]) {
			t.Errorf("personal data stored in clear: %+v", raw)
		}
		if p, err := vault.Open(raw.PhoneEnc); err != nil || p != "13812345678" {
			t.Errorf("phone opens to %q, %v", p, err)
		}
		if id, err := vault.Open(raw.IDNumberEnc); err != nil || id != id1 {
			t.Errorf("ID number opens to %q, %v", id, err)
		}
		v := s.View(r)
		if v.Phone != "138****5678" || v.IDNumber != pii.MaskIDNumber(id1) {
			t.Errorf("view = %+v", v)
		}
		if e.Action != "resident.create" || e.BeforeJSON != nil || strings.Contains(*e.AfterJSON, "13812345678") || !strings.Contains(*e.AfterJSON, "138****5678") {
			t.Errorf("create audit must hold the masked view: %+v", *e.AfterJSON)
		}

		mustNoAudit(t, db, func() {
			_, err := s.CreateResident(ctx, clerk, a.village.ID, people.ResidentInput{Name: "李四", IDNumber: id1})
			wantInvalid(t, err, "id_number")
			_, err = s.CreateResident(ctx, clerk, a.village.ID, people.ResidentInput{Name: "李四", HouseholdID: &hb.ID})
			wantInvalid(t, err, "household_id")
			_, err = s.CreateResident(ctx, clerk, a.village.ID, people.ResidentInput{Name: "李四", GridID: &b.grid1.ID})
			wantInvalid(t, err, "grid_id")
			_, err = s.CreateResident(ctx, clerk, a.village.ID, people.ResidentInput{Name: "", Phone: "1"})
			wantInvalid(t, err, "name")
			_, err = s.CreateResident(ctx, clerk, a.village.ID, people.ResidentInput{Name: "李四", Phone: "12345"})
			wantInvalid(t, err, "phone")
			_, err = s.CreateResident(ctx, clerk, a.village.ID, people.ResidentInput{Name: "李四", Gender: "未知"})
			wantInvalid(t, err, "gender")
			_, err = s.CreateResident(ctx, clerk, a.village.ID, people.ResidentInput{Name: "李四", IDNumber: id1[:17] + "0"})
			wantInvalid(t, err, "id_number")
			_, err = s.CreateResident(ctx, clerk, a.village.ID, people.ResidentInput{Name: "李四", Status: "gone"})
			wantInvalid(t, err, "status")
		})
		// ID numbers are unique per village, not across villages.
		mustResident(t, s, b.village.ID, people.ResidentInput{Name: "张小三", IDNumber: id1})
		r2 := mustResident(t, s, a.village.ID, people.ResidentInput{Name: "李四", IDNumber: id2})

		// An update that leaves phone and ID number empty keeps them: staff
		// only ever see them masked and cannot send them back.
		var u people.Resident
		e = mustOneAudit(t, db, func() {
			var err error
			u, err = s.UpdateResident(ctx, clerk, r.ID, people.ResidentInput{HouseholdID: &h.ID, Name: "张小三", Gender: "男", Relation: "户主", Registered: true, Status: people.StatusMovedOut})
			if err != nil {
				t.Fatal(err)
			}
		})
		if u.PartyMember || u.Status != people.StatusMovedOut || u.GridID != nil {
			t.Errorf("updated = %+v", u)
		}
		if v := s.View(u); v.Phone != "138****5678" || v.IDNumber != pii.MaskIDNumber(id1) {
			t.Errorf("update without phone/ID lost them: %+v", v)
		}
		if e.Action != "resident.update" || e.BeforeJSON == nil || !strings.Contains(*e.BeforeJSON, `"party_member":true`) || !strings.Contains(*e.AfterJSON, `"status":"moved_out"`) {
			t.Errorf("update audit = %+v", e)
		}
		stored, err := s.Resident(ctx, r.ID)
		if err != nil || stored.PhoneIdx != vault.Index("13812345678") || stored.IDNumberIdx != vault.Index(id1) {
			t.Errorf("stored after update = %+v, %v", stored, err)
		}
		u, err = s.UpdateResident(ctx, clerk, r.ID, people.ResidentInput{Name: "张小三", Phone: "13900001111", IDNumber: id1})
		if err != nil || s.View(u).Phone != "139****1111" {
			t.Errorf("a new phone replaces the old: %+v, %v", s.View(u), err)
		}
		mustNoAudit(t, db, func() {
			_, err := s.UpdateResident(ctx, clerk, r2.ID, people.ResidentInput{Name: "李四", IDNumber: id1})
			wantInvalid(t, err, "id_number")
			_, err = s.UpdateResident(ctx, clerk, r2.ID, people.ResidentInput{Name: "李四", HouseholdID: &hb.ID})
			wantInvalid(t, err, "household_id")
			_, err = s.UpdateResident(ctx, clerk, 999999, people.ResidentInput{Name: "李四"})
			wantCode(t, err, apperr.CodeNotFound)
		})
		if _, err := s.Resident(ctx, 999999); err != people.ErrNotFound {
			t.Errorf("missing resident: %v", err)
		}
	})
}

func TestListResidents(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := mustStore(t, db)
		a, b := mustTree(t, s, "A"), mustTree(t, s, "B")
		h1 := mustHousehold(t, s, a.village.ID, people.HouseholdInput{Number: "001"})
		h2 := mustHousehold(t, s, a.village.ID, people.HouseholdInput{Number: "002"})
		yes, no := true, false
		add := func(village int64, in people.ResidentInput) int64 {
			return mustResident(t, s, village, in).ID
		}
		zhang := add(a.village.ID, people.ResidentInput{HouseholdID: &h1.ID, GridID: &a.grid1.ID, Name: "张三", Registered: true, PartyMember: true, Phone: "13812345678"})
		zhangWife := add(a.village.ID, people.ResidentInput{HouseholdID: &h1.ID, GridID: &a.grid1.ID, Name: "王芳", Registered: true, Phone: "13900000000"})
		li := add(a.village.ID, people.ResidentInput{HouseholdID: &h2.ID, GridID: &a.grid2.ID, Name: "李四_一", Registered: false})
		gone := add(a.village.ID, people.ResidentInput{Name: "张老三", Registered: true, Status: people.StatusDeceased})
		add(b.village.ID, people.ResidentInput{Name: "张三", Registered: true, Phone: "13812345678"})

		cases := []struct {
			name string
			f    people.ResidentFilter
			want []int64
		}{
			{"village", people.ResidentFilter{}, []int64{zhang, zhangWife, li, gone}},
			{"household", people.ResidentFilter{HouseholdID: h1.ID}, []int64{zhang, zhangWife}},
			{"grid", people.ResidentFilter{GridID: a.grid2.ID}, []int64{li}},
			{"party members", people.ResidentFilter{PartyMember: &yes}, []int64{zhang}},
			{"not party members", people.ResidentFilter{PartyMember: &no}, []int64{zhangWife, li, gone}},
			{"non-registered", people.ResidentFilter{Registered: &no}, []int64{li}},
			{"status", people.ResidentFilter{Status: people.StatusDeceased}, []int64{gone}},
			{"name substring", people.ResidentFilter{Name: "三"}, []int64{zhang, gone}},
			{"name with a LIKE wildcard", people.ResidentFilter{Name: "_"}, []int64{li}},
			{"exact phone", people.ResidentFilter{Phone: "13812345678"}, []int64{zhang}},
			{"phone as typed", people.ResidentFilter{Phone: "+86 139-0000-0000"}, []int64{zhangWife}},
			{"partial phone matches nothing", people.ResidentFilter{Phone: "138"}, nil},
			{"blank phone matches nothing", people.ResidentFilter{Phone: " - "}, nil},
			{"phone and name", people.ResidentFilter{Phone: "13812345678", Name: "王"}, nil},
		}
		for _, c := range cases {
			c.f.VillageIDs = []int64{a.village.ID}
			list, total, err := s.ListResidents(ctx, c.f, 0, 50)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			var got []int64
			for _, r := range list {
				got = append(got, r.ID)
			}
			if !slices.Equal(got, c.want) || int(total) != len(c.want) {
				t.Errorf("%s: got %v (total %d), want %v", c.name, got, total, c.want)
			}
		}
		page, total, _ := s.ListResidents(ctx, people.ResidentFilter{VillageIDs: []int64{a.village.ID, b.village.ID}}, 1, 2)
		if total != 5 || len(page) != 2 || page[0].ID != zhangWife {
			t.Errorf("page 2 of 2-per-page = %d rows from %d, total %d", len(page), page[0].ID, total)
		}
		if _, total, _ := s.ListResidents(ctx, people.ResidentFilter{}, 0, 10); total != 0 {
			t.Errorf("no villages must mean no residents, got %d", total)
		}
	})
}

// TestIDNumberUniqueUnderConcurrency creates one ID number in one village
// from many requests at once: the uniqueness check is a read, so without a
// lock two of them can both pass it.
func TestIDNumberUniqueUnderConcurrency(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := mustStore(t, db)
		tr := mustTree(t, s, "A")
		id := idNumber(42)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Go(func() {
				_, err := s.CreateResident(ctx, clerk, tr.village.ID, people.ResidentInput{Name: fmt.Sprintf("村民%d", i), IDNumber: id})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		ok := 0
		for err := range errs {
			if err == nil {
				ok++
			} else if !apperr.Is(err, apperr.CodeInvalid) {
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d residents created with one ID number, want 1", ok)
		}
	})
}

func TestUpdateKeepsStatusWhenOmitted(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := mustStore(t, db)
		tr := mustTree(t, s, "ST")
		r := mustResident(t, s, tr.village.ID, people.ResidentInput{Name: "王五", Registered: true, Status: people.StatusDeceased})
		got, err := s.UpdateResident(context.Background(), audit.System, r.ID, people.ResidentInput{Name: "王五", Registered: true})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != people.StatusDeceased {
			t.Fatalf("status after an edit without status: %q, want %q", got.Status, people.StatusDeceased)
		}
		got, err = s.UpdateResident(context.Background(), audit.System, r.ID, people.ResidentInput{Name: "王五", Registered: true, Status: people.StatusActive})
		if err != nil || got.Status != people.StatusActive {
			t.Fatalf("explicit status change: %q, %v", got.Status, err)
		}
	})
}
