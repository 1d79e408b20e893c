package miniprogramapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/web"
)

// bindInviteRequest carries an invite code and, for a household's code,
// which member the caller is. Nothing else can be sent: no village, no
// resident of another household, no role.
type bindInviteRequest struct {
	Code       string `json:"code" binding:"required,max=32"`
	ResidentID int64  `json:"resident_id" binding:"omitempty,gt=0"`
}

func (h *Handlers) bindWithInvite(c *gin.Context) error {
	var req bindInviteRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	out, err := h.Identity.BindWithInvite(c.Request.Context(), caller(c), actor(c), req.Code, req.ResidentID, c.ClientIP())
	if err != nil {
		return err
	}
	web.OK(c, out)
	return nil
}

type bindPhoneRequest struct {
	Code string `json:"code" binding:"required,max=128"`
}

func (h *Handlers) bindWithPhone(c *gin.Context) error {
	var req bindPhoneRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	out, err := h.Identity.BindWithPhone(c.Request.Context(), caller(c), actor(c), req.Code, c.ClientIP())
	if err != nil {
		return err
	}
	if out.Status == "pending" {
		c.JSON(http.StatusAccepted, web.Envelope{Data: out, RequestID: web.RequestID(c)})
		return nil
	}
	web.OK(c, out)
	return nil
}

func (h *Handlers) personalCode(c *gin.Context) error {
	out, err := h.Identity.PersonalCode(c.Request.Context(), caller(c))
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	web.OK(c, out)
	return nil
}

func (h *Handlers) resolveScene(c *gin.Context) error {
	sc, err := h.Identity.ResolveScene(c.Param("scene"))
	if err != nil {
		return err
	}
	web.OK(c, sc)
	return nil
}

type linkStaffRequest struct {
	Code string `json:"code" binding:"required,max=32"`
}

func (h *Handlers) linkStaff(c *gin.Context) error {
	var req linkStaffRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	if err := h.Identity.LinkStaff(c.Request.Context(), caller(c), actor(c), req.Code, c.ClientIP()); err != nil {
		return err
	}
	web.OK(c, gin.H{"staff_linked": true})
	return nil
}

func (h *Handlers) unlinkStaff(c *gin.Context) error {
	if err := h.Identity.UnlinkStaff(c.Request.Context(), caller(c), actor(c)); err != nil {
		return err
	}
	web.OK(c, gin.H{"staff_linked": false})
	return nil
}

// staffSession exchanges the caller's mini-program session for a staff
// session of the staff account linked to it; the mini-program then calls
// the console routes (/api/v1) with that token, under the same roles,
// scope checks and revocation as the console.
func (h *Handlers) staffSession(c *gin.Context) error {
	who := caller(c)
	if who.StaffID == 0 {
		return apperr.New(apperr.CodeForbidden, "您的微信未关联工作人员账号")
	}
	t, err := h.Staff.IssueLinkedSession(c.Request.Context(), who.StaffID, staff.Client{IP: c.ClientIP(), UserAgent: c.Request.UserAgent()})
	if err != nil {
		return err
	}
	web.OK(c, t)
	return nil
}
