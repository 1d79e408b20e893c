package awards

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/catalog"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/rules"
)

// CodeSameStaff refuses a confirmation by the staff member who proposed
// the deduction: the point of a second pair of eyes.
const CodeSameStaff apperr.Code = "SECOND_STAFF_REQUIRED"

// ConfirmRequest is the second staff member's decision on a pending
// deduction.
type ConfirmRequest struct {
	AwardID int64
	Approve bool
	Note    string
}

// Confirm decides a pending deduction. Approval re-judges it (caps,
// cooldown and conflict of interest for the confirming staff member too)
// and posts it; refusal closes it. A decided award answers CodeConflict,
// so a double click cannot post twice.
func (s *Service) Confirm(ctx context.Context, who Staff, scope func(village int64) bool, r ConfirmRequest) (Award, error) {
	if utf8.RuneCountInString(r.Note) > 500 {
		return Award{}, apperr.Invalid("note", "说明不超过 500 字")
	}
	if !r.Approve && strings.TrimSpace(r.Note) == "" {
		return Award{}, apperr.Invalid("note", "不同意扣分时请写明理由")
	}
	village, err := s.villageOf(ctx, r.AwardID, scope)
	if err != nil {
		return Award{}, err
	}
	env, err := s.env(ctx, village)
	if err != nil {
		return Award{}, err
	}
	var out awardRow
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		row, err := lockAward(tx, r.AwardID, village)
		if err != nil {
			return err
		}
		if Status(row.Status) != Pending {
			return apperr.New(apperr.CodeConflict, "该扣分已处理")
		}
		if row.ActorStaffID == who.ID {
			return apperr.New(CodeSameStaff, "扣分须由另一名工作人员确认")
		}
		before := row.award()
		now := s.clock()
		row.ConfirmedBy, row.DecisionNote, row.DecidedAt = &who.ID, strings.TrimSpace(r.Note), &now
		if r.Approve {
			it, err := catalog.ItemByID(tx, row.RuleItemID)
			if err != nil {
				return err
			}
			rs, err := loadResidents(tx, village, []int64{row.ResidentID})
			if err != nil {
				return err
			}
			res := rs[row.ResidentID]
			if err := lockSubjects(tx, village, row.ItemCode, []subject{subjectOf(res)}, now); err != nil {
				return err
			}
			rule := it.Rule()
			hist, err := history(tx, village, row.ItemCode, res, rule, now, row.ID)
			if err != nil {
				return err
			}
			myResident, myHousehold, err := staffSelf(tx, who.ID)
			if err != nil {
				return err
			}
			// The confirmer must be free of conflict and allowed to award the
			// item too; validity is judged at the proposal time.
			rule.ValidFrom, rule.ValidUntil = row.CreatedAt.Add(-1), row.CreatedAt.Add(1)
			if err := rules.Decide(rules.Award{Item: rule, ResidentID: res.ID, HouseholdID: res.household(),
				Actor:  rules.Actor{StaffID: who.ID, Roles: who.Roles, ResidentID: myResident, HouseholdID: myHousehold},
				Photos: len(parseIDs(row.Photos)), At: row.CreatedAt}, hist); err != nil {
				return err
			}
			if err := tx.Model(&awardRow{}).Where("id = ?", row.ID).Updates(map[string]any{"confirmed_by": who.ID, "decision_note": row.DecisionNote, "decided_at": now}).Error; err != nil {
				return fmt.Errorf("awards: confirm: %w", err)
			}
			if err := s.post(ctx, tx, env, &row); err != nil {
				return err
			}
		} else {
			row.Status = string(Rejected)
			if err := tx.Model(&awardRow{}).Where("id = ?", row.ID).Updates(map[string]any{"status": row.Status, "confirmed_by": who.ID,
				"decision_note": row.DecisionNote, "decided_at": now}).Error; err != nil {
				return fmt.Errorf("awards: refuse deduction: %w", err)
			}
		}
		out = row
		return record(ctx, tx, who, village, "award.confirm", "award", row.ID, before, row.award())
	})
	if err != nil {
		return Award{}, err
	}
	s.afterCommit(ctx, out)
	return out.award(), nil
}

// villageOf finds the village of an award the caller may act on; one
// outside scope is not found.
func (s *Service) villageOf(ctx context.Context, id int64, scope func(int64) bool) (int64, error) {
	var vs []int64
	if err := s.db.WithContext(ctx).Model(&awardRow{}).Where("id = ?", id).Limit(1).Pluck("village_id", &vs).Error; err != nil {
		return 0, fmt.Errorf("awards: read award: %w", err)
	}
	if len(vs) == 0 || !scope(vs[0]) {
		return 0, apperr.NotFound("积分记录")
	}
	return vs[0], nil
}

func lockAward(tx *gorm.DB, id, village int64) (awardRow, error) {
	var rows []awardRow
	if err := sqldb.ForUpdate(tx).Where("id = ? AND village_id = ?", id, village).Limit(1).Find(&rows).Error; err != nil {
		return awardRow{}, fmt.Errorf("awards: lock award: %w", err)
	}
	if len(rows) == 0 {
		return awardRow{}, apperr.NotFound("积分记录")
	}
	return rows[0], nil
}
