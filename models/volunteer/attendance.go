package volunteer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/notify"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/rules"
)

// Scan actions.
const (
	CheckIn  = "check_in"
	CheckOut = "check_out"
)

// checkSlack is how long before the start check-in opens and after the
// end check-out is still accepted.
const checkSlack = time.Hour

// ScanInput is a resident's scan of an activity code at the place.
type ScanInput struct {
	Code      string
	Action    string
	Lat, Lng  *float64
	AccuracyM int
}

// Scan checks the caller in or out with a scanned rotating code. The scan
// is bound to the caller's session (recorded), the code must be current,
// and when the activity has coordinates the location must be inside its
// radius (with GPS tolerance); the distance is recorded.
func (s *Service) Scan(ctx context.Context, who Resident, in ScanInput) (Signup, error) {
	now := s.now()
	activity, err := VerifyCode(s.opts.CodeKey, in.Code, now)
	if err != nil {
		return Signup{}, err
	}
	var out Signup
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		a, err := lockActivity(tx, activity)
		if err != nil {
			return err
		}
		if a.VillageID != who.VillageID {
			return apperr.NotFound("志愿活动")
		}
		var dist *int
		if a.Lat != nil {
			if in.Lat == nil || in.Lng == nil {
				return apperr.New(CodeLocationRequired, "请允许小程序获取位置后再扫码签到")
			}
			d, ok := rules.InsideFence(*a.Lat, *a.Lng, a.RadiusM, *in.Lat, *in.Lng, in.AccuracyM)
			if !ok {
				return apperr.Newf(CodeOutsideFence, "您距活动地点约 %d 米，请到现场签到", d)
			}
			dist = &d
		}
		row, err := s.mark(tx, a, who.ResidentID, in.Action, now, "session:"+strconv.FormatInt(who.SessionID, 10), "", dist)
		out = row
		return err
	})
	return out, err
}

// ManualInput is a staff check-in or check-out for a resident without a
// phone; the reason is required and recorded.
type ManualInput struct {
	ResidentID int64
	Action     string
	At         time.Time // zero means now
	Reason     string
}

// Manual checks a resident in or out on their behalf.
func (s *Service) Manual(ctx context.Context, who Staff, activity int64, inScope func(int64) bool, in ManualInput) (Signup, error) {
	if strings.TrimSpace(in.Reason) == "" {
		return Signup{}, apperr.Invalid("reason", "代签须填写原因")
	}
	at := in.At.UTC()
	if in.At.IsZero() {
		at = s.now()
	}
	var out Signup
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		a, err := lockActivity(tx, activity)
		if err != nil {
			return err
		}
		if inScope != nil && !inScope(a.VillageID) {
			return apperr.NotFound("志愿活动")
		}
		if in.Action == CheckIn {
			if err := s.enrolWalkIn(tx, a, in.ResidentID); err != nil {
				return err
			}
		}
		row, err := s.mark(tx, a, in.ResidentID, in.Action, at, "staff:"+strconv.FormatInt(who.ID, 10), strings.TrimSpace(in.Reason), nil)
		if err != nil {
			return err
		}
		out = row
		return record(ctx, tx, who, a.VillageID, "volunteer."+in.Action+".manual", "volunteer_signup", row.ID, nil,
			map[string]any{"activity_id": a.ID, "resident_id": row.ResidentID, "at": at, "reason": strings.TrimSpace(in.Reason)})
	})
	return out, err
}

// enrolWalkIn gives a resident who comes without having signed up (an
// elderly villager without a phone cannot sign up in the mini-program) a
// place when staff check them in, if one is free. a is locked.
func (s *Service) enrolWalkIn(tx *gorm.DB, a Activity, resident int64) error {
	var row Signup
	err := tx.Where("activity_id = ? AND resident_id = ?", a.ID, resident).Take(&row).Error
	if err == nil && row.Status == Enrolled {
		return nil
	}
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return apperr.Internal(err)
	}
	var r struct {
		VillageID   int64
		HouseholdID *int64
		Status      string
	}
	res := tx.Table("residents").Select("village_id, household_id, status").Where("id = ?", resident).Scan(&r)
	if res.Error != nil {
		return apperr.Internal(res.Error)
	}
	if res.RowsAffected == 0 || r.VillageID != a.VillageID {
		return apperr.NotFound("村民")
	}
	if a.Status != ActivityOpen {
		return apperr.New(CodeNotRunning, "活动已取消")
	}
	if a.Enrolled >= a.Capacity {
		return apperr.New(CodeFull, "活动名额已满，不能代为报名签到")
	}
	now := s.now()
	if errors.Is(err, gorm.ErrRecordNotFound) {
		row = Signup{ActivityID: a.ID, VillageID: a.VillageID, ResidentID: resident, HouseholdID: derefOr(r.HouseholdID),
			Status: Enrolled, Attendance: AttendancePending, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&row).Error; err != nil {
			return apperr.Internal(err)
		}
	} else if err := tx.Model(&Signup{}).Where("id = ?", row.ID).Updates(map[string]any{"status": Enrolled, "updated_at": now}).Error; err != nil {
		return apperr.Internal(err)
	}
	return dbErr(tx.Model(&Activity{}).Where("id = ?", a.ID).Update("enrolled", gorm.Expr("enrolled + 1")).Error)
}

func derefOr(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// mark records a check-in or check-out at time at on the resident's
// enrolled sign-up.
func (s *Service) mark(tx *gorm.DB, a Activity, resident int64, action string, at time.Time, by, reason string, dist *int) (Signup, error) {
	if a.Status != ActivityOpen || at.Before(a.StartsAt.Add(-checkSlack)) || at.After(a.EndsAt.Add(checkSlack)) {
		return Signup{}, apperr.New(CodeNotRunning, "活动不在签到/签退时间内")
	}
	var row Signup
	err := sqldb.ForUpdate(tx).Where("activity_id = ? AND resident_id = ? AND status = ?", a.ID, resident, Enrolled).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Signup{}, apperr.New(CodeNotEnrolled, "未报名或仍在候补，不能签到")
	}
	if err != nil {
		return Signup{}, apperr.Internal(err)
	}
	if row.Attendance != AttendancePending {
		return Signup{}, apperr.New(apperr.CodeConflict, "考勤已确认，不能再签到/签退")
	}
	upd := map[string]any{"updated_at": s.now()}
	switch action {
	case CheckIn:
		if row.CheckedInAt != nil {
			return Signup{}, apperr.New(CodeAlreadyCheckedIn, "您已签到，无需重复签到")
		}
		row.CheckedInAt, row.CheckInBy, row.CheckInReason, row.CheckInDistanceM = &at, by, reason, dist
		upd["checked_in_at"], upd["check_in_by"], upd["check_in_reason"], upd["check_in_distance_m"] = at, by, reason, dist
	case CheckOut:
		if row.CheckedInAt == nil {
			return Signup{}, apperr.New(CodeNotCheckedIn, "请先签到")
		}
		if row.CheckedOutAt != nil {
			return Signup{}, apperr.New(apperr.CodeConflict, "您已签退")
		}
		if at.Before(*row.CheckedInAt) {
			return Signup{}, apperr.Invalid("at", "签退时间不能早于签到时间")
		}
		row.CheckedOutAt, row.CheckOutBy, row.CheckOutReason, row.CheckOutDistanceM = &at, by, reason, dist
		upd["checked_out_at"], upd["check_out_by"], upd["check_out_reason"], upd["check_out_distance_m"] = at, by, reason, dist
	default:
		return Signup{}, apperr.Invalid("action", "action 只能是 check_in 或 check_out")
	}
	if err := tx.Model(&Signup{}).Where("id = ?", row.ID).Updates(upd).Error; err != nil {
		return Signup{}, apperr.Internal(err)
	}
	return row, nil
}

// ConfirmItem is the organiser's decision on one sign-up. CheckedOutAt
// resolves a forgotten check-out.
type ConfirmItem struct {
	SignupID     int64
	Attended     bool
	CheckedOutAt *time.Time
}

// Confirm records attendance for many sign-ups at once and posts the
// points of each attended one, in one transaction. A sign-up already
// confirmed is returned unchanged, so a retried confirmation never posts
// twice; a no-show posts nothing.
func (s *Service) Confirm(ctx context.Context, who Staff, activity int64, inScope func(int64) bool, items []ConfirmItem) ([]Signup, error) {
	if len(items) == 0 || len(items) > 500 {
		return nil, apperr.Invalid("items", "一次确认 1 到 500 条")
	}
	a0, err := s.Activity(ctx, activity, inScope)
	if err != nil {
		return nil, err
	}
	// Read before the transaction: SQLite has one connection.
	st, err := s.opts.Settings.Settings(ctx, a0.VillageID)
	if err != nil {
		return nil, err
	}
	var out []Signup
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		out = out[:0]
		a, err := lockActivity(tx, activity)
		if err != nil {
			return err
		}
		self, err := staffSelf(tx, who.ID)
		if err != nil {
			return err
		}
		now := s.now()
		var changed []map[string]any
		for i, it := range items {
			row, fresh, err := s.confirmOne(ctx, tx, who, self, a, st, it, now)
			if err != nil {
				if e := apperr.From(err); e.Code != apperr.CodeInternal {
					return e.WithDetails(map[string]any{"index": i, "signup_id": it.SignupID})
				}
				return err
			}
			out = append(out, row)
			if fresh {
				changed = append(changed, map[string]any{"signup_id": row.ID, "resident_id": row.ResidentID, "attendance": row.Attendance,
					"checked_out_at": row.CheckedOutAt, "minutes": row.Minutes, "points": row.Points, "posting_id": row.PostingID})
			}
		}
		if len(changed) == 0 {
			return nil // a replay changed nothing, so there is nothing to log
		}
		return record(ctx, tx, who, a.VillageID, "volunteer.attendance.confirm", "volunteer_activity", a.ID, nil, changed)
	})
	return out, err
}

// self is a staff member's own resident and household (0 when none).
type self struct{ resident, household int64 }

// staffSelf reads the confirming staff member's own resident and
// household, fresh in the transaction: nobody confirms the points of
// their own household (invariant 6).
func staffSelf(tx *gorm.DB, staffID int64) (self, error) {
	var rows []struct {
		ResidentID  *int64
		HouseholdID *int64
	}
	if err := tx.Raw("SELECT resident_id, household_id FROM staff_users WHERE id = ?", staffID).Scan(&rows).Error; err != nil {
		return self{}, apperr.Internal(err)
	}
	var me self
	if len(rows) == 1 {
		me.resident, me.household = derefOr(rows[0].ResidentID), derefOr(rows[0].HouseholdID)
	}
	return me, nil
}

func (me self) owns(row Signup) bool {
	return (me.resident != 0 && row.ResidentID == me.resident) || (me.household != 0 && row.HouseholdID == me.household)
}

func (s *Service) confirmOne(ctx context.Context, tx *gorm.DB, who Staff, me self, a Activity, st ledger.Settings, it ConfirmItem, now time.Time) (Signup, bool, error) {
	var row Signup
	err := sqldb.ForUpdate(tx).Where("id = ? AND activity_id = ?", it.SignupID, a.ID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return row, false, apperr.NotFound("报名记录")
	}
	if err != nil {
		return row, false, apperr.Internal(err)
	}
	if row.Attendance != AttendancePending {
		return row, false, nil // already confirmed: a replay
	}
	if row.Status != Enrolled {
		return row, false, apperr.New(CodeNotEnrolled, "该报名未占名额，不能确认考勤")
	}
	upd := map[string]any{"confirmed_by": who.ID, "confirmed_at": now, "updated_at": now}
	row.ConfirmedBy, row.ConfirmedAt = &who.ID, &now
	if !it.Attended {
		row.Attendance = AttendanceNoShow
		upd["attendance"] = row.Attendance
		return row, true, dbErr(tx.Model(&Signup{}).Where("id = ?", row.ID).Updates(upd).Error)
	}
	if me.owns(row) {
		return row, false, apperr.New(apperr.CodeConflictInterest, "不能确认本人或本户成员的志愿服务积分，请由其他工作人员确认")
	}
	if row.CheckedInAt == nil {
		return row, false, apperr.New(CodeNotCheckedIn, "该村民未签到，请先代签到")
	}
	if row.CheckedOutAt == nil {
		if it.CheckedOutAt == nil {
			return row, false, apperr.New(CodeNotCheckedIn, "该村民未签退，请填写签退时间")
		}
		t := it.CheckedOutAt.UTC()
		if t.Before(*row.CheckedInAt) {
			return row, false, apperr.Invalid("checked_out_at", "签退时间不能早于签到时间")
		}
		row.CheckedOutAt, row.CheckOutBy, row.CheckOutReason = &t, "staff:"+strconv.FormatInt(who.ID, 10), "组织者补签退"
		upd["checked_out_at"], upd["check_out_by"], upd["check_out_reason"] = t, row.CheckOutBy, row.CheckOutReason
	}
	row.Minutes = rules.ServiceMinutes(*row.CheckedInAt, *row.CheckedOutAt, a.StartsAt, a.EndsAt, a.DailyCapMinutes)
	row.Points = rules.AttendancePoints(row.Minutes, a.PointsPerHour, a.FixedPoints)
	row.Attendance = AttendanceAttended
	upd["attendance"], upd["minutes"], upd["points"] = row.Attendance, row.Minutes, row.Points
	if row.Points > 0 {
		holder := ledger.Resident(row.ResidentID)
		if st.HolderMode == ledger.HolderHousehold {
			if row.HouseholdID == 0 {
				return row, false, apperr.New(apperr.CodeConflict, "本村按户记积分，该村民未绑定户")
			}
			holder = ledger.Household(row.HouseholdID)
		}
		key := "volunteer:" + strconv.FormatInt(row.ID, 10)
		res, err := s.opts.Ledger(tx).Award(ctx, ledger.AwardRequest{VillageID: a.VillageID, Holder: holder, Track: ledger.Track(a.Track),
			Amount: row.Points, Type: ledger.TypeVolunteerAttendance, Source: ledger.Source{Type: "volunteer_signup", ID: row.ID},
			Actor: ledger.StaffActor(who.ID), Reason: "志愿服务：" + a.Title, IdempotencyKey: key})
		if err != nil {
			return row, false, err
		}
		pid := res.Postings[0].ID
		row.PostingID = &pid
		upd["posting_id"] = pid
		if _, err := notify.Enqueue(ctx, tx, notify.Message{ResidentID: row.ResidentID, Kind: notify.PointsAwarded, DedupKey: key,
			Data: map[string]string{"points": fmt.Sprint(row.Points), "reason": "志愿服务：" + a.Title}}); err != nil {
			return row, false, apperr.Internal(err)
		}
	}
	return row, true, dbErr(tx.Model(&Signup{}).Where("id = ?", row.ID).Updates(upd).Error)
}

// Record is a resident's volunteer record: total confirmed minutes and
// points in a date range, and the attended activities.
type Record struct {
	ResidentID int64         `json:"resident_id"`
	Minutes    int           `json:"minutes"`
	Points     int64         `json:"points"`
	Activities []RecordEntry `json:"activities"`
}

// RecordEntry is one attended activity.
type RecordEntry struct {
	ActivityID int64     `json:"activity_id"`
	Title      string    `json:"title"`
	StartsAt   time.Time `json:"starts_at"`
	Minutes    int       `json:"minutes"`
	Points     int64     `json:"points"`
}

// Record returns the resident's attended activities that started in
// [from, to); zero times leave that side open.
func (s *Service) Record(ctx context.Context, resident int64, from, to time.Time) (Record, error) {
	q := s.db.WithContext(ctx).Table("volunteer_signups AS s").
		Select("s.activity_id, a.title, a.starts_at, s.minutes, s.points").
		Joins("JOIN volunteer_activities a ON a.id = s.activity_id").
		Where("s.resident_id = ? AND s.attendance = ?", resident, AttendanceAttended)
	if !from.IsZero() {
		q = q.Where("a.starts_at >= ?", from.UTC())
	}
	if !to.IsZero() {
		q = q.Where("a.starts_at < ?", to.UTC())
	}
	r := Record{ResidentID: resident, Activities: []RecordEntry{}}
	if err := q.Order("a.starts_at, s.id").Scan(&r.Activities).Error; err != nil {
		return r, apperr.Internal(err)
	}
	for _, e := range r.Activities {
		r.Minutes += e.Minutes
		r.Points += e.Points
	}
	return r, nil
}
