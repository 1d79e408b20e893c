package miniprogramapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/models/identity"
	"github.com/villagepoints/jifen/models/volunteer"
	"github.com/villagepoints/jifen/web"
)

// Volunteer is the mini-program's volunteer service 志愿服务: the open
// activities of the caller's village, signing up and cancelling, scanning
// the activity's code to check in and out, and the caller's own record and
// certificate. Sign-up, cancellation and scans are keyed by the activity
// and the caller, so a double tap or a retry answers with the same sign-up
// instead of making a second one; they need no Idempotency-Key.
type Volunteer struct {
	*Handlers
	Volunteer *volunteer.Service
	// Font is an optional fuller font for certificates (rare characters
	// in names).
	Font string
}

// Register mounts the routes on r (normally /mp/v1).
func (h *Volunteer) Register(r *gin.RouterGroup) {
	a := r.Group("", h.authenticate)
	a.GET("/volunteer-activities", minePage(boundAs(volunteerOf), h.Volunteer.OpenActivities))
	a.GET("/volunteer-activities/:id", mineByID(boundAs(volunteerOf), h.Volunteer.ActivityFor))
	a.POST("/volunteer-activities/:id/signup", web.Handle(h.signUp))
	a.POST("/volunteer-activities/:id/signup/cancellation", mineByID(boundAs(volunteerOf), h.Volunteer.Cancel))
	a.POST("/me/volunteer-check-ins", web.Handle(h.scan(volunteer.CheckIn)))
	a.POST("/me/volunteer-check-outs", web.Handle(h.scan(volunteer.CheckOut)))
	a.GET("/me/volunteer-record", web.Handle(h.myRecord))
	a.GET("/me/volunteer-certificate.png", web.Handle(h.myCertificate))
}

// volunteerOf is the bound caller as the volunteer service knows them;
// the session binds a scan to the phone that made it.
func volunteerOf(who identity.Caller) volunteer.Resident {
	return volunteer.Resident{ResidentID: who.ResidentID, HouseholdID: who.HouseholdID, VillageID: who.VillageID, SessionID: who.SessionID}
}

// signUp answers 201 with a new sign-up (enrolled or waitlisted) and 200
// with the existing one when the caller had already signed up.
func (h *Volunteer) signUp(c *gin.Context) error {
	who, err := bound(c)
	if err != nil {
		return err
	}
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	s, err := h.Volunteer.SignUp(c.Request.Context(), volunteerOf(who), id)
	if err != nil {
		return err
	}
	if s.Replayed {
		web.OK(c, s)
	} else {
		web.Created(c, s)
	}
	return nil
}

// scanRequest is a scanned check-in code with where the phone was.
type scanRequest struct {
	Code      string   `json:"code" binding:"required,max=128"`
	Lat       *float64 `json:"lat" binding:"omitempty,gte=-90,lte=90"`
	Lng       *float64 `json:"lng" binding:"omitempty,gte=-180,lte=180"`
	AccuracyM int      `json:"accuracy_m" binding:"gte=0,lte=100000"`
}

func (h *Volunteer) scan(action string) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		who, err := bound(c)
		if err != nil {
			return err
		}
		var req scanRequest
		if err := web.BindJSON(c, &req); err != nil {
			return err
		}
		s, err := h.Volunteer.Scan(c.Request.Context(), volunteerOf(who), volunteer.ScanInput{Code: req.Code, Action: action,
			Lat: req.Lat, Lng: req.Lng, AccuracyM: req.AccuracyM})
		if err != nil {
			return err
		}
		web.OK(c, s)
		return nil
	}
}

func (h *Volunteer) myRecord(c *gin.Context) error {
	who, err := bound(c)
	if err != nil {
		return err
	}
	var q web.DayRange
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	rec, err := h.Volunteer.RecordOf(c.Request.Context(), who.ResidentID, q.From, q.To)
	if err != nil {
		return err
	}
	web.OK(c, rec)
	return nil
}

// myCertificate prints the caller's own certificate, with their full name.
func (h *Volunteer) myCertificate(c *gin.Context) error {
	who, err := bound(c)
	if err != nil {
		return err
	}
	var q web.DayRange
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	b, err := h.Volunteer.CertificatePNG(c.Request.Context(), who.ResidentID, q.From, q.To, h.Font)
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "private, no-store")
	c.Data(http.StatusOK, "image/png", b)
	return nil
}
