package rules

import (
	"testing"
	"time"

	"github.com/villagepoints/jifen/apperr"
)

// sweeping is 门前三包·清扫: 2 points, at most 3 times a month per person and
// 10 points a month per household, once a day, awarded by social workers.
var sweeping = Item{
	ID: 1, Version: 2, Code: "HJ-01", Category: "环境卫生", Title: "门前三包", Points: 2, Track: Civic,
	Caps: []Cap{
		{Subject: PerPerson, Period: Month, MaxTimes: 3},
		{Subject: PerHousehold, Period: Month, MaxPoints: 10},
	},
	Cooldown:   20 * time.Hour,
	AwardRoles: []string{"social_worker"},
}

// burning is 焚烧秸秆, a deduction with a veto.
var burning = Item{
	ID: 2, Version: 1, Code: "HJ-09", Category: "环境卫生", Title: "焚烧秸秆", Points: -10, Track: Civic,
	AwardRoles: []string{"social_worker", "village_admin"}, Veto: true,
}

var worker = Actor{StaffID: 9, Roles: []string{"social_worker"}, ResidentID: 500, HouseholdID: 50}

func award(it Item, resident, household int64, at string) Award {
	return Award{Item: it, ResidentID: resident, HouseholdID: household, Actor: worker, At: cst(at), Photos: 1}
}

func past(resident, household, points int64, at string) Past {
	return Past{ResidentID: resident, HouseholdID: household, Points: points, At: cst(at)}
}

func TestDecide(t *testing.T) {
	limited := sweeping
	limited.ValidFrom, limited.ValidUntil = cst("2026-01-01 00:00"), cst("2026-07-01 00:00")
	evidence := sweeping
	evidence.MinPhotos = 2
	selfOK := sweeping
	selfOK.SelfReport = true

	cases := []struct {
		name    string
		award   Award
		history []Past
		want    apperr.Code // "" = allowed
		message string
	}{
		{"first award of the month", award(sweeping, 1, 10, "2026-11-23 09:00"), nil, "", ""},
		{"third of the month is allowed", award(sweeping, 1, 10, "2026-11-23 09:00"),
			[]Past{past(1, 10, 2, "2026-11-02 09:00"), past(1, 10, 2, "2026-11-10 09:00")}, "", ""},
		{"fourth of the month is refused", award(sweeping, 1, 10, "2026-11-23 09:00"),
			[]Past{past(1, 10, 2, "2026-11-02 09:00"), past(1, 10, 2, "2026-11-10 09:00"), past(1, 10, 2, "2026-11-15 09:00")},
			apperr.CodeRuleCapReached, "该村民本月该项已达上限 3 次"},
		{"last month's awards do not count", award(sweeping, 1, 10, "2026-11-01 08:00"),
			[]Past{past(1, 10, 2, "2026-10-02 09:00"), past(1, 10, 2, "2026-10-10 09:00"), past(1, 10, 2, "2026-10-31 09:00")}, "", ""},
		{"the month turns in China time, not UTC", award(sweeping, 1, 10, "2026-12-01 00:30"),
			[]Past{past(1, 10, 2, "2026-11-02 09:00"), past(1, 10, 2, "2026-11-10 09:00"), past(1, 10, 2, "2026-11-30 03:00")}, "", ""},
		{"household points cap counts the family", award(sweeping, 1, 10, "2026-11-23 09:00"),
			[]Past{past(2, 10, 2, "2026-11-02 09:00"), past(3, 10, 2, "2026-11-03 09:00"), past(2, 10, 2, "2026-11-04 09:00"), past(3, 10, 2, "2026-11-05 09:00"), past(4, 10, 2, "2026-11-06 09:00")},
			apperr.CodeRuleCapReached, "该户本月该项已达上限 10 分（已计 10 分）"},
		{"household cap allows reaching the limit exactly", award(sweeping, 1, 10, "2026-11-23 09:00"),
			[]Past{past(2, 10, 2, "2026-11-02 09:00"), past(3, 10, 2, "2026-11-03 09:00"), past(2, 10, 2, "2026-11-04 09:00"), past(3, 10, 2, "2026-11-05 09:00")}, "", ""},
		{"another household does not count", award(sweeping, 1, 10, "2026-11-23 09:00"),
			[]Past{past(7, 70, 2, "2026-11-02 09:00"), past(7, 70, 2, "2026-11-03 09:00"), past(7, 70, 2, "2026-11-04 09:00"), past(7, 70, 2, "2026-11-05 09:00"), past(7, 70, 2, "2026-11-06 09:00")}, "", ""},
		{"cooldown holds within 20 hours", award(sweeping, 1, 10, "2026-11-23 09:00"),
			[]Past{past(1, 10, 2, "2026-11-22 14:00")}, CodeCooldown, "该项间隔未到，2026-11-23 10:00 后才能再次评定"},
		{"cooldown passed", award(sweeping, 1, 10, "2026-11-23 10:00"), []Past{past(1, 10, 2, "2026-11-22 14:00")}, "", ""},
		{"cooldown is per resident", award(sweeping, 1, 10, "2026-11-23 09:00"), []Past{past(2, 10, 2, "2026-11-23 08:00")}, "", ""},
		{"not yet valid", award(limited, 1, 10, "2025-12-31 23:59"), nil, CodeInactive, "条目“门前三包”自 2026-01-01 起生效"},
		{"valid on the first day", award(limited, 1, 10, "2026-01-01 00:00"), nil, "", ""},
		{"expired at the end date", award(limited, 1, 10, "2026-07-01 00:00"), nil, CodeInactive, "条目“门前三包”已于 2026-07-01 失效"},
		{"own household is a conflict of interest", award(sweeping, 501, 50, "2026-11-23 09:00"), nil, apperr.CodeConflictInterest, ""},
		{"oneself is a conflict of interest even without a household", Award{Item: sweeping, ResidentID: 500, Actor: Actor{Roles: []string{"social_worker"}, ResidentID: 500}, Photos: 1, At: cst("2026-11-23 09:00")}, nil, apperr.CodeConflictInterest, ""},
		{"a store clerk may not award", Award{Item: sweeping, ResidentID: 1, Actor: Actor{Roles: []string{"store_clerk"}}, At: cst("2026-11-23 09:00")}, nil, CodeRoleNotAllowed, ""},
		{"missing evidence", Award{Item: evidence, ResidentID: 1, Actor: worker, Photos: 1, At: cst("2026-11-23 09:00")}, nil, CodeEvidenceRequired, "条目“门前三包”需要至少 2 张照片作为依据"},
		{"deductions need a photo even if the item asks none", Award{Item: burning, ResidentID: 1, Actor: worker, At: cst("2026-11-23 09:00")}, nil, CodeEvidenceRequired, ""},
		{"deduction with evidence", award(burning, 1, 10, "2026-11-23 09:00"), nil, "", ""},
		{"self-report of an item that allows it", Award{Item: selfOK, ResidentID: 1, Actor: Actor{StaffID: 9}, FromSelfReport: true, Photos: 1, At: cst("2026-11-23 09:00")}, nil, "", ""},
		{"self-report of an item that does not", Award{Item: sweeping, ResidentID: 1, Actor: Actor{StaffID: 9}, FromSelfReport: true, Photos: 1, At: cst("2026-11-23 09:00")}, nil, CodeNoSelfReport, ""},
		{"approved self-reports still count against caps", Award{Item: selfOK, ResidentID: 1, HouseholdID: 10, Actor: Actor{StaffID: 9}, FromSelfReport: true, Photos: 1, At: cst("2026-11-23 09:00")},
			[]Past{past(1, 10, 2, "2026-11-02 09:00"), past(1, 10, 2, "2026-11-10 09:00"), past(1, 10, 2, "2026-11-15 09:00")}, apperr.CodeRuleCapReached, ""},
	}
	for _, c := range cases {
		err := Decide(c.award, c.history)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: refused: %v", c.name, err)
			}
			continue
		}
		if !apperr.Is(err, c.want) {
			t.Errorf("%s: got %v, want %s", c.name, err, c.want)
			continue
		}
		if c.message != "" && apperr.From(err).Message != c.message {
			t.Errorf("%s: message %q, want %q", c.name, apperr.From(err).Message, c.message)
		}
	}
}

func TestItemValidate(t *testing.T) {
	ok := sweeping
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid item refused: %v", err)
	}
	cases := []struct {
		field string
		edit  func(*Item)
	}{
		{"points", func(i *Item) { i.Points = 0 }},
		{"track", func(i *Item) { i.Track = "gold" }},
		{"caps[0].period", func(i *Item) { i.Caps = []Cap{{Subject: PerPerson, Period: "decade", MaxTimes: 1}} }},
		{"caps[0]", func(i *Item) { i.Caps = []Cap{{Subject: PerPerson, Period: Month}} }},
		{"self_report", func(i *Item) { i.Points = -5; i.SelfReport = true }},
		{"award_roles", func(i *Item) { i.AwardRoles = nil }},
		{"valid_until", func(i *Item) { i.ValidFrom = cst("2026-02-01 00:00"); i.ValidUntil = cst("2026-01-01 00:00") }},
	}
	for _, c := range cases {
		it := sweeping
		c.edit(&it)
		err := it.Validate()
		if e := apperr.From(err); e == nil || e.Field != c.field {
			t.Errorf("edit of %s: got %v", c.field, err)
		}
	}
}

// TestDecideCapKinds covers every cap period and both cap measures, for a
// person and for a household, at the boundary where the next award is the
// first one refused.
func TestDecideCapKinds(t *testing.T) {
	capped := func(c Cap) Item {
		it := sweeping
		it.Caps, it.Cooldown = []Cap{c}, 0
		return it
	}
	cases := []struct {
		name    string
		cap     Cap
		at      string
		history []Past
		want    apperr.Code
		message string
	}{
		{"day: second of the day refused", Cap{PerPerson, Day, 1, 0}, "2026-11-23 23:00", []Past{past(1, 10, 2, "2026-11-23 00:10")}, apperr.CodeRuleCapReached, "该村民今日该项已达上限 1 次"},
		{"day: yesterday does not count", Cap{PerPerson, Day, 1, 0}, "2026-11-23 00:10", []Past{past(1, 10, 2, "2026-11-22 23:50")}, "", ""},
		{"week: Monday starts a new week", Cap{PerPerson, Week, 1, 0}, "2026-11-23 08:00", []Past{past(1, 10, 2, "2026-11-22 20:00")}, "", ""},
		{"week: same week refused", Cap{PerPerson, Week, 1, 0}, "2026-11-29 20:00", []Past{past(1, 10, 2, "2026-11-23 08:00")}, apperr.CodeRuleCapReached, "该村民本周该项已达上限 1 次"},
		{"quarter: points cap", Cap{PerPerson, Quarter, 0, 5}, "2026-12-30 08:00", []Past{past(1, 10, 2, "2026-10-01 08:00"), past(1, 10, 2, "2026-11-01 08:00")}, apperr.CodeRuleCapReached, "该村民本季度该项已达上限 5 分（已计 4 分）"},
		{"quarter: previous quarter does not count", Cap{PerPerson, Quarter, 0, 5}, "2026-10-01 08:00", []Past{past(1, 10, 2, "2026-09-30 08:00"), past(1, 10, 2, "2026-09-01 08:00")}, "", ""},
		{"year: times cap per household", Cap{PerHousehold, Year, 2, 0}, "2026-12-31 08:00", []Past{past(2, 10, 2, "2026-01-05 08:00"), past(3, 10, 2, "2026-06-05 08:00")}, apperr.CodeRuleCapReached, "该户本年该项已达上限 2 次"},
		{"year: last year does not count", Cap{PerHousehold, Year, 2, 0}, "2026-01-01 08:00", []Past{past(2, 10, 2, "2025-12-31 08:00"), past(3, 10, 2, "2025-06-05 08:00")}, "", ""},
		{"all time: once ever", Cap{PerPerson, AllTime, 1, 0}, "2030-01-01 08:00", []Past{past(1, 10, 2, "2020-01-01 08:00")}, apperr.CodeRuleCapReached, "该村民累计该项已达上限 1 次"},
		{"a household cap counts a resident without household alone", Cap{PerHousehold, Month, 1, 0}, "2026-11-23 08:00", []Past{past(1, 0, 2, "2026-11-02 08:00")}, apperr.CodeRuleCapReached, ""},
	}
	for _, c := range cases {
		hh := int64(10)
		if c.name == "a household cap counts a resident without household alone" {
			hh = 0
		}
		err := Decide(Award{Item: capped(c.cap), ResidentID: 1, HouseholdID: hh, Actor: worker, Photos: 1, At: cst(c.at)}, c.history)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: refused: %v", c.name, err)
			}
			continue
		}
		if !apperr.Is(err, c.want) {
			t.Errorf("%s: got %v, want %s", c.name, err, c.want)
			continue
		}
		if c.message != "" && apperr.From(err).Message != c.message {
			t.Errorf("%s: message %q, want %q", c.name, apperr.From(err).Message, c.message)
		}
	}
}

// TestDecideVersionPinning checks that an award is judged by the version
// it names (its points and caps), while earlier awards of any version of
// the item count against the caps.
func TestDecideVersionPinning(t *testing.T) {
	v1 := sweeping
	v1.Cooldown = 0
	v2 := v1
	v2.ID, v2.Version, v2.Points = 11, 3, 4
	v2.Caps = []Cap{{Subject: PerPerson, Period: Month, MaxPoints: 6}}
	history := []Past{past(1, 10, 2, "2026-11-02 09:00")} // made under v1
	if err := Decide(award(v1, 1, 10, "2026-11-23 09:00"), history); err != nil {
		t.Fatalf("v1 allows a second award: %v", err)
	}
	err := Decide(award(v2, 1, 10, "2026-11-23 09:00"), append(history, past(1, 10, 2, "2026-11-03 09:00")))
	if !apperr.Is(err, apperr.CodeRuleCapReached) || apperr.From(err).Message != "该村民本月该项已达上限 6 分（已计 4 分）" {
		t.Fatalf("v2's points cap must count v1's awards and v2's own points: %v", err)
	}
}

// TestDecideVeto checks that a veto item is an ordinary deduction to the
// engine (evidence, roles, conflict of interest), and that its period keys
// are the month, quarter and year of the act.
func TestDecideVeto(t *testing.T) {
	if err := Decide(award(burning, 1, 10, "2026-03-31 23:00"), nil); err != nil {
		t.Fatalf("veto deduction with evidence refused: %v", err)
	}
	noPhoto := award(burning, 1, 10, "2026-03-31 23:00")
	noPhoto.Photos = 0
	if err := Decide(noPhoto, nil); !apperr.Is(err, CodeEvidenceRequired) {
		t.Fatalf("veto deduction without evidence: %v", err)
	}
	if err := Decide(award(burning, 501, 50, "2026-03-31 23:00"), nil); !apperr.Is(err, apperr.CodeConflictInterest) {
		t.Fatalf("veto against one's own household: %v", err)
	}
	bad := burning
	bad.VetoScope = "village"
	if e := apperr.From(bad.Validate()); e == nil || e.Field != "veto_scope" {
		t.Fatalf("veto scope not validated: %v", e)
	}
}
