package rules

import (
	"slices"
	"testing"
	"time"
)

func TestVetoPeriods(t *testing.T) {
	cases := []struct {
		at   string
		want []string
	}{
		{"2026-03-31 23:59", []string{"2026-03", "2026-Q1", "2026"}},
		{"2026-04-01 00:00", []string{"2026-04", "2026-Q2", "2026"}},
		{"2026-12-31 23:30", []string{"2026-12", "2026-Q4", "2026"}},
	}
	for _, c := range cases {
		if got := VetoPeriods(cst(c.at)); !slices.Equal(got, c.want) {
			t.Errorf("VetoPeriods(%s) = %v, want %v", c.at, got, c.want)
		}
	}
}

func TestWindows(t *testing.T) {
	cases := []struct {
		name string
		got  time.Time
		want string
	}{
		{"a March award's notice closes 7 days after March", NoticeCloses(Month, cst("2026-03-05 10:00"), 7), "2026-04-08 00:00"},
		{"a notice of zero days closes with the period", NoticeCloses(Month, cst("2026-03-05 10:00"), 0), "2026-04-01 00:00"},
		{"an appeal window counts whole days from the decision", AppealDeadline(cst("2026-03-05 10:00"), 15), "2026-03-20 10:00"},
	}
	for _, c := range cases {
		if !c.got.Equal(cst(c.want)) {
			t.Errorf("%s: got %s, want %s", c.name, c.got.In(China).Format("2006-01-02 15:04"), c.want)
		}
	}
	if !Overdue(cst("2026-03-01 08:00"), cst("2026-03-03 08:01"), 48*time.Hour) || Overdue(cst("2026-03-01 08:00"), cst("2026-03-03 08:00"), 48*time.Hour) || Overdue(cst("2020-01-01 00:00"), cst("2026-01-01 00:00"), 0) {
		t.Error("Overdue: the SLA boundary or the zero SLA is wrong")
	}
}
