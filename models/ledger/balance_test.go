package ledger

import (
	"reflect"
	"testing"

	"github.com/villagepoints/jifen/apperr"
)

func TestSplitSpend(t *testing.T) {
	civicFirst := []Track{TrackCivic, TrackVolunteer}
	for _, tc := range []struct {
		name      string
		balances  map[Track]int64
		spendable []Track
		amount    int64
		want      []TrackAmount
		short     string
	}{
		{"one track covers it", map[Track]int64{TrackCivic: 50}, civicFirst, 30,
			[]TrackAmount{{TrackCivic, 30}}, ""},
		{"draws tracks in the village's order", map[Track]int64{TrackCivic: 10, TrackVolunteer: 15}, civicFirst, 20,
			[]TrackAmount{{TrackCivic, 10}, {TrackVolunteer, 10}}, ""},
		{"exact balance", map[Track]int64{TrackCivic: 10, TrackVolunteer: 15}, civicFirst, 25,
			[]TrackAmount{{TrackCivic, 10}, {TrackVolunteer, 15}}, ""},
		{"party points are not spendable", map[Track]int64{TrackCivic: 12, TrackParty: 100}, civicFirst, 30,
			nil, "积分不足：可用 12 分，需要 30 分"},
		{"a negative track neither helps nor hurts", map[Track]int64{TrackCivic: -20, TrackVolunteer: 15}, civicFirst, 15,
			[]TrackAmount{{TrackVolunteer, 15}}, ""},
		{"nothing spendable", map[Track]int64{}, civicFirst, 1, nil, "积分不足：可用 0 分，需要 1 分"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splitSpend(tc.balances, tc.spendable, tc.amount)
			if tc.short != "" {
				if !apperr.Is(err, apperr.CodePointsShort) || apperr.From(err).Message != tc.short {
					t.Fatalf("got %v, want %q", err, tc.short)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v %v, want %v", got, err, tc.want)
			}
		})
	}
}

func TestLegsRoundTrip(t *testing.T) {
	legs := []TrackAmount{{TrackCivic, 20}, {TrackVolunteer, 10}}
	s := formatLegs(legs)
	if s != "civic=20,volunteer=10" {
		t.Fatalf("formatted %q", s)
	}
	back, err := parseLegs(s)
	if err != nil || !reflect.DeepEqual(back, legs) {
		t.Fatalf("parsed %v %v", back, err)
	}
	for _, bad := range []string{"", "civic", "civic=0", "gold=5", "civic=x"} {
		if _, err := parseLegs(bad); err == nil {
			t.Errorf("parseLegs(%q) accepted", bad)
		}
	}
}

func TestReversalOf(t *testing.T) {
	award := Posting{ID: 5, VillageID: 1, Type: TypeRuleAward, Track: TrackCivic, FromKind: KindIssued, ToKind: KindResident, ToOwner: 9, Amount: 7, Source: Source{"award", 3}}
	heldCapture := Posting{ID: 6, VillageID: 1, Type: TypeRedemptionCapture, Track: TrackCivic, FromKind: KindResidentHeld, FromOwner: 9, ToKind: KindRedeemed, Amount: 4, HoldID: 2}
	for _, tc := range []struct {
		name     string
		orig     Posting
		from, to AccountKey
		refused  bool
	}{
		{"an award goes back to issued", award,
			AccountKey{KindResident, 9, TrackCivic}, AccountKey{KindIssued, 0, TrackCivic}, false},
		{"a deduction comes back to the resident",
			Posting{ID: 7, Type: TypeRuleDeduction, Track: TrackParty, FromKind: KindResident, FromOwner: 9, ToKind: KindDeducted, Amount: 3},
			AccountKey{KindDeducted, 0, TrackParty}, AccountKey{KindResident, 9, TrackParty}, false},
		{"a capture from a hold refunds to the own account, not the closed hold", heldCapture,
			AccountKey{KindRedeemed, 0, TrackCivic}, AccountKey{KindResident, 9, TrackCivic}, false},
		{"a hold is settled by release, not reversal", Posting{Type: TypeRedemptionHold}, AccountKey{}, AccountKey{}, true},
		{"a reversal is final", Posting{Type: TypeReversal}, AccountKey{}, AccountKey{}, true},
		{"expiry is not reversed", Posting{Type: TypeExpiry}, AccountKey{}, AccountKey{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := reversalOf(tc.orig, staff, "录入错误")
			if tc.refused {
				if !apperr.Is(err, apperr.CodeConflict) {
					t.Fatalf("got %v, want a refusal", err)
				}
				return
			}
			if err != nil || r.From() != tc.from || r.To() != tc.to || r.Amount != tc.orig.Amount ||
				r.ReversesID != tc.orig.ID || r.Type != TypeReversal || r.Reason != "录入错误" {
				t.Fatalf("got %+v %v", r, err)
			}
		})
	}
}

func TestHolderDeltasSkipSystemAccounts(t *testing.T) {
	ps := []Posting{
		{Track: TrackCivic, FromKind: KindResident, FromOwner: 1, ToKind: KindResidentHeld, ToOwner: 1, Amount: 5},
		{Track: TrackCivic, FromKind: KindIssued, ToKind: KindResident, ToOwner: 1, Amount: 5},
		{Track: TrackCivic, FromKind: KindResidentHeld, FromOwner: 1, ToKind: KindRedeemed, Amount: 2},
	}
	want := Balances{{KindResidentHeld, 1, TrackCivic}: 3}
	if got := holderDeltas(ps); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	all := Balances{}
	for _, p := range ps {
		all.Apply(p)
	}
	if all.Sum() != 0 {
		t.Fatalf("postings do not sum to zero: %v", all)
	}
}
