package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/villagepoints/jifen/apperr"
)

// An open order shows two pickup codes 取货码. The QR code carries
// "R1.<payload>.<tag>": the order, its village and an expiry a minute
// ahead, signed with a key of its own, so a screenshot stops working
// within a minute; the mini-program fetches the next one before then. The
// six-digit code is for counters without a scanner: it is fixed for the
// order's life and unique among the village's open orders, and it is only
// accepted from a clerk signed in to that village, who sees the villager
// in front of them.
const qrPrefix = "R1."

// PickupCode is what the mini-program shows for an open order.
type PickupCode struct {
	OrderID int64 `json:"order_id"`
	// QR is the content of the rotating QR code.
	QR string `json:"qr"`
	// Code is the six-digit code to read out.
	Code string `json:"code"`
	// ExpiresAt is when QR stops being accepted; RefreshAfter when to
	// fetch the next one.
	ExpiresAt    time.Time `json:"expires_at"`
	RefreshAfter time.Time `json:"refresh_after"`
	// PickupBy is the order's deadline.
	PickupBy time.Time `json:"pickup_by"`
}

type pickupClaims struct {
	OrderID, VillageID int64
	Expires            time.Time
}

var b64 = base64.RawURLEncoding

func pickupTag(key []byte, body string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return b64.EncodeToString(m.Sum(nil)[:16])
}

func signPickup(key []byte, c pickupClaims) string {
	var p []byte
	p = binary.AppendUvarint(p, uint64(c.OrderID))
	p = binary.AppendUvarint(p, uint64(c.VillageID))
	p = binary.AppendUvarint(p, uint64(c.Expires.Unix()))
	body := qrPrefix + b64.EncodeToString(p)
	return body + "." + pickupTag(key, body)
}

var errPickupInvalid = apperr.Invalid("code", "取货码无效，请让村民刷新后重新出示")

// verifyPickup checks a QR code's tag and expiry at now.
func verifyPickup(key []byte, code string, now time.Time) (pickupClaims, error) {
	i := strings.LastIndexByte(code, '.')
	if !strings.HasPrefix(code, qrPrefix) || i <= len(qrPrefix) {
		return pickupClaims{}, errPickupInvalid
	}
	body, sig := code[:i], code[i+1:]
	if !hmac.Equal([]byte(sig), []byte(pickupTag(key, body))) {
		return pickupClaims{}, errPickupInvalid
	}
	p, err := b64.DecodeString(body[len(qrPrefix):])
	if err != nil {
		return pickupClaims{}, errPickupInvalid
	}
	r := bytes.NewReader(p)
	var v [3]uint64
	for i := range v {
		if v[i], err = binary.ReadUvarint(r); err != nil {
			return pickupClaims{}, errPickupInvalid
		}
	}
	c := pickupClaims{OrderID: int64(v[0]), VillageID: int64(v[1]), Expires: time.Unix(int64(v[2]), 0).UTC()}
	if !now.Before(c.Expires) {
		return c, apperr.New(apperr.CodeInvalid, "取货码已过期，请让村民刷新后重新出示")
	}
	return c, nil
}

// isNumericCode reports whether s looks like a six-digit pickup code.
func isNumericCode(s string) bool {
	if len(s) != 6 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

var million = big.NewInt(1_000_000)

// newNumericCode draws a six-digit code from the system's random source.
func newNumericCode() string {
	n, err := rand.Int(rand.Reader, million)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("%06d", n.Int64())
}
