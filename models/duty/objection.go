package duty

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Objection statuses, as in models/ranking: open, then rejected (answered
// with a reply) or corrected (the item was re-scored).
const (
	ObjectionOpen      = "open"
	ObjectionRejected  = "rejected"
	ObjectionCorrected = "corrected"
)

// Objection is a party member's objection 异议 to one result of a batch
// during its notice window 公示.
type Objection struct {
	ID           int64      `json:"id"`
	AssessmentID int64      `json:"assessment_id"`
	ItemID       int64      `json:"item_id"`
	VillageID    int64      `json:"village_id"`
	ResidentID   int64      `json:"resident_id"`
	Reason       string     `json:"reason"`
	Status       string     `json:"status"`
	Reply        string     `json:"reply"`
	ResolvedBy   *int64     `json:"resolved_by,omitempty"`
	ResolvedAt   *time.Time `json:"resolved_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
}

// TableName is the objections table.
func (Objection) TableName() string { return "duty_objections" }

// Object records a member's objection to an item of a batch in notice,
// before the notice window ends; a member has at most one open objection
// per item. Any active party member of the village may object, to their
// own result or another's: the notice exists so members can check each
// other.
func (s *Service) Object(ctx context.Context, village, resident, item int64, reason string) (Objection, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > 500 {
		return Objection{}, apperr.Invalid("reason", "请填写异议理由（不超过 500 字）")
	}
	var o Objection
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		if err := activeMember(tx, village, resident); err != nil {
			return err
		}
		var it Item
		err := tx.Where("id = ? AND village_id = ?", item, village).Take(&it).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return apperr.NotFound("考评记录")
		}
		if err != nil {
			return apperr.Internal(err)
		}
		// The batch lock serialises objections with finalising, so none
		// slips in after the batch is final.
		a, err := lockAssessment(tx, it.AssessmentID, true)
		if err != nil {
			return err
		}
		if a.Status == StatusDraft || a.Status == StatusReview {
			return apperr.NotFound("考评记录")
		}
		now := s.clock()
		if a.Status != StatusNotice || a.NoticeUntil == nil || !now.Before(*a.NoticeUntil) {
			return apperr.New(apperr.CodeConflict, "公示期已结束，不能再提出异议")
		}
		var open int64
		if err := tx.Model(&Objection{}).Where("item_id = ? AND resident_id = ? AND status = ?", item, resident, ObjectionOpen).Count(&open).Error; err != nil {
			return apperr.Internal(err)
		}
		if open > 0 {
			return apperr.New(apperr.CodeConflict, "您对该结果的异议正在处理中")
		}
		o = Objection{AssessmentID: a.ID, ItemID: it.ID, VillageID: village, ResidentID: resident, Reason: reason, Status: ObjectionOpen, CreatedAt: now}
		return dbErr(tx.Create(&o).Error)
	})
	return o, err
}

// ObjectionView is an objection with the names the console shows.
type ObjectionView struct {
	Objection
	ResidentName string `json:"resident_name"`
	// ItemResidentName is the member whose result is disputed.
	ItemResidentName string `json:"item_resident_name"`
}

// Objections lists a batch's objections, oldest first.
func (s *Service) Objections(ctx context.Context, assessment int64) ([]ObjectionView, error) {
	db := s.db.WithContext(ctx)
	var rows []Objection
	if err := db.Where("assessment_id = ?", assessment).Order("id").Find(&rows).Error; err != nil {
		return nil, apperr.Internal(err)
	}
	var itemIDs, people []int64
	for _, r := range rows {
		itemIDs, people = append(itemIDs, r.ItemID), append(people, r.ResidentID)
	}
	owner := map[int64]int64{}
	if len(itemIDs) > 0 {
		var items []Item
		if err := db.Select("id, resident_id").Where("id IN ?", itemIDs).Find(&items).Error; err != nil {
			return nil, apperr.Internal(err)
		}
		for _, it := range items {
			owner[it.ID] = it.ResidentID
			people = append(people, it.ResidentID)
		}
	}
	names, err := residentNames(db, people)
	if err != nil {
		return nil, err
	}
	out := make([]ObjectionView, len(rows))
	for i, r := range rows {
		out[i] = ObjectionView{Objection: r, ResidentName: names[r.ResidentID], ItemResidentName: names[owner[r.ItemID]]}
	}
	return out, nil
}

// MyObjections lists a member's own objections, newest first.
func (s *Service) MyObjections(ctx context.Context, village, resident int64) ([]Objection, error) {
	out := []Objection{}
	return out, dbErr(s.db.WithContext(ctx).Where("village_id = ? AND resident_id = ?", village, resident).Order("id DESC").Limit(100).Find(&out).Error)
}

// Resolution answers an objection with a reply; with Rescore the branch
// corrects the disputed item (at the branch stage, which locks the lower
// ones) before the batch is final.
type Resolution struct {
	Reply   string
	Rescore *Score
}

// ResolveObjection answers an open objection. inScope checks its village.
func (s *Service) ResolveObjection(ctx context.Context, who audit.Actor, id int64, r Resolution, inScope func(int64) bool) (Objection, error) {
	r.Reply = strings.TrimSpace(r.Reply)
	if r.Reply == "" || utf8.RuneCountInString(r.Reply) > 500 {
		return Objection{}, apperr.Invalid("reply", "请填写答复（不超过 500 字）")
	}
	if r.Rescore != nil {
		r.Rescore.Stage = StageBranch
		if err := r.Rescore.check(); err != nil {
			return Objection{}, err
		}
	}
	var o Objection
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		err := tx.Where("id = ?", id).Take(&o).Error
		if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && inScope != nil && !inScope(o.VillageID)) {
			return apperr.NotFound("异议")
		}
		if err != nil {
			return apperr.Internal(err)
		}
		// Batch first, then the objection row: the order Advance takes.
		a, err := lockAssessment(tx, o.AssessmentID, true)
		if err != nil {
			return err
		}
		if err := sqldb.ForUpdate(tx).Where("id = ?", id).Take(&o).Error; err != nil {
			return apperr.Internal(err)
		}
		if o.Status != ObjectionOpen {
			return apperr.New(apperr.CodeConflict, "该异议已处理")
		}
		before := o
		o.Status = ObjectionRejected
		if r.Rescore != nil {
			if a.Status == StatusFinal {
				return apperr.New(CodeWrongStatus, "考评已定稿，不能再更正")
			}
			it, err := s.lockItem(tx, nil, "id = ?", o.ItemID)
			if err != nil {
				return err
			}
			itBefore := it
			if it, err = s.score(tx, it, *r.Rescore, &who.StaffID, StatusNotice); err != nil {
				return err
			}
			if err := record(ctx, tx, who, it.VillageID, "duty.assessment.correct", "duty_assessment_item", it.ID, itBefore, it); err != nil {
				return err
			}
			o.Status = ObjectionCorrected
		}
		now := s.clock()
		o.Reply, o.ResolvedBy, o.ResolvedAt = r.Reply, &who.StaffID, &now
		if err := tx.Save(&o).Error; err != nil {
			return apperr.Internal(err)
		}
		return record(ctx, tx, who, o.VillageID, "duty.objection.resolve", "duty_objection", o.ID, before, o)
	})
	return o, err
}
