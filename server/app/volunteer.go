package app

import (
	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/volunteer"
	"github.com/villagepoints/jifen/server/console"
)

// wireVolunteer builds the volunteer service over the ledger (confirmed
// attendance posts inside the service's own transaction).
func (a *App) wireVolunteer() {
	l := a.Ledger
	a.Volunteer = volunteer.New(a.DB, volunteer.Options{
		Ledger:   func(tx *gorm.DB) volunteer.LedgerTx { return l.In(tx) },
		Settings: l,
		CodeKey:  pii.DeriveKey(a.Config.SecretKey, "volunteer-checkin-code"),
	})
}

// volunteerRoutes mounts the console's and the mini-program's volunteer
// routes.
func (a *App) volunteerRoutes(r *gin.Engine, cons *console.Handlers) {
	_, _ = r, cons
}
