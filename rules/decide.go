package rules

import (
	"time"

	"github.com/villagepoints/jifen/apperr"
)

// Refusal codes raised by the engine beside apperr's shared ones.
const (
	CodeInactive         apperr.Code = "RULE_NOT_ACTIVE"
	CodeCooldown         apperr.Code = "RULE_COOLDOWN"
	CodeEvidenceRequired apperr.Code = "EVIDENCE_REQUIRED"
	CodeRoleNotAllowed   apperr.Code = "RULE_ROLE_NOT_ALLOWED"
	CodeNoSelfReport     apperr.Code = "SELF_REPORT_NOT_ALLOWED"
)

// Past is an earlier, unreversed award of the same item (any version: caps
// count the item, not the version) to the resident or their household.
type Past struct {
	ResidentID  int64
	HouseholdID int64
	Points      int64
	At          time.Time
}

// Actor is who awards: a staff member, or the approver of a self-report.
type Actor struct {
	StaffID     int64
	Roles       []string
	ResidentID  int64 // the staff member's own resident record, 0 if none
	HouseholdID int64 // the staff member's own household, 0 if none
}

// Award is a proposed award of an item to a resident.
type Award struct {
	Item        Item
	ResidentID  int64
	HouseholdID int64 // 0 when the resident belongs to no household
	Actor       Actor
	// FromSelfReport is set when the award approves a resident's own
	// report: the item must allow self-reports, and the approver's review
	// permission stands in for the item's award roles.
	FromSelfReport bool
	Photos         int
	At             time.Time
}

// Decide says whether an award may post, given the subject's earlier
// awards of the same item. It returns nil, or a refusal whose message
// names the rule in words a social worker can repeat to a villager.
func Decide(a Award, history []Past) error {
	it := a.Item
	if !it.ActiveAt(a.At) {
		if !it.ValidFrom.IsZero() && a.At.Before(it.ValidFrom) {
			return apperr.Newf(CodeInactive, "条目“%s”自 %s 起生效", it.Title, it.ValidFrom.In(China).Format("2006-01-02"))
		}
		return apperr.Newf(CodeInactive, "条目“%s”已于 %s 失效", it.Title, it.ValidUntil.In(China).Format("2006-01-02"))
	}
	if a.FromSelfReport {
		if !it.SelfReport {
			return apperr.Newf(CodeNoSelfReport, "条目“%s”不接受自主申报", it.Title)
		}
	} else if !it.MayAward(a.Actor.Roles) {
		return apperr.Newf(CodeRoleNotAllowed, "您的角色不能评定条目“%s”", it.Title)
	}
	if (a.Actor.ResidentID != 0 && a.Actor.ResidentID == a.ResidentID) ||
		(a.Actor.HouseholdID != 0 && a.Actor.HouseholdID == a.HouseholdID) {
		return apperr.New(apperr.CodeConflictInterest, "不能为本人或本户家庭成员评分，请由其他工作人员办理")
	}
	if need := it.RequiredPhotos(); a.Photos < need {
		return apperr.Newf(CodeEvidenceRequired, "条目“%s”需要至少 %d 张照片作为依据", it.Title, need)
	}
	if it.Cooldown > 0 {
		for _, p := range history {
			if p.ResidentID == a.ResidentID && !p.At.After(a.At) && a.At.Sub(p.At) < it.Cooldown {
				next := p.At.Add(it.Cooldown).In(China)
				return apperr.Newf(CodeCooldown, "该项间隔未到，%s 后才能再次评定", next.Format("2006-01-02 15:04"))
			}
		}
	}
	for _, c := range it.Caps {
		if err := checkCap(c, a, history); err != nil {
			return err
		}
	}
	return nil
}

// checkCap counts the awards in the cap's period for the cap's subject.
func checkCap(c Cap, a Award, history []Past) error {
	start, end := c.Period.Start(a.At), c.Period.End(a.At)
	times, points := 0, int64(0)
	for _, p := range history {
		if p.At.Before(start) || !p.At.Before(end) {
			continue
		}
		if c.Subject == PerPerson && p.ResidentID != a.ResidentID {
			continue
		}
		if c.Subject == PerHousehold && (a.HouseholdID == 0 || p.HouseholdID != a.HouseholdID) {
			// A resident without a household is capped as a household of one.
			if !(a.HouseholdID == 0 && p.ResidentID == a.ResidentID) {
				continue
			}
		}
		times++
		points += abs(p.Points)
	}
	who := "该村民"
	if c.Subject == PerHousehold {
		who = "该户"
	}
	if c.MaxTimes > 0 && times+1 > c.MaxTimes {
		return apperr.Newf(apperr.CodeRuleCapReached, "%s%s该项已达上限 %d 次", who, c.Period.Name(), c.MaxTimes)
	}
	if c.MaxPoints > 0 && points+abs(a.Item.Points) > c.MaxPoints {
		return apperr.Newf(apperr.CodeRuleCapReached, "%s%s该项已达上限 %d 分（已计 %d 分）", who, c.Period.Name(), c.MaxPoints, points)
	}
	return nil
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
