package ledger

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/villagepoints/jifen/apperr"
)

// Balances maps accounts to balances. A balance is credits minus debits.
type Balances map[AccountKey]int64

// Apply books one posting: its amount leaves From and arrives at To.
func (b Balances) Apply(p Posting) {
	b[p.From()] -= p.Amount
	b[p.To()] += p.Amount
}

// Sum adds every balance; for a whole village it is always zero.
func (b Balances) Sum() int64 {
	var s int64
	for _, v := range b {
		s += v
	}
	return s
}

// nonZero drops zero entries, so two Balances compare by what they hold.
func (b Balances) nonZero() Balances {
	out := Balances{}
	for k, v := range b {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// sortedKeys lists keys in a fixed order, the order rows are locked in.
func sortedKeys[V any](m map[AccountKey]V) []AccountKey {
	keys := make([]AccountKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
	return keys
}

func keyLess(a, b AccountKey) bool {
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	if a.Owner != b.Owner {
		return a.Owner < b.Owner
	}
	return a.Track < b.Track
}

// holderDeltas nets what postings do to holder accounts; system accounts
// are left to the Sealer.
func holderDeltas(ps []Posting) Balances {
	d := Balances{}
	for _, p := range ps {
		if !p.FromKind.System() {
			d[p.From()] -= p.Amount
		}
		if !p.ToKind.System() {
			d[p.To()] += p.Amount
		}
	}
	return d.nonZero()
}

// TrackAmount is how much one track contributes to a spend or a hold.
type TrackAmount struct {
	Track  Track
	Amount int64
}

// splitSpend draws amount from the spendable tracks in the village's order,
// taking each track's balance before moving to the next. It refuses with
// CodePointsShort when the spendable tracks together hold less.
func splitSpend(balances map[Track]int64, spendable []Track, amount int64) ([]TrackAmount, error) {
	var available int64
	for _, t := range spendable {
		available += max(balances[t], 0)
	}
	if available < amount {
		return nil, pointsShort(available, amount)
	}
	var legs []TrackAmount
	left := amount
	for _, t := range spendable {
		if left == 0 {
			break
		}
		if take := min(max(balances[t], 0), left); take > 0 {
			legs = append(legs, TrackAmount{Track: t, Amount: take})
			left -= take
		}
	}
	return legs, nil
}

// formatLegs and parseLegs store a hold's legs as "civic=20,volunteer=10".
func formatLegs(legs []TrackAmount) string {
	parts := make([]string, len(legs))
	for i, l := range legs {
		parts[i] = string(l.Track) + "=" + strconv.FormatInt(l.Amount, 10)
	}
	return strings.Join(parts, ",")
}

func parseLegs(s string) ([]TrackAmount, error) {
	var legs []TrackAmount
	for part := range strings.SplitSeq(s, ",") {
		t, n, ok := strings.Cut(part, "=")
		amount, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil || !Track(t).Valid() || amount <= 0 {
			return nil, fmt.Errorf("ledger: bad hold legs %q", s)
		}
		legs = append(legs, TrackAmount{Track: Track(t), Amount: amount})
	}
	return legs, nil
}

// reversible reports whether a posting of type t may be reversed. Holds,
// releases and expiry are settled by their own flows, and a reversal is
// final: a wrong reversal is corrected by a manual adjustment.
func reversible(t PostingType) bool {
	switch t {
	case TypeRuleAward, TypeRuleDeduction, TypeDutyAssessment, TypeVolunteerAttendance,
		TypeManualAdjustment, TypeRedemptionCapture:
		return true
	}
	return false
}

// reversalOf builds the posting that undoes orig: the same amount and track
// in the opposite direction. A reversed redemption refunds to the holder's
// own account even when it was captured from a hold, because the hold is
// closed.
func reversalOf(orig Posting, actor Actor, reason string) (Posting, error) {
	if !reversible(orig.Type) {
		return Posting{}, apperr.Newf(apperr.CodeConflict, "%s流水不能冲正", orig.Type.Label())
	}
	r := Posting{
		VillageID:  orig.VillageID,
		Type:       TypeReversal,
		Track:      orig.Track,
		FromKind:   orig.ToKind,
		FromOwner:  orig.ToOwner,
		ToKind:     orig.FromKind,
		ToOwner:    orig.FromOwner,
		Amount:     orig.Amount,
		Source:     orig.Source,
		Actor:      actor,
		Reason:     reason,
		ReversesID: orig.ID,
	}
	if orig.Type == TypeRedemptionCapture && orig.FromKind.Held() {
		h, _ := orig.FromKind.holder(orig.FromOwner)
		r.ToKind = h.main()
	}
	return r, nil
}
