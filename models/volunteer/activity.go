package volunteer

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Activity statuses.
const (
	ActivityOpen      = "open"
	ActivityCancelled = "cancelled"
)

// Activity is a volunteer activity 志愿活动.
type Activity struct {
	ID              int64     `json:"id"`
	VillageID       int64     `json:"village_id"`
	Title           string    `json:"title"`
	Description     string    `json:"description"`
	Organiser       string    `json:"organiser"`
	Place           string    `json:"place"`
	Lat             *float64  `json:"lat,omitempty"`
	Lng             *float64  `json:"lng,omitempty"`
	RadiusM         int       `json:"radius_m"`
	StartsAt        time.Time `json:"starts_at"`
	EndsAt          time.Time `json:"ends_at"`
	SignupOpensAt   time.Time `json:"signup_opens_at"`
	SignupClosesAt  time.Time `json:"signup_closes_at"`
	Capacity        int       `json:"capacity"`
	Enrolled        int       `json:"enrolled"`
	PointsPerHour   int64     `json:"points_per_hour"`
	FixedPoints     int64     `json:"fixed_points"`
	DailyCapMinutes int       `json:"daily_cap_minutes"`
	Track           string    `json:"track"`
	Status          string    `json:"status"`
	CreatedBy       int64     `json:"created_by"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// TableName is the activities table.
func (Activity) TableName() string { return "volunteer_activities" }

// ActivityInput is what staff set when creating an activity.
type ActivityInput struct {
	Title, Description, Organiser, Place string
	Lat, Lng                             *float64
	RadiusM                              int
	StartsAt, EndsAt                     time.Time
	SignupOpensAt, SignupClosesAt        time.Time
	Capacity                             int
	PointsPerHour, FixedPoints           int64
	DailyCapMinutes                      int
	Track                                string
}

func (in ActivityInput) validate() error {
	switch {
	case strings.TrimSpace(in.Title) == "":
		return apperr.Invalid("title", "请填写活动名称")
	case !in.EndsAt.After(in.StartsAt):
		return apperr.Invalid("ends_at", "结束时间须晚于开始时间")
	case in.SignupClosesAt.Before(in.SignupOpensAt):
		return apperr.Invalid("signup_closes_at", "报名截止时间须晚于报名开始时间")
	case in.Capacity <= 0:
		return apperr.Invalid("capacity", "名额须大于 0")
	case in.PointsPerHour < 0 || in.FixedPoints < 0 || (in.PointsPerHour == 0) == (in.FixedPoints == 0):
		return apperr.Invalid("points_per_hour", "每小时积分与固定积分须且只能设置一项")
	case (in.Lat == nil) != (in.Lng == nil):
		return apperr.Invalid("lat", "经纬度须同时填写")
	case in.Lat != nil && (*in.Lat < -90 || *in.Lat > 90 || *in.Lng < -180 || *in.Lng > 180):
		return apperr.Invalid("lat", "经纬度超出范围")
	case in.Lat != nil && in.RadiusM <= 0:
		return apperr.Invalid("radius_m", "设置了地点坐标时须设置签到半径")
	case in.DailyCapMinutes < 0:
		return apperr.Invalid("daily_cap_minutes", "每日时长上限不能为负")
	case !ledger.Track(in.Track).Valid():
		return apperr.Invalid("track", "积分类别无效")
	}
	return nil
}

// CreateActivity creates an activity in village. Without a sign-up
// window, sign-up opens now and closes when the activity starts.
func (s *Service) CreateActivity(ctx context.Context, who Staff, village int64, in ActivityInput) (Activity, error) {
	if in.Track == "" {
		in.Track = string(ledger.TrackVolunteer)
	}
	if in.SignupOpensAt.IsZero() {
		in.SignupOpensAt = s.now()
	}
	if in.SignupClosesAt.IsZero() {
		in.SignupClosesAt = in.StartsAt
	}
	if err := in.validate(); err != nil {
		return Activity{}, err
	}
	now := s.now()
	a := Activity{VillageID: village, Title: strings.TrimSpace(in.Title), Description: in.Description, Organiser: in.Organiser,
		Place: in.Place, Lat: in.Lat, Lng: in.Lng, RadiusM: in.RadiusM, StartsAt: in.StartsAt.UTC(), EndsAt: in.EndsAt.UTC(),
		SignupOpensAt: in.SignupOpensAt.UTC(), SignupClosesAt: in.SignupClosesAt.UTC(), Capacity: in.Capacity,
		PointsPerHour: in.PointsPerHour, FixedPoints: in.FixedPoints, DailyCapMinutes: in.DailyCapMinutes, Track: in.Track,
		Status: ActivityOpen, CreatedBy: who.ID, CreatedAt: now, UpdatedAt: now}
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		a.ID = 0 // a retried transaction inserts afresh
		if err := tx.Create(&a).Error; err != nil {
			return apperr.Internal(err)
		}
		return record(ctx, tx, who, village, "volunteer.activity.create", "volunteer_activity", a.ID, nil, a)
	})
	if err != nil {
		return Activity{}, err
	}
	return a, nil
}

// CancelActivity calls an activity off 取消活动: every sign-up, enrolled or
// waitlisted, is released and told 活动已取消 with the reason (in the same
// transaction), and nothing posts. Once the organiser has
// confirmed any attendance the activity happened and cannot be cancelled:
// its points stand in the ledger, where a correction is a reversal.
// Cancelling a cancelled activity answers with it unchanged.
func (s *Service) CancelActivity(ctx context.Context, who Staff, id int64, inScope func(int64) bool, reason string) (Activity, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Activity{}, apperr.Invalid("reason", "取消活动须填写原因，报名的村民会看到活动已取消")
	}
	var out Activity
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		a, err := lockActivity(tx, id)
		if err != nil {
			return err
		}
		if inScope != nil && !inScope(a.VillageID) {
			return apperr.NotFound("志愿活动")
		}
		if a.Status == ActivityCancelled {
			out = a
			return nil
		}
		var confirmed int64
		if err := tx.Model(&Signup{}).Where("activity_id = ? AND attendance <> ?", id, AttendancePending).Count(&confirmed).Error; err != nil {
			return apperr.Internal(err)
		}
		if confirmed > 0 {
			return apperr.New(apperr.CodeConflict, "该活动已确认考勤，不能取消；如需更正积分请在积分账本中冲正")
		}
		now := s.now()
		var released []int64
		if err := tx.Model(&Signup{}).Where("activity_id = ? AND status <> ?", id, Cancelled).Order("id").Pluck("resident_id", &released).Error; err != nil {
			return apperr.Internal(err)
		}
		res := tx.Model(&Signup{}).Where("activity_id = ? AND status <> ?", id, Cancelled).Updates(map[string]any{"status": Cancelled, "updated_at": now})
		if res.Error != nil {
			return apperr.Internal(res.Error)
		}
		if err := notifyCancelled(ctx, tx, a, released, reason); err != nil {
			return err
		}
		before := a
		a.Status, a.Enrolled, a.UpdatedAt = ActivityCancelled, 0, now
		if err := tx.Model(&Activity{}).Where("id = ?", id).Updates(map[string]any{"status": a.Status, "enrolled": 0, "updated_at": now}).Error; err != nil {
			return apperr.Internal(err)
		}
		out = a
		return record(ctx, tx, who, a.VillageID, "volunteer.activity.cancel", "volunteer_activity", id, before,
			map[string]any{"status": a.Status, "reason": reason, "released_signups": res.RowsAffected})
	})
	return out, err
}

// Activity returns one activity; inScope decides whether the caller may
// see its village (out of scope reads as not found).
func (s *Service) Activity(ctx context.Context, id int64, inScope func(int64) bool) (Activity, error) {
	return findActivity(s.db.WithContext(ctx), id, inScope)
}

func findActivity(db *gorm.DB, id int64, inScope func(int64) bool) (Activity, error) {
	var a Activity
	err := db.Where("id = ?", id).Take(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && inScope != nil && !inScope(a.VillageID)) {
		return Activity{}, apperr.NotFound("志愿活动")
	}
	if err != nil {
		return Activity{}, apperr.Internal(err)
	}
	return a, nil
}

// Activities lists a village's activities, newest first.
func (s *Service) Activities(ctx context.Context, village int64, offset, limit int) ([]Activity, int64, error) {
	q := s.db.WithContext(ctx).Model(&Activity{}).Where("village_id = ?", village)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, apperr.Internal(err)
	}
	out := []Activity{}
	if err := q.Order("starts_at DESC, id DESC").Offset(offset).Limit(limit).Find(&out).Error; err != nil {
		return nil, 0, apperr.Internal(err)
	}
	return out, total, nil
}

// Code returns the activity's current rotating check-in code for the
// organiser's screen.
func (s *Service) Code(ctx context.Context, id int64, inScope func(int64) bool) (ActivityCode, error) {
	if _, err := s.Activity(ctx, id, inScope); err != nil {
		return ActivityCode{}, err
	}
	return SignCode(s.opts.CodeKey, id, s.now()), nil
}

// ResidentActivity is an activity as a villager sees it: the places left
// and the caller's own sign-up, if any (with their place on the waiting
// list).
type ResidentActivity struct {
	Activity
	PlacesLeft int     `json:"places_left"`
	MySignup   *Signup `json:"my_signup"`
}

func residentView(a Activity, mine *Signup) ResidentActivity {
	return ResidentActivity{Activity: a, PlacesLeft: max(a.Capacity-a.Enrolled, 0), MySignup: mine}
}

// OpenActivities lists the open activities of the caller's village that
// have not ended, soonest first, each with the caller's sign-up.
func (s *Service) OpenActivities(ctx context.Context, who Resident, offset, limit int) ([]ResidentActivity, int64, error) {
	db := s.db.WithContext(ctx)
	q := db.Model(&Activity{}).Where("village_id = ? AND status = ? AND ends_at > ?", who.VillageID, ActivityOpen, s.now())
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, apperr.Internal(err)
	}
	var list []Activity
	if err := q.Order("starts_at, id").Offset(offset).Limit(limit).Find(&list).Error; err != nil {
		return nil, 0, apperr.Internal(err)
	}
	ids := make([]int64, len(list))
	for i, a := range list {
		ids[i] = a.ID
	}
	var mine []Signup
	if len(ids) > 0 {
		if err := db.Where("resident_id = ? AND activity_id IN ?", who.ResidentID, ids).Find(&mine).Error; err != nil {
			return nil, 0, apperr.Internal(err)
		}
	}
	byActivity := map[int64]*Signup{}
	for i := range mine {
		if err := withPosition(db, &mine[i]); err != nil {
			return nil, 0, err
		}
		byActivity[mine[i].ActivityID] = &mine[i]
	}
	out := make([]ResidentActivity, len(list))
	for i, a := range list {
		out[i] = residentView(a, byActivity[a.ID])
	}
	return out, total, nil
}

// ActivityFor returns one activity of the caller's village with the
// caller's sign-up; an activity of another village is not found.
func (s *Service) ActivityFor(ctx context.Context, who Resident, id int64) (ResidentActivity, error) {
	db := s.db.WithContext(ctx)
	a, err := findActivity(db, id, func(v int64) bool { return v == who.VillageID })
	if err != nil {
		return ResidentActivity{}, err
	}
	var mine Signup
	err = db.Where("activity_id = ? AND resident_id = ?", id, who.ResidentID).Take(&mine).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return residentView(a, nil), nil
	}
	if err != nil {
		return ResidentActivity{}, apperr.Internal(err)
	}
	if err := withPosition(db, &mine); err != nil {
		return ResidentActivity{}, err
	}
	return residentView(a, &mine), nil
}
