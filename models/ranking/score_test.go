package ranking

import (
	"math"
	"testing"
	"time"

	"github.com/villagepoints/jifen/rules"
)

func TestScorePacksPointsAndTickExactly(t *testing.T) {
	for _, c := range []struct {
		name         string
		points, tick int64
	}{
		{"zero", 0, 0},
		{"small", 42, 1000},
		{"negative", -17, 5},
		{"largest points, earliest tick", MaxPoints, 0},
		{"largest points, latest tick", MaxPoints, TickSpan - 1},
		{"most negative points", -MaxPoints, 0},
		{"most negative, latest", -MaxPoints, TickSpan - 1},
		{"one below largest", MaxPoints - 1, TickSpan - 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := Score(c.points, c.tick)
			if math.Abs(s) >= 1<<53 {
				t.Fatalf("score %v is not below 2^53", s)
			}
			p, tick := Unpack(s)
			if p != c.points || tick != c.tick {
				t.Fatalf("Unpack(Score(%d,%d)) = %d,%d", c.points, c.tick, p, tick)
			}
		})
	}
	if Score(MaxPoints, 0) != 1<<53-1 {
		t.Fatalf("largest score is %v, want 2^53-1", Score(MaxPoints, 0))
	}
	// Neighbouring values stay distinct at the top of the range.
	if Score(MaxPoints, 1) == Score(MaxPoints, 0) || Score(MaxPoints-1, 0) >= Score(MaxPoints, TickSpan-1) {
		t.Fatal("scores at the top of the range collide or misorder")
	}
	if Score(MaxPoints+5, 0) != Score(MaxPoints, 0) {
		t.Fatal("points beyond the range are not clamped")
	}
}

func TestScoreOrder(t *testing.T) {
	// More points first; equal points: who reached them first.
	if !(Score(10, 500) > Score(9, 0)) {
		t.Fatal("more points must rank higher whatever the time")
	}
	if !(Score(10, 100) > Score(10, 200)) {
		t.Fatal("equal points: the earlier must come first")
	}
	if !(Score(-1, 0) < Score(0, TickSpan-1)) {
		t.Fatal("negative points must rank below zero")
	}
}

func TestRanksAreStandardCompetition(t *testing.T) {
	for _, c := range []struct {
		name   string
		offset int
		above  int64
		points []int64
		want   []int64
	}{
		{"no ties", 0, 0, []int64{9, 8, 7}, []int64{1, 2, 3}},
		{"ties share, next skips", 0, 0, []int64{9, 8, 8, 7}, []int64{1, 2, 2, 4}},
		{"all tied", 0, 0, []int64{5, 5, 5}, []int64{1, 1, 1}},
		{"page starts inside a tie", 3, 1, []int64{8, 8, 6}, []int64{2, 2, 6}},
		{"page after ties", 4, 4, []int64{6, 5}, []int64{5, 6}},
		{"empty", 0, 0, nil, []int64{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Ranks(c.offset, c.above, c.points)
			if len(got) != len(c.want) {
				t.Fatalf("got %v want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("got %v want %v", got, c.want)
				}
			}
		})
	}
}

func TestTick(t *testing.T) {
	start := rules.Month.Start(time.Date(2026, 3, 10, 0, 0, 0, 0, rules.China))
	for _, c := range []struct {
		name   string
		period rules.Period
		at     time.Time
		want   int64
	}{
		{"start of month", rules.Month, start, 0},
		{"one hour in", rules.Month, start.Add(time.Hour), 3600},
		{"before start clamps", rules.Month, start.Add(-time.Hour), 0},
		{"far after clamps", rules.Month, start.AddDate(5, 0, 0), TickSpan - 1},
		{"all-time counts minutes", rules.AllTime, allTimeEpoch.Add(90 * time.Minute), 90},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Tick(c.period, start, c.at); got != c.want {
				t.Fatalf("got %d want %d", got, c.want)
			}
		})
	}
}

func TestPerMember(t *testing.T) {
	for _, c := range []struct {
		points  int64
		members int
		want    int64
		text    string
	}{
		{10, 3, 333, "3.33"},
		{20, 6, 333, "3.33"},
		{9, 0, 900, "9.00"},
		{-10, 3, -334, "-3.34"},
		{MaxPoints, 1, MaxPoints, ""},
	} {
		got := PerMember(c.points, c.members)
		if got != c.want {
			t.Fatalf("PerMember(%d,%d) = %d want %d", c.points, c.members, got, c.want)
		}
		if c.text != "" && PerMemberText(got) != c.text {
			t.Fatalf("text %s want %s", PerMemberText(got), c.text)
		}
	}
}

func TestRetainedKeys(t *testing.T) {
	now := time.Date(2026, 5, 3, 12, 0, 0, 0, rules.China)
	got := retainedKeys(rules.Month, now)
	want := []string{"2026-03", "2026-04", "2026-05"} // March lives until a week after April
	if len(got) != len(want) || got[0] != want[0] || got[2] != want[2] {
		t.Fatalf("months %v want %v", got, want)
	}
	later := time.Date(2026, 5, 20, 0, 0, 0, 0, rules.China)
	if got := retainedKeys(rules.Month, later); len(got) != 2 || got[0] != "2026-04" {
		t.Fatalf("months %v", got)
	}
	for _, p := range Periods {
		for _, k := range retainedKeys(p, now) {
			if _, err := periodStart(p, k); err != nil {
				t.Fatalf("%s key %s does not parse: %v", p, k, err)
			}
		}
	}
}
