package awards

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/catalog"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/rules"
)

var seq atomic.Int64

// vetoLog records what the rankings were told.
type vetoLog struct {
	mu     sync.Mutex
	record []Veto
	lift   []Veto
}

func (v *vetoLog) RecordVeto(_ context.Context, x Veto) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.record = append(v.record, x)
	return nil
}

func (v *vetoLog) LiftVeto(_ context.Context, x Veto) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lift = append(v.lift, x)
	return nil
}

// fixture is a village with two households, three residents, two social
// workers and a village admin (the admin lives in household one).
type fixture struct {
	db          *gorm.DB
	svc         *Service
	cat         *catalog.Store
	vetoes      *vetoLog
	village     int64
	other       int64 // another village
	hh1, hh2    int64
	r1, r1b, r2 int64 // r1 and r1b share hh1; r2 is in hh2
	outsider    int64 // a resident of the other village
	worker      Staff
	worker2     Staff
	admin       Staff // lives in hh1
	items       map[string]catalog.Item
	now         time.Time
}

func mustFixture(t *testing.T, db *gorm.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	vault, err := pii.NewVault(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ps := people.NewStore(db, vault)
	who := audit.System
	mk := func(parent *int64, level people.Level, name, code string) int64 {
		r, err := ps.CreateRegion(ctx, who, people.RegionInput{ParentID: parent, Level: level, Name: name, Code: code})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	f := &fixture{db: db, vetoes: &vetoLog{}, items: map[string]catalog.Item{}, now: time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)}
	county := mk(nil, people.County, "测试县", fmt.Sprintf("C%d", seq.Add(1)))
	town := mk(&county, people.Township, "测试镇", fmt.Sprintf("T%d", seq.Add(1)))
	f.village = mk(&town, people.Village, "测试村", fmt.Sprintf("V%d", seq.Add(1)))
	f.other = mk(&town, people.Village, "邻村", fmt.Sprintf("V%d", seq.Add(1)))
	hh := func(v int64, n string) int64 {
		h, err := ps.CreateHousehold(ctx, who, v, people.HouseholdInput{Number: n, HeadName: "户主"})
		if err != nil {
			t.Fatal(err)
		}
		return h.ID
	}
	res := func(v int64, h int64, name string) int64 {
		r, err := ps.CreateResident(ctx, who, v, people.ResidentInput{HouseholdID: &h, Name: name, Registered: true})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	f.hh1, f.hh2 = hh(f.village, "001"), hh(f.village, "002")
	f.r1, f.r1b, f.r2 = res(f.village, f.hh1, "张三"), res(f.village, f.hh1, "张小三"), res(f.village, f.hh2, "李四")
	f.outsider = res(f.other, hh(f.other, "901"), "王五")
	staffRow := func(name string, resident, household *int64) int64 {
		row := map[string]any{"username": name + fmt.Sprint(seq.Add(1)), "display_name": name, "password_hash": "x", "resident_id": resident,
			"household_id": household, "created_at": f.now, "updated_at": f.now}
		if err := db.Table("staff_users").Create(row).Error; err != nil {
			t.Fatal(err)
		}
		var id int64
		db.Table("staff_users").Where("display_name = ?", name).Order("id DESC").Limit(1).Pluck("id", &id)
		return id
	}
	f.worker = Staff{ID: staffRow("社工甲", nil, nil), Name: "社工甲", Roles: []string{"social_worker"}}
	f.worker2 = Staff{ID: staffRow("社工乙", nil, nil), Name: "社工乙", Roles: []string{"social_worker"}}
	f.admin = Staff{ID: staffRow("村干部", &f.r1b, &f.hh1), Name: "村干部", Roles: []string{"village_admin"}}
	f.cat = catalog.New(db, func() time.Time { return f.now })
	if _, err := f.cat.Adopt(ctx, who, f.village, catalog.DefaultTemplateID, nil); err != nil {
		t.Fatal(err)
	}
	for code, in := range map[string]catalog.ItemInput{
		"T-CAP":  {Category: "环境卫生", Title: "清扫公共区域", Points: 2, Track: rules.Civic, AwardRoles: []string{"social_worker", "village_admin"}, SelfReport: true, Caps: []rules.Cap{{Subject: rules.PerPerson, Period: rules.Month, MaxTimes: 3}}},
		"T-DED":  {Category: "环境卫生", Title: "乱倒垃圾", Points: -5, Track: rules.Civic, AwardRoles: []string{"social_worker", "village_admin"}},
		"T-VETO": {Category: "遵纪守法", Title: "违法受到处罚", Points: -20, Track: rules.Civic, AwardRoles: []string{"social_worker", "village_admin"}, Veto: true, VetoScope: rules.PerHousehold},
	} {
		in.Code = code
		it, err := f.cat.CreateItem(ctx, who, f.village, in)
		if err != nil {
			t.Fatal(err)
		}
		f.items[code] = it
	}
	ls := ledger.New(db, ledger.Options{Now: func() time.Time { return f.now }, SettingsTTL: -1})
	st := ledger.DefaultSettings()
	st.AllowNegativeDeduction = true // the tests deduct from empty accounts
	if err := ls.SaveSettings(ctx, f.village, st, ledger.SystemActor); err != nil {
		t.Fatal(err)
	}
	f.svc = New(db, Options{Ledger: func(tx *gorm.DB) LedgerTx { return ls.In(tx) }, Settings: ls,
		Vetoes: f.vetoes, Now: func() time.Time { return f.now }})
	return f
}

// mustPhoto stores an evidence row for the village and returns its id.
func (f *fixture) mustPhoto(t *testing.T, village int64) int64 {
	t.Helper()
	row := map[string]any{"village_id": village, "uploader": "staff:1", "storage_key": fmt.Sprintf("k%d", seq.Add(1)), "content_type": "image/jpeg",
		"size_bytes": 1, "width": 1, "height": 1, "sha256": "x", "created_at": f.now}
	if err := f.db.Table("evidence_files").Create(row).Error; err != nil {
		t.Fatal(err)
	}
	var id int64
	f.db.Table("evidence_files").Order("id DESC").Limit(1).Pluck("id", &id)
	return id
}

// postings counts the village's holder postings in the real ledger and
// sums them as the residents see them (credits positive).
func (f *fixture) postings(t *testing.T) (n int64, sum int64) {
	t.Helper()
	var rows []struct {
		FromKind string
		ToKind   string
		Amount   int64
	}
	if err := f.db.Table("ledger_postings").Select("from_kind, to_kind, amount").Where("village_id = ?", f.village).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	for _, p := range rows {
		if p.ToKind == "resident" {
			sum += p.Amount
		} else if p.FromKind == "resident" {
			sum -= p.Amount
		}
	}
	return int64(len(rows)), sum
}

func all(int64) bool { return true }

func auditSystem() audit.Actor { return audit.System }
