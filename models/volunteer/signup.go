package volunteer

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Sign-up statuses.
const (
	Enrolled   = "enrolled"   // holds a place
	Waitlisted = "waitlisted" // 候补: promoted in sign-up order when a place frees
	Cancelled  = "cancelled"
)

// Attendance outcomes, set by the organiser's confirmation.
const (
	AttendancePending  = "pending"
	AttendanceAttended = "attended"
	AttendanceNoShow   = "no_show"
)

// Signup is one resident's sign-up 报名 and attendance.
type Signup struct {
	ID                int64      `json:"id"`
	ActivityID        int64      `json:"activity_id"`
	VillageID         int64      `json:"village_id"`
	ResidentID        int64      `json:"resident_id"`
	HouseholdID       int64      `json:"household_id"`
	Status            string     `json:"status"`
	CheckedInAt       *time.Time `json:"checked_in_at,omitempty"`
	CheckInBy         string     `json:"check_in_by,omitempty"`
	CheckInDistanceM  *int       `json:"check_in_distance_m,omitempty"`
	CheckInReason     string     `json:"check_in_reason,omitempty"`
	CheckedOutAt      *time.Time `json:"checked_out_at,omitempty"`
	CheckOutBy        string     `json:"check_out_by,omitempty"`
	CheckOutDistanceM *int       `json:"check_out_distance_m,omitempty"`
	CheckOutReason    string     `json:"check_out_reason,omitempty"`
	Attendance        string     `json:"attendance"`
	Minutes           int        `json:"minutes"`
	Points            int64      `json:"points"`
	PostingID         *int64     `json:"posting_id,omitempty"`
	ConfirmedBy       *int64     `json:"confirmed_by,omitempty"`
	ConfirmedAt       *time.Time `json:"confirmed_at,omitempty"`
	CreatedAt         time.Time  `json:"created_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	// WaitlistPosition is the place on the waiting list (1 = next to be
	// promoted) of a waitlisted sign-up.
	WaitlistPosition int `gorm:"-" json:"waitlist_position,omitempty"`
	// Replayed marks the answer to a repeated sign-up: the sign-up that
	// already existed, unchanged.
	Replayed bool `gorm:"-" json:"replayed,omitempty"`
}

// TableName is the sign-ups table.
func (Signup) TableName() string { return "volunteer_signups" }

// lockActivity reads an activity with its row locked.
func lockActivity(tx *gorm.DB, id int64) (Activity, error) {
	var a Activity
	err := sqldb.ForUpdate(tx).Where("id = ?", id).Take(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return a, apperr.NotFound("志愿活动")
	}
	if err != nil {
		return a, apperr.Internal(err)
	}
	return a, nil
}

// SignUp signs the caller up: a place while there is one, else the
// waiting list 候补. Signing up again after cancelling reuses the row.
func (s *Service) SignUp(ctx context.Context, who Resident, activity int64) (Signup, error) {
	var out Signup
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		a, err := lockActivity(tx, activity)
		if err != nil {
			return err
		}
		if a.VillageID != who.VillageID {
			return apperr.NotFound("志愿活动")
		}
		now := s.now()
		if a.Status != ActivityOpen {
			return apperr.New(CodeSignupClosed, "活动已取消，不能报名")
		}
		if now.Before(a.SignupOpensAt) || !now.Before(a.SignupClosesAt) {
			return apperr.New(CodeSignupClosed, "不在报名时间内")
		}
		status := Waitlisted
		if a.Enrolled < a.Capacity {
			status = Enrolled
		}
		var row Signup
		err = tx.Where("activity_id = ? AND resident_id = ?", activity, who.ResidentID).Take(&row).Error
		switch {
		case err == nil && row.Status != Cancelled:
			out = row // already signed up: a double tap answers the same
			out.Replayed = true
			return withPosition(tx, &out)
		case err == nil:
			row.Status, row.UpdatedAt = status, now
			if err := tx.Model(&row).Select("status", "updated_at").Updates(&row).Error; err != nil {
				return apperr.Internal(err)
			}
		case errors.Is(err, gorm.ErrRecordNotFound):
			row = Signup{ActivityID: activity, VillageID: a.VillageID, ResidentID: who.ResidentID, HouseholdID: who.HouseholdID,
				Status: status, Attendance: AttendancePending, CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(&row).Error; err != nil {
				return apperr.Internal(err)
			}
		default:
			return apperr.Internal(err)
		}
		if status == Enrolled {
			if err := tx.Model(&Activity{}).Where("id = ?", a.ID).Update("enrolled", gorm.Expr("enrolled + 1")).Error; err != nil {
				return apperr.Internal(err)
			}
		}
		out = row
		return withPosition(tx, &out)
	})
	return out, err
}

// withPosition sets a waitlisted sign-up's place in the promotion order
// (the order promote uses).
func withPosition(db *gorm.DB, row *Signup) error {
	row.WaitlistPosition = 0
	if row.Status != Waitlisted {
		return nil
	}
	var ids []int64
	if err := db.Model(&Signup{}).Where("activity_id = ? AND status = ?", row.ActivityID, Waitlisted).Order("updated_at, id").Pluck("id", &ids).Error; err != nil {
		return apperr.Internal(err)
	}
	row.WaitlistPosition = slices.Index(ids, row.ID) + 1
	return nil
}

// Cancel withdraws the caller's sign-up before the activity starts; a
// freed place goes to the first on the waiting list.
func (s *Service) Cancel(ctx context.Context, who Resident, activity int64) (Signup, error) {
	var out Signup
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		a, err := lockActivity(tx, activity)
		if err != nil {
			return err
		}
		var row Signup
		err = tx.Where("activity_id = ? AND resident_id = ?", activity, who.ResidentID).Take(&row).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return apperr.New(CodeNotEnrolled, "您未报名该活动")
		}
		if err != nil {
			return apperr.Internal(err)
		}
		if row.Status == Cancelled {
			out = row // a repeated cancel answers the same
			out.Replayed = true
			return nil
		}
		now := s.now()
		if row.CheckedInAt != nil || !now.Before(a.StartsAt) {
			return apperr.New(apperr.CodeConflict, "活动已开始或您已签到，不能取消报名")
		}
		was := row.Status
		row.Status, row.UpdatedAt = Cancelled, now
		if err := tx.Model(&row).Select("status", "updated_at").Updates(&row).Error; err != nil {
			return apperr.Internal(err)
		}
		if was == Enrolled {
			if err := promote(ctx, tx, a, now); err != nil {
				return err
			}
		}
		out = row
		return nil
	})
	return out, err
}

// promote gives a freed place to the first waitlisted sign-up, telling
// them 候补成功 in the same transaction, or gives the place back to the
// activity.
func promote(ctx context.Context, tx *gorm.DB, a Activity, now time.Time) error {
	var next Signup
	err := tx.Where("activity_id = ? AND status = ?", a.ID, Waitlisted).Order("updated_at, id").Take(&next).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return dbErr(tx.Model(&Activity{}).Where("id = ?", a.ID).Update("enrolled", gorm.Expr("enrolled - 1")).Error)
	}
	if err != nil {
		return apperr.Internal(err)
	}
	if err := notifyPromoted(ctx, tx, a, next); err != nil {
		return err
	}
	return dbErr(tx.Model(&next).Updates(map[string]any{"status": Enrolled, "updated_at": now}).Error)
}

func dbErr(err error) error {
	if err != nil {
		return apperr.Internal(err)
	}
	return nil
}

// SignupView is a sign-up with the resident's name, as staff see it.
type SignupView struct {
	Signup
	Name string `json:"name"`
}

// Signups lists an activity's sign-ups in sign-up order, waitlisted ones
// with their place. Names are shown in full where fullNames allows the
// activity's village (staff who may read residents there), else masked.
func (s *Service) Signups(ctx context.Context, activity int64, inScope, fullNames func(int64) bool) ([]SignupView, error) {
	a, err := s.Activity(ctx, activity, inScope)
	if err != nil {
		return nil, err
	}
	db := s.db.WithContext(ctx)
	var rows []Signup
	if err := db.Where("activity_id = ?", activity).Order("id").Find(&rows).Error; err != nil {
		return nil, apperr.Internal(err)
	}
	names, err := residentNames(db, rows)
	if err != nil {
		return nil, err
	}
	waiting := []*Signup{}
	for i := range rows {
		if rows[i].Status == Waitlisted {
			waiting = append(waiting, &rows[i])
		}
	}
	slices.SortFunc(waiting, func(x, y *Signup) int {
		return cmp.Or(x.UpdatedAt.Compare(y.UpdatedAt), cmp.Compare(x.ID, y.ID))
	})
	for i, w := range waiting {
		w.WaitlistPosition = i + 1
	}
	full := fullNames != nil && fullNames(a.VillageID)
	out := make([]SignupView, len(rows))
	for i, r := range rows {
		name := names[r.ResidentID]
		if !full {
			name = pii.MaskName(name)
		}
		out[i] = SignupView{Signup: r, Name: name}
	}
	return out, nil
}

func residentNames(db *gorm.DB, rows []Signup) (map[int64]string, error) {
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ResidentID)
	}
	out := map[int64]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var found []struct {
		ID   int64
		Name string
	}
	if err := db.Table("residents").Select("id, name").Where("id IN ?", ids).Scan(&found).Error; err != nil {
		return nil, apperr.Internal(err)
	}
	for _, f := range found {
		out[f.ID] = f.Name
	}
	return out, nil
}
