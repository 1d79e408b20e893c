package ranking

import (
	"fmt"
	"strconv"
	"time"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/kv"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/rules"
)

// Subject is who a board ranks.
type Subject string

// The subjects. Households are kept twice: by their total and by points per
// member (HouseholdPerMember), so each village can choose which one its
// household board shows without a rebuild.
const (
	SubjectResident           Subject = "resident"  // 村民
	SubjectHousehold          Subject = "household" // 户 (total)
	SubjectHouseholdPerMember Subject = "household_per_member"
	SubjectParty              Subject = "party" // 党员
)

// Subjects lists every board subject.
var Subjects = []Subject{SubjectResident, SubjectHousehold, SubjectHouseholdPerMember, SubjectParty}

func (s Subject) code() string {
	switch s {
	case SubjectResident:
		return "res"
	case SubjectHousehold:
		return "hh"
	case SubjectHouseholdPerMember:
		return "hpm"
	case SubjectParty:
		return "pty"
	}
	return string(s)
}

// Label is the subject's Chinese name for notices.
func (s Subject) Label() string {
	switch s {
	case SubjectResident:
		return "村民"
	case SubjectHousehold, SubjectHouseholdPerMember:
		return "户"
	case SubjectParty:
		return "党员"
	}
	return string(s)
}

// household reports whether members of the subject are households.
func (s Subject) household() bool {
	return s == SubjectHousehold || s == SubjectHouseholdPerMember
}

// Valid reports whether s is a known subject.
func (s Subject) Valid() bool {
	switch s {
	case SubjectResident, SubjectHousehold, SubjectHouseholdPerMember, SubjectParty:
		return true
	}
	return false
}

// ScopeKind is the region a board spans.
type ScopeKind string

// The scopes.
const (
	ScopeVillage  ScopeKind = "village"
	ScopeTownship ScopeKind = "township"
	ScopeCounty   ScopeKind = "county"
)

// Scopes lists every scope, smallest first.
var Scopes = []ScopeKind{ScopeVillage, ScopeTownship, ScopeCounty}

func (k ScopeKind) code() string { return string(k[:1]) }

func (k ScopeKind) String() string { return string(k) }

// Valid reports whether k is a known scope.
func (k ScopeKind) Valid() bool {
	return k == ScopeVillage || k == ScopeTownship || k == ScopeCounty
}

// Periods are the board periods.
var Periods = []rules.Period{rules.Month, rules.Quarter, rules.Year, rules.AllTime}

// TrackTotal is the board of all tracks together.
const TrackTotal ledger.Track = "total"

// Tracks lists the board tracks: each ledger track and the total.
var Tracks = append(append([]ledger.Track{}, ledger.Tracks...), TrackTotal)

// validTrack reports whether t is a board track.
func validTrack(t ledger.Track) bool { return t == TrackTotal || t.Valid() }

// TrackLabel is a board track's Chinese name.
func TrackLabel(t ledger.Track) string {
	if t == TrackTotal {
		return "总积分"
	}
	return t.Label() + "积分"
}

// Board names one leaderboard: who it ranks, over which region, in which
// period (Key: 2026-03, 2026-Q1, 2026 or all), on which track.
type Board struct {
	Subject Subject
	Scope   ScopeKind
	ScopeID int64
	// County is the county the region belongs to: every key of a county
	// carries it as its Redis Cluster hash tag.
	County int64
	Period rules.Period
	Key    string
	Track  ledger.Track
}

// Validate checks a board request's fields.
func (b Board) Validate() error {
	switch {
	case !b.Subject.Valid():
		return apperr.Invalid("subject", "排行对象只能是 resident、household、household_per_member 或 party")
	case !b.Scope.Valid():
		return apperr.Invalid("scope", "范围只能是 village、township 或 county")
	case b.Period != rules.Month && b.Period != rules.Quarter && b.Period != rules.Year && b.Period != rules.AllTime:
		return apperr.Invalid("period", "周期只能是 month、quarter、year 或 all")
	case !validTrack(b.Track):
		return apperr.Invalid("track", "积分类别只能是 civic、party、volunteer 或 total")
	}
	return nil
}

// keyspace builds every Redis key of the rankings through kv.Client.Key, so
// the deployment prefix applies. Every key of one county shares the hash
// tag {cN}: Redis Cluster keeps a county on one node, and each script
// (which touches a village's, its township's and its county's boards at
// once) runs on one slot.
type keyspace struct{ kv *kv.Client }

func tag(county int64) string { return "{c" + strconv.FormatInt(county, 10) + "}" }

// board is the key of a live board.
func (k keyspace) board(b Board) string {
	return k.kv.Key("rank", tag(b.County), "b", b.Subject.code(), b.Scope.code()+strconv.FormatInt(b.ScopeID, 10), b.Key, string(b.Track))
}

// temp is the key a rebuild builds a board under before swapping it in.
func (k keyspace) temp(b Board, token string) string {
	return k.kv.Key("rank", tag(b.County), "tmp", token, b.Subject.code(), b.Scope.code()+strconv.FormatInt(b.ScopeID, 10), b.Key, string(b.Track))
}

// applied is the hash of the last chain_seq applied per village.
func (k keyspace) applied(county int64) string { return k.kv.Key("rank", tag(county), "applied") }

// vetoes is the set of a village's vetoes ("r:12:2026-03", "h:4:all").
func (k keyspace) vetoes(county, village int64) string {
	return k.kv.Key("rank", tag(county), "veto", strconv.FormatInt(village, 10))
}

// pause exists while a rebuild of the county runs: deliveries wait.
func (k keyspace) pause(county int64) string { return k.kv.Key("rank", tag(county), "pause") }

func vetoMember(s Subject, id int64, periodKey string) string {
	c := "r"
	if s.household() {
		c = "h"
	}
	return c + ":" + strconv.FormatInt(id, 10) + ":" + periodKey
}

func memberString(id int64) string { return strconv.FormatInt(id, 10) }

// periodStart parses a period key back to the period's first instant.
func periodStart(p rules.Period, key string) (time.Time, error) {
	bad := apperr.Invalid("key", fmt.Sprintf("周期 %q 格式不正确", key))
	var t time.Time
	var err error
	switch p {
	case rules.Month:
		t, err = time.ParseInLocation("2006-01", key, rules.China)
	case rules.Quarter:
		var y, q int
		if _, err = fmt.Sscanf(key, "%d-Q%d", &y, &q); err == nil && q >= 1 && q <= 4 && len(key) == 7 {
			t = time.Date(y, time.Month(3*q-2), 1, 0, 0, 0, 0, rules.China)
		} else {
			err = bad
		}
	case rules.Year:
		t, err = time.ParseInLocation("2006", key, rules.China)
	case rules.AllTime:
		if key != "all" {
			return t, bad
		}
		return allTimeEpoch, nil
	}
	if err != nil || p.Key(t) != key {
		return t, bad
	}
	return t, nil
}

// expiresAt is when a board of the period containing t is dropped: a week
// after the following period ends, so the current and the previous period
// can always be read (published monthly rankings are kept in SQL, not
// here). All-time boards never expire (zero time).
func expiresAt(p rules.Period, t time.Time) time.Time {
	if p == rules.AllTime {
		return time.Time{}
	}
	next := p.End(t)
	return p.End(next).AddDate(0, 0, 7)
}

// retained reports whether the boards of the period containing t still
// exist at now.
func retained(p rules.Period, t, now time.Time) bool {
	e := expiresAt(p, t)
	return e.IsZero() || now.Before(e)
}

// retainedKeys lists the period keys of p whose boards exist at now,
// oldest first.
func retainedKeys(p rules.Period, now time.Time) []string {
	if p == rules.AllTime {
		return []string{"all"}
	}
	var out []string
	t := p.Start(now)
	for range 3 {
		prev := p.Start(t.Add(-time.Second))
		if !retained(p, prev, now) {
			break
		}
		t = prev
	}
	for !t.After(now) {
		out = append(out, p.Key(t))
		t = p.End(t)
	}
	return out
}
