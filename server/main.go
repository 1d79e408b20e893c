// Command server runs the points platform. With no configuration it starts
// the embedded mode (SQLite under ./data, in-process Redis) on
// 127.0.0.1:8080; with DATABASE_DSN and REDIS_URL it uses MySQL and Redis.
//
//	server [--demo]                 serve (load demo data first with --demo)
//	server init-county NAME CODE    create a county and its first admin (BOOTSTRAP_ADMIN_USER, BOOTSTRAP_ADMIN_PASSWORD)
//	server migrate                  apply schema migrations and exit
//	server demo                     load the demo county (embedded mode only)
//	server healthcheck              exit 0 when the local server is ready (for container health checks)
//	server rebuild-rankings REGION  rebuild every leaderboard of a village, township or county from the ledger
//	server verify-ledger [--village ID]   re-compute the hash chain and zero-sum; exit 1 naming the first broken posting
//	server rebuild-ledger [--village ID]  recompute cached balances (SQL and Redis) from the postings
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/villagepoints/jifen/server/app"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	if cmd == "healthcheck" {
		return healthcheck(os.Getenv("HTTP_ADDR"))
	}
	cfg, err := app.LoadConfig(os.Getenv)
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg)
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch cmd {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		demo := fs.Bool("demo", false, "load the demo county (idempotent) before serving")
		if err := fs.Parse(args); err != nil {
			return err
		}
		start := time.Now()
		a, err := app.New(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer a.Close()
		if *demo {
			if err := loadDemo(ctx, a); err != nil {
				return err
			}
		}
		log.Info("ready", "startup_ms", time.Since(start).Milliseconds())
		return a.Run(ctx)
	case "migrate":
		a, err := app.New(ctx, cfg, log)
		if err != nil {
			return err
		}
		a.Close()
		log.Info("schema is up to date")
		return nil
	case "init-county":
		if len(args) != 2 {
			return fmt.Errorf("usage: server init-county NAME CODE (with BOOTSTRAP_ADMIN_USER and BOOTSTRAP_ADMIN_PASSWORD set)")
		}
		a, err := app.New(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer a.Close()
		return app.InitCounty(ctx, a, args[0], args[1], os.Getenv("BOOTSTRAP_ADMIN_USER"), os.Getenv("BOOTSTRAP_ADMIN_PASSWORD"))
	case "rebuild-rankings":
		if len(args) != 1 {
			return fmt.Errorf("usage: server rebuild-rankings REGION_ID (a village, township or county)")
		}
		region, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil || region <= 0 {
			return fmt.Errorf("rebuild-rankings: REGION_ID must be a positive integer")
		}
		a, err := app.New(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer a.Close()
		rep, err := app.RebuildRankings(ctx, a, region)
		if err != nil {
			return err
		}
		fmt.Printf("rebuilt %d villages: %d postings read, %d board entries, %d boards in %s\n",
			rep.Villages, rep.Postings, rep.Entries, rep.Boards, rep.Took.Round(time.Millisecond))
		return nil
	case "verify-ledger", "rebuild-ledger":
		fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
		village := fs.Int64("village", 0, "village id (default: every village)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		a, err := app.New(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer a.Close()
		if cmd == "rebuild-ledger" {
			reps, err := app.RebuildLedger(ctx, a, *village)
			for _, r := range reps {
				fmt.Printf("village %d: %d accounts, %d cached balances corrected, rebuilt %v\n", r.VillageID, r.Accounts, len(r.Corrected), r.Rebuilt)
			}
			return err
		}
		reps, err := app.VerifyLedger(ctx, a, *village)
		for _, r := range reps {
			status := "OK"
			if !r.OK {
				status = "BROKEN"
			}
			fmt.Printf("village %d: %s, %d postings, chain head %d %s\n", r.VillageID, status, r.Postings, r.HeadSeq, r.HeadHash)
		}
		return err
	case "demo":
		a, err := app.New(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer a.Close()
		return loadDemo(ctx, a)
	}
	return fmt.Errorf("unknown command %q (serve, migrate, init-county, demo, healthcheck, rebuild-rankings, verify-ledger, rebuild-ledger)", cmd)
}

// healthcheck asks the local server's readiness probe; container images
// without curl use it as their health check.
func healthcheck(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		port = "8080"
	}
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + port + "/readyz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz answered %d", resp.StatusCode)
	}
	return nil
}

func loadDemo(ctx context.Context, a *app.App) error {
	logins, err := app.LoadDemo(ctx, a)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if len(logins) == 0 {
		fmt.Println("demo data already loaded")
		return nil
	}
	fmt.Println("demo staff logins (password for all: " + logins[0].Password + "):")
	for _, l := range logins {
		fmt.Printf("  %-22s %-16s %s\n", l.Username, l.Role, l.Where)
	}
	return nil
}
