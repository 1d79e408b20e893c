// Package duty runs party-member duty posts 党员责任岗: posts with a
// capacity, claims 认领 approved by the branch, duty reports 履职纪实, and
// the periodic assessment 考评 whose final results post party-track points
// through the ledger in the same transaction.
package duty

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/rules"
)

// Error codes raised by this package.
const (
	CodePostFull     apperr.Code = "DUTY_POST_FULL"
	CodePostLimit    apperr.Code = "DUTY_POST_LIMIT"
	CodeStageLocked  apperr.Code = "DUTY_STAGE_LOCKED"
	CodeWrongStatus  apperr.Code = "DUTY_ASSESSMENT_STATUS"
	CodeNoticeActive apperr.Code = "DUTY_NOTICE_NOT_OVER"
)

// LedgerTx is the ledger's award bound to one transaction.
type LedgerTx interface {
	Award(ctx context.Context, r ledger.AwardRequest) (*ledger.Result, error)
}

// Service is the duty-post use cases.
type Service struct {
	db     *gorm.DB
	ledger func(tx *gorm.DB) LedgerTx
	now    func() time.Time
}

// New returns a Service; ledgerIn opens the ledger inside a transaction.
func New(db *gorm.DB, ledgerIn func(tx *gorm.DB) LedgerTx, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, ledger: ledgerIn, now: now}
}

func (s *Service) clock() time.Time { return s.now().UTC() }

func dbErr(err error) error {
	if err != nil {
		return apperr.Internal(err)
	}
	return nil
}

// Post is a duty post 党员责任岗.
type Post struct {
	ID         int64     `json:"id"`
	VillageID  int64     `json:"village_id"`
	Name       string    `json:"name"`
	Duties     string    `json:"duties"`
	Capacity   int       `json:"capacity"`
	Claimed    int       `json:"claimed"`
	BasePoints int64     `json:"base_points"`
	Active     bool      `json:"active"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// TableName is the posts table.
func (Post) TableName() string { return "duty_posts" }

// Settings are a village's duty settings.
type Settings struct {
	VillageID   int64     `json:"village_id" gorm:"primaryKey;autoIncrement:false"`
	Period      string    `json:"period"`
	MaxPosts    int       `json:"max_posts"`
	GradePoints string    `json:"-"`
	NoticeDays  int       `json:"notice_days"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// TableName is the settings table.
func (Settings) TableName() string { return "duty_settings" }

func (st Settings) rule() rules.GradePoints {
	var r rules.GradePoints
	if st.GradePoints == "" || json.Unmarshal([]byte(st.GradePoints), &r) != nil {
		return rules.DefaultGradePoints
	}
	return r
}

// lockSettings reads a village's settings with the row locked, creating
// the default row first; the lock serialises the village's claims.
func lockSettings(tx *gorm.DB, village int64, now time.Time) (Settings, error) {
	def := Settings{VillageID: village, Period: string(rules.Month), MaxPosts: 1, NoticeDays: 5, UpdatedAt: now}
	if err := tx.Create(&def).Error; err != nil && !sqldb.IsDuplicateKey(err) {
		return def, apperr.Internal(err)
	}
	var st Settings
	return st, dbErr(sqldb.ForUpdate(tx).Where("village_id = ?", village).Take(&st).Error)
}

// SaveSettings sets the assessment period, posts per member, grade rule
// and notice days.
func (s *Service) SaveSettings(ctx context.Context, village int64, period rules.Period, maxPosts, noticeDays int, grades rules.GradePoints) (Settings, error) {
	if period != rules.Month && period != rules.Quarter {
		return Settings{}, apperr.Invalid("period", "考评周期只能是 month 或 quarter")
	}
	if maxPosts < 1 || noticeDays < 0 {
		return Settings{}, apperr.Invalid("max_posts", "每人可认领岗位数须至少为 1")
	}
	b, _ := json.Marshal(grades)
	var st Settings
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var err error
		if st, err = lockSettings(tx, village, s.clock()); err != nil {
			return err
		}
		st.Period, st.MaxPosts, st.NoticeDays, st.GradePoints, st.UpdatedAt = string(period), maxPosts, noticeDays, string(b), s.clock()
		return dbErr(tx.Save(&st).Error)
	})
	return st, err
}

// CreatePost creates a post in village.
func (s *Service) CreatePost(ctx context.Context, village int64, name, duties string, capacity int, basePoints int64) (Post, error) {
	if strings.TrimSpace(name) == "" {
		return Post{}, apperr.Invalid("name", "请填写岗位名称")
	}
	if capacity <= 0 || basePoints < 0 {
		return Post{}, apperr.Invalid("capacity", "名额须大于 0")
	}
	now := s.clock()
	p := Post{VillageID: village, Name: strings.TrimSpace(name), Duties: duties, Capacity: capacity, BasePoints: basePoints, Active: true, CreatedAt: now, UpdatedAt: now}
	if err := s.db.WithContext(ctx).Create(&p).Error; err != nil {
		if sqldb.IsDuplicateKey(err) {
			return Post{}, apperr.New(apperr.CodeConflict, "本村已有同名岗位")
		}
		return Post{}, apperr.Internal(err)
	}
	return p, nil
}

// Posts lists a village's posts.
func (s *Service) Posts(ctx context.Context, village int64) ([]Post, error) {
	out := []Post{}
	return out, dbErr(s.db.WithContext(ctx).Where("village_id = ?", village).Order("id").Find(&out).Error)
}

// Claim statuses.
const (
	ClaimPending  = "pending"
	ClaimApproved = "approved"
	ClaimRejected = "rejected"
	ClaimReleased = "released"
)

// Claim is a party member's claim 认领 of a post.
type Claim struct {
	ID         int64      `json:"id"`
	PostID     int64      `json:"post_id"`
	VillageID  int64      `json:"village_id"`
	ResidentID int64      `json:"resident_id"`
	Status     string     `json:"status"`
	DecidedBy  *int64     `json:"decided_by,omitempty"`
	DecidedAt  *time.Time `json:"decided_at,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// TableName is the claims table.
func (Claim) TableName() string { return "duty_claims" }

// ClaimPost claims a post for a party member of the post's village. A
// pending claim holds its seat, so approvals never exceed capacity; a
// member holds at most the village's max_posts pending or approved posts.
func (s *Service) ClaimPost(ctx context.Context, village, resident, post int64) (Claim, error) {
	var c Claim
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		now := s.clock()
		var member struct{ PartyMember bool }
		err := tx.Table("residents").Select("party_member").Where("id = ? AND village_id = ?", resident, village).Take(&member).Error
		if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && !member.PartyMember) {
			return apperr.New(apperr.CodeForbidden, "只有本村党员可以认领责任岗")
		}
		if err != nil {
			return apperr.Internal(err)
		}
		st, err := lockSettings(tx, village, now)
		if err != nil {
			return err
		}
		var p Post
		if err := sqldb.ForUpdate(tx).Where("id = ? AND village_id = ? AND active = ?", post, village, true).Take(&p).Error; err != nil {
			return apperr.NotFound("责任岗")
		}
		var held int64
		if err := tx.Model(&Claim{}).Where("village_id = ? AND resident_id = ? AND status IN ?", village, resident, []string{ClaimPending, ClaimApproved}).Count(&held).Error; err != nil {
			return apperr.Internal(err)
		}
		if held >= int64(st.MaxPosts) {
			return apperr.Newf(CodePostLimit, "每名党员最多认领 %d 个责任岗", st.MaxPosts)
		}
		if p.Claimed >= p.Capacity {
			return apperr.New(CodePostFull, "该岗位名额已满")
		}
		c = Claim{PostID: p.ID, VillageID: village, ResidentID: resident, Status: ClaimPending, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&c).Error; err != nil {
			return apperr.Internal(err)
		}
		return dbErr(tx.Model(&Post{}).Where("id = ?", p.ID).Update("claimed", gorm.Expr("claimed + 1")).Error)
	})
	return c, err
}

// DecideClaim approves or rejects a pending claim; a rejection frees the
// seat. inScope checks the claim's village.
func (s *Service) DecideClaim(ctx context.Context, staffID, claim int64, approve bool, reason string, inScope func(int64) bool) (Claim, error) {
	var c Claim
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		err := sqldb.ForUpdate(tx).Where("id = ?", claim).Take(&c).Error
		if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && inScope != nil && !inScope(c.VillageID)) {
			return apperr.NotFound("认领记录")
		}
		if err != nil {
			return apperr.Internal(err)
		}
		if c.Status != ClaimPending {
			return apperr.New(apperr.CodeConflict, "该认领已处理")
		}
		now := s.clock()
		c.Status, c.DecidedBy, c.DecidedAt, c.Reason, c.UpdatedAt = ClaimApproved, &staffID, &now, reason, now
		if !approve {
			c.Status = ClaimRejected
			if err := tx.Model(&Post{}).Where("id = ?", c.PostID).Update("claimed", gorm.Expr("claimed - 1")).Error; err != nil {
				return apperr.Internal(err)
			}
		}
		return dbErr(tx.Save(&c).Error)
	})
	return c, err
}

// Report is a duty report 履职纪实.
type Report struct {
	ID         int64     `json:"id"`
	VillageID  int64     `json:"village_id"`
	ResidentID int64     `json:"resident_id"`
	PostID     int64     `json:"post_id"`
	ReportDate string    `json:"report_date" gorm:"type:date"`
	Content    string    `json:"content"`
	Photos     string    `json:"-"`
	Lat        *float64  `json:"lat,omitempty"`
	Lng        *float64  `json:"lng,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// TableName is the reports table.
func (Report) TableName() string { return "duty_reports" }

// FileReport files a duty report for a post the member holds (approved).
func (s *Service) FileReport(ctx context.Context, village, resident, post int64, date time.Time, content string, photos []string, lat, lng *float64) (Report, error) {
	if strings.TrimSpace(content) == "" {
		return Report{}, apperr.Invalid("content", "请填写履职内容")
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&Claim{}).Where("post_id = ? AND resident_id = ? AND village_id = ? AND status = ?", post, resident, village, ClaimApproved).Count(&n).Error; err != nil {
		return Report{}, apperr.Internal(err)
	}
	if n == 0 {
		return Report{}, apperr.New(apperr.CodeForbidden, "您未在该岗位履职")
	}
	if photos == nil {
		photos = []string{}
	}
	b, _ := json.Marshal(photos)
	r := Report{VillageID: village, ResidentID: resident, PostID: post, ReportDate: date.In(rules.China).Format(time.DateOnly),
		Content: content, Photos: string(b), Lat: lat, Lng: lng, CreatedAt: s.clock()}
	return r, dbErr(s.db.WithContext(ctx).Create(&r).Error)
}

// MissingReports lists approved members of village with no report in the
// period containing at, for the branch's reminder list.
func (s *Service) MissingReports(ctx context.Context, village int64, period rules.Period, at time.Time) ([]int64, error) {
	from, to := period.Start(at).Format(time.DateOnly), period.End(at).Format(time.DateOnly)
	out := []int64{}
	err := s.db.WithContext(ctx).Model(&Claim{}).Distinct("resident_id").
		Where("village_id = ? AND status = ?", village, ClaimApproved).
		Where("resident_id NOT IN (?)", s.db.Model(&Report{}).Select("resident_id").
			Where("village_id = ? AND report_date >= ? AND report_date < ?", village, from, to)).
		Order("resident_id").Pluck("resident_id", &out).Error
	return out, dbErr(err)
}

func actorKey(kind string, id int64) string { return kind + ":" + strconv.FormatInt(id, 10) }
