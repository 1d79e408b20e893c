package awards

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/catalog"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/rules"
)

// ReportStatus is where a self-report stands in the review queue.
type ReportStatus string

// The self-report statuses.
const (
	ReportPending   ReportStatus = "pending"
	ReportNeedsInfo ReportStatus = "needs_info"
	ReportApproved  ReportStatus = "approved"
	ReportRejected  ReportStatus = "rejected"
)

// Report is a self-report 自主申报/随手拍.
type Report struct {
	ID          int64        `json:"id"`
	VillageID   int64        `json:"village_id"`
	ResidentID  int64        `json:"resident_id"`
	RuleItemID  int64        `json:"rule_item_id"`
	ItemCode    string       `json:"item_code"`
	Note        string       `json:"note"`
	Photos      []int64      `json:"photos"`
	Status      ReportStatus `json:"status"`
	ReviewerID  *int64       `json:"reviewer_id,omitempty"`
	ReviewNote  string       `json:"review_note,omitempty"`
	AwardID     *int64       `json:"award_id,omitempty"`
	SubmittedAt time.Time    `json:"submitted_at"`
	DecidedAt   *time.Time   `json:"decided_at,omitempty"`
	// AgeHours is how long it has waited, and Overdue whether that is past
	// the village's review SLA (pending reports only).
	AgeHours int  `json:"age_hours"`
	Overdue  bool `json:"overdue"`
	// AppealUntil is the last moment a rejection may be appealed.
	AppealUntil *time.Time `json:"appeal_until,omitempty"`
	Replayed    bool       `json:"replayed,omitempty"`
}

type reportRow struct {
	ID             int64 `gorm:"primaryKey"`
	VillageID      int64
	ResidentID     int64
	RuleItemID     int64
	ItemCode       string
	Note           string
	Photos         string
	Status         string
	IdempotencyKey string
	ReviewerID     *int64
	ReviewNote     string
	AwardID        *int64
	SubmittedAt    time.Time
	DecidedAt      *time.Time
}

func (reportRow) TableName() string { return "self_reports" }

func (r reportRow) report(st Settings, now time.Time) Report {
	out := Report{ID: r.ID, VillageID: r.VillageID, ResidentID: r.ResidentID, RuleItemID: r.RuleItemID, ItemCode: r.ItemCode,
		Note: r.Note, Photos: parseIDs(r.Photos), Status: ReportStatus(r.Status), ReviewerID: r.ReviewerID, ReviewNote: r.ReviewNote,
		AwardID: r.AwardID, SubmittedAt: r.SubmittedAt.UTC(), DecidedAt: utc(r.DecidedAt)}
	if out.Status == ReportPending || out.Status == ReportNeedsInfo {
		out.AgeHours = int(now.Sub(out.SubmittedAt) / time.Hour)
		out.Overdue = out.Status == ReportPending && rules.Overdue(out.SubmittedAt, now, time.Duration(st.ReviewSLAHours)*time.Hour)
	}
	if out.Status == ReportRejected && out.DecidedAt != nil {
		d := rules.AppealDeadline(*out.DecidedAt, st.AppealDays)
		out.AppealUntil = &d
	}
	return out
}

// Villager is a bound mini-program user acting for themselves.
type Villager struct {
	ResidentID int64
	VillageID  int64
}

// ReportRequest is a resident's self-report.
type ReportRequest struct {
	RuleItemID     int64
	Note           string
	Photos         []int64
	IdempotencyKey string
}

// SubmitReport files a self-report against an item of the resident's
// village that allows it; it waits in the village's review queue.
func (s *Service) SubmitReport(ctx context.Context, v Villager, r ReportRequest) (Report, error) {
	if err := validateCommon(r.IdempotencyKey, r.Note, r.Photos); err != nil {
		return Report{}, err
	}
	if strings.TrimSpace(r.Note) == "" {
		return Report{}, apperr.Invalid("note", "请描述做了什么好事")
	}
	st, err := s.Settings(ctx, v.VillageID)
	if err != nil {
		return Report{}, err
	}
	var out reportRow
	replayed := false
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		replayed = false
		var prev []reportRow
		if err := tx.Where("resident_id = ? AND idempotency_key = ?", v.ResidentID, r.IdempotencyKey).Limit(1).Find(&prev).Error; err != nil {
			return fmt.Errorf("awards: read report by key: %w", err)
		}
		if len(prev) == 1 {
			out, replayed = prev[0], true
			if prev[0].RuleItemID != r.RuleItemID || prev[0].Note != strings.TrimSpace(r.Note) || prev[0].Photos != formatIDs(r.Photos) {
				return apperr.New(apperr.CodeIdempotency, "该幂等键已用于另一个请求，请勿更改后重复提交")
			}
			return nil
		}
		it, err := catalog.CurrentForAward(tx, v.VillageID, r.RuleItemID)
		if err != nil {
			return err
		}
		now := s.clock()
		if !it.SelfReport {
			return apperr.Newf(rules.CodeNoSelfReport, "条目“%s”不接受自主申报", it.Title)
		}
		if !it.Rule().ActiveAt(now) {
			return apperr.Newf(rules.CodeInactive, "条目“%s”当前不在有效期内", it.Title)
		}
		if need := it.Rule().RequiredPhotos(); len(r.Photos) < need {
			return apperr.Newf(rules.CodeEvidenceRequired, "条目“%s”需要至少 %d 张照片作为依据", it.Title, need)
		}
		if err := checkPhotos(tx, v.VillageID, r.Photos); err != nil {
			return err
		}
		out = reportRow{VillageID: v.VillageID, ResidentID: v.ResidentID, RuleItemID: it.ID, ItemCode: it.Code, Note: strings.TrimSpace(r.Note),
			Photos: formatIDs(r.Photos), Status: string(ReportPending), IdempotencyKey: r.IdempotencyKey, SubmittedAt: now}
		return tx.Create(&out).Error
	})
	if err != nil {
		if sqldb.IsDuplicateKey(err) {
			return Report{}, apperr.New(apperr.CodeConflict, "相同的申报正在提交，请稍后查看")
		}
		return Report{}, err
	}
	rep := out.report(st, s.clock())
	rep.Replayed = replayed
	return rep, nil
}

// SupplyInfo answers a reviewer's request for more information: the note
// and photos are replaced and the report returns to the queue.
func (s *Service) SupplyInfo(ctx context.Context, v Villager, id int64, note string, photos []int64) (Report, error) {
	if utf8.RuneCountInString(note) > 500 || strings.TrimSpace(note) == "" {
		return Report{}, apperr.Invalid("note", "补充说明不能为空且不超过 500 字")
	}
	if len(photos) > 9 {
		return Report{}, apperr.Invalid("photos", "照片最多 9 张")
	}
	st, err := s.Settings(ctx, v.VillageID)
	if err != nil {
		return Report{}, err
	}
	var out reportRow
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		row, err := lockReport(tx, id, func(r reportRow) bool { return r.ResidentID == v.ResidentID })
		if err != nil {
			return err
		}
		if ReportStatus(row.Status) != ReportNeedsInfo {
			return apperr.New(apperr.CodeConflict, "该申报当前不需要补充材料")
		}
		if err := checkPhotos(tx, row.VillageID, photos); err != nil {
			return err
		}
		row.Note, row.Photos, row.Status = strings.TrimSpace(note), formatIDs(photos), string(ReportPending)
		out = row
		return tx.Model(&reportRow{}).Where("id = ?", row.ID).Updates(map[string]any{"note": row.Note, "photos": row.Photos, "status": row.Status}).Error
	})
	if err != nil {
		return Report{}, err
	}
	return out.report(st, s.clock()), nil
}

func lockReport(tx *gorm.DB, id int64, visible func(reportRow) bool) (reportRow, error) {
	var rows []reportRow
	if err := sqldb.ForUpdate(tx).Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return reportRow{}, fmt.Errorf("awards: lock report: %w", err)
	}
	if len(rows) == 0 || !visible(rows[0]) {
		return reportRow{}, apperr.NotFound("申报")
	}
	return rows[0], nil
}

// ReviewAction is what a reviewer does with a self-report.
type ReviewAction string

// The review actions.
const (
	Approve     ReviewAction = "approve"
	Reject      ReviewAction = "reject"
	RequestInfo ReviewAction = "request_info"
)

// Review decides a pending self-report. Approval awards the current
// version of its item through the same judgement as a staff award (caps,
// cooldown, the reviewer's conflict of interest), in the same transaction.
func (s *Service) Review(ctx context.Context, who Staff, scope func(int64) bool, id int64, action ReviewAction, note string) (Report, error) {
	if utf8.RuneCountInString(note) > 500 {
		return Report{}, apperr.Invalid("note", "说明不超过 500 字")
	}
	if action != Approve && strings.TrimSpace(note) == "" {
		return Report{}, apperr.Invalid("note", "驳回或要求补充材料时请写明原因")
	}
	var village int64
	if err := s.db.WithContext(ctx).Model(&reportRow{}).Where("id = ?", id).Limit(1).Pluck("village_id", &village).Error; err != nil {
		return Report{}, fmt.Errorf("awards: read report: %w", err)
	}
	if village == 0 || !scope(village) {
		return Report{}, apperr.NotFound("申报")
	}
	env, err := s.env(ctx, village)
	if err != nil {
		return Report{}, err
	}
	var out reportRow
	var award *awardRow
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		award = nil
		row, err := lockReport(tx, id, func(r reportRow) bool { return r.VillageID == village })
		if err != nil {
			return err
		}
		if ReportStatus(row.Status) != ReportPending {
			return apperr.New(apperr.CodeConflict, "该申报已处理或正在等待补充材料")
		}
		award, err = s.decideReport(ctx, tx, env, who, &row, action, note)
		if err != nil {
			return err
		}
		out = row
		return record(ctx, tx, who, village, "self_report.review", "self_report", row.ID, nil, map[string]any{"action": action, "note": note})
	})
	if err != nil {
		return Report{}, err
	}
	if award != nil {
		s.afterCommit(ctx, *award)
	}
	return out.report(env.settings, s.clock()), nil
}

// decideReport applies a review action to a locked report in tx.
func (s *Service) decideReport(ctx context.Context, tx *gorm.DB, env villageEnv, who Staff, row *reportRow, action ReviewAction, note string) (*awardRow, error) {
	now := s.clock()
	row.ReviewerID, row.ReviewNote = &who.ID, strings.TrimSpace(note)
	var award *awardRow
	switch action {
	case Approve:
		it, err := catalog.CurrentByCode(tx, row.VillageID, row.ItemCode)
		if err != nil {
			return nil, err
		}
		a, err := s.judgeAndInsert(ctx, tx, env, who, it, judged{resident: row.ResidentID, photos: parseIDs(row.Photos), note: row.Note,
			source: FromSelfReport, selfReportID: &row.ID})
		if err != nil {
			return nil, err
		}
		award = &a
		row.Status, row.AwardID, row.DecidedAt = string(ReportApproved), &a.ID, &now
	case Reject:
		row.Status, row.DecidedAt = string(ReportRejected), &now
	case RequestInfo:
		row.Status = string(ReportNeedsInfo)
	default:
		return nil, apperr.Invalid("action", "审核操作只能是 approve、reject 或 request_info")
	}
	err := tx.Model(&reportRow{}).Where("id = ?", row.ID).Updates(map[string]any{"status": row.Status, "reviewer_id": who.ID,
		"review_note": row.ReviewNote, "award_id": row.AwardID, "decided_at": row.DecidedAt}).Error
	return award, err
}

// QueueFilter narrows a village's review queue.
type QueueFilter struct {
	Status   ReportStatus
	ItemCode string
	// Overdue lists only pending reports past the SLA.
	Overdue bool
}

// Queue lists a village's self-reports, oldest first (the order they
// should be reviewed in).
func (s *Service) Queue(ctx context.Context, village int64, f QueueFilter, offset, limit int) ([]Report, int64, error) {
	st, err := s.Settings(ctx, village)
	if err != nil {
		return nil, 0, err
	}
	now := s.clock()
	q := s.db.WithContext(ctx).Model(&reportRow{}).Where("village_id = ?", village)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.ItemCode != "" {
		q = q.Where("item_code = ?", f.ItemCode)
	}
	if f.Overdue {
		q = q.Where("status = ? AND submitted_at < ?", ReportPending, now.Add(-time.Duration(st.ReviewSLAHours)*time.Hour))
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("awards: count queue: %w", err)
	}
	var rows []reportRow
	if err := q.Order("submitted_at, id").Offset(offset).Limit(limit).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("awards: list queue: %w", err)
	}
	out := make([]Report, len(rows))
	for i, r := range rows {
		out[i] = r.report(st, now)
	}
	return out, total, nil
}

// QueueCounts is the review queue at a glance.
type QueueCounts struct {
	Pending   int64 `json:"pending"`
	NeedsInfo int64 `json:"needs_info"`
	Overdue   int64 `json:"overdue"`
	// OldestHours is the age of the oldest pending report.
	OldestHours int `json:"oldest_hours"`
}

// Counts summarises a village's review queue.
func (s *Service) Counts(ctx context.Context, village int64) (QueueCounts, error) {
	st, err := s.Settings(ctx, village)
	if err != nil {
		return QueueCounts{}, err
	}
	now := s.clock()
	var rows []struct {
		Status string
		N      int64
	}
	db := s.db.WithContext(ctx)
	if err := db.Model(&reportRow{}).Select("status, COUNT(*) AS n").Where("village_id = ? AND status IN ?", village,
		[]string{string(ReportPending), string(ReportNeedsInfo)}).Group("status").Scan(&rows).Error; err != nil {
		return QueueCounts{}, fmt.Errorf("awards: count queue: %w", err)
	}
	var c QueueCounts
	for _, r := range rows {
		if r.Status == string(ReportPending) {
			c.Pending = r.N
		} else {
			c.NeedsInfo = r.N
		}
	}
	if err := db.Model(&reportRow{}).Where("village_id = ? AND status = ? AND submitted_at < ?", village, ReportPending,
		now.Add(-time.Duration(st.ReviewSLAHours)*time.Hour)).Count(&c.Overdue).Error; err != nil {
		return QueueCounts{}, fmt.Errorf("awards: count overdue: %w", err)
	}
	var oldest []reportRow
	if err := db.Where("village_id = ? AND status = ?", village, ReportPending).Order("submitted_at").Limit(1).Find(&oldest).Error; err != nil {
		return QueueCounts{}, fmt.Errorf("awards: oldest report: %w", err)
	}
	if len(oldest) == 1 {
		c.OldestHours = int(now.Sub(oldest[0].SubmittedAt) / time.Hour)
	}
	return c, nil
}

// MyReports lists a resident's own self-reports, newest first.
func (s *Service) MyReports(ctx context.Context, v Villager, offset, limit int) ([]Report, int64, error) {
	st, err := s.Settings(ctx, v.VillageID)
	if err != nil {
		return nil, 0, err
	}
	q := s.db.WithContext(ctx).Model(&reportRow{}).Where("resident_id = ?", v.ResidentID)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []reportRow
	if err := q.Order("id DESC").Offset(offset).Limit(limit).Find(&rows).Error; err != nil {
		return nil, 0, err
	}
	now := s.clock()
	out := make([]Report, len(rows))
	for i, r := range rows {
		out[i] = r.report(st, now)
	}
	return out, total, nil
}
