package store

import (
	"strings"
	"testing"
	"time"
)

func TestPickupQR(t *testing.T) {
	key := []byte(strings.Repeat("q", 32))
	now := time.Date(2024, 3, 1, 2, 0, 0, 0, time.UTC)
	code := signPickup(key, pickupClaims{OrderID: 42, VillageID: 7, Expires: now.Add(time.Minute)})
	c, err := verifyPickup(key, code, now)
	if err != nil || c.OrderID != 42 || c.VillageID != 7 {
		t.Fatalf("%+v %v", c, err)
	}
	other := signPickup(key, pickupClaims{OrderID: 43, VillageID: 7, Expires: now.Add(time.Minute)})
	body, _, _ := strings.Cut(other, ".")
	_, sig, _ := strings.Cut(code[len(qrPrefix):], ".")
	for name, bad := range map[string]string{
		"expired":           "",
		"another key":       signPickup([]byte(strings.Repeat("x", 32)), pickupClaims{OrderID: 42, VillageID: 7, Expires: now.Add(time.Minute)}),
		"swapped payload":   body + "." + sig,
		"no prefix":         strings.TrimPrefix(code, qrPrefix),
		"personal code":     "P1.abc.def",
		"truncated tag":     code[:len(code)-1],
		"not base64 inside": qrPrefix + "!!!." + sig,
	} {
		at := now
		if name == "expired" {
			bad, at = code, now.Add(time.Minute)
		}
		if _, err := verifyPickup(key, bad, at); err == nil {
			t.Errorf("%s: accepted %q", name, bad)
		}
	}
}

func TestNumericCode(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c := newNumericCode()
		if !isNumericCode(c) {
			t.Fatalf("%q is not six digits", c)
		}
		seen[c] = true
	}
	if len(seen) < 190 {
		t.Fatalf("only %d distinct codes in 200", len(seen))
	}
	for _, bad := range []string{"12345", "1234567", "12a456", "R1.xx", ""} {
		if isNumericCode(bad) {
			t.Errorf("%q taken for a code", bad)
		}
	}
}

func TestCheckItems(t *testing.T) {
	got, err := checkItems([]SaleItem{{9, 1}, {2, 3}})
	if err != nil || got[0].RewardID != 2 || got[1].RewardID != 9 {
		t.Fatalf("%+v %v", got, err)
	}
	for name, items := range map[string][]SaleItem{
		"empty":      nil,
		"duplicate":  {{2, 1}, {2, 1}},
		"zero":       {{2, 0}},
		"too many":   {{2, 101}},
		"bad reward": {{0, 1}},
	} {
		if _, err := checkItems(items); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
