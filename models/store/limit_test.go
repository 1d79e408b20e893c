package store

import (
	"reflect"
	"testing"
)

func TestLimitCharges(t *testing.T) {
	rice := Reward{ID: 7, LimitResidentMonth: 2, LimitHouseholdMonth: 3}
	soap := Reward{ID: 3, LimitResidentMonth: 5}
	oil := Reward{ID: 5}
	for _, tc := range []struct {
		name  string
		lines []limitLine
		want  []limitCharge
	}{
		{"no limits, no counters", []limitLine{{RewardID: 5, ResidentID: 1, HouseholdID: 9, Month: 202403, Quantity: 1, Flags: limitFlags(oil, 9)}}, []limitCharge{}},
		{"resident and household, in lock order", []limitLine{
			{RewardID: 7, ResidentID: 1, HouseholdID: 9, Month: 202403, Quantity: 2, Flags: limitFlags(rice, 9), CapResident: 2, CapHousehold: 3},
			{RewardID: 3, ResidentID: 1, HouseholdID: 9, Month: 202403, Quantity: 1, Flags: limitFlags(soap, 9), CapResident: 5},
		}, []limitCharge{
			{RewardID: 3, Kind: subjectResident, SubjectID: 1, Month: 202403, Quantity: 1, Cap: 5},
			{RewardID: 7, Kind: subjectHousehold, SubjectID: 9, Month: 202403, Quantity: 2, Cap: 3},
			{RewardID: 7, Kind: subjectResident, SubjectID: 1, Month: 202403, Quantity: 2, Cap: 2},
		}},
		{"no household, no household counter", []limitLine{
			{RewardID: 7, ResidentID: 1, Month: 202403, Quantity: 1, Flags: limitFlags(rice, 0), CapResident: 2, CapHousehold: 3},
		}, []limitCharge{{RewardID: 7, Kind: subjectResident, SubjectID: 1, Month: 202403, Quantity: 1, Cap: 2}}},
		{"giving back follows the order's flags, not today's limits", []limitLine{
			{RewardID: 5, ResidentID: 1, HouseholdID: 9, Month: 202402, Quantity: 4, Flags: countsHousehold},
		}, []limitCharge{{RewardID: 5, Kind: subjectHousehold, SubjectID: 9, Month: 202402, Quantity: 4}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := limitCharges(tc.lines); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
