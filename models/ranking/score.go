package ranking

import (
	"math"
	"sort"
	"time"

	"github.com/villagepoints/jifen/rules"
)

// A board's sorted-set score packs two integers into one float64, exact
// because it stays below 2^53 in magnitude:
//
//	score = points × TickSpan + (TickSpan − 1 − tick)
//
// points is the member's points on the board; tick is when the member
// reached them (the instant of the last posting that changed them), so among
// equal points whoever got there first has the higher score and comes first.
// Ties in points still share a rank (ranks are computed from points alone,
// see Ranks); the tick only orders members inside a tie.
const (
	// TickBits is how many low bits hold the tick.
	TickBits = 26
	// TickSpan is 2^TickBits: ticks run from 0 to TickSpan-1.
	TickSpan = 1 << TickBits
	// MaxPoints bounds |points| on one board: (2^27−1)·2^26 + 2^26 − 1 is
	// 2^53 − 1, the largest integer a float64 holds exactly. Points beyond
	// it are clamped (no real village comes near: it is 134 million).
	MaxPoints = 1<<(53-TickBits) - 1
	// PerMemberScale is the fixed-point scale of points per household
	// member: 1234 means 12.34 points per member.
	PerMemberScale = 100
)

// allTimeEpoch is where all-time ticks start counting.
var allTimeEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, rules.China)

// Tick is the tie-break clock of a board of the given period whose period
// started at start: seconds since the period's start for months, quarters
// and years (2^26 s is 776 days, so a correction made even a year after a
// year board's end is still ordered exactly), minutes since 2020-01-01 for
// all-time boards (127 years). It is clamped to [0, TickSpan-1]: a change
// before the origin counts as at the origin, one after the range as last.
func Tick(period rules.Period, start, at time.Time) int64 {
	var t int64
	if period == rules.AllTime {
		t = int64(at.Sub(allTimeEpoch) / time.Minute)
	} else {
		t = int64(at.Sub(start) / time.Second)
	}
	return min(max(t, 0), TickSpan-1)
}

// ClampPoints limits points to ±MaxPoints.
func ClampPoints(p int64) int64 { return min(max(p, -MaxPoints), MaxPoints) }

// Score packs points and tick into a sorted-set score.
func Score(points, tick int64) float64 {
	return float64(ClampPoints(points)*TickSpan + (TickSpan - 1 - tick))
}

// Unpack splits a sorted-set score into points and tick.
func Unpack(score float64) (points, tick int64) {
	s := int64(math.Round(score))
	points = floorDiv(s, TickSpan)
	return points, TickSpan - 1 - (s - points*TickSpan)
}

// floorDiv divides rounding toward minus infinity, as Lua's math.floor of
// a quotient does, so Go and the Redis scripts agree on negative values.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// PerMember is points per household member in PerMemberScale units,
// rounded down; a household without active members counts as one.
func PerMember(points int64, members int) int64 {
	return ClampPoints(floorDiv(points*PerMemberScale, int64(max(members, 1))))
}

// Ranks gives standard competition ranks (1, 2, 2, 4) to one page of a
// board ordered best first. offset is the page's position in the board,
// above the number of members with strictly more points than the first
// entry of the page, and points each entry's points.
func Ranks(offset int, above int64, points []int64) []int64 {
	out := make([]int64, len(points))
	for i, p := range points {
		switch {
		case i == 0:
			out[i] = above + 1
		case p == points[i-1]:
			out[i] = out[i-1]
		default:
			out[i] = int64(offset + i + 1)
		}
	}
	return out
}

// Entry is one member of a board as the rebuild and the snapshots compute
// it: Points, and Tick, the tie-break clock of its last change.
type Entry struct {
	Member int64
	Points int64
	Tick   int64
}

// SortEntries orders entries as a board reads them best first: by points,
// then by who reached them first, then as Redis orders equal scores in a
// reverse range (member strings, in reverse byte order).
func SortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.Points != b.Points {
			return a.Points > b.Points
		}
		if a.Tick != b.Tick {
			return a.Tick < b.Tick
		}
		return memberString(a.Member) > memberString(b.Member)
	})
}

// RankEntries gives sorted entries their competition ranks.
func RankEntries(es []Entry) []int64 {
	pts := make([]int64, len(es))
	for i, e := range es {
		pts[i] = e.Points
	}
	return Ranks(0, 0, pts)
}
