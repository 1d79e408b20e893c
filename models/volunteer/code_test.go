package volunteer

import (
	"bytes"
	"testing"
	"time"

	"github.com/villagepoints/jifen/apperr"
)

func TestRotatingCode(t *testing.T) {
	key := bytes.Repeat([]byte{3}, 32)
	t0 := time.Date(2026, 5, 1, 9, 0, 5, 0, time.UTC)
	c := SignCode(key, 42, t0)
	for _, tc := range []struct {
		name string
		code string
		at   time.Time
		want apperr.Code // "" accepted
	}{
		{"fresh", c.Code, t0, ""},
		{"next window still accepted", c.Code, t0.Add(CodeWindow), ""},
		{"photo sent home a minute later", c.Code, t0.Add(2 * CodeWindow), CodeCodeExpired},
		{"replayed next day", c.Code, t0.Add(24 * time.Hour), CodeCodeExpired},
		{"tampered activity", "V1.13" + c.Code[5:], t0, CodeCodeInvalid},
		{"other key", SignCode(bytes.Repeat([]byte{4}, 32), 42, t0).Code, t0, CodeCodeInvalid},
		{"garbage", "hello", t0, CodeCodeInvalid},
	} {
		act, err := VerifyCode(key, tc.code, tc.at)
		switch {
		case tc.want == "" && (err != nil || act != 42):
			t.Errorf("%s: got %d, %v", tc.name, act, err)
		case tc.want != "" && !apperr.Is(err, tc.want):
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.want)
		}
	}
	if !c.ExpiresAt.After(t0.Add(CodeWindow)) || c.RefreshAt.After(c.ExpiresAt) {
		t.Errorf("bad times %+v", c)
	}
}
