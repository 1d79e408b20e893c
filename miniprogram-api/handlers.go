// Package miniprogramapi is the API the WeChat mini-program calls (under
// /mp/v1), separate from the staff console. Its contract is openapi.yaml
// beside this file, which also describes the console API.
package miniprogramapi

import (
	_ "embed"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/models/notify"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/web"
)

// OpenAPI is the API description of every route the server registers.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Handlers holds what the mini-program's handlers depend on.
type Handlers struct {
	Identity *identity.Service
	Inbox    *notify.Inbox
	// Staff issues the staff session of a linked staff account.
	Staff *staff.Service
	// MountDevLogin mounts POST /auth/dev-login; the app sets it in the
	// embedded mode only, and the route answers 404 unless DEV_LOGIN=1.
	MountDevLogin bool
}

// Register mounts the mini-program API on r (normally /mp/v1). Every
// authenticated route answers for the caller's own resident and household
// only: none takes a resident id to act on.
func (h *Handlers) Register(r *gin.RouterGroup) {
	r.POST("/auth/login", web.Handle(h.login))
	r.POST("/auth/refresh", web.Handle(h.refresh))
	if h.MountDevLogin {
		r.POST("/auth/dev-login", web.Handle(h.devLogin))
	}

	a := r.Group("", h.authenticate)
	a.POST("/auth/logout", web.Handle(h.logout))
	a.GET("/me", mine(signedIn, h.Identity.Me))
	a.GET("/me/household", mine(signedIn, h.Identity.Household))
	a.POST("/me/binding/invite", web.Handle(h.bindWithInvite))
	a.POST("/me/binding/phone", web.Handle(h.bindWithPhone))
	a.GET("/me/personal-code", web.Handle(h.personalCode))
	a.GET("/me/notifications", web.Handle(h.listNotifications))
	a.PATCH("/me/notifications/:id", web.Handle(h.updateNotification))
	a.POST("/me/staff-link", web.Handle(h.linkStaff))
	a.DELETE("/me/staff-link", web.Handle(h.unlinkStaff))
	a.POST("/me/staff-session", web.Handle(h.staffSession))
	a.GET("/scenes/:scene", web.Handle(h.resolveScene))
}
