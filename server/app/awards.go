package app

import (
	"context"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	miniprogramapi "github.com/villagepoints/jifen/miniprogram-api"
	"github.com/villagepoints/jifen/models/awards"
	"github.com/villagepoints/jifen/models/catalog"
	"github.com/villagepoints/jifen/models/evidence"
	"github.com/villagepoints/jifen/models/ranking"
	"github.com/villagepoints/jifen/server/console"
)

// wireAwards builds the rule catalog, the awards service (posting through
// the ledger inside its own transactions, telling the rankings about
// vetoes) and the evidence store, and runs the veto catch-up as a worker.
func (a *App) wireAwards() {
	a.Catalog = catalog.New(a.DB, nil)
	a.Evidence = evidence.New(a.DB, evidence.Disk{Dir: a.Config.EvidenceDir})
	l := a.Ledger
	a.Awards = awards.New(a.DB, awards.Options{
		Ledger:   func(tx *gorm.DB) awards.LedgerTx { return l.In(tx) },
		Settings: l,
		Vetoes:   rankingVetoes{a.Ranking},
		Log:      a.Log,
	})
	a.workers = append(a.workers, func(ctx context.Context) {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			if _, err := a.Awards.SyncVetoes(ctx); err != nil && ctx.Err() == nil {
				a.Log.Warn("veto sync", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// awardsRoutes mounts the console's and the mini-program's catalog,
// awards and evidence routes.
func (a *App) awardsRoutes(r *gin.Engine, cons *console.Handlers) {
	(&console.Awards{Handlers: cons, Catalog: a.Catalog, Awards: a.Awards, Evidence: a.Evidence}).Register(r.Group("/api/v1"))
	mp := &miniprogramapi.Awards{Handlers: &miniprogramapi.Handlers{Identity: a.Identity}, Catalog: a.Catalog, Awards: a.Awards, Evidence: a.Evidence}
	mp.Register(r.Group("/mp/v1"))
}

// rankingVetoes tells the rankings about 一票否决 awards.
type rankingVetoes struct{ s *ranking.Service }

func (v rankingVetoes) subject(x awards.Veto) ranking.VetoSubject {
	if x.Household {
		return ranking.VetoHousehold
	}
	return ranking.VetoResident
}

func (v rankingVetoes) RecordVeto(ctx context.Context, x awards.Veto) error {
	_, err := v.s.RecordVeto(ctx, ranking.VetoRequest{VillageID: x.VillageID, Subject: v.subject(x), SubjectID: x.SubjectID,
		PeriodKey: x.PeriodKey, Reason: x.Reason, Source: x.Source, By: x.By})
	return err
}

func (v rankingVetoes) LiftVeto(ctx context.Context, x awards.Veto) error {
	err := v.s.LiftVeto(ctx, x.VillageID, v.subject(x), x.SubjectID, x.PeriodKey)
	if apperr.Is(err, apperr.CodeNotFound) {
		return nil // already lifted: lifting is idempotent
	}
	return err
}
