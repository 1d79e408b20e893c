// Package console is the staff console's HTTP API: thin handlers that
// decode a request, check role and village scope, call one domain
// function and encode the result.
package console

import (
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/web"
)

const principalKey = "staff_principal"

// authenticate requires a valid staff access token.
func (h *Handlers) authenticate(c *gin.Context) {
	token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok || token == "" {
		web.Fail(c, apperr.New(apperr.CodeUnauthenticated, "请先登录"))
		return
	}
	p, err := h.Staff.Authenticate(c.Request.Context(), token)
	if err != nil {
		web.Fail(c, err)
		return
	}
	c.Set(principalKey, p)
	c.Set(web.ActorKey, p.Username)
	c.Next()
}

// require lets the request through only when the principal holds one of
// perms in at least one village (or on a higher region); the handler then
// checks the village of the resource it touches.
func require(perms ...staff.Permission) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := principal(c)
		for _, perm := range perms {
			if p.HasAny(perm) {
				c.Next()
				return
			}
		}
		web.Fail(c, apperr.New(apperr.CodeForbidden, "您的角色无权执行此操作"))
	}
}

func principal(c *gin.Context) staff.Principal {
	p, _ := c.Get(principalKey)
	return p.(staff.Principal)
}

func actor(c *gin.Context) audit.Actor {
	p := principal(c)
	return audit.Actor{StaffID: p.StaffID, Name: p.Name, RequestID: web.RequestID(c), IP: c.ClientIP()}
}

// inScope answers a resource outside the caller's villages as not found, so
// a staff member of village A cannot even learn that a record of village B
// exists.
func inScope(c *gin.Context, perm staff.Permission, village int64, what string) error {
	if !principal(c).Can(perm, village) {
		return apperr.NotFound(what)
	}
	return nil
}

// villageParam reads :village_id and checks the caller holds perm there.
// Naming a village explicitly is answered with 403, not 404.
func villageParam(c *gin.Context, perm staff.Permission) (int64, error) {
	id, err := web.PathID(c, "village_id")
	if err != nil {
		return 0, err
	}
	if !principal(c).Can(perm, id) {
		return 0, apperr.New(apperr.CodeOutOfScope, "该村不在您的管理范围内")
	}
	return id, nil
}

type loginRequest struct {
	Username string `json:"username" binding:"required,max=64"`
	Password string `json:"password" binding:"required,max=128"`
}

func (h *Handlers) login(c *gin.Context) error {
	var req loginRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	t, err := h.Staff.Login(c.Request.Context(), req.Username, req.Password, client(c))
	if err != nil {
		return err
	}
	web.OK(c, t)
	return nil
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token" binding:"required,max=128"`
}

func (h *Handlers) refresh(c *gin.Context) error {
	var req refreshRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	t, err := h.Staff.Refresh(c.Request.Context(), req.RefreshToken, client(c))
	if err != nil {
		return err
	}
	web.OK(c, t)
	return nil
}

func (h *Handlers) logout(c *gin.Context) error {
	if err := h.Staff.Logout(c.Request.Context(), principal(c)); err != nil {
		return err
	}
	web.OK(c, gin.H{"logged_out": true})
	return nil
}

type meResponse struct {
	ID       int64         `json:"id"`
	Username string        `json:"username"`
	Name     string        `json:"display_name"`
	Grants   []staff.Grant `json:"grants"`
	Villages []int64       `json:"villages"`
}

func (h *Handlers) me(c *gin.Context) error {
	p := principal(c)
	web.OK(c, meResponse{ID: p.StaffID, Username: p.Username, Name: p.Name, Grants: p.Grants, Villages: p.Villages(staff.ReadRegions)})
	return nil
}

func client(c *gin.Context) staff.Client {
	return staff.Client{IP: c.ClientIP(), UserAgent: c.Request.UserAgent()}
}
