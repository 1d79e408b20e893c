package app

import (
	"context"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	miniprogramapi "github.com/villagepoints/jifen/miniprogram-api"
	"github.com/villagepoints/jifen/models/duty"
	"github.com/villagepoints/jifen/server/console"
)

// dutyRemindEvery is how often the reminder worker looks for members with
// no duty report in a period about to close. Hourly rather than daily, so
// a restart never skips a day; each member is reminded once per period
// whatever the rhythm (the notification's dedupe key).
const dutyRemindEvery = time.Hour

// wireDuty builds the party members' duty posts and assessments over the
// ledger (final assessments post party-track points in their own
// transaction), and runs the duty-report reminders as a worker.
func (a *App) wireDuty() {
	l := a.Ledger
	a.Duty = duty.New(a.DB, func(tx *gorm.DB) duty.LedgerTx { return l.In(tx) }, nil)
	a.workers = append(a.workers, func(ctx context.Context) {
		t := time.NewTicker(dutyRemindEvery)
		defer t.Stop()
		for {
			if _, err := a.Duty.RemindMissing(ctx, duty.ReminderLead); err != nil && ctx.Err() == nil {
				a.Log.Warn("duty report reminders", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// dutyRoutes mounts the console's and the mini-program's duty routes.
func (a *App) dutyRoutes(r *gin.Engine, cons *console.Handlers) {
	(&console.Duty{Handlers: cons, Duty: a.Duty}).Register(r.Group("/api/v1"))
	mp := &miniprogramapi.Duty{Handlers: &miniprogramapi.Handlers{Identity: a.Identity}, Duty: a.Duty}
	mp.Register(r.Group("/mp/v1"))
}
