package app

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	miniprogramapi "github.com/villagepoints/jifen/miniprogram-api"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/ranking"
)

// RankingConfig is the leaderboards' part of the configuration.
type RankingConfig struct {
	// Interval is how often the rankings' relay looks for newly sealed
	// postings (RANKING_INTERVAL): how much longer than the Sealer's
	// interval a leaderboard may trail the ledger.
	Interval time.Duration
	// PeopleTTL is how long a village's people (households, party
	// membership) are cached before the boards read them again
	// (RANKING_PEOPLE_TTL); a change found then rebuilds the village.
	PeopleTTL time.Duration
	// RebuildWorkers is how many villages a rebuild reads at once
	// (RANKING_REBUILD_WORKERS).
	RebuildWorkers int
	// Font is an optional TrueType/OpenType font for the printed notices,
	// used before the embedded GB 2312 subset (RANKING_FONT).
	Font string
}

func loadRankingConfig(get func(k, def string) string) (RankingConfig, error) {
	c := RankingConfig{Font: get("RANKING_FONT", "")}
	var err error
	for _, d := range []struct {
		key, def string
		into     *time.Duration
	}{
		{"RANKING_INTERVAL", "1s", &c.Interval},
		{"RANKING_PEOPLE_TTL", "1m", &c.PeopleTTL},
	} {
		if *d.into, err = time.ParseDuration(get(d.key, d.def)); err != nil || *d.into <= 0 {
			return c, fmt.Errorf("%s: want a duration such as %s", d.key, d.def)
		}
	}
	if c.RebuildWorkers, err = strconv.Atoi(get("RANKING_REBUILD_WORKERS", "4")); err != nil || c.RebuildWorkers <= 0 {
		return c, fmt.Errorf("RANKING_REBUILD_WORKERS: want a positive integer")
	}
	return c, nil
}

// wireRanking builds the rankings over the ledger (wireLedger runs first;
// its Sealer puts postings in the chain the outbox reads) and runs their
// relay (ledger outbox → Redis leaderboards) as a worker.
func (a *App) wireRanking() {
	cfg := a.Config.Ranking
	a.Ranking = ranking.New(a.DB, a.KV, a.Ledger, ranking.Options{PeopleTTL: cfg.PeopleTTL, Workers: cfg.RebuildWorkers})
	a.workers = append(a.workers, func(ctx context.Context) { a.Ranking.Run(ctx, cfg.Interval, a.Log.Warn) })
}

// rankingRoutes mounts the mini-program's ranking routes (the console's
// are registered by console.Handlers).
func (a *App) rankingRoutes(r *gin.Engine) {
	mp := &miniprogramapi.Rankings{Handlers: &miniprogramapi.Handlers{Identity: a.Identity}, Ranking: a.Ranking}
	mp.Register(r.Group("/mp/v1"))
}

// RebuildRankings rebuilds every leaderboard of a village, township or
// county from the ledger (the rebuild-rankings subcommand, audited as the
// system's).
func RebuildRankings(ctx context.Context, a *App, regionID int64) (ranking.RebuildReport, error) {
	return a.Ranking.RebuildRegion(ctx, audit.Actor{Name: "system（rebuild-rankings 命令）"}, regionID)
}
