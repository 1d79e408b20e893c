package pii

import (
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	cases := []struct {
		fn       func(string) string
		in, want string
	}{
		{MaskName, "张三", "张*"},
		{MaskName, "张小三", "张*三"},
		{MaskName, "欧阳小明", "欧**明"},
		{MaskName, "李", "*"},
		{MaskName, "", ""},
		{MaskPhone, "13812341234", "138****1234"},
		{MaskPhone, "12345", "*****"},
		{MaskIDNumber, "11010519491231002X", "110***********002X"},
	}
	for _, c := range cases {
		if got := c.fn(c.in); got != c.want {
			t.Errorf("mask(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	if p, ok := NormalizePhone("+86 138-1234-1234"); !ok || p != "13812341234" {
		t.Errorf("NormalizePhone = %q %v", p, ok)
	}
	if _, ok := NormalizePhone("23812341234"); ok {
		t.Error("a number starting with 2 is not a mobile number")
	}
	if id, ok := NormalizeIDNumber("11010519491231002x"); !ok || id != "11010519491231002X" {
		t.Errorf("valid ID rejected: %q %v", id, ok)
	}
	if _, ok := NormalizeIDNumber("110105194912310021"); ok {
		t.Error("ID with a wrong check digit accepted")
	}
}

func TestVaultRoundTripAndIndex(t *testing.T) {
	v, err := NewVault([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	a, b := v.Seal("13812341234"), v.Seal("13812341234")
	if a == b {
		t.Error("two seals of one value must differ (random nonce)")
	}
	if strings.Contains(a, "1381234") {
		t.Error("ciphertext leaks the plain value")
	}
	got, err := v.Open(a)
	if err != nil || got != "13812341234" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if v.Index("13812341234") != v.Index("13812341234") || v.Index("13812341234") == v.Index("13812341235") {
		t.Error("blind index must be deterministic and distinguish values")
	}
	other, _ := NewVault([]byte(strings.Repeat("x", 32)))
	if _, err := other.Open(a); err == nil {
		t.Error("a different key must not decrypt")
	}
	if _, err := NewVault([]byte("short")); err == nil {
		t.Error("short master secret accepted")
	}
}
