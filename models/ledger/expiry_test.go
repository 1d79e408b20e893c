package ledger

import (
	"reflect"
	"testing"
	"time"
)

var cst = time.FixedZone("CST", 8*3600)

func local(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, cst) }

func TestExpiresAt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy Expiry
		earned time.Time
		want   time.Time
	}{
		{"never", Expiry{Policy: ExpiryNone}, local(2024, 3, 1, 10), time.Time{}},
		{"year end: through 31 December", Expiry{Policy: ExpiryYearEnd}, local(2024, 3, 1, 10), local(2025, 1, 1, 0)},
		{"year end: late on 31 December still counts that year", Expiry{Policy: ExpiryYearEnd}, local(2024, 12, 31, 23), local(2025, 1, 1, 0)},
		// 2024-12-31 20:00 UTC is already 1 January in China.
		{"year end: local year, not UTC", Expiry{Policy: ExpiryYearEnd}, time.Date(2024, 12, 31, 20, 0, 0, 0, time.UTC), local(2026, 1, 1, 0)},
		{"3 months: same day, lapses next midnight", Expiry{Policy: ExpiryMonths, Months: 3}, local(2024, 3, 15, 10), local(2024, 6, 16, 0)},
		{"1 month from 31 January: through 29 February", Expiry{Policy: ExpiryMonths, Months: 1}, local(2024, 1, 31, 10), local(2024, 3, 1, 0)},
		{"12 months across a year", Expiry{Policy: ExpiryMonths, Months: 12}, local(2024, 2, 29, 10), local(2025, 3, 1, 0)},
		{"months without N never lapse", Expiry{Policy: ExpiryMonths}, local(2024, 3, 1, 10), time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.policy.ExpiresAt(tc.earned, cst); !got.Equal(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRemainingLotsSpendOldestFirst(t *testing.T) {
	months := Expiry{Policy: ExpiryMonths, Months: 1}
	jan, feb, mar := local(2024, 1, 10, 9), local(2024, 2, 10, 9), local(2024, 3, 10, 9)
	lapse := func(t time.Time) time.Time { return months.ExpiresAt(t, cst) }
	for _, tc := range []struct {
		name  string
		moves []movement
		want  []lot
	}{
		{"no spending keeps every lot",
			[]movement{{jan, 10, true}, {feb, 20, true}},
			[]lot{{lapse(jan), 10}, {lapse(feb), 20}}},
		{"spending eats the oldest lot first",
			[]movement{{jan, 10, true}, {feb, 20, true}, {mar, -15, false}},
			[]lot{{lapse(feb), 15}}},
		{"spending before a later award still eats the older lot",
			[]movement{{jan, 10, true}, {jan.Add(time.Hour), -4, false}, {feb, 20, true}},
			[]lot{{lapse(jan), 6}, {lapse(feb), 20}}},
		{"a released hold gives the points back",
			[]movement{{jan, 10, true}, {feb, -10, false}, {feb.Add(time.Hour), 10, false}},
			[]lot{{lapse(jan), 10}}},
		{"a deduction below zero leaves nothing",
			[]movement{{jan, 10, true}, {feb, -30, false}},
			nil},
		{"expiry postings consume what lapsed",
			[]movement{{jan, 10, true}, {feb, 5, true}, {mar, -10, false}},
			[]lot{{lapse(feb), 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := remainingLots(tc.moves, months, cst); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	if got := remainingLots([]movement{{jan, 10, true}}, Expiry{Policy: ExpiryNone}, cst); got != nil {
		t.Fatalf("no policy: got %v", got)
	}
}

func TestDueAndUpcoming(t *testing.T) {
	lots := []lot{{local(2024, 2, 1, 0), 5}, {local(2024, 3, 1, 0), 7}, {local(2024, 3, 1, 0), 1}, {local(2024, 4, 1, 0), 9}}
	due, latest := dueAmount(lots, local(2024, 3, 1, 0))
	if due != 13 || !latest.Equal(local(2024, 3, 1, 0)) {
		t.Fatalf("due %d at %v", due, latest)
	}
	got := upcoming(TrackCivic, lots, local(2024, 2, 15, 0))
	want := []ExpiringPoints{{TrackCivic, local(2024, 3, 1, 0), 8}, {TrackCivic, local(2024, 4, 1, 0), 9}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
