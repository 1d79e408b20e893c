package volunteer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/villagepoints/jifen/apperr"
)

// A check-in code 签到码 is "V1.<activity>.<window>.<tag>" (base36 numbers):
// the organiser's phone shows it as a QR code and fetches a new one every
// CodeWindow. A code is accepted in its own window and the next one only,
// so a photo sent to a friend stops working within a minute; the tag is an
// HMAC of the rest, so a code cannot be made for another activity or time.
const CodeWindow = 30 * time.Second

var b64 = base64.RawURLEncoding

// ActivityCode is a rotating code and when it stops being accepted.
type ActivityCode struct {
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
	// RefreshAt is when the display should fetch the next code.
	RefreshAt time.Time `json:"refresh_at"`
}

func window(t time.Time) int64 { return t.Unix() / int64(CodeWindow/time.Second) }

func codeTag(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return b64.EncodeToString(m.Sum(nil)[:12])
}

// SignCode returns the code of activity for the window containing now.
func SignCode(key []byte, activity int64, now time.Time) ActivityCode {
	w := window(now)
	body := "V1." + strconv.FormatInt(activity, 36) + "." + strconv.FormatInt(w, 36)
	start := time.Unix(w*int64(CodeWindow/time.Second), 0).UTC()
	return ActivityCode{Code: body + "." + codeTag(key, body), RefreshAt: start.Add(CodeWindow), ExpiresAt: start.Add(2 * CodeWindow)}
}

// VerifyCode checks a scanned code at now and returns its activity.
func VerifyCode(key []byte, code string, now time.Time) (int64, error) {
	bad := apperr.New(CodeCodeInvalid, "签到码无效，请扫描活动现场的签到码")
	parts := strings.Split(code, ".")
	if len(parts) != 4 || parts[0] != "V1" {
		return 0, bad
	}
	body := strings.Join(parts[:3], ".")
	if !hmac.Equal([]byte(codeTag(key, body)), []byte(parts[3])) {
		return 0, bad
	}
	act, err1 := strconv.ParseInt(parts[1], 36, 64)
	w, err2 := strconv.ParseInt(parts[2], 36, 64)
	if err1 != nil || err2 != nil || act <= 0 {
		return 0, bad
	}
	cur := window(now)
	if w > cur+1 || w < cur-1 {
		return 0, apperr.New(CodeCodeExpired, "签到码已过期，请扫描现场屏幕上的最新签到码")
	}
	return act, nil
}
