package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/catalog"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/staff"
)

// DemoLogin is one staff account the demo creates.
type DemoLogin struct {
	Username, Password, Role, Where string
}

const demoCountyCode = "DEMO-330000"

// LoadDemo creates a demo county → township → 2 villages with grids, 50
// households, about 150 residents (some not registered, some party
// members) and a staff account of every role, with one random password
// printed once and kept in DATA_DIR/demo-logins.txt. It refuses to run
// against a deployment database, so no known account can reach
// production, and does nothing when the demo is already loaded.
func LoadDemo(ctx context.Context, a *App) ([]DemoLogin, error) {
	if !a.Config.Embedded() {
		return nil, errors.New("demo data is only for the embedded mode; unset DATABASE_DSN")
	}
	var n int64
	if err := a.DB.WithContext(ctx).Model(&people.Region{}).Where("code = ?", demoCountyCode).Count(&n).Error; err != nil {
		return nil, err
	}
	loginsFile := filepath.Join(a.Config.DataDir, "demo-logins.txt")
	if n > 0 {
		b, err := os.ReadFile(loginsFile)
		if err != nil {
			return nil, nil
		}
		fmt.Print(string(b))
		return nil, nil
	}
	pw := demoPassword()
	who := audit.System
	rnd := mrand.New(mrand.NewPCG(2026, 11))
	mk := func(parent *int64, level people.Level, name, code string) (people.Region, error) {
		return a.People.CreateRegion(ctx, who, people.RegionInput{ParentID: parent, Level: level, Name: name, Code: code})
	}
	county, err := mk(nil, people.County, "示范县", demoCountyCode)
	if err != nil {
		return nil, err
	}
	town, err := mk(&county.ID, people.Township, "清溪镇", "DEMO-330101")
	if err != nil {
		return nil, err
	}
	logins := []DemoLogin{}
	addStaff := func(username, name string, role staff.Role, region int64, where string, residentID, householdID *int64) error {
		_, err := a.Staff.CreateUserUnchecked(ctx, staff.NewUser{Username: username, DisplayName: name, Password: pw,
			ResidentID: residentID, Grants: []staff.Grant{{Role: role, RegionID: region}}}, householdID)
		logins = append(logins, DemoLogin{Username: username, Password: pw, Role: string(role), Where: where})
		return err
	}
	if err := addStaff("county_admin", "县管理员", staff.CountyAdmin, county.ID, county.Name, nil, nil); err != nil {
		return nil, err
	}
	if err := addStaff("township_admin", "镇管理员", staff.TownshipAdmin, town.ID, town.Name, nil, nil); err != nil {
		return nil, err
	}
	for vi, vname := range []string{"桃源村", "柳湾村"} {
		v, err := mk(&town.ID, people.Village, vname, fmt.Sprintf("DEMO-33010100%d", vi+1))
		if err != nil {
			return nil, err
		}
		// Every demo village starts from the county's default rule template.
		if _, err := a.Catalog.Adopt(ctx, who, v.ID, catalog.DefaultTemplateID, nil); err != nil {
			return nil, err
		}
		var grids []people.Region
		for gi := 1; gi <= 3; gi++ {
			g, err := mk(&v.ID, people.Grid, fmt.Sprintf("第%d村民小组", gi), fmt.Sprintf("%s-G%d", v.Code, gi))
			if err != nil {
				return nil, err
			}
			grids = append(grids, g)
		}
		var firstResident people.Resident
		for hi := 1; hi <= 25; hi++ {
			grid := grids[hi%len(grids)]
			surname := demoSurnames[rnd.IntN(len(demoSurnames))]
			head := surname + demoGiven[rnd.IntN(len(demoGiven))]
			hh, err := a.People.CreateHousehold(ctx, who, v.ID, people.HouseholdInput{GridID: &grid.ID,
				Number: fmt.Sprintf("%02d%03d", vi+1, hi), Address: fmt.Sprintf("%s%d号", vname, hi), HeadName: head})
			if err != nil {
				return nil, err
			}
			members := []struct {
				name, rel, gender string
			}{{head, "户主", "男"}, {demoSurnames[rnd.IntN(len(demoSurnames))] + demoGiven[rnd.IntN(len(demoGiven))], "配偶", "女"},
				{surname + demoGiven[rnd.IntN(len(demoGiven))], "子女", []string{"男", "女"}[rnd.IntN(2)]}}
			for mi, m := range members {
				in := people.ResidentInput{HouseholdID: &hh.ID, GridID: &grid.ID, Name: m.name, Gender: m.gender, Relation: m.rel,
					Registered: !(mi == 2 && hi%5 == 0), PartyMember: mi == 0 && hi%4 == 0,
					Phone: fmt.Sprintf("13%d%08d", 5+vi, hi*10+mi), IDNumber: demoIDNumber(rnd, hi*3+mi)}
				r, err := a.People.CreateResident(ctx, who, v.ID, in)
				if err != nil {
					return nil, err
				}
				if hi == 1 && mi == 0 {
					firstResident = r
				}
			}
		}
		where := v.Name
		prefix := []string{"taoyuan", "liuwan"}[vi]
		// The social worker lives in the village: the first household is
		// theirs, which the conflict-of-interest rule will keep them from
		// scoring.
		if err := addStaff(prefix+"_social", "社工"+firstResident.Name, staff.SocialWorker, v.ID, where, &firstResident.ID, firstResident.HouseholdID); err != nil {
			return nil, err
		}
		for _, s := range []struct {
			suffix, name string
			role         staff.Role
		}{{"_admin", "村委管理员", staff.VillageAdmin}, {"_clerk", "积分超市店员", staff.StoreClerk}, {"_supervisor", "村务监督委员", staff.Supervisor}} {
			if err := addStaff(prefix+s.suffix, s.name, s.role, v.ID, where, nil, nil); err != nil {
				return nil, err
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "demo staff logins (password for all: %s):\n", pw)
	for _, l := range logins {
		fmt.Fprintf(&b, "  %-22s %-16s %s\n", l.Username, l.Role, l.Where)
	}
	_ = os.WriteFile(loginsFile, []byte(b.String()), 0o600)
	return logins, nil
}

// demoPassword makes a random password that passes the password policy.
func demoPassword() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "demo" + hex.EncodeToString(b[:])
}

// demoIDNumber makes a checksum-valid (fictional) ID number; seq keeps
// the numbers of one village distinct.
func demoIDNumber(rnd *mrand.Rand, seq int) string {
	body := fmt.Sprintf("330101%04d%02d%02d%03d", 1940+rnd.IntN(65), 1+rnd.IntN(12), 1+rnd.IntN(28), seq%1000)
	weights := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(body[i]-'0') * w
	}
	return body + string("10X98765432"[sum%11])
}

var (
	demoSurnames = []string{"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林"}
	demoGiven    = []string{"建国", "秀英", "桂兰", "志强", "海燕", "春梅", "国华", "丽娟", "明", "勇", "芳", "伟", "静", "军", "敏", "磊", "红梅", "德福", "玉珍", "家豪"}
)

// InitCounty creates a county and its first county admin on an empty
// deployment; later admins are created through the console.
func InitCounty(ctx context.Context, a *App, name, code, user, password string) error {
	if user == "" || password == "" {
		return errors.New("set BOOTSTRAP_ADMIN_USER and BOOTSTRAP_ADMIN_PASSWORD")
	}
	if err := staff.CheckPassword(password); err != nil {
		return err
	}
	county, err := a.People.CreateRegion(ctx, audit.System, people.RegionInput{Level: people.County, Name: name, Code: code})
	if err != nil {
		return err
	}
	made, err := a.Staff.Bootstrap(ctx, user, password, county.ID)
	if err != nil {
		return err
	}
	if !made {
		return errors.New("staff accounts already exist; county created, grant it to an admin from the console")
	}
	a.Log.Info("county created", "id", county.ID, "admin", user)
	return nil
}
