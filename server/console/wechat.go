package console

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/web"
)

// WeChat holds the console's side of the mini-program's identity: invite
// codes, phone matches to confirm, bindings, household cards, scans of
// personal codes and cards, mini-program codes for places and activities,
// and the code that links a staff member's WeChat.
type WeChat struct {
	*Handlers
	Identity *identity.Service
}

// Register mounts the routes on r (normally /api/v1), behind the console's
// staff authentication.
func (h *WeChat) Register(r *gin.RouterGroup) {
	a := r.Group("", h.authenticate)
	a.POST("/me/wechat-link-code", web.Handle(h.createLinkCode))

	a.POST("/residents/:id/invite-codes", require(staff.BindResidents), web.Handle(h.inviteResident))
	a.POST("/households/:id/invite-codes", require(staff.BindResidents), web.Handle(h.inviteHousehold))
	a.GET("/villages/:village_id/bind-requests", require(staff.BindResidents), inVillagePage(staff.BindResidents, h.Identity.ListBindRequests))
	a.POST("/bind-requests/:id/decision", require(staff.BindResidents), web.Handle(h.decideBindRequest))
	a.GET("/villages/:village_id/wechat-bindings", require(staff.ReadPeople), inVillagePage(staff.ReadPeople, h.Identity.ListBindings))
	a.PUT("/wechat-users/:id/binding", require(staff.BindResidents), web.Handle(h.rebind))
	a.DELETE("/wechat-users/:id/binding", require(staff.BindResidents), web.Handle(h.unbind))

	a.GET("/households/:id/cards", require(staff.BindResidents), web.Handle(h.listCards))
	a.POST("/households/:id/cards", require(staff.BindResidents), web.Handle(h.issueCard))
	a.DELETE("/household-cards/:id", require(staff.BindResidents), web.Handle(h.revokeCard))

	a.POST("/scans", require(staff.ScanCodes), web.Handle(h.scan))
	a.POST("/villages/:village_id/wxacodes", require(staff.IssueCodes), web.Handle(h.wxacode))
}

// scope turns the caller's villages for perm into the identity service's
// Scope.
func scope(c *gin.Context, perm staff.Permission) identity.Scope {
	p := principal(c)
	return func(village int64) bool { return p.Can(perm, village) }
}

func (h *WeChat) createLinkCode(c *gin.Context) error {
	out, err := h.Identity.CreateLinkCode(c.Request.Context(), principal(c).StaffID)
	if err != nil {
		return err
	}
	web.Created(c, out)
	return nil
}

func (h *WeChat) inviteResident(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	out, err := h.Identity.CreateInvite(c.Request.Context(), scope(c, staff.BindResidents), actor(c), identity.InviteTarget{ResidentID: id})
	if err != nil {
		return err
	}
	web.Created(c, out)
	return nil
}

func (h *WeChat) inviteHousehold(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	out, err := h.Identity.CreateInvite(c.Request.Context(), scope(c, staff.BindResidents), actor(c), identity.InviteTarget{HouseholdID: id})
	if err != nil {
		return err
	}
	web.Created(c, out)
	return nil
}

// decisionRequest approves a phone match for one candidate or rejects it.
type decisionRequest struct {
	Approve    *bool `json:"approve" binding:"required"`
	ResidentID int64 `json:"resident_id" binding:"omitempty,gt=0"`
}

func (h *WeChat) decideBindRequest(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req decisionRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	if err := h.Identity.DecideBindRequest(c.Request.Context(), scope(c, staff.BindResidents), actor(c), id, *req.Approve, req.ResidentID); err != nil {
		return err
	}
	web.OK(c, gin.H{"id": id, "approved": *req.Approve})
	return nil
}

type rebindRequest struct {
	ResidentID int64  `json:"resident_id" binding:"required,gt=0"`
	Reason     string `json:"reason" binding:"required,max=600"`
}

func (h *WeChat) rebind(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req rebindRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	if err := h.Identity.Rebind(c.Request.Context(), scope(c, staff.BindResidents), actor(c), id, req.ResidentID, req.Reason); err != nil {
		return err
	}
	web.OK(c, gin.H{"user_id": id, "resident_id": req.ResidentID})
	return nil
}

type unbindRequest struct {
	Reason string `json:"reason" binding:"required,max=600"`
}

func (h *WeChat) unbind(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req unbindRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	if err := h.Identity.Unbind(c.Request.Context(), scope(c, staff.BindResidents), actor(c), id, req.Reason); err != nil {
		return err
	}
	web.OK(c, gin.H{"user_id": id, "bound": false})
	return nil
}

func (h *WeChat) listCards(c *gin.Context) error {
	hh, err := h.household(c, staff.BindResidents)
	if err != nil {
		return err
	}
	out, err := h.Identity.ListCards(c.Request.Context(), hh.ID)
	if err != nil {
		return err
	}
	web.OK(c, out)
	return nil
}

func (h *WeChat) issueCard(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	out, err := h.Identity.IssueCard(c.Request.Context(), scope(c, staff.BindResidents), actor(c), id)
	if err != nil {
		return err
	}
	web.Created(c, out)
	return nil
}

func (h *WeChat) revokeCard(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	out, err := h.Identity.RevokeCard(c.Request.Context(), scope(c, staff.BindResidents), actor(c), id)
	if err != nil {
		return err
	}
	web.OK(c, out)
	return nil
}

type scanRequest struct {
	Code string `json:"code" binding:"required,max=256"`
}

func (h *WeChat) scan(c *gin.Context) error {
	var req scanRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	out, err := h.Identity.ResolveScan(c.Request.Context(), scope(c, staff.ScanCodes), req.Code)
	if err != nil {
		return err
	}
	web.OK(c, out)
	return nil
}

type wxacodeRequest struct {
	Kind  string `json:"kind" binding:"required,oneof=place activity"`
	RefID int64  `json:"ref_id" binding:"required,gt=0"`
	Page  string `json:"page" binding:"max=128"`
}

// wxacode answers with the JPEG of the code itself, its signed scene in
// the X-Scene header.
func (h *WeChat) wxacode(c *gin.Context) error {
	village, err := villageParam(c, staff.IssueCodes)
	if err != nil {
		return err
	}
	var req wxacodeRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	img, scene, err := h.Identity.MiniProgramCode(c.Request.Context(), scope(c, staff.IssueCodes),
		identity.Scene{Kind: identity.SceneKind(req.Kind), VillageID: village, RefID: req.RefID}, req.Page)
	if err != nil {
		return err
	}
	c.Header("X-Scene", scene)
	c.Data(http.StatusOK, "image/jpeg", img)
	return nil
}
