package miniprogramapi

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/web"
)

const callerKey = "mp_caller"

// authenticate requires a valid mini-program access token; a staff
// console token is refused (another key and audience).
func (h *Handlers) authenticate(c *gin.Context) {
	token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok || token == "" {
		web.Fail(c, apperr.New(apperr.CodeUnauthenticated, "请先登录"))
		return
	}
	who, err := h.Identity.Authenticate(c.Request.Context(), token)
	if err != nil {
		web.Fail(c, err)
		return
	}
	c.Set(callerKey, who)
	c.Set(web.ActorKey, "mp:"+strconv.FormatInt(who.UserID, 10))
	c.Next()
}

func caller(c *gin.Context) identity.Caller {
	v, _ := c.Get(callerKey)
	return v.(identity.Caller)
}

// actor names a villager's own write in the audit log; villagers have no
// staff id, so StaffID stays 0.
func actor(c *gin.Context) audit.Actor {
	return audit.Actor{Name: fmt.Sprintf("微信用户#%d", caller(c).UserID), RequestID: web.RequestID(c), IP: c.ClientIP()}
}

type loginRequest struct {
	Code string `json:"code" binding:"required,max=128"`
}

func (h *Handlers) login(c *gin.Context) error {
	var req loginRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	out, err := h.Identity.Login(c.Request.Context(), req.Code, c.ClientIP())
	if err != nil {
		return err
	}
	web.OK(c, out)
	return nil
}

func (h *Handlers) devLogin(c *gin.Context) error {
	var req loginRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	out, err := h.Identity.DevLogin(c.Request.Context(), req.Code)
	if err != nil {
		return err
	}
	web.OK(c, out)
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
	t, err := h.Identity.Refresh(c.Request.Context(), req.RefreshToken)
	if err != nil {
		return err
	}
	web.OK(c, t)
	return nil
}

func (h *Handlers) logout(c *gin.Context) error {
	if err := h.Identity.Logout(c.Request.Context(), caller(c)); err != nil {
		return err
	}
	web.OK(c, gin.H{"logged_out": true})
	return nil
}
