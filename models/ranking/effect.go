package ranking

import (
	"time"

	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/rules"
)

// Effect is what one posting does to the rankings: Delta points of Track
// for Holder, counted in the periods containing At, changed at Changed.
type Effect struct {
	Holder ledger.Holder
	Track  ledger.Track
	Delta  int64
	// At decides the periods: the posting's own time, or for a reversal
	// the time of the posting it reverses, so a correction lands in the
	// month the mistake was counted in (and a corrected monthly ranking
	// can be frozen again from the ledger).
	At time.Time
	// Changed is when the holder's points changed: the posting's own time.
	// It orders members inside a tie.
	Changed time.Time
}

// rankingCounterpart reports whether a posting between a holder and a
// system account of kind k counts for rankings. Points earned (issued),
// deducted and adjusted by hand count; spending (redeemed), holds and
// expiry do not: a villager who redeems points keeps their rank. A
// reversal swaps the sides of what it reverses, so the same rule makes a
// reversed award lower the score and a reversed deduction raise it, while a
// reversed redemption changes nothing.
func rankingCounterpart(k ledger.AccountKind) bool {
	return k == ledger.KindIssued || k == ledger.KindDeducted || k == ledger.KindAdjustments
}

// holderOf returns the holder owning a main (not held) account.
func holderOf(k ledger.AccountKind, owner int64) (ledger.Holder, bool) {
	switch k {
	case ledger.KindResident:
		return ledger.Resident(owner), true
	case ledger.KindHousehold:
		return ledger.Household(owner), true
	}
	return ledger.Holder{}, false
}

// EffectOf returns a posting's effect on the rankings, if it has one.
// origAt is the creation time of the posting p reverses (zero if p is not
// a reversal).
func EffectOf(p ledger.Posting, origAt time.Time) (Effect, bool) {
	e := Effect{Track: p.Track, At: p.CreatedAt, Changed: p.CreatedAt}
	if p.ReversesID != 0 && !origAt.IsZero() {
		e.At = origAt
	}
	if h, ok := holderOf(p.ToKind, p.ToOwner); ok && rankingCounterpart(p.FromKind) {
		e.Holder, e.Delta = h, p.Amount
		return e, true
	}
	if h, ok := holderOf(p.FromKind, p.FromOwner); ok && rankingCounterpart(p.ToKind) {
		e.Holder, e.Delta = h, -p.Amount
		return e, true
	}
	return Effect{}, false
}

// isDeduction reports whether a posting is a rule deduction 扣分 or the
// reversal of one, for the black side of a 红黑榜. It returns the change of
// the holder's deducted points (positive for a deduction).
func deductionOf(p ledger.Posting, reversedType ledger.PostingType) (ledger.Holder, int64, bool) {
	switch {
	case p.Type == ledger.TypeRuleDeduction:
		if h, ok := holderOf(p.FromKind, p.FromOwner); ok {
			return h, p.Amount, true
		}
	case p.Type == ledger.TypeReversal && reversedType == ledger.TypeRuleDeduction:
		if h, ok := holderOf(p.ToKind, p.ToOwner); ok {
			return h, -p.Amount, true
		}
	}
	return ledger.Holder{}, 0, false
}

// Member is what the boards need to know about a holder beyond its id:
// a resident's household and party membership, a household's number of
// active members (for points per member).
type Member struct {
	Household int64
	Party     bool
}

// Mapping is a village's people as the boards see them.
type Mapping struct {
	Residents map[int64]Member
	// Members counts active residents per household.
	Members map[int64]int
}

// update is one change to one board entry in a live delivery, or one
// contribution to an entry in a rebuild.
type update struct {
	board Board
	// member is the resident or household id.
	member int64
	delta  int64
	tick   int64
	// perMember, for SubjectHouseholdPerMember boards, is the divisor: the
	// household's members; the value is derived from the household's total
	// on the matching SubjectHousehold board, updated just before.
	perMember int
	veto      string
	expire    time.Time
}

// geo is where a village sits.
type geo struct {
	Village, Township, County int64
}

func (g geo) scopeID(k ScopeKind) int64 {
	switch k {
	case ScopeTownship:
		return g.Township
	case ScopeCounty:
		return g.County
	}
	return g.Village
}

// updatesOf expands an effect into board updates of the given scopes, in
// the order a live delivery applies them: for each period, scope and track
// (own track, then total), the resident, party and household boards.
// Boards whose period has expired at now are skipped, as are boards of
// subjects the holder is not (a household has no resident or party boards).
func updatesOf(e Effect, g geo, m Mapping, now time.Time, scopes []ScopeKind, fn func(update)) {
	mem := m.Residents[e.Holder.ID]
	household := e.Holder.ID
	if e.Holder.Kind == ledger.HolderResident {
		household = mem.Household
	}
	for _, p := range Periods {
		if !retained(p, e.At, now) {
			continue
		}
		start := p.Start(e.At)
		key := p.Key(e.At)
		tick := Tick(p, start, e.Changed)
		exp := expiresAt(p, e.At)
		var veto, hveto string
		if e.Holder.Kind == ledger.HolderResident {
			veto = vetoMember(SubjectResident, e.Holder.ID, key)
		}
		if household != 0 {
			hveto = vetoMember(SubjectHousehold, household, key)
		}
		for _, sc := range scopes {
			for _, tr := range []ledger.Track{e.Track, TrackTotal} {
				b := Board{Scope: sc, ScopeID: g.scopeID(sc), County: g.County, Period: p, Key: key, Track: tr}
				if e.Holder.Kind == ledger.HolderResident {
					b.Subject = SubjectResident
					fn(update{board: b, member: e.Holder.ID, delta: e.Delta, tick: tick, veto: veto, expire: exp})
					if mem.Party {
						b.Subject = SubjectParty
						fn(update{board: b, member: e.Holder.ID, delta: e.Delta, tick: tick, veto: veto, expire: exp})
					}
				}
				if household == 0 {
					continue
				}
				b.Subject = SubjectHousehold
				fn(update{board: b, member: household, delta: e.Delta, tick: tick, veto: hveto, expire: exp})
				b.Subject = SubjectHouseholdPerMember
				fn(update{board: b, member: household, tick: tick, perMember: max(m.Members[household], 1), veto: hveto, expire: exp})
			}
		}
	}
}

// periodOf is the period kind of a key (2026-03 → month).
func periodOf(key string) (rules.Period, bool) {
	for _, p := range Periods {
		if _, err := periodStart(p, key); err == nil {
			return p, true
		}
	}
	return "", false
}
