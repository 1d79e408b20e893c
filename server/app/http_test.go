package app_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/server/app"
)

func TestHTTPConventions(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *app.App) {
		w := mustWorld(t, a)
		c := mustLogin(t, a, w.logins[staff.SocialWorker])
		path := fmt.Sprintf("/api/v1/villages/%d/residents", w.villageA.ID)

		t.Run("request id is echoed or made", func(t *testing.T) {
			req := httptest.NewRequest("GET", "/healthz", nil)
			req.Header.Set("X-Request-ID", "gateway-abc-123")
			if r := c.send(req); r.Header.Get("X-Request-ID") != "gateway-abc-123" {
				t.Errorf("X-Request-ID not echoed: %q", r.Header.Get("X-Request-ID"))
			}
			r := c.do("GET", "/api/v1/nope", nil)
			if r.Status != http.StatusNotFound || r.Body["request_id"] == "" || r.Body["request_id"] != r.Header.Get("X-Request-ID") {
				t.Errorf("unknown route: %d %s", r.Status, r.Raw)
			}
		})
		t.Run("validation names the field in Chinese", func(t *testing.T) {
			r := c.do("POST", path, map[string]any{"registered": true})
			e := r.Body["error"].(map[string]any)
			if r.Status != http.StatusBadRequest || e["code"] != "INVALID_ARGUMENT" || e["field"] != "name" || !strings.Contains(e["message"].(string), "name") {
				t.Errorf("missing name: %d %s", r.Status, r.Raw)
			}
			r = c.do("POST", path, map[string]any{"name": "赵六", "registered": true, "phone": "12345"})
			if e := r.Body["error"].(map[string]any); e["field"] != "phone" || !strings.Contains(e["message"].(string), "手机号") {
				t.Errorf("bad phone: %s", r.Raw)
			}
		})
		t.Run("fields a caller may not set are refused", func(t *testing.T) {
			for _, field := range []string{"village_id", "balance", "id", "role"} {
				r := c.do("POST", path, map[string]any{"name": "赵六", "registered": true, field: 99})
				if r.Status != http.StatusBadRequest || r.Body["error"].(map[string]any)["field"] != field {
					t.Errorf("body with %s: %d %s", field, r.Status, r.Raw)
				}
			}
		})
		t.Run("pagination", func(t *testing.T) {
			for i := range 3 {
				if r := c.do("POST", path, map[string]any{"name": fmt.Sprintf("村民%d", i), "registered": false}); r.Status != http.StatusCreated {
					t.Fatalf("create: %d %s", r.Status, r.Raw)
				}
			}
			r := c.do("GET", path+"?page=2&page_size=2", nil)
			page := r.Body["page"].(map[string]any)
			if r.Status != http.StatusOK || page["total"].(float64) != 4 || len(r.Body["data"].([]any)) != 2 {
				t.Errorf("page 2 of 4 by 2: %s", r.Raw)
			}
			if r := c.do("GET", path+"?page_size=1000", nil); r.Status != http.StatusBadRequest {
				t.Errorf("page_size 1000: %d", r.Status)
			}
		})
		t.Run("personal data is masked", func(t *testing.T) {
			r := c.do("GET", fmt.Sprintf("/api/v1/residents/%d", w.residentA.ID), nil)
			d := r.data()
			if d["phone"] != "138****0001" || d["id_number"] != "110***********002X" {
				t.Errorf("resident view: %s", r.Raw)
			}
			if strings.Contains(string(r.Raw), "13800000001") {
				t.Error("unmasked phone in a response")
			}
		})
		t.Run("readyz and metrics", func(t *testing.T) {
			if r := c.do("GET", "/readyz", nil); r.Status != http.StatusOK {
				t.Errorf("readyz: %d %s", r.Status, r.Raw)
			}
			r := c.do("GET", "/metrics", nil)
			body := string(r.Raw)
			if !strings.Contains(body, `http_requests_total{method="GET",route="/api/v1/residents/:id",status="200"}`) ||
				!strings.Contains(body, "http_request_duration_seconds_bucket") {
				t.Errorf("metrics lack request counts or latency:\n%.2000s", body)
			}
		})
	})
}

// TestReadyzFailsWithoutRedis proves the readiness probe checks its
// dependencies rather than answering 200 unconditionally.
func TestReadyzFailsWithoutRedis(t *testing.T) {
	a := mustApp(t, "embedded")
	a.KV.Close()
	c := &client{t: t, h: a.Router}
	if r := c.do("GET", "/readyz", nil); r.Status != http.StatusServiceUnavailable || r.errorCode() != "UNAVAILABLE" {
		t.Fatalf("readyz with Redis down: %d %s", r.Status, r.Raw)
	}
}

// TestGracefulShutdown starts the real server, begins a slow request,
// cancels the server's context (as SIGTERM does) and checks the request
// still completes while new connections are refused.
func TestGracefulShutdown(t *testing.T) {
	a := mustApp(t, "embedded")
	started := make(chan struct{})
	a.Router.GET("/test-slow", func(c *gin.Context) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		c.String(http.StatusOK, "finished")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	result := make(chan string, 1)
	go func() {
		resp, err := http.Get(url + "/test-slow")
		if err != nil {
			result <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		result <- string(b)
	}()
	<-started
	cancel()
	if got := <-result; got != "finished" {
		t.Fatalf("in-flight request during shutdown: %q", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("server still accepts connections after shutdown")
	}
}
