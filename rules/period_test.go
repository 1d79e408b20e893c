package rules

import (
	"testing"
	"time"
)

func cst(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, China)
	if err != nil {
		panic(err)
	}
	return t
}

func TestPeriodBoundariesAreChinaTime(t *testing.T) {
	// 2026-11-30 16:30 UTC is already 2026-12-01 00:30 in China.
	utc := time.Date(2026, 11, 30, 16, 30, 0, 0, time.UTC)
	cases := []struct {
		p          Period
		at         time.Time
		start, end string
		key, label string
	}{
		{Month, utc, "2026-12-01 00:00", "2027-01-01 00:00", "2026-12", "2026年12月"},
		{Day, cst("2026-11-23 23:59"), "2026-11-23 00:00", "2026-11-24 00:00", "2026-11-23", "2026年11月23日"},
		{Week, cst("2026-11-29 10:00"), "2026-11-23 00:00", "2026-11-30 00:00", "2026-W48", "2026年第48周"}, // Sunday belongs to Monday's week
		{Week, cst("2026-11-23 00:00"), "2026-11-23 00:00", "2026-11-30 00:00", "2026-W48", "2026年第48周"},
		{Quarter, cst("2026-11-23 10:00"), "2026-10-01 00:00", "2027-01-01 00:00", "2026-Q4", "2026年第4季度"},
		{Quarter, cst("2026-03-31 23:59"), "2026-01-01 00:00", "2026-04-01 00:00", "2026-Q1", "2026年第1季度"},
		{Year, cst("2026-12-31 23:59"), "2026-01-01 00:00", "2027-01-01 00:00", "2026", "2026年"},
	}
	for _, c := range cases {
		if got := c.p.Start(c.at); !got.Equal(cst(c.start)) {
			t.Errorf("%s.Start(%s) = %s, want %s", c.p, c.at, got, c.start)
		}
		if got := c.p.End(c.at); !got.Equal(cst(c.end)) {
			t.Errorf("%s.End(%s) = %s, want %s", c.p, c.at, got, c.end)
		}
		if got := c.p.Key(c.at); got != c.key {
			t.Errorf("%s.Key = %s, want %s", c.p, got, c.key)
		}
		if got := c.p.Label(c.at); got != c.label {
			t.Errorf("%s.Label = %s, want %s", c.p, got, c.label)
		}
	}
	if AllTime.Key(utc) != "all" || !AllTime.Start(utc).IsZero() {
		t.Error("all-time period")
	}
}
