package web

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/villagepoints/jifen/apperr"
)

const requestIDKey = "request_id"

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// RequestID returns the current request's ID.
func RequestID(c *gin.Context) string { return c.GetString(requestIDKey) }

// WithRequestID takes a well-formed X-Request-ID from the client (so a
// gateway's ID carries through) or makes one, and echoes it back.
func WithRequestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if !validRequestID.MatchString(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Set(requestIDKey, id)
		c.Header("X-Request-ID", id)
		c.Next()
	}
}

// AccessLog writes one structured line per request.
func AccessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		status := c.Writer.Status()
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		attrs := []any{
			"request_id", RequestID(c), "method", c.Request.Method, "route", c.FullPath(),
			"path", c.Request.URL.Path, "status", status, "duration_ms", time.Since(start).Milliseconds(),
			"ip", c.ClientIP(),
		}
		if v, ok := c.Get(ActorKey); ok {
			attrs = append(attrs, "actor", v)
		}
		log.Log(c.Request.Context(), level, "http", attrs...)
	}
}

// ActorKey is where authentication middleware stores a loggable actor name.
const ActorKey = "actor"

// Metrics records request counts and latency per route template.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the HTTP metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// Middleware observes every request. Unmatched paths share one label so
// scanners cannot blow up the series count.
func (m *Metrics) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Inc()
		m.latency.WithLabelValues(route, c.Request.Method).Observe(time.Since(start).Seconds())
	}
}

// Recover turns a panic into a logged 500 with the standard envelope.
func Recover() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				slog.ErrorContext(c.Request.Context(), "panic", "request_id", RequestID(c), "panic", r)
				Fail(c, apperr.Internal(nil))
			}
		}()
		c.Next()
	}
}

// LimitBody caps request bodies at n bytes.
func LimitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
}

// NoRoute answers unknown paths with the standard envelope.
func NoRoute(c *gin.Context) { Fail(c, apperr.New(apperr.CodeNotFound, "接口不存在")) }
