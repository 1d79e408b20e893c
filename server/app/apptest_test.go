package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/kv/kvtest"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/server/app"
)

// backends lists the (database, redis) pairs every end-to-end test runs on:
// the embedded pair always, the real pair when the test script set them up.
func backends() []string {
	if os.Getenv("TEST_MYSQL_DSN") != "" && os.Getenv("TEST_REDIS_URL") != "" {
		return []string{"embedded", "mysql+redis"}
	}
	return []string{"embedded"}
}

// eachBackend runs fn as a subtest on a fresh App per backend.
func eachBackend(t *testing.T, fn func(t *testing.T, a *app.App)) {
	for _, b := range backends() {
		t.Run(b, func(t *testing.T) { fn(t, mustApp(t, b)) })
	}
}

func mustApp(t *testing.T, backend string) *app.App {
	t.Helper()
	env := map[string]string{"DATA_DIR": t.TempDir(), "LOG_LEVEL": "error"}
	if backend == "mysql+redis" {
		dsn, drop := sqltest.MySQLDSN(t)
		t.Cleanup(drop)
		env["DATABASE_DSN"] = dsn
		env["REDIS_URL"] = os.Getenv("TEST_REDIS_URL")
		env["REDIS_PREFIX"] = "jt-" + strings.ReplaceAll(filepath.Base(env["DATA_DIR"]), "/", "")
		env["SECRET_KEY"] = strings.Repeat("ab", 32)
	}
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.BcryptCost = bcrypt.MinCost
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	if backend == "mysql+redis" {
		t.Cleanup(func() { kvtest.DeletePrefix(a.KV, env["REDIS_PREFIX"]) })
	}
	return a
}

// world is a county with two townships, one village in each, and a staff
// account of every role in village A (plus admins of township A and the
// county).
type world struct {
	county, townA, townB, villageA, villageB people.Region
	gridA, gridB                             people.Region
	householdA, householdB                   people.Household
	residentA, residentB                     people.Resident
	logins                                   map[staff.Role]string // role → username, all in village A's chain
}

const testPassword = "test-pass-123"

func mustWorld(t *testing.T, a *app.App) world {
	t.Helper()
	ctx := context.Background()
	who := audit.System
	mk := func(parent *int64, level people.Level, name, code string) people.Region {
		r, err := a.People.CreateRegion(ctx, who, people.RegionInput{ParentID: parent, Level: level, Name: name, Code: code})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var w world
	w.county = mk(nil, people.County, "测试县", "T-C")
	w.townA = mk(&w.county.ID, people.Township, "甲镇", "T-TA")
	w.townB = mk(&w.county.ID, people.Township, "乙镇", "T-TB")
	w.villageA = mk(&w.townA.ID, people.Village, "甲村", "T-VA")
	w.villageB = mk(&w.townB.ID, people.Village, "乙村", "T-VB")
	w.gridA = mk(&w.villageA.ID, people.Grid, "甲一组", "T-VA-G1")
	w.gridB = mk(&w.villageB.ID, people.Grid, "乙一组", "T-VB-G1")
	var err error
	if w.householdA, err = a.People.CreateHousehold(ctx, who, w.villageA.ID, people.HouseholdInput{Number: "A001", HeadName: "张三"}); err != nil {
		t.Fatal(err)
	}
	if w.householdB, err = a.People.CreateHousehold(ctx, who, w.villageB.ID, people.HouseholdInput{Number: "B001", HeadName: "李四"}); err != nil {
		t.Fatal(err)
	}
	if w.residentA, err = a.People.CreateResident(ctx, who, w.villageA.ID, people.ResidentInput{HouseholdID: &w.householdA.ID, Name: "张三", Registered: true, Phone: "13800000001", IDNumber: "11010519491231002X"}); err != nil {
		t.Fatal(err)
	}
	if w.residentB, err = a.People.CreateResident(ctx, who, w.villageB.ID, people.ResidentInput{HouseholdID: &w.householdB.ID, Name: "李四", Registered: true, Phone: "13800000002"}); err != nil {
		t.Fatal(err)
	}
	w.logins = map[staff.Role]string{}
	for _, role := range staff.AllRoles {
		region := w.villageA.ID
		switch role {
		case staff.TownshipAdmin:
			region = w.townA.ID
		case staff.CountyAdmin:
			region = w.county.ID
		}
		name := "a_" + string(role)
		if _, err := a.Staff.CreateUserUnchecked(ctx, staff.NewUser{Username: name, DisplayName: string(role), Password: testPassword,
			Grants: []staff.Grant{{Role: role, RegionID: region}}}, nil); err != nil {
			t.Fatal(err)
		}
		w.logins[role] = name
	}
	return w
}

// client drives the HTTP API like the console would.
type client struct {
	t     *testing.T
	h     http.Handler
	token string
}

type response struct {
	Status int
	Body   map[string]any
	Raw    []byte
	Header http.Header
}

func (r response) errorCode() string {
	if e, ok := r.Body["error"].(map[string]any); ok {
		s, _ := e["code"].(string)
		return s
	}
	return ""
}

func (r response) data() map[string]any {
	d, _ := r.Body["data"].(map[string]any)
	return d
}

func (c *client) do(method, path string, body any) response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.send(req)
}

func (c *client) send(req *http.Request) response {
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	out := response{Status: rec.Code, Raw: rec.Body.Bytes(), Header: rec.Header()}
	_ = json.Unmarshal(out.Raw, &out.Body)
	return out
}

func mustLogin(t *testing.T, a *app.App, username string) *client {
	t.Helper()
	c := &client{t: t, h: a.Router}
	r := c.do("POST", "/api/v1/auth/login", map[string]string{"username": username, "password": testPassword})
	if r.Status != http.StatusOK {
		t.Fatalf("login %s: %d %s", username, r.Status, r.Raw)
	}
	c.token = r.data()["access_token"].(string)
	return c
}
