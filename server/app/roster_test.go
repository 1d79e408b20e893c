package app_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/server/app"
)

func mustRosterFile(t *testing.T, rows [][]any) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	b, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func (c *client) upload(path, field string, file []byte) response {
	c.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, _ := w.CreateFormFile(field, "roster.xlsx")
	part.Write(file)
	w.Close()
	req := httptest.NewRequest("POST", path, &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+c.token)
	return c.send(req)
}

// TestRosterImportOverHTTP drives the import the way the console does: the
// template downloads, a file with a bad row is refused with row-level
// errors and changes nothing, the corrected file imports.
func TestRosterImportOverHTTP(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *app.App) {
		w := mustWorld(t, a)
		c := mustLogin(t, a, w.logins[staff.VillageAdmin])
		if r := c.do("GET", "/api/v1/roster-template", nil); r.Status != http.StatusOK || len(r.Raw) < 1000 {
			t.Fatalf("template: %d, %d bytes", r.Status, len(r.Raw))
		}
		header := []any{"户号", "户主", "地址", "网格", "姓名", "性别", "与户主关系", "户籍", "党员", "手机号", "身份证号"}
		good := []any{"A100", "陈一", "一号", "甲一组", "陈一", "男", "户主", "是", "否", "13900000011", ""}
		bad := []any{"A100", "陈一", "一号", "甲一组", "陈二", "女", "配偶", "是", "否", "123", ""}
		path := fmt.Sprintf("/api/v1/villages/%d/roster-imports", w.villageA.ID)
		list := fmt.Sprintf("/api/v1/villages/%d/residents", w.villageA.ID)
		before := c.do("GET", list, nil).Body["page"].(map[string]any)["total"]

		r := c.upload(path, "file", mustRosterFile(t, [][]any{header, good, bad}))
		if r.Status != http.StatusUnprocessableEntity || r.errorCode() != "IMPORT_REJECTED" {
			t.Fatalf("bad roster: %d %s", r.Status, r.Raw)
		}
		details := r.Body["error"].(map[string]any)["details"].([]any)
		d := details[0].(map[string]any)
		if len(details) != 1 || d["row"].(float64) != 3 || d["column"] != "手机号" {
			t.Fatalf("row errors: %s", r.Raw)
		}
		if after := c.do("GET", list, nil).Body["page"].(map[string]any)["total"]; after != before {
			t.Fatalf("a rejected roster changed the residents: %v → %v", before, after)
		}

		bad[9] = "13900000012"
		r = c.upload(path, "file", mustRosterFile(t, [][]any{header, good, bad}))
		if r.Status != http.StatusCreated || r.data()["residents_created"] != float64(2) || r.data()["households_created"] != float64(1) {
			t.Fatalf("good roster: %d %s", r.Status, r.Raw)
		}
		// Village B's admin path is out of scope for A's admin.
		if r := c.upload(fmt.Sprintf("/api/v1/villages/%d/roster-imports", w.villageB.ID), "file", mustRosterFile(t, [][]any{header, good})); r.Status != http.StatusForbidden {
			t.Fatalf("import into village B: %d", r.Status)
		}
		// A social worker may not import.
		if r := mustLogin(t, a, w.logins[staff.SocialWorker]).upload(path, "file", mustRosterFile(t, [][]any{header})); r.Status != http.StatusForbidden {
			t.Fatalf("social worker import: %d", r.Status)
		}
	})
}
