package pii

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaskName keeps the first and last character of a name: 张三 → 张*,
// 张小三 → 张*三, 欧阳小明 → 欧**明.
func MaskName(name string) string {
	r := []rune(strings.TrimSpace(name))
	switch len(r) {
	case 0:
		return ""
	case 1:
		return "*"
	case 2:
		return string(r[0]) + "*"
	}
	return string(r[0]) + strings.Repeat("*", len(r)-2) + string(r[len(r)-1])
}

// MaskPhone keeps the first 3 and last 4 digits: 138****1234.
func MaskPhone(phone string) string {
	if utf8.RuneCountInString(phone) < 7 {
		return strings.Repeat("*", utf8.RuneCountInString(phone))
	}
	return phone[:3] + strings.Repeat("*", len(phone)-7) + phone[len(phone)-4:]
}

// MaskIDNumber keeps the first 3 and last 4 characters of an ID number.
func MaskIDNumber(id string) string { return MaskPhone(id) }

var (
	phonePattern = regexp.MustCompile(`^1[3-9][0-9]{9}$`)
	idPattern    = regexp.MustCompile(`^[1-9][0-9]{16}[0-9X]$`)
)

// NormalizePhone strips spaces, dashes and a +86 prefix; ok is false when
// the result is not a mainland mobile number.
func NormalizePhone(s string) (string, bool) {
	s = strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "+86")
	return s, phonePattern.MatchString(s)
}

// NormalizeIDNumber upper-cases the check character and validates an
// 18-character resident ID number, checksum included (GB 11643).
func NormalizeIDNumber(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if !idPattern.MatchString(s) {
		return s, false
	}
	weights := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(s[i]-'0') * w
	}
	return s, "10X98765432"[sum%11] == s[17]
}
