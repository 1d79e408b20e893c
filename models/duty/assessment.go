package duty

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/pii"
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

// ItemView is an item as lists and exports show it.
type ItemView struct {
	Item
	ScoreList    []int64 `json:"scores"`
	ScoreTotal   int64   `json:"score_total"`
	GradeLabel   string  `json:"grade_label"`
	PostName     string  `json:"post_name"`
	ResidentName string  `json:"resident_name,omitempty"`
	// PeriodKey and Status are the batch's, for a member's own results.
	PeriodKey string `json:"period_key,omitempty"`
	Status    string `json:"status,omitempty"`
}

func (it Item) scores() []int64 {
	out := []int64{}
	_ = json.Unmarshal([]byte(it.Scores), &out)
	return out
}

// OpenAssessment opens the batch of the village's period containing at,
// with one item per member holding an approved post (their first post).
func (s *Service) OpenAssessment(ctx context.Context, who audit.Actor, village int64, at time.Time) (Assessment, error) {
	var a Assessment
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		now := s.clock()
		st, err := lockSettings(tx, village, now)
		if err != nil {
			return err
		}
		p := rules.Period(st.Period)
		a = Assessment{VillageID: village, PeriodKey: p.Key(at), StartsAt: p.Start(at).UTC(), EndsAt: p.End(at).UTC(),
			Status: StatusDraft, CreatedBy: who.StaffID, CreatedAt: now, UpdatedAt: now}
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
		return record(ctx, tx, who, village, "duty.assessment.open", "duty_assessment", a.ID, nil, a)
	})
	return a, err
}

// Assessments lists a village's batches, newest period first.
func (s *Service) Assessments(ctx context.Context, village int64) ([]Assessment, error) {
	out := []Assessment{}
	return out, dbErr(s.db.WithContext(ctx).Where("village_id = ?", village).Order("period_key DESC, id DESC").Find(&out).Error)
}

// Assessment returns one batch; inScope checks its village.
func (s *Service) Assessment(ctx context.Context, id int64, inScope func(int64) bool) (Assessment, error) {
	a, err := lockAssessment(s.db.WithContext(ctx), id, false)
	if err == nil && inScope != nil && !inScope(a.VillageID) {
		return Assessment{}, apperr.NotFound("考评")
	}
	return a, err
}

// Score is one stage's evaluation of an item: a grade, or criterion
// scores that the post's base points scale.
type Score struct {
	Stage   int
	Grade   rules.Grade
	Scores  []int64
	Comment string
}

func (sc *Score) check() error {
	sc.Comment = strings.TrimSpace(sc.Comment)
	switch {
	case sc.Stage < StageSelf || sc.Stage > StageBranch:
		return apperr.Invalid("stage", "评价阶段只能是 1（自评）、2（小组）或 3（支部）")
	case sc.Grade != "" && !sc.Grade.Valid():
		return apperr.Invalid("grade", "等次只能是 excellent、qualified、basic_pass 或 unqualified")
	case sc.Grade == "" && len(sc.Scores) == 0:
		return apperr.Invalid("grade", "请给出等次或分项得分")
	case len(sc.Scores) > 20:
		return apperr.Invalid("scores", "分项最多 20 项")
	case utf8.RuneCountInString(sc.Comment) > 500:
		return apperr.Invalid("comment", "评语不能超过 500 字")
	}
	for _, v := range sc.Scores {
		if v < 0 || v > 100 {
			return apperr.Invalid("scores", "每项得分须在 0 到 100 之间")
		}
	}
	return nil
}

// ScoreItem records a staff stage's grade or criterion scores for one
// item. A stage lower than one already scored is locked; only a draft
// batch is scored. inScope checks the item's village.
func (s *Service) ScoreItem(ctx context.Context, who audit.Actor, item int64, sc Score, inScope func(int64) bool) (Item, error) {
	if err := sc.check(); err != nil {
		return Item{}, err
	}
	var it Item
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var err error
		if it, err = s.lockItem(tx, inScope, "id = ?", item); err != nil {
			return err
		}
		before := it
		if it, err = s.score(tx, it, sc, &who.StaffID, StatusDraft); err != nil {
			return err
		}
		return record(ctx, tx, who, it.VillageID, "duty.assessment.score", "duty_assessment_item", it.ID, before, it)
	})
	return it, err
}

// SelfScore is a member's self-assessment 自评 (stage 1) of their own item
// in a draft batch of their village.
func (s *Service) SelfScore(ctx context.Context, village, resident, assessment int64, sc Score) (Item, error) {
	sc.Stage = StageSelf
	if err := sc.check(); err != nil {
		return Item{}, err
	}
	var it Item
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		if err := activeMember(tx, village, resident); err != nil {
			return err
		}
		var err error
		if it, err = s.lockItem(tx, nil, "assessment_id = ? AND resident_id = ? AND village_id = ?", assessment, resident, village); err != nil {
			return err
		}
		it, err = s.score(tx, it, sc, nil, StatusDraft)
		return err
	})
	return it, err
}

// score applies sc to the locked item it while its batch is in status
// want, and saves it.
func (s *Service) score(tx *gorm.DB, it Item, sc Score, by *int64, want string) (Item, error) {
	a, err := lockAssessment(tx, it.AssessmentID, false) // locked by lockItem
	if err != nil {
		return it, err
	}
	if a.Status != want {
		if want == StatusDraft {
			return it, apperr.New(CodeWrongStatus, "考评已提交审核，不能再评分")
		}
		return it, apperr.New(CodeWrongStatus, "考评已定稿，不能再更正")
	}
	if sc.Stage < it.Stage {
		return it, apperr.New(CodeStageLocked, "上一级已评定，本阶段评分已锁定")
	}
	var post Post
	if err := tx.Where("id = ?", it.PostID).Take(&post).Error; err != nil {
		return it, apperr.Internal(err)
	}
	var sts []Settings
	if err := tx.Where("village_id = ?", it.VillageID).Limit(1).Find(&sts).Error; err != nil {
		return it, apperr.Internal(err)
	}
	rule := rules.DefaultGradePoints
	if len(sts) == 1 {
		rule = sts[0].rule()
	}
	if sc.Scores == nil {
		sc.Scores = []int64{}
	}
	b, _ := json.Marshal(sc.Scores)
	it.Stage, it.Grade, it.Scores, it.Comment, it.ScoredBy, it.UpdatedAt = sc.Stage, string(sc.Grade), string(b), sc.Comment, by, s.clock()
	it.Points = rules.AssessmentPoints(rule, sc.Grade, sc.Scores, post.BasePoints)
	return it, dbErr(tx.Save(&it).Error)
}

// lockItem finds an item, then locks its batch and the item in that
// order, the order Advance takes them in, so a score racing a finalise
// waits instead of deadlocking; a score never lands after the batch moved
// on. inScope checks the item's village.
func (s *Service) lockItem(tx *gorm.DB, inScope func(int64) bool, where string, args ...any) (Item, error) {
	var it Item
	err := tx.Where(where, args...).Take(&it).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && inScope != nil && !inScope(it.VillageID)) {
		return it, apperr.NotFound("考评记录")
	}
	if err != nil {
		return it, apperr.Internal(err)
	}
	if _, err := lockAssessment(tx, it.AssessmentID, true); err != nil {
		return it, err
	}
	return it, dbErr(sqldb.ForUpdate(tx).Where("id = ?", it.ID).Take(&it).Error)
}

func lockAssessment(tx *gorm.DB, id int64, lock bool) (Assessment, error) {
	var a Assessment
	q := tx
	if lock {
		q = sqldb.ForUpdate(tx)
	}
	err := q.Where("id = ?", id).Take(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return a, apperr.NotFound("考评")
	}
	return a, dbErr(err)
}

// Advance moves a batch one step: draft → review (submitted once every
// item is scored by the group or the branch), review →
// notice (published for the village's notice days), notice → final (only
// after the notice period with every objection answered; posts each
// item's points to the party track). Finalising a final batch again
// answers with it and changes nothing: the batch row lock serialises
// concurrent finalises, and each item's posting_id marks it as posted.
func (s *Service) Advance(ctx context.Context, who audit.Actor, id int64, to string, inScope func(int64) bool) (Assessment, error) {
	var a Assessment
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var err error
		if a, err = lockAssessment(tx, id, true); err != nil {
			return err
		}
		if inScope != nil && !inScope(a.VillageID) {
			return apperr.NotFound("考评")
		}
		if to == StatusFinal && a.Status == StatusFinal {
			return nil
		}
		now := s.clock()
		next := map[string]string{StatusDraft: StatusReview, StatusReview: StatusNotice, StatusNotice: StatusFinal}[a.Status]
		if to != next {
			return apperr.Newf(CodeWrongStatus, "考评当前为%s，不能变更为%s", statusLabel(a.Status), statusLabel(to))
		}
		before := a
		switch to {
		case StatusReview:
			// A self-assessment alone never earns points: every member is
			// evaluated by the group or the branch before review.
			var unscored int64
			if err := tx.Model(&Item{}).Where("assessment_id = ? AND stage < ?", a.ID, StageGroup).Count(&unscored).Error; err != nil {
				return apperr.Internal(err)
			}
			if unscored > 0 {
				return apperr.Newf(CodeUnscored, "尚有 %d 名党员未经小组或支部评定，不能提交审核", unscored)
			}
		case StatusNotice:
			var st Settings
			if st, err = lockSettings(tx, a.VillageID, now); err != nil {
				return err
			}
			until := now.AddDate(0, 0, st.NoticeDays)
			a.NoticeUntil = &until
		case StatusFinal:
			if a.NoticeUntil != nil && now.Before(*a.NoticeUntil) {
				return apperr.New(CodeNoticeActive, "公示期未满，不能定稿")
			}
			var open int64
			if err := tx.Model(&Objection{}).Where("assessment_id = ? AND status = ?", a.ID, ObjectionOpen).Count(&open).Error; err != nil {
				return apperr.Internal(err)
			}
			if open > 0 {
				return apperr.Newf(CodeOpenObjection, "尚有 %d 条异议未处理，不能定稿", open)
			}
			if err := s.post(ctx, tx, who.StaffID, a); err != nil {
				return err
			}
		}
		a.Status, a.UpdatedAt = to, now
		if err := tx.Save(&a).Error; err != nil {
			return apperr.Internal(err)
		}
		return record(ctx, tx, who, a.VillageID, "duty.assessment."+to, "duty_assessment", a.ID, before, a)
	})
	return a, err
}

func statusLabel(s string) string {
	switch s {
	case StatusDraft:
		return "评分中"
	case StatusReview:
		return "审核中"
	case StatusNotice:
		return "公示中"
	case StatusFinal:
		return "已定稿"
	}
	return s
}

// post credits every scored item's points to the member (party track).
// Items already carrying a posting are skipped, so a finalise that
// somehow runs twice posts nothing the second time.
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
		if err := tx.Model(&Item{}).Where("id = ? AND posting_id IS NULL", it.ID).Update("posting_id", res.Postings[0].ID).Error; err != nil {
			return apperr.Internal(err)
		}
	}
	return nil
}

// Items lists a batch's items with member and post names (staff view).
func (s *Service) Items(ctx context.Context, id int64) ([]ItemView, error) {
	var rows []Item
	if err := s.db.WithContext(ctx).Where("assessment_id = ?", id).Order("id").Find(&rows).Error; err != nil {
		return nil, apperr.Internal(err)
	}
	return s.itemViews(ctx, rows, nil, true)
}

// MyResults lists a member's results in their village's published
// (notice) and final batches, newest first; drafts and batches in review
// stay with the branch. The member's item in a draft batch is listed too,
// so the mini-program can offer self-assessment, without its points.
func (s *Service) MyResults(ctx context.Context, village, resident int64) ([]ItemView, error) {
	db := s.db.WithContext(ctx)
	var batches []Assessment
	if err := db.Where("village_id = ? AND status IN ?", village, []string{StatusDraft, StatusNotice, StatusFinal}).
		Order("period_key DESC").Limit(24).Find(&batches).Error; err != nil {
		return nil, apperr.Internal(err)
	}
	if len(batches) == 0 {
		return []ItemView{}, nil
	}
	byID := map[int64]Assessment{}
	var ids []int64
	for _, a := range batches {
		byID[a.ID], ids = a, append(ids, a.ID)
	}
	var rows []Item
	if err := db.Where("assessment_id IN ? AND resident_id = ?", ids, resident).Order("assessment_id DESC").Find(&rows).Error; err != nil {
		return nil, apperr.Internal(err)
	}
	out, err := s.itemViews(ctx, rows, byID, false)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Status == StatusDraft && out[i].Stage > StageSelf {
			// Only the member's own self-assessment shows before publication.
			out[i].Item.Grade, out[i].Item.Comment, out[i].Item.Stage, out[i].Item.ScoredBy = "", "", 0, nil
			out[i].ScoreList, out[i].ScoreTotal, out[i].GradeLabel = []int64{}, 0, ""
		}
		if out[i].Status == StatusDraft {
			out[i].Item.Points = 0
		}
	}
	return out, nil
}

func (s *Service) itemViews(ctx context.Context, rows []Item, batches map[int64]Assessment, withNames bool) ([]ItemView, error) {
	var posts, people []int64
	for _, r := range rows {
		posts, people = append(posts, r.PostID), append(people, r.ResidentID)
	}
	n, err := namesOf(s.db.WithContext(ctx), posts, people, withNames)
	if err != nil {
		return nil, err
	}
	out := make([]ItemView, len(rows))
	for i, r := range rows {
		v := ItemView{Item: r, ScoreList: r.scores(), PostName: n.posts[r.PostID], ResidentName: n.residents[r.ResidentID]}
		for _, x := range v.ScoreList {
			v.ScoreTotal += x
		}
		if r.Grade != "" {
			v.GradeLabel = rules.Grade(r.Grade).Label()
		}
		if a, ok := batches[r.AssessmentID]; ok {
			v.PeriodKey, v.Status = a.PeriodKey, a.Status
		}
		out[i] = v
	}
	return out, nil
}

// NoticeLine is one result as the public notice 公示 shows it to the
// village's members: the name masked (张*三), no criterion detail.
type NoticeLine struct {
	ItemID     int64  `json:"item_id"`
	Name       string `json:"name"`
	PostName   string `json:"post_name"`
	Grade      string `json:"grade"`
	GradeLabel string `json:"grade_label"`
	Points     int64  `json:"points"`
}

// Notice is a published (notice or final) batch of village as members see
// it; a draft, a batch in review or another village's is not found.
func (s *Service) Notice(ctx context.Context, village, id int64) (Assessment, []NoticeLine, error) {
	a, err := s.Assessment(ctx, id, func(v int64) bool { return v == village })
	if err != nil {
		return a, nil, err
	}
	if a.Status != StatusNotice && a.Status != StatusFinal {
		return Assessment{}, nil, apperr.NotFound("考评")
	}
	items, err := s.Items(ctx, id)
	if err != nil {
		return a, nil, err
	}
	out := make([]NoticeLine, len(items))
	for i, it := range items {
		out[i] = NoticeLine{ItemID: it.ID, Name: pii.MaskName(it.ResidentName), PostName: it.PostName, Grade: it.Grade, GradeLabel: it.GradeLabel, Points: it.Points}
	}
	return a, out, nil
}
