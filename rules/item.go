package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/villagepoints/jifen/apperr"
)

// Track is the kind of points an item awards: civic (村规民约), party (党员)
// or volunteer (志愿). Rankings and spending rules are per track.
type Track string

// The tracks.
const (
	Civic     Track = "civic"
	Party     Track = "party"
	Volunteer Track = "volunteer"
)

// Valid reports whether t is a known track.
func (t Track) Valid() bool { return t == Civic || t == Party || t == Volunteer }

// Subject says whom a cap counts: the resident, or their whole household.
type Subject string

// The cap subjects.
const (
	PerPerson    Subject = "person"
	PerHousehold Subject = "household"
)

// Cap limits how often or how much one item may be awarded to one subject
// within one period. Zero MaxTimes or MaxPoints means no limit of that kind.
type Cap struct {
	Subject   Subject `json:"subject"`
	Period    Period  `json:"period"`
	MaxTimes  int     `json:"max_times,omitempty"`
	MaxPoints int64   `json:"max_points,omitempty"`
}

// Item is one version of a rule item (积分细则条目). Editing an item makes a
// new version; an award keeps the version it was made under.
type Item struct {
	ID       int64
	Version  int
	Code     string
	Category string
	Title    string
	// Description explains the clause to villagers and staff.
	Description string
	// Points is positive for an award (加分), negative for a deduction (扣分).
	Points int64
	Track  Track
	Caps   []Cap
	// Cooldown is the least time between two awards of the item to one resident.
	Cooldown time.Duration
	// MinPhotos is the evidence required; deductions always need at least one.
	MinPhotos int
	// AwardRoles are the staff roles that may award the item.
	AwardRoles []string
	SelfReport bool
	// Veto (一票否决) excludes the resident or household from the period's
	// rankings and titles when the item is awarded.
	Veto bool
	// VetoScope says whom a veto strikes: the resident (PerPerson, the
	// default) or their whole household (PerHousehold).
	VetoScope  Subject
	ValidFrom  time.Time // zero: no start
	ValidUntil time.Time // zero: no end; exclusive
}

// Deduction reports whether the item takes points away.
func (it Item) Deduction() bool { return it.Points < 0 }

// RequiredPhotos is the evidence an award of the item needs: deductions
// always need at least one photo, whatever the item says, because a
// deduction without evidence is the first thing villagers contest.
func (it Item) RequiredPhotos() int {
	if it.Deduction() && it.MinPhotos < 1 {
		return 1
	}
	return it.MinPhotos
}

// Validate checks an item definition and names the first bad field.
func (it Item) Validate() error {
	switch {
	case strings.TrimSpace(it.Code) == "" || len(it.Code) > 32:
		return apperr.Invalid("code", "条目编号不能为空且不超过 32 个字符")
	case strings.TrimSpace(it.Title) == "" || len([]rune(it.Title)) > 100:
		return apperr.Invalid("title", "条目名称不能为空且不超过 100 个字")
	case len([]rune(it.Description)) > 500:
		return apperr.Invalid("description", "条目说明不超过 500 字")
	case it.VetoScope != "" && it.VetoScope != PerPerson && it.VetoScope != PerHousehold:
		return apperr.Invalid("veto_scope", "一票否决对象只能是 person 或 household")
	case strings.TrimSpace(it.Category) == "":
		return apperr.Invalid("category", "请选择条目类别")
	case it.Points == 0:
		return apperr.Invalid("points", "分值不能为 0（正数为加分，负数为扣分）")
	case it.Points > 1000 || it.Points < -1000:
		return apperr.Invalid("points", "单次分值不能超过 ±1000 分")
	case !it.Track.Valid():
		return apperr.Invalid("track", "积分类型只能是 civic、party 或 volunteer")
	case it.Cooldown < 0:
		return apperr.Invalid("cooldown", "冷却时间不能为负")
	case it.MinPhotos < 0 || it.MinPhotos > 9:
		return apperr.Invalid("min_photos", "所需照片数须在 0 到 9 之间")
	case len(it.AwardRoles) == 0 && !it.SelfReport:
		return apperr.Invalid("award_roles", "至少指定一个可评分的角色，或允许自主申报")
	case it.SelfReport && it.Deduction():
		return apperr.Invalid("self_report", "扣分条目不能自主申报")
	case !it.ValidFrom.IsZero() && !it.ValidUntil.IsZero() && !it.ValidUntil.After(it.ValidFrom):
		return apperr.Invalid("valid_until", "失效日期须晚于生效日期")
	}
	for i, c := range it.Caps {
		field := fmt.Sprintf("caps[%d]", i)
		if c.Subject != PerPerson && c.Subject != PerHousehold {
			return apperr.Invalid(field+".subject", "上限对象只能是 person 或 household")
		}
		if !c.Period.Valid() {
			return apperr.Invalid(field+".period", "上限周期只能是 day、week、month、quarter、year 或 all")
		}
		if c.MaxTimes < 0 || c.MaxPoints < 0 || (c.MaxTimes == 0 && c.MaxPoints == 0) {
			return apperr.Invalid(field, "上限须给出正的次数（max_times）或分数（max_points）")
		}
	}
	return nil
}

// ActiveAt reports whether the item is valid at t.
func (it Item) ActiveAt(t time.Time) bool {
	if !it.ValidFrom.IsZero() && t.Before(it.ValidFrom) {
		return false
	}
	return it.ValidUntil.IsZero() || t.Before(it.ValidUntil)
}

// MayAward reports whether a holder of one of roles may award the item.
func (it Item) MayAward(roles []string) bool {
	for _, r := range roles {
		if slices.Contains(it.AwardRoles, r) {
			return true
		}
	}
	return false
}
