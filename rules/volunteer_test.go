package rules

import (
	"testing"
	"time"
)

func TestServiceMinutes(t *testing.T) {
	at := func(d, h, m int) time.Time { return time.Date(2026, 5, d, h, m, 0, 0, China) }
	win0, win1 := at(1, 8, 0), at(3, 12, 0)
	for _, tc := range []struct {
		name    string
		in, out time.Time
		cap     int
		want    int
	}{
		{"inside the window", at(1, 9, 0), at(1, 11, 30), 0, 150},
		{"early check-in clipped to start", at(1, 7, 0), at(1, 9, 0), 0, 60},
		{"late check-out clipped to end", at(3, 11, 0), at(3, 14, 0), 0, 60},
		{"seconds dropped", at(1, 9, 0), at(1, 9, 0).Add(119 * time.Second), 0, 1},
		{"across midnight, each day capped", at(1, 20, 0), at(2, 6, 0), 180, 180 + 180},
		{"across midnight, under the cap", at(1, 23, 0), at(2, 1, 0), 480, 120},
		{"daily cap", at(1, 8, 0), at(1, 20, 0), 480, 480},
		{"out before in", at(1, 10, 0), at(1, 9, 0), 0, 0},
		{"entirely before the window", at(1, 6, 0), at(1, 7, 0), 0, 0},
	} {
		if got := ServiceMinutes(tc.in, tc.out, win0, win1, tc.cap); got != tc.want {
			t.Errorf("%s: got %d minutes, want %d", tc.name, got, tc.want)
		}
	}
}

func TestAttendancePoints(t *testing.T) {
	for _, tc := range []struct {
		minutes        int
		perHour, fixed int64
		want           int64
	}{
		{150, 2, 0, 4}, {59, 2, 0, 0}, {10, 0, 5, 5}, {0, 0, 5, 0},
	} {
		if got := AttendancePoints(tc.minutes, tc.perHour, tc.fixed); got != tc.want {
			t.Errorf("AttendancePoints(%d, %d, %d) = %d, want %d", tc.minutes, tc.perHour, tc.fixed, got, tc.want)
		}
	}
}

func TestInsideFence(t *testing.T) {
	lat, lng := 30.0, 120.0
	for _, tc := range []struct {
		name     string
		dLat     float64 // degrees north of the place; 0.001° ≈ 111 m
		radius   int
		accuracy int
		want     bool
	}{
		{"at the place", 0, 100, 0, true},
		{"just outside radius, within GPS tolerance", 0.0012, 100, 0, true},
		{"well outside", 0.005, 100, 0, false},
		{"phone accuracy widens the fence", 0.0016, 100, 80, true},
		{"accuracy is capped at 100 m", 0.0025, 100, 5000, false},
	} {
		d, ok := InsideFence(lat, lng, tc.radius, lat+tc.dLat, lng, tc.accuracy)
		if ok != tc.want {
			t.Errorf("%s: distance %d m, inside %v, want %v", tc.name, d, ok, tc.want)
		}
	}
	if d := DistanceMeters(30, 120, 30.001, 120); d < 110 || d > 112 {
		t.Errorf("0.001° of latitude = %d m, want about 111", d)
	}
}

func TestAssessmentPoints(t *testing.T) {
	rule := GradePoints{Excellent: 12, Qualified: 8, BasicPass: 4, Unqualified: -5}
	for _, tc := range []struct {
		name   string
		grade  Grade
		scores []int64
		base   int64
		want   int64
	}{
		{"excellent", Excellent, nil, 10, 12},
		{"unqualified never deducts", Unqualified, nil, 10, 0},
		{"scores scale base points", "", []int64{40, 30, 20}, 10, 9},
		{"default rule", Qualified, nil, 0, 6},
	} {
		r := rule
		if tc.name == "default rule" {
			r = nil
		}
		if got := AssessmentPoints(r, tc.grade, tc.scores, tc.base); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}
