package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/awards"
	"github.com/villagepoints/jifen/models/catalog"
	"github.com/villagepoints/jifen/models/duty"
	"github.com/villagepoints/jifen/models/evidence"
	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/models/kv"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/notify"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/ranking"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/models/store"
	"github.com/villagepoints/jifen/models/volunteer"
	"github.com/villagepoints/jifen/models/wechat"
	"github.com/villagepoints/jifen/server/console"
	"github.com/villagepoints/jifen/web"
)

// App is the running server and everything it holds open.
type App struct {
	Config Config
	Log    *slog.Logger
	DB     *gorm.DB
	KV     *kv.Client
	Vault  *pii.Vault
	People *people.Store
	Staff  *staff.Service
	Router *gin.Engine

	// The mini-program: WeChat (nil unless WECHAT_APPID is set), who is
	// calling, and what they are told.
	WeChat   *wechat.Client
	Identity *identity.Service
	Inbox    *notify.Inbox
	Notifier *notify.Dispatcher

	// Ledger is the points ledger; Ranking its leaderboards and monthly
	// rankings (see ranking.go).
	Ledger   *ledger.Store
	Balances *ledger.RedisBalances
	Ranking  *ranking.Service

	// The rule catalog, awards (with self-reports, appeals and notices)
	// and their evidence photos; see awards.go.
	Catalog  *catalog.Store
	Awards   *awards.Service
	Evidence *evidence.Store

	// Store is the points store 积分超市; see store.go.
	Store *store.Store

	// Volunteer runs volunteer activities 志愿服务 and Duty the party
	// members' duty posts 党员责任岗; see volunteer.go and duty.go.
	Volunteer *volunteer.Service
	Duty      *duty.Service

	// workers run beside the HTTP server until shutdown.
	workers []func(ctx context.Context)
}

// New opens the backends named by cfg, migrates the schema and builds the
// services and router.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	if cfg.WeChat.DevLogin && !cfg.Embedded() {
		return nil, errors.New("DEV_LOGIN is refused with a deployment database (DATABASE_DSN)")
	}
	a := &App{Config: cfg, Log: log}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	var err error
	if cfg.Embedded() && len(cfg.SecretKey) == 0 {
		if cfg.SecretKey, err = embeddedSecret(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("embedded secret: %w", err)
		}
		a.Config.SecretKey = cfg.SecretKey
	}
	a.DB, err = sqldb.Open(sqldb.Options{DSN: cfg.DatabaseDSN, SQLitePath: cfg.SQLitePath(), MaxOpenConns: cfg.DBMaxOpenConns})
	if err != nil {
		return nil, err
	}
	if err := sqldb.Migrate(ctx, a.DB); err != nil {
		return nil, err
	}
	if a.KV, err = kv.Open(cfg.RedisURL, cfg.RedisPrefix); err != nil {
		return nil, err
	}
	if err := a.KV.Ping(ctx); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	if a.Vault, err = pii.NewVault(cfg.SecretKey); err != nil {
		return nil, err
	}
	a.People = people.NewStore(a.DB, a.Vault)
	a.Staff, err = staff.NewService(a.DB, a.KV, a.People, staff.Config{
		SigningKey: pii.DeriveKey(cfg.SecretKey, "staff-access-token"),
		AccessTTL:  cfg.AccessTokenTTL, RefreshTTL: cfg.RefreshTokenTTL, BcryptCost: cfg.BcryptCost,
	})
	if err != nil {
		return nil, err
	}
	if err := a.wireWeChat(); err != nil {
		return nil, err
	}
	a.wireLedger()
	a.wireRanking()
	a.wireAwards()
	if err := a.wireStore(); err != nil {
		return nil, err
	}
	a.wireVolunteer()
	a.wireDuty()
	if a.Router, err = a.routes(); err != nil {
		return nil, err
	}
	ok = true
	return a, nil
}

// Backends describes the backends in use, for the start-up log.
func (a *App) Backends() (db, redis string) {
	db, redis = "mysql", "redis "+a.Config.RedisURL
	if a.Config.Embedded() {
		db = "sqlite " + a.Config.SQLitePath()
	}
	if a.KV.Embedded() {
		redis = "embedded miniredis"
	}
	return db, redis
}

func (a *App) routes() (*gin.Engine, error) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	if err := r.SetTrustedProxies(a.Config.TrustedProxies); err != nil {
		return nil, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	r.ContextWithFallback = true
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := web.NewMetrics(reg)
	r.Use(web.WithRequestID(), web.AccessLog(a.Log), metrics.Middleware(), web.Recover(), web.LimitBody(a.Config.MaxBodyBytes))
	r.NoRoute(web.NoRoute)
	r.NoMethod(web.NoRoute)

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", a.ready)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))

	cons := &console.Handlers{DB: a.DB, People: a.People, Staff: a.Staff, Ledger: a.Ledger, MaxUploadBytes: a.Config.MaxBodyBytes,
		Ranking: a.Ranking, RankingFont: a.Config.Ranking.Font, Store: a.Store}
	cons.Register(r.Group("/api/v1"))
	a.wechatRoutes(r, cons)
	a.rankingRoutes(r)
	a.ledgerRoutes(r)
	a.awardsRoutes(r, cons)
	a.storeRoutes(r)
	a.volunteerRoutes(r, cons)
	a.dutyRoutes(r, cons)
	return r, nil
}

// ready answers 200 only when both the database and Redis answer.
func (a *App) ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := gin.H{}
	status := http.StatusOK
	for name, ping := range map[string]func(context.Context) error{
		"database": func(ctx context.Context) error { return sqldb.Ping(ctx, a.DB) },
		"redis":    a.KV.Ping,
	} {
		if err := ping(ctx); err != nil {
			a.Log.Warn("readiness check failed", "check", name, "err", err)
			checks[name] = "unavailable"
			status = http.StatusServiceUnavailable
		} else {
			checks[name] = "ok"
		}
	}
	if status != http.StatusOK {
		c.JSON(status, web.Envelope{Data: checks, Error: apperr.New(apperr.CodeUnavailable, "服务暂不可用"), RequestID: web.RequestID(c)})
		return
	}
	c.JSON(status, web.Envelope{Data: checks, RequestID: web.RequestID(c)})
}

// Run serves HTTP on the configured address until ctx ends, then stops
// accepting connections and lets in-flight requests finish within
// ShutdownTimeout. Background workers stop with it.
func (a *App) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.Config.HTTPAddr)
	if err != nil {
		return err
	}
	return a.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened (tests use port 0).
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: a.Router, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, w := range a.workers {
		wg.Go(func() { w(workCtx) })
	}
	dbName, redisName := a.Backends()
	a.Log.Info("listening", "addr", "http://"+ln.Addr().String(), "database", dbName, "redis", redisName)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		stopWork()
		wg.Wait()
		return err
	case <-ctx.Done():
	}
	a.Log.Info("shutting down", "grace", a.Config.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	stopWork()
	wg.Wait()
	if err2 := <-errc; err2 != nil && !errors.Is(err2, http.ErrServerClosed) && err == nil {
		err = err2
	}
	return err
}

// Close releases the database and Redis.
func (a *App) Close() {
	if a.KV != nil {
		a.KV.Close()
	}
	if a.DB != nil {
		sqldb.Close(a.DB)
	}
}

// NewLogger builds the structured logger from LOG_LEVEL and LOG_FORMAT.
func NewLogger(cfg Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
