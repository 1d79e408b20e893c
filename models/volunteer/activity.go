package volunteer

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
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

// CreateActivity creates an activity in village.
func (s *Service) CreateActivity(ctx context.Context, who Staff, village int64, in ActivityInput) (Activity, error) {
	if in.Track == "" {
		in.Track = string(ledger.TrackVolunteer)
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
	if err := s.db.WithContext(ctx).Create(&a).Error; err != nil {
		return Activity{}, apperr.Internal(err)
	}
	return a, nil
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
