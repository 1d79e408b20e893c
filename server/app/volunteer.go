package app

import (
	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	miniprogramapi "github.com/villagepoints/jifen/miniprogram-api"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/volunteer"
	"github.com/villagepoints/jifen/server/console"
)

// wireVolunteer builds the volunteer service over the ledger (confirmed
// attendance posts inside the service's own transaction).
func (a *App) wireVolunteer() {
	l := a.Ledger
	a.Volunteer = volunteer.New(a.DB, volunteer.Options{
		Ledger:         func(tx *gorm.DB) volunteer.LedgerTx { return l.In(tx) },
		Settings:       l,
		CodeKey:        pii.DeriveKey(a.Config.SecretKey, "volunteer-checkin-code"),
		CertificateKey: pii.DeriveKey(a.Config.SecretKey, "volunteer-certificate"),
	})
}

// volunteerRoutes mounts the console's and the mini-program's volunteer
// routes.
func (a *App) volunteerRoutes(r *gin.Engine, cons *console.Handlers) {
	(&console.Volunteer{Handlers: cons, Volunteer: a.Volunteer}).Register(r.Group("/api/v1"))
	mp := &miniprogramapi.Volunteer{Handlers: &miniprogramapi.Handlers{Identity: a.Identity}, Volunteer: a.Volunteer, Font: a.Config.Ranking.Font}
	mp.Register(r.Group("/mp/v1"))
}
