package duty

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/rules"
)

// Report is a duty report 履职纪实: the day, what was done, photos
// (evidence file ids, see models/evidence) and an optional location.
type Report struct {
	ID         int64     `json:"id"`
	VillageID  int64     `json:"village_id"`
	ResidentID int64     `json:"resident_id"`
	PostID     int64     `json:"post_id"`
	ReportDate string    `json:"report_date" gorm:"type:date"`
	Content    string    `json:"content"`
	Photos     string    `json:"-"`
	PhotoIDs   []int64   `json:"photos" gorm:"-"`
	Lat        *float64  `json:"lat,omitempty"`
	Lng        *float64  `json:"lng,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	// PostName and ResidentName are filled by lists.
	PostName     string `json:"post_name,omitempty" gorm:"-"`
	ResidentName string `json:"resident_name,omitempty" gorm:"-"`
	Replayed     bool   `json:"replayed,omitempty" gorm:"-"`
}

// TableName is the reports table.
func (Report) TableName() string { return "duty_reports" }

func (r Report) view() Report {
	r.PhotoIDs = []int64{}
	_ = json.Unmarshal([]byte(r.Photos), &r.PhotoIDs)
	if len(r.ReportDate) > 10 { // SQLite hands a DATE back as a timestamp
		r.ReportDate = r.ReportDate[:10]
	}
	return r
}

// ReportInput is a duty report as a member files it.
type ReportInput struct {
	VillageID, ResidentID, PostID int64
	// Date is the day of the work, China time; not in the future.
	Date     time.Time
	Content  string
	Photos   []int64
	Lat, Lng *float64
	// IdempotencyKey makes a retried upload answer with the first report.
	IdempotencyKey string
}

const maxPhotos = 9

func (in *ReportInput) check(now time.Time) error {
	in.Content = strings.TrimSpace(in.Content)
	switch {
	case in.Content == "" || utf8.RuneCountInString(in.Content) > 2000:
		return apperr.Invalid("content", "请填写履职内容（不超过 2000 字）")
	case len(in.Photos) > maxPhotos:
		return apperr.Invalid("photos", "照片最多 9 张")
	case (in.Lat == nil) != (in.Lng == nil):
		return apperr.Invalid("lat", "位置须同时给出纬度和经度")
	case in.Lat != nil && (*in.Lat < -90 || *in.Lat > 90 || *in.Lng < -180 || *in.Lng > 180):
		return apperr.Invalid("lat", "位置坐标无效")
	case in.Date.IsZero():
		return apperr.Invalid("report_date", "请填写履职日期")
	case in.Date.In(rules.China).Format(time.DateOnly) > now.In(rules.China).Format(time.DateOnly):
		return apperr.Invalid("report_date", "履职日期不能晚于今天")
	}
	return nil
}

// checkPhotos refuses evidence ids that are not photos the member
// uploaded in their village, so a report cannot borrow another's photo.
func checkPhotos(tx *gorm.DB, village, resident int64, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	seen := map[int64]bool{}
	for _, id := range ids {
		if seen[id] {
			return apperr.Invalid("photos", "照片重复")
		}
		seen[id] = true
	}
	var n int64
	if err := tx.Table("evidence_files").Where("id IN ? AND village_id = ? AND uploader = ?", ids, village, "resident:"+strconv.FormatInt(resident, 10)).
		Count(&n).Error; err != nil {
		return apperr.Internal(err)
	}
	if int(n) != len(ids) {
		return apperr.Invalid("photos", "照片不存在或不是您上传的，请重新上传")
	}
	return nil
}

// FileReport files a duty report for a post the member holds (approved).
func (s *Service) FileReport(ctx context.Context, in ReportInput) (Report, error) {
	now := s.clock()
	if err := in.check(now); err != nil {
		return Report{}, err
	}
	if in.IdempotencyKey != "" {
		if r, ok, err := s.replayReport(ctx, in); ok || err != nil {
			return r, err
		}
	}
	if in.Photos == nil {
		in.Photos = []int64{}
	}
	b, _ := json.Marshal(in.Photos)
	r := Report{VillageID: in.VillageID, ResidentID: in.ResidentID, PostID: in.PostID, ReportDate: in.Date.In(rules.China).Format(time.DateOnly),
		Content: in.Content, Photos: string(b), Lat: in.Lat, Lng: in.Lng, CreatedAt: now}
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		if err := activeMember(tx, in.VillageID, in.ResidentID); err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&Claim{}).Where("post_id = ? AND resident_id = ? AND village_id = ? AND status = ?", in.PostID, in.ResidentID, in.VillageID, ClaimApproved).
			Count(&n).Error; err != nil {
			return apperr.Internal(err)
		}
		if n == 0 {
			return apperr.New(apperr.CodeForbidden, "您未在该岗位履职（认领尚未通过或已被驳回）")
		}
		if err := checkPhotos(tx, in.VillageID, in.ResidentID, in.Photos); err != nil {
			return err
		}
		if err := tx.Create(&r).Error; err != nil {
			return apperr.Internal(err)
		}
		return saveKey(tx, in.ResidentID, keyReport, in.IdempotencyKey, r.ID, now)
	})
	if err != nil && in.IdempotencyKey != "" && sqldb.IsDuplicateKey(err) {
		if r, ok, err := s.replayReport(ctx, in); ok || err != nil {
			return r, err
		}
	}
	if err != nil {
		return Report{}, apperr.From(err)
	}
	return r.view(), nil
}

func (s *Service) replayReport(ctx context.Context, in ReportInput) (Report, bool, error) {
	db := s.db.WithContext(ctx)
	target, ok, err := keyTarget(db, in.ResidentID, keyReport, in.IdempotencyKey)
	if !ok || err != nil {
		return Report{}, ok, err
	}
	var rows []Report
	if err := db.Where("id = ?", target).Limit(1).Find(&rows).Error; err != nil || len(rows) == 0 {
		return Report{}, true, apperr.Internal(fmt.Errorf("duty: report %d of key: %v", target, err))
	}
	r := rows[0].view()
	if r.PostID != in.PostID || r.Content != in.Content {
		return Report{}, true, apperr.New(apperr.CodeIdempotency, "该 Idempotency-Key 已用于另一份履职纪实")
	}
	r.Replayed = true
	return r, true, nil
}

// ReportFilter narrows a reports list; zero fields do not filter. From and
// To are days (YYYY-MM-DD), To exclusive.
type ReportFilter struct {
	ResidentID int64
	PostID     int64
	From, To   string
}

// Reports lists a village's reports, newest day first.
func (s *Service) Reports(ctx context.Context, village int64, f ReportFilter, withNames bool, offset, limit int) ([]Report, int64, error) {
	q := s.db.WithContext(ctx).Model(&Report{}).Where("village_id = ?", village)
	if f.ResidentID != 0 {
		q = q.Where("resident_id = ?", f.ResidentID)
	}
	if f.PostID != 0 {
		q = q.Where("post_id = ?", f.PostID)
	}
	if f.From != "" {
		q = q.Where("report_date >= ?", f.From)
	}
	if f.To != "" {
		q = q.Where("report_date < ?", f.To)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, apperr.Internal(err)
	}
	var rows []Report
	if err := q.Order("report_date DESC, id DESC").Offset(offset).Limit(limit).Find(&rows).Error; err != nil {
		return nil, 0, apperr.Internal(err)
	}
	var posts, people []int64
	for _, r := range rows {
		posts, people = append(posts, r.PostID), append(people, r.ResidentID)
	}
	n, err := namesOf(s.db.WithContext(ctx), posts, people, withNames)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Report, len(rows))
	for i, r := range rows {
		out[i] = r.view()
		out[i].PostName, out[i].ResidentName = n.posts[r.PostID], n.residents[r.ResidentID]
	}
	return out, total, nil
}

// PeriodOf is the village's assessment period containing at: its key and
// its first and (exclusive) last day.
func (s *Service) PeriodOf(ctx context.Context, village int64, at time.Time) (key, from, to string, err error) {
	st, err := s.Settings(ctx, village)
	if err != nil {
		return "", "", "", err
	}
	p := rules.Period(st.Period)
	return p.Key(at), p.Start(at).Format(time.DateOnly), p.End(at).Format(time.DateOnly), nil
}

// Missing is a member with an approved post and no report in a period.
type Missing struct {
	ResidentID   int64  `json:"resident_id"`
	ResidentName string `json:"resident_name"`
	PostID       int64  `json:"post_id"`
	PostName     string `json:"post_name"`
}

// MissingReport is the branch's reminder list for one period.
type MissingReport struct {
	PeriodKey string    `json:"period_key"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Members   []Missing `json:"members"`
}

// MissingReports lists the active party members of village holding an
// approved post with no report in the village's period containing at.
func (s *Service) MissingReports(ctx context.Context, village int64, at time.Time) (MissingReport, error) {
	key, from, to, err := s.PeriodOf(ctx, village, at)
	if err != nil {
		return MissingReport{}, err
	}
	out := MissingReport{PeriodKey: key, From: from, To: to, Members: []Missing{}}
	db := s.db.WithContext(ctx)
	var claims []Claim
	err = db.Where("village_id = ? AND status = ?", village, ClaimApproved).
		Where("resident_id IN (?)", db.Table("residents").Select("id").Where("village_id = ? AND party_member = ? AND status = ?", village, true, "active")).
		Where("resident_id NOT IN (?)", db.Model(&Report{}).Select("resident_id").
			Where("village_id = ? AND report_date >= ? AND report_date < ?", village, from, to)).
		Order("resident_id, id").Find(&claims).Error
	if err != nil {
		return out, apperr.Internal(err)
	}
	var posts, people []int64
	seen := map[int64]bool{}
	for _, c := range claims {
		if !seen[c.ResidentID] {
			seen[c.ResidentID] = true
			posts, people = append(posts, c.PostID), append(people, c.ResidentID)
		}
	}
	n, err := namesOf(db, posts, people, true)
	if err != nil {
		return out, err
	}
	for i, id := range people {
		out.Members = append(out.Members, Missing{ResidentID: id, ResidentName: n.residents[id], PostID: posts[i], PostName: n.posts[posts[i]]})
	}
	return out, nil
}
