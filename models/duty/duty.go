// Package duty runs party-member duty posts 党员责任岗: posts with a
// capacity, claims 认领 approved by the branch, duty reports 履职纪实, the
// periodic assessment 考评 (staged scoring, review, notice 公示 with
// objections 异议, final) whose final results post party-track points
// through the ledger in the same transaction, and the reminders to members
// who have not reported in the period.
package duty

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/rules"
)

// Error codes raised by this package.
const (
	CodePostFull      apperr.Code = "DUTY_POST_FULL"
	CodePostLimit     apperr.Code = "DUTY_POST_LIMIT"
	CodeStageLocked   apperr.Code = "DUTY_STAGE_LOCKED"
	CodeWrongStatus   apperr.Code = "DUTY_ASSESSMENT_STATUS"
	CodeNoticeActive  apperr.Code = "DUTY_NOTICE_NOT_OVER"
	CodeOpenObjection apperr.Code = "DUTY_OBJECTIONS_OPEN"
	CodeUnscored      apperr.Code = "DUTY_ITEMS_UNSCORED"
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

// record appends the audit entry of a staff write inside its transaction.
func record(ctx context.Context, tx *gorm.DB, who audit.Actor, village int64, action, target string, id int64, before, after any) error {
	return dbErr(audit.Record(ctx, tx, who, audit.Change{VillageID: village, Action: action, TargetType: target, TargetID: id, Before: before, After: after}))
}

// Post is a duty post 党员责任岗.
type Post struct {
	ID         int64     `json:"id"`
	VillageID  int64     `json:"village_id"`
	Name       string    `json:"name"`
	Duties     string    `json:"duties"`
	Capacity   int       `json:"capacity"`
	Claimed    int       `json:"claimed"`
	SeatsLeft  int       `json:"seats_left" gorm:"-"`
	BasePoints int64     `json:"base_points"`
	Active     bool      `json:"active"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// TableName is the posts table.
func (Post) TableName() string { return "duty_posts" }

func (p Post) withSeats() Post {
	p.SeatsLeft = max(p.Capacity-p.Claimed, 0)
	return p
}

// Settings are a village's duty settings.
type Settings struct {
	VillageID   int64             `json:"village_id" gorm:"primaryKey;autoIncrement:false"`
	Period      string            `json:"period"`
	MaxPosts    int               `json:"max_posts"`
	GradePoints string            `json:"-"`
	Grades      rules.GradePoints `json:"grade_points" gorm:"-"`
	NoticeDays  int               `json:"notice_days"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// TableName is the settings table.
func (Settings) TableName() string { return "duty_settings" }

func (st Settings) rule() rules.GradePoints {
	var r rules.GradePoints
	if st.GradePoints == "" || json.Unmarshal([]byte(st.GradePoints), &r) != nil || len(r) == 0 {
		return rules.DefaultGradePoints
	}
	return r
}

func (st Settings) view() Settings {
	st.Grades = st.rule()
	return st
}

func defaultSettings(village int64, now time.Time) Settings {
	return Settings{VillageID: village, Period: string(rules.Month), MaxPosts: 1, NoticeDays: 5, UpdatedAt: now}
}

// lockSettings reads a village's settings with the row locked, creating
// the default row first; the lock serialises the village's claims.
func lockSettings(tx *gorm.DB, village int64, now time.Time) (Settings, error) {
	def := defaultSettings(village, now)
	if err := tx.Create(&def).Error; err != nil && !sqldb.IsDuplicateKey(err) {
		return def, apperr.Internal(err)
	}
	var st Settings
	return st, dbErr(sqldb.ForUpdate(tx).Where("village_id = ?", village).Take(&st).Error)
}

// Settings returns a village's settings, the defaults until it sets its own.
func (s *Service) Settings(ctx context.Context, village int64) (Settings, error) {
	var rows []Settings
	if err := s.db.WithContext(ctx).Where("village_id = ?", village).Limit(1).Find(&rows).Error; err != nil {
		return Settings{}, apperr.Internal(err)
	}
	if len(rows) == 0 {
		return defaultSettings(village, s.clock()).view(), nil
	}
	return rows[0].view(), nil
}

// SettingsInput is what the branch sets: the assessment period (month or
// quarter), posts per member, the grade → points rule and notice days.
type SettingsInput struct {
	Period     rules.Period
	MaxPosts   int
	NoticeDays int
	Grades     rules.GradePoints
}

// SaveSettings replaces a village's settings.
func (s *Service) SaveSettings(ctx context.Context, who audit.Actor, village int64, in SettingsInput) (Settings, error) {
	if in.Period != rules.Month && in.Period != rules.Quarter {
		return Settings{}, apperr.Invalid("period", "考评周期只能是 month 或 quarter")
	}
	if in.MaxPosts < 1 || in.MaxPosts > 10 {
		return Settings{}, apperr.Invalid("max_posts", "每人可认领岗位数须在 1 到 10 之间")
	}
	if in.NoticeDays < 0 || in.NoticeDays > 30 {
		return Settings{}, apperr.Invalid("notice_days", "公示天数须在 0 到 30 之间")
	}
	if len(in.Grades) == 0 {
		in.Grades = rules.DefaultGradePoints
	}
	for g, p := range in.Grades {
		if !g.Valid() {
			return Settings{}, apperr.Invalid("grade_points", "等次只能是 excellent、qualified、basic_pass 或 unqualified")
		}
		if p < 0 || p > 1000 {
			return Settings{}, apperr.Invalid("grade_points", "各等次积分须在 0 到 1000 之间")
		}
	}
	b, _ := json.Marshal(in.Grades)
	var st Settings
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var err error
		if st, err = lockSettings(tx, village, s.clock()); err != nil {
			return err
		}
		before := st.view()
		st.Period, st.MaxPosts, st.NoticeDays, st.GradePoints, st.UpdatedAt = string(in.Period), in.MaxPosts, in.NoticeDays, string(b), s.clock()
		if err := tx.Save(&st).Error; err != nil {
			return apperr.Internal(err)
		}
		return record(ctx, tx, who, village, "duty.settings", "village", village, before, st.view())
	})
	return st.view(), err
}

// PostInput is a post as the branch writes it.
type PostInput struct {
	Name       string
	Duties     string
	Capacity   int
	BasePoints int64
}

func (in *PostInput) check() error {
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case in.Name == "" || utf8.RuneCountInString(in.Name) > 100:
		return apperr.Invalid("name", "请填写岗位名称（不超过 100 字）")
	case utf8.RuneCountInString(in.Duties) > 2000:
		return apperr.Invalid("duties", "岗位职责不能超过 2000 字")
	case in.Capacity <= 0 || in.Capacity > 1000:
		return apperr.Invalid("capacity", "名额须在 1 到 1000 之间")
	case in.BasePoints < 0 || in.BasePoints > 1000:
		return apperr.Invalid("base_points", "基础分须在 0 到 1000 之间")
	}
	return nil
}

// CreatePost creates a post in village.
func (s *Service) CreatePost(ctx context.Context, who audit.Actor, village int64, in PostInput) (Post, error) {
	if err := in.check(); err != nil {
		return Post{}, err
	}
	now := s.clock()
	p := Post{VillageID: village, Name: in.Name, Duties: in.Duties, Capacity: in.Capacity, BasePoints: in.BasePoints, Active: true, CreatedAt: now, UpdatedAt: now}
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		if err := tx.Create(&p).Error; err != nil {
			if sqldb.IsDuplicateKey(err) {
				return apperr.New(apperr.CodeConflict, "本村已有同名岗位")
			}
			return apperr.Internal(err)
		}
		return record(ctx, tx, who, village, "duty.post.create", "duty_post", p.ID, nil, p)
	})
	return p.withSeats(), err
}

// PostPatch changes a post; nil fields stay. Deactivating a post closes
// it to new claims; the members already on it keep their claims.
type PostPatch struct {
	Name       *string
	Duties     *string
	Capacity   *int
	BasePoints *int64
	Active     *bool
}

// UpdatePost applies a patch. The capacity never drops below the seats
// already held. inScope checks the post's village.
func (s *Service) UpdatePost(ctx context.Context, who audit.Actor, id int64, patch PostPatch, inScope func(int64) bool) (Post, error) {
	var p Post
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		err := sqldb.ForUpdate(tx).Where("id = ?", id).Take(&p).Error
		if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && inScope != nil && !inScope(p.VillageID)) {
			return apperr.NotFound("责任岗")
		}
		if err != nil {
			return apperr.Internal(err)
		}
		before := p
		in := PostInput{Name: p.Name, Duties: p.Duties, Capacity: p.Capacity, BasePoints: p.BasePoints}
		if patch.Name != nil {
			in.Name = *patch.Name
		}
		if patch.Duties != nil {
			in.Duties = *patch.Duties
		}
		if patch.Capacity != nil {
			in.Capacity = *patch.Capacity
		}
		if patch.BasePoints != nil {
			in.BasePoints = *patch.BasePoints
		}
		if err := in.check(); err != nil {
			return err
		}
		if in.Capacity < p.Claimed {
			return apperr.Newf(apperr.CodeConflict, "该岗位已有 %d 人认领，名额不能少于已认领人数", p.Claimed)
		}
		p.Name, p.Duties, p.Capacity, p.BasePoints, p.UpdatedAt = in.Name, in.Duties, in.Capacity, in.BasePoints, s.clock()
		if patch.Active != nil {
			p.Active = *patch.Active
		}
		if err := tx.Save(&p).Error; err != nil {
			if sqldb.IsDuplicateKey(err) {
				return apperr.New(apperr.CodeConflict, "本村已有同名岗位")
			}
			return apperr.Internal(err)
		}
		return record(ctx, tx, who, p.VillageID, "duty.post.update", "duty_post", p.ID, before, p)
	})
	return p.withSeats(), err
}

// Posts lists a village's posts, only the open ones when activeOnly.
func (s *Service) Posts(ctx context.Context, village int64, activeOnly bool) ([]Post, error) {
	out := []Post{}
	q := s.db.WithContext(ctx).Where("village_id = ?", village)
	if activeOnly {
		q = q.Where("active = ?", true)
	}
	if err := q.Order("id").Find(&out).Error; err != nil {
		return nil, apperr.Internal(err)
	}
	for i := range out {
		out[i] = out[i].withSeats()
	}
	return out, nil
}

// names are the post and resident names a list of rows shows.
type names struct{ posts, residents map[int64]string }

// namesOf reads the names of posts and, when withResidents (staff views),
// of people.
func namesOf(db *gorm.DB, posts, people []int64, withResidents bool) (names, error) {
	pn, err := postNames(db, posts)
	if err != nil {
		return names{}, err
	}
	rn := map[int64]string{}
	if withResidents {
		if rn, err = residentNames(db, people); err != nil {
			return names{}, err
		}
	}
	return names{posts: pn, residents: rn}, nil
}

// residentNames maps resident ids to names, for staff views and exports.
func residentNames(tx *gorm.DB, ids []int64) (map[int64]string, error) {
	out := map[int64]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ID   int64
		Name string
	}
	if err := tx.Table("residents").Select("id, name").Where("id IN ?", ids).Scan(&rows).Error; err != nil {
		return nil, apperr.Internal(err)
	}
	for _, r := range rows {
		out[r.ID] = r.Name
	}
	return out, nil
}

// postNames maps post ids to names.
func postNames(tx *gorm.DB, ids []int64) (map[int64]string, error) {
	out := map[int64]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []Post
	if err := tx.Select("id, name").Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, apperr.Internal(err)
	}
	for _, r := range rows {
		out[r.ID] = r.Name
	}
	return out, nil
}

// activeMember checks that resident is an active party member of village:
// only they may claim posts, report, self-assess and object.
func activeMember(tx *gorm.DB, village, resident int64) error {
	var n int64
	if err := tx.Table("residents").Where("id = ? AND village_id = ? AND party_member = ? AND status = ?", resident, village, true, "active").
		Count(&n).Error; err != nil {
		return apperr.Internal(err)
	}
	if n == 0 {
		// FORBIDDEN maps to 403: the caller is who they say, but not a member.
		return apperr.New(apperr.CodeForbidden, "只有本村在册党员可以参与党员责任岗")
	}
	return nil
}

func actorKey(kind string, id int64) string { return kind + ":" + strconv.FormatInt(id, 10) }

// requestKey records the idempotency key of a member's claim or report.
type requestKey struct {
	ResidentID     int64  `gorm:"primaryKey;autoIncrement:false"`
	Kind           string `gorm:"primaryKey"`
	IdempotencyKey string `gorm:"primaryKey"`
	TargetID       int64
	CreatedAt      time.Time
}

func (requestKey) TableName() string { return "duty_request_keys" }

// The kinds of request keys.
const (
	keyClaim  = "claim"
	keyReport = "report"
)

// keyTarget returns the row an earlier request with key wrote, if any.
func keyTarget(db *gorm.DB, resident int64, kind, key string) (int64, bool, error) {
	var rows []requestKey
	if err := db.Where("resident_id = ? AND kind = ? AND idempotency_key = ?", resident, kind, key).Limit(1).Find(&rows).Error; err != nil {
		return 0, false, apperr.Internal(err)
	}
	if len(rows) == 0 {
		return 0, false, nil
	}
	return rows[0].TargetID, true, nil
}

// saveKey records key for target inside the write's transaction; a
// concurrent twin fails here with a duplicate key and is replayed.
func saveKey(tx *gorm.DB, resident int64, kind, key string, target int64, now time.Time) error {
	if key == "" {
		return nil
	}
	return tx.Create(&requestKey{ResidentID: resident, Kind: kind, IdempotencyKey: key, TargetID: target, CreatedAt: now}).Error
}
