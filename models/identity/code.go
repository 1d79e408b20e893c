package identity

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"
	"time"

	"github.com/villagepoints/jifen/apperr"
)

// A personal code 个人码 is "P1.<payload>.<tag>": the payload holds the
// user, the resident and the expiry; the tag is an HMAC of the rest under a
// key of its own. The mini-program shows it as a QR code and fetches a new
// one before it expires, so a screenshot stops working within a minute and
// an unbind stops it at once.
const personalPrefix = "P1."

// PersonalCode is a code a bound villager shows a staff member.
type PersonalCode struct {
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
	// RefreshAfter is when the mini-program should fetch the next one.
	RefreshAfter time.Time `json:"refresh_after"`
}

// personalClaims is what a personal code says.
type personalClaims struct {
	UserID, ResidentID int64
	Expires            time.Time
}

var b64 = base64.RawURLEncoding

// tag is the first 16 bytes of the HMAC, base64url: 128 bits.
func tag(key []byte, msg string) string { return b64.EncodeToString(mac(key, msg)[:16]) }

func signPersonal(key []byte, c personalClaims) string {
	var p []byte
	p = binary.AppendUvarint(p, uint64(c.UserID))
	p = binary.AppendUvarint(p, uint64(c.ResidentID))
	p = binary.AppendUvarint(p, uint64(c.Expires.Unix()))
	body := personalPrefix + b64.EncodeToString(p)
	return body + "." + tag(key, body)
}

var errCodeInvalid = apperr.Invalid("code", "二维码无效，请让对方重新出示")

// verifyPersonal checks a personal code's tag and expiry at now.
func verifyPersonal(key []byte, code string, now time.Time) (personalClaims, error) {
	i := strings.LastIndexByte(code, '.')
	if !strings.HasPrefix(code, personalPrefix) || i <= len(personalPrefix) {
		return personalClaims{}, errCodeInvalid
	}
	body, sig := code[:i], code[i+1:]
	if !hmac.Equal([]byte(sig), []byte(tag(key, body))) {
		return personalClaims{}, errCodeInvalid
	}
	p, err := b64.DecodeString(body[len(personalPrefix):])
	if err != nil {
		return personalClaims{}, errCodeInvalid
	}
	r := bytes.NewReader(p)
	var v [3]uint64
	for i := range v {
		if v[i], err = binary.ReadUvarint(r); err != nil {
			return personalClaims{}, errCodeInvalid
		}
	}
	c := personalClaims{UserID: int64(v[0]), ResidentID: int64(v[1]), Expires: time.Unix(int64(v[2]), 0).UTC()}
	if !now.Before(c.Expires) {
		return c, apperr.New(CodeCodeExpired, "二维码已过期，请让村民刷新后重新出示")
	}
	return c, nil
}

// PersonalCode issues the caller's current personal code.
func (s *Service) PersonalCode(ctx context.Context, c Caller) (PersonalCode, error) {
	if !c.Bound() {
		return PersonalCode{}, ErrNotBound
	}
	now := s.cfg.Now()
	// Whole seconds: the code carries Unix seconds.
	exp := now.Add(s.cfg.PersonalCodeTTL).Truncate(time.Second)
	code := signPersonal(s.keys.personal, personalClaims{UserID: c.UserID, ResidentID: c.ResidentID, Expires: exp})
	return PersonalCode{Code: code, ExpiresAt: exp, RefreshAfter: exp.Add(-s.cfg.PersonalCodeTTL / 6)}, nil
}

// SceneKind is what a place or activity mini-program code points to.
type SceneKind string

// The scene kinds.
const (
	ScenePlace    SceneKind = "place"
	SceneActivity SceneKind = "activity"
)

var sceneLetter = map[SceneKind]byte{ScenePlace: 'p', SceneActivity: 'a'}

// Scene is the signed content of an unlimited mini-program code: what it
// points to, in which village. Later features (check-in at an activity,
// reports at a place) trust it because the signature cannot be forged.
type Scene struct {
	Kind      SceneKind `json:"kind"`
	VillageID int64     `json:"village_id"`
	RefID     int64     `json:"ref_id"`
}

// sceneTagLen is the signature's length in the scene: 12 base64url
// characters, 72 bits, checked online only.
const sceneTagLen = 12

// signScene encodes sc as "<k><village base36>-<ref base36>.<tag>", which
// must fit WeChat's 32 visible characters.
func signScene(key []byte, sc Scene) (string, error) {
	letter, ok := sceneLetter[sc.Kind]
	if !ok {
		return "", apperr.Invalid("kind", "类型只能是 place 或 activity")
	}
	if sc.VillageID <= 0 || sc.RefID <= 0 {
		return "", apperr.Invalid("ref_id", "编号必须是正整数")
	}
	body := string(letter) + strconv.FormatInt(sc.VillageID, 36) + "-" + strconv.FormatInt(sc.RefID, 36)
	out := body + "." + tag(key, body)[:sceneTagLen]
	if len(out) > 32 {
		return "", apperr.Invalid("ref_id", "编号过大，无法放入小程序码")
	}
	return out, nil
}

var errSceneInvalid = apperr.Invalid("scene", "小程序码无效或已被篡改")

// verifyScene decodes a scene and checks its signature.
func verifyScene(key []byte, scene string) (Scene, error) {
	body, sig, ok := strings.Cut(scene, ".")
	if !ok || len(body) < 4 || len(sig) != sceneTagLen || !hmac.Equal([]byte(sig), []byte(tag(key, body)[:sceneTagLen])) {
		return Scene{}, errSceneInvalid
	}
	var sc Scene
	for k, l := range sceneLetter {
		if body[0] == l {
			sc.Kind = k
		}
	}
	v, r, ok := strings.Cut(body[1:], "-")
	if sc.Kind == "" || !ok {
		return Scene{}, errSceneInvalid
	}
	var err1, err2 error
	sc.VillageID, err1 = strconv.ParseInt(v, 36, 64)
	sc.RefID, err2 = strconv.ParseInt(r, 36, 64)
	if err1 != nil || err2 != nil || sc.VillageID <= 0 || sc.RefID <= 0 {
		return Scene{}, errSceneInvalid
	}
	return sc, nil
}

// ResolveScene checks a scene the mini-program read from a code it was
// opened with.
func (s *Service) ResolveScene(scene string) (Scene, error) { return verifyScene(s.keys.scene, scene) }

// SignScene returns the scene for sc (for tests and tools; staff get the
// image from MiniProgramCode).
func (s *Service) SignScene(sc Scene) (string, error) { return signScene(s.keys.scene, sc) }

// MiniProgramCode returns the image of an unlimited mini-program code for
// a place or activity of a village in scope, its scene signed.
func (s *Service) MiniProgramCode(ctx context.Context, scope Scope, sc Scene, page string) (img []byte, scene string, err error) {
	if !scope(sc.VillageID) {
		return nil, "", apperr.New(apperr.CodeOutOfScope, "该村不在您的管理范围内")
	}
	if scene, err = signScene(s.keys.scene, sc); err != nil {
		return nil, "", err
	}
	if s.wx == nil {
		return nil, "", errNoWeChat
	}
	img, err = s.wx.WXACode(ctx, scene, page)
	return img, scene, err
}
