package ledger

import (
	"sort"
	"time"
)

// ExpiryPolicy is a village's rule for when earned points lapse 积分过期.
type ExpiryPolicy string

// The expiry policies.
const (
	ExpiryNone    ExpiryPolicy = "none"     // points never lapse
	ExpiryYearEnd ExpiryPolicy = "year_end" // points lapse when the year they were earned in ends
	ExpiryMonths  ExpiryPolicy = "months"   // points lapse N months after they were earned
)

// Expiry is a policy with its parameter.
type Expiry struct {
	Policy ExpiryPolicy
	// Months is N for ExpiryMonths.
	Months int
}

// ExpiresAt is the instant points earned at earned lapse, in the village's
// local time loc; the zero time means never. Year-end points stay usable
// through 31 December. N-month points stay usable through the same calendar
// day N months later (or that month's last day, for a 31 January award and
// a shorter month), and lapse at the following midnight.
func (e Expiry) ExpiresAt(earned time.Time, loc *time.Location) time.Time {
	t := earned.In(loc)
	switch e.Policy {
	case ExpiryYearEnd:
		return time.Date(t.Year()+1, time.January, 1, 0, 0, 0, 0, loc)
	case ExpiryMonths:
		if e.Months <= 0 {
			return time.Time{}
		}
		first := time.Date(t.Year(), t.Month()+time.Month(e.Months), 1, 0, 0, 0, 0, loc)
		day := min(t.Day(), daysIn(first))
		return time.Date(first.Year(), first.Month(), day+1, 0, 0, 0, 0, loc)
	}
	return time.Time{}
}

func daysIn(firstOfMonth time.Time) int {
	return firstOfMonth.AddDate(0, 1, -1).Day()
}

// movement is one posting as seen from a holder's own account, for expiry.
type movement struct {
	At     time.Time
	Amount int64 // positive: credit; negative: debit
	// Earned marks a credit that brings new points (an award), which
	// starts an expiry lot. Other credits give back points that were spent
	// or held before (a released hold, a reversed deduction).
	Earned bool
}

// lot is an amount of earned points that lapses at one instant.
type lot struct {
	ExpiresAt time.Time
	Amount    int64
}

// remainingLots works out which earned points are still in an account and
// when each lot lapses, spending the oldest points first: every debit
// (spending, deduction, expiry) consumes the lots that lapse soonest, and
// every credit that gives points back undoes consumption. It returns the
// lots with points left, soonest first; under ExpiryNone it returns none.
func remainingLots(moves []movement, e Expiry, loc *time.Location) []lot {
	if e.Policy == ExpiryNone || e.Policy == "" {
		return nil
	}
	var lots []lot
	var consumed int64
	for _, m := range moves {
		switch {
		case m.Amount > 0 && m.Earned:
			if at := e.ExpiresAt(m.At, loc); !at.IsZero() {
				lots = append(lots, lot{ExpiresAt: at, Amount: m.Amount})
			}
		case m.Amount > 0:
			consumed -= m.Amount
		default:
			consumed -= m.Amount // a debit: Amount is negative
		}
	}
	sort.SliceStable(lots, func(i, j int) bool { return lots[i].ExpiresAt.Before(lots[j].ExpiresAt) })
	var out []lot
	for _, l := range lots {
		if consumed > 0 {
			take := min(consumed, l.Amount)
			l.Amount -= take
			consumed -= take
		}
		if l.Amount > 0 {
			out = append(out, l)
		}
	}
	return out
}

// dueAmount sums the lots that have lapsed by now.
func dueAmount(lots []lot, now time.Time) (amount int64, latest time.Time) {
	for _, l := range lots {
		if !l.ExpiresAt.After(now) {
			amount += l.Amount
			latest = l.ExpiresAt
		}
	}
	return amount, latest
}

// ExpiringPoints is an amount of points that will lapse on one day.
type ExpiringPoints struct {
	Track Track
	// ExpiresAt is the instant the points lapse (local midnight).
	ExpiresAt time.Time
	Amount    int64
}

// upcoming lists the lots that lapse after now, merged per instant.
func upcoming(track Track, lots []lot, now time.Time) []ExpiringPoints {
	var out []ExpiringPoints
	for _, l := range lots {
		if !l.ExpiresAt.After(now) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].ExpiresAt.Equal(l.ExpiresAt) {
			out[n-1].Amount += l.Amount
			continue
		}
		out = append(out, ExpiringPoints{Track: track, ExpiresAt: l.ExpiresAt, Amount: l.Amount})
	}
	return out
}
