package console

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/models/volunteer"
	"github.com/villagepoints/jifen/web"
)

// Volunteer holds the console's volunteer activity routes 志愿服务: the
// organiser creates and cancels activities, shows the rotating check-in
// code on a screen at the place, checks villagers without phones in and
// out by hand, and confirms attendance, which posts the points; staff read
// a resident's record and print their certificate 志愿服务证明.
type Volunteer struct {
	*Handlers
	Volunteer *volunteer.Service
}

// Register mounts the routes on r (normally /api/v1), behind the console's
// staff authentication.
func (h *Volunteer) Register(r *gin.RouterGroup) {
	a := r.Group("", h.authenticate)
	a.GET("/villages/:village_id/volunteer-activities", require(staff.ReadVolunteer), inVillagePage(staff.ReadVolunteer, h.Volunteer.Activities))
	a.POST("/villages/:village_id/volunteer-activities", require(staff.ManageVolunteer), web.Handle(h.createActivity))
	a.GET("/volunteer-activities/:id", require(staff.ReadVolunteer), web.Handle(h.getActivity))
	a.POST("/volunteer-activities/:id/cancellation", require(staff.ManageVolunteer), web.Handle(h.cancelActivity))
	a.GET("/volunteer-activities/:id/check-in-code", require(staff.ManageVolunteer), web.Handle(h.checkInCode))
	a.GET("/volunteer-activities/:id/signups", require(staff.ReadVolunteer), web.Handle(h.listSignups))
	a.POST("/volunteer-activities/:id/manual-checks", require(staff.ManageVolunteer), web.Handle(h.manualCheck))
	a.POST("/volunteer-activities/:id/attendance-confirmations", require(staff.ManageVolunteer), web.Handle(h.confirmAttendance))
	a.GET("/residents/:id/volunteer-record", require(staff.ReadVolunteer), web.Handle(h.residentRecord))
	a.GET("/residents/:id/volunteer-certificate.png", require(staff.ReadVolunteer), web.Handle(h.residentCertificate))
}

// volunteerStaff is the caller as the volunteer service records them.
func volunteerStaff(c *gin.Context) volunteer.Staff {
	p := principal(c)
	return volunteer.Staff{ID: p.StaffID, Name: p.Name, RequestID: web.RequestID(c), IP: c.ClientIP()}
}

// activityRequest is a new activity. Without a sign-up window, sign-up
// opens now and closes when the activity starts. Exactly one of
// points_per_hour and fixed_points is set.
type activityRequest struct {
	Title           string     `json:"title" binding:"required,max=100"`
	Description     string     `json:"description" binding:"max=2000"`
	Organiser       string     `json:"organiser" binding:"max=100"`
	Place           string     `json:"place" binding:"max=200"`
	Lat             *float64   `json:"lat"`
	Lng             *float64   `json:"lng"`
	RadiusM         int        `json:"radius_m" binding:"gte=0,lte=5000"`
	StartsAt        time.Time  `json:"starts_at" binding:"required"`
	EndsAt          time.Time  `json:"ends_at" binding:"required"`
	SignupOpensAt   *time.Time `json:"signup_opens_at"`
	SignupClosesAt  *time.Time `json:"signup_closes_at"`
	Capacity        int        `json:"capacity" binding:"required,gt=0,lte=10000"`
	PointsPerHour   int64      `json:"points_per_hour" binding:"gte=0,lte=1000"`
	FixedPoints     int64      `json:"fixed_points" binding:"gte=0,lte=1000"`
	DailyCapMinutes int        `json:"daily_cap_minutes" binding:"gte=0,lte=1440"`
	Track           string     `json:"track" binding:"omitempty,oneof=civic party volunteer"`
}

func (r activityRequest) input() volunteer.ActivityInput {
	in := volunteer.ActivityInput{Title: r.Title, Description: r.Description, Organiser: r.Organiser, Place: r.Place,
		Lat: r.Lat, Lng: r.Lng, RadiusM: r.RadiusM, StartsAt: r.StartsAt, EndsAt: r.EndsAt, Capacity: r.Capacity,
		PointsPerHour: r.PointsPerHour, FixedPoints: r.FixedPoints, DailyCapMinutes: r.DailyCapMinutes, Track: r.Track}
	if r.SignupOpensAt != nil {
		in.SignupOpensAt = *r.SignupOpensAt
	}
	if r.SignupClosesAt != nil {
		in.SignupClosesAt = *r.SignupClosesAt
	}
	return in
}

func (h *Volunteer) createActivity(c *gin.Context) error {
	village, err := villageParam(c, staff.ManageVolunteer)
	if err != nil {
		return err
	}
	var req activityRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	a, err := h.Volunteer.CreateActivity(c.Request.Context(), volunteerStaff(c), village, req.input())
	if err != nil {
		return err
	}
	web.Created(c, a)
	return nil
}

func (h *Volunteer) getActivity(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	a, err := h.Volunteer.Activity(c.Request.Context(), id, villageScope(c, staff.ReadVolunteer))
	if err != nil {
		return err
	}
	web.OK(c, a)
	return nil
}

type cancelActivityRequest struct {
	Reason string `json:"reason" binding:"required,max=200"`
}

func (h *Volunteer) cancelActivity(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req cancelActivityRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	a, err := h.Volunteer.CancelActivity(c.Request.Context(), volunteerStaff(c), id, villageScope(c, staff.ManageVolunteer), req.Reason)
	if err != nil {
		return err
	}
	web.OK(c, a)
	return nil
}

// checkInCode answers the code the organiser's screen shows as a QR code;
// the screen fetches the next one at refresh_at.
func (h *Volunteer) checkInCode(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	code, err := h.Volunteer.Code(c.Request.Context(), id, villageScope(c, staff.ManageVolunteer))
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	web.OK(c, code)
	return nil
}

// listSignups shows names in full to staff who may read the village's
// residents, masked to others (as the resident lists do).
func (h *Volunteer) listSignups(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	list, err := h.Volunteer.Signups(c.Request.Context(), id, villageScope(c, staff.ReadVolunteer), villageScope(c, staff.ReadPeople))
	if err != nil {
		return err
	}
	web.OK(c, list)
	return nil
}

// manualCheckRequest checks a resident in or out on their behalf; at
// defaults to now. Checking in a resident who did not sign up gives them
// a free place.
type manualCheckRequest struct {
	ResidentID int64      `json:"resident_id" binding:"required,gt=0"`
	Action     string     `json:"action" binding:"required,oneof=check_in check_out"`
	At         *time.Time `json:"at"`
	Reason     string     `json:"reason" binding:"required,max=200"`
}

func (h *Volunteer) manualCheck(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req manualCheckRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	in := volunteer.ManualInput{ResidentID: req.ResidentID, Action: req.Action, Reason: req.Reason}
	if req.At != nil {
		in.At = *req.At
	}
	s, err := h.Volunteer.Manual(c.Request.Context(), volunteerStaff(c), id, villageScope(c, staff.ManageVolunteer), in)
	if err != nil {
		return err
	}
	web.OK(c, s)
	return nil
}

// confirmAttendanceRequest is the organiser's attendance sheet: attended or not per
// sign-up, and a check-out time for whoever forgot to check out.
type confirmAttendanceRequest struct {
	Items []confirmItem `json:"items" binding:"required,min=1,max=500,dive"`
}

type confirmItem struct {
	SignupID     int64      `json:"signup_id" binding:"required,gt=0"`
	Attended     *bool      `json:"attended" binding:"required"`
	CheckedOutAt *time.Time `json:"checked_out_at"`
}

func (h *Volunteer) confirmAttendance(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	var req confirmAttendanceRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	items := make([]volunteer.ConfirmItem, len(req.Items))
	for i, it := range req.Items {
		items[i] = volunteer.ConfirmItem{SignupID: it.SignupID, Attended: *it.Attended, CheckedOutAt: it.CheckedOutAt}
	}
	out, err := h.Volunteer.Confirm(c.Request.Context(), volunteerStaff(c), id, villageScope(c, staff.ManageVolunteer), items)
	if err != nil {
		return err
	}
	web.OK(c, out)
	return nil
}

func (h *Volunteer) residentRecord(c *gin.Context) error {
	r, err := h.resident(c, staff.ReadVolunteer)
	if err != nil {
		return err
	}
	var q web.DayRange
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	rec, err := h.Volunteer.RecordOf(c.Request.Context(), r.ID, q.From, q.To)
	if err != nil {
		return err
	}
	web.OK(c, rec)
	return nil
}

// residentCertificate prints the certificate with the resident's full
// name: staff print it for the resident, who takes the paper home.
func (h *Volunteer) residentCertificate(c *gin.Context) error {
	r, err := h.resident(c, staff.ReadVolunteer)
	if err != nil {
		return err
	}
	var q web.DayRange
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	b, err := h.Volunteer.CertificatePNG(c.Request.Context(), r.ID, q.From, q.To, h.RankingFont)
	if err != nil {
		return err
	}
	c.Header("Content-Disposition", fmt.Sprintf(`inline; filename="volunteer-certificate-%d-%s-%s.png"`, r.ID, q.From, q.To))
	c.Data(http.StatusOK, "image/png", b)
	return nil
}
