package duty

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/rules"
)

// Assessment statuses: draft (scoring) → review → notice 公示 → final.
const (
	StatusDraft  = "draft"
	StatusReview = "review"
	StatusNotice = "notice"
	StatusFinal  = "final"
)

// Stages of evaluation; a higher stage that has scored locks the lower.
const (
	StageSelf   = 1 // 自评
	StageGroup  = 2 // 小组评
	StageBranch = 3 // 支部评
)

// Assessment is one period's assessment batch 考评.
type Assessment struct {
	ID          int64      `json:"id"`
	VillageID   int64      `json:"village_id"`
	PeriodKey   string     `json:"period_key"`
	StartsAt    time.Time  `json:"starts_at"`
	EndsAt      time.Time  `json:"ends_at"`
	Status      string     `json:"status"`
	NoticeUntil *time.Time `json:"notice_until,omitempty"`
	CreatedBy   int64      `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// TableName is the assessments table.
func (Assessment) TableName() string { return "duty_assessments" }

// Item is one member's assessment in a batch.
type Item struct {
	ID           int64     `json:"id"`
	AssessmentID int64     `json:"assessment_id"`
	VillageID    int64     `json:"village_id"`
	ResidentID   int64     `json:"resident_id"`
	PostID       int64     `json:"post_id"`
	Stage        int       `json:"stage"`
	Grade        string    `json:"grade"`
	Scores       string    `json:"-"`
	Comment      string    `json:"comment"`
	Points       int64     `json:"points"`
	ScoredBy     *int64    `json:"scored_by,omitempty"`
	PostingID    *int64    `json:"posting_id,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// TableName is the items table.
func (Item) TableName() string { return "duty_assessment_items" }

// OpenAssessment opens the batch of the village's period containing at,
// with one item per approved claim (first post of each member).
func (s *Service) OpenAssessment(ctx context.Context, staffID, village int64, at time.Time) (Assessment, error) {
	var a Assessment
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		now := s.clock()
		st, err := lockSettings(tx, village, now)
		if err != nil {
			return err
		}
		p := rules.Period(st.Period)
		a = Assessment{VillageID: village, PeriodKey: p.Key(at), StartsAt: p.Start(at).UTC(), EndsAt: p.End(at).UTC(),
			Status: StatusDraft, CreatedBy: staffID, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&a).Error; err != nil {
			if sqldb.IsDuplicateKey(err) {
				return apperr.New(apperr.CodeConflict, "本期考评已创建")
			}
			return apperr.Internal(err)
		}
		var claims []Claim
		if err := tx.Where("village_id = ? AND status = ?", village, ClaimApproved).Order("id").Find(&claims).Error; err != nil {
			return apperr.Internal(err)
		}
		seen := map[int64]bool{}
		for _, c := range claims {
			if seen[c.ResidentID] {
				continue
			}
			seen[c.ResidentID] = true
			it := Item{AssessmentID: a.ID, VillageID: village, ResidentID: c.ResidentID, PostID: c.PostID, Scores: "[]", CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(&it).Error; err != nil {
				return apperr.Internal(err)
			}
		}
		return nil
	})
	return a, err
}

// Score records a stage's grade or criterion scores for one item. A stage
// lower than one already scored is locked; only a draft batch is scored.
func (s *Service) Score(ctx context.Context, staffID, item int64, stage int, grade rules.Grade, scores []int64, comment string, inScope func(int64) bool) (Item, error) {
	if stage < StageSelf || stage > StageBranch {
		return Item{}, apperr.Invalid("stage", "评价阶段只能是 1（自评）、2（小组）或 3（支部）")
	}
	if grade != "" && !grade.Valid() {
		return Item{}, apperr.Invalid("grade", "等次只能是 excellent、qualified、basic_pass 或 unqualified")
	}
	if grade == "" && len(scores) == 0 {
		return Item{}, apperr.Invalid("grade", "请给出等次或分项得分")
	}
	var it Item
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		err := sqldb.ForUpdate(tx).Where("id = ?", item).Take(&it).Error
		if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && inScope != nil && !inScope(it.VillageID)) {
			return apperr.NotFound("考评记录")
		}
		if err != nil {
			return apperr.Internal(err)
		}
		a, err := lockAssessment(tx, it.AssessmentID)
		if err != nil {
			return err
		}
		if a.Status != StatusDraft {
			return apperr.New(CodeWrongStatus, "考评已提交审核，不能再评分")
		}
		if stage < it.Stage {
			return apperr.New(CodeStageLocked, "上一级已评定，本阶段评分已锁定")
		}
		var post Post
		if err := tx.Where("id = ?", it.PostID).Take(&post).Error; err != nil {
			return apperr.Internal(err)
		}
		var st Settings
		if err := tx.Where("village_id = ?", it.VillageID).Take(&st).Error; err != nil {
			return apperr.Internal(err)
		}
		b, _ := json.Marshal(scores)
		now := s.clock()
		it.Stage, it.Grade, it.Scores, it.Comment, it.ScoredBy, it.UpdatedAt = stage, string(grade), string(b), comment, &staffID, now
		if b == nil || string(b) == "null" {
			it.Scores = "[]"
		}
		it.Points = rules.AssessmentPoints(st.rule(), grade, scores, post.BasePoints)
		return dbErr(tx.Save(&it).Error)
	})
	return it, err
}

func lockAssessment(tx *gorm.DB, id int64) (Assessment, error) {
	var a Assessment
	err := sqldb.ForUpdate(tx).Where("id = ?", id).Take(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return a, apperr.NotFound("考评")
	}
	return a, dbErr(err)
}

// Advance moves a batch one step: draft → review (submitted), review →
// notice (published for the village's notice days), notice → final (only
// after the notice period; posts each item's points to the party track,
// keyed by the item so a retry never posts twice).
func (s *Service) Advance(ctx context.Context, staffID, id int64, to string, inScope func(int64) bool) (Assessment, error) {
	var a Assessment
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var err error
		if a, err = lockAssessment(tx, id); err != nil {
			return err
		}
		if inScope != nil && !inScope(a.VillageID) {
			return apperr.NotFound("考评")
		}
		now := s.clock()
		next := map[string]string{StatusDraft: StatusReview, StatusReview: StatusNotice, StatusNotice: StatusFinal}[a.Status]
		if to != next {
			return apperr.Newf(CodeWrongStatus, "考评当前为 %s，不能变更为 %s", a.Status, to)
		}
		switch to {
		case StatusNotice:
			var st Settings
			if err := tx.Where("village_id = ?", a.VillageID).Take(&st).Error; err != nil {
				return apperr.Internal(err)
			}
			until := now.AddDate(0, 0, st.NoticeDays)
			a.NoticeUntil = &until
		case StatusFinal:
			if a.NoticeUntil != nil && now.Before(*a.NoticeUntil) {
				return apperr.New(CodeNoticeActive, "公示期未满，不能定稿")
			}
			if err := s.post(ctx, tx, staffID, a); err != nil {
				return err
			}
		}
		a.Status, a.UpdatedAt = to, now
		return dbErr(tx.Save(&a).Error)
	})
	return a, err
}

// post credits every scored item's points to the member (party track).
func (s *Service) post(ctx context.Context, tx *gorm.DB, staffID int64, a Assessment) error {
	var items []Item
	if err := tx.Where("assessment_id = ? AND points > 0 AND posting_id IS NULL", a.ID).Order("id").Find(&items).Error; err != nil {
		return apperr.Internal(err)
	}
	for _, it := range items {
		res, err := s.ledger(tx).Award(ctx, ledger.AwardRequest{VillageID: a.VillageID, Holder: ledger.Resident(it.ResidentID), Track: ledger.TrackParty,
			Amount: it.Points, Type: ledger.TypeDutyAssessment, Source: ledger.Source{Type: "duty_assessment_item", ID: it.ID},
			Actor: ledger.StaffActor(staffID), Reason: "党员责任岗考评 " + a.PeriodKey, IdempotencyKey: actorKey("duty-item", it.ID)})
		if err != nil {
			return err
		}
		if err := tx.Model(&Item{}).Where("id = ?", it.ID).Update("posting_id", res.Postings[0].ID).Error; err != nil {
			return apperr.Internal(err)
		}
	}
	return nil
}

// Items lists a batch's items.
func (s *Service) Items(ctx context.Context, id int64) ([]Item, error) {
	out := []Item{}
	return out, dbErr(s.db.WithContext(ctx).Where("assessment_id = ?", id).Order("id").Find(&out).Error)
}
