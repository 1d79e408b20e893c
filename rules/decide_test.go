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
