package console

import (
	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/ranking"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/models/store"
	"github.com/villagepoints/jifen/web"
)

// Handlers holds what the console's handlers depend on.
type Handlers struct {
	DB     *gorm.DB
	People *people.Store
	Staff  *staff.Service
	Ledger *ledger.Store
	// MaxUploadBytes bounds roster files.
	MaxUploadBytes int64
	// Ranking serves leaderboards and monthly rankings; RankingFont is an
	// optional fuller font for their notices (RANKING_FONT).
	Ranking     *ranking.Service
	RankingFont string
	// Store is the points store 积分超市.
	Store *store.Store
}

// Register mounts the console API on r (normally /api/v1).
func (h *Handlers) Register(r *gin.RouterGroup) {
	r.POST("/auth/login", web.Handle(h.login))
	r.POST("/auth/refresh", web.Handle(h.refresh))

	a := r.Group("", h.authenticate)
	a.POST("/auth/logout", web.Handle(h.logout))
	a.GET("/me", web.Handle(h.me))

	a.GET("/regions", require(staff.ReadRegions), web.Handle(h.listRegions))
	a.POST("/regions", require(staff.ManageGrids), web.Handle(h.createRegion))

	a.GET("/villages/:village_id/households", require(staff.ReadPeople), web.Handle(h.listHouseholds))
	a.POST("/villages/:village_id/households", require(staff.WritePeople), web.Handle(h.createHousehold))
	a.GET("/households/:id", require(staff.ReadPeople), web.Handle(h.getHousehold))
	a.PUT("/households/:id", require(staff.WritePeople), web.Handle(h.updateHousehold))

	a.GET("/villages/:village_id/residents", require(staff.ReadPeople), web.Handle(h.listResidents))
	a.POST("/villages/:village_id/residents", require(staff.WritePeople), web.Handle(h.createResident))
	a.GET("/residents/:id", require(staff.ReadPeople), web.Handle(h.getResident))
	a.PUT("/residents/:id", require(staff.WritePeople), web.Handle(h.updateResident))

	a.GET("/roster-template", require(staff.ImportRoster), web.Handle(h.rosterTemplate))
	a.POST("/villages/:village_id/roster-imports", require(staff.ImportRoster), web.Handle(h.importRoster))

	a.GET("/staff", require(staff.ReadStaff), web.Handle(h.listStaff))
	a.POST("/staff", require(staff.ManageStaff), web.Handle(h.createStaff))
	a.GET("/staff/:id", require(staff.ReadStaff), web.Handle(h.getStaff))
	a.PATCH("/staff/:id", require(staff.ManageStaff), web.Handle(h.updateStaff))

	a.GET("/audit-log", require(staff.ReadAudit), web.Handle(h.listAudit))
	h.registerLedger(a)
	h.registerRanking(a)
	h.registerStore(a)
}
