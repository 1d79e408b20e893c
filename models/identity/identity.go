// Package identity knows who is calling the WeChat mini-program: WeChat
// users (one per openid) who log in through code2session, their binding to
// exactly one resident (by a one-time invite code 邀请码, or by the phone
// number WeChat vouches for, confirmed by a social worker when it matches
// several residents), the staff account a user may link, and the codes that
// stand for a person or a place: the rotating personal code 个人码, the
// printed household card 户卡 and the signed scene of a mini-program code.
//
// It imports no HTTP and no WeChat SDK: WeChat is the small WeChat
// interface, and staff scope arrives as a Scope function.
package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/kv"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/pii"
)

// WeChat is what the service needs from WeChat (models/wechat in
// production, a fake in tests). Errors are apperr errors a villager can
// read.
type WeChat interface {
	// Code2Session exchanges a wx.login code for the user's openid and unionid.
	Code2Session(ctx context.Context, code string) (openID, unionID string, err error)
	// PhoneNumber exchanges a getPhoneNumber code for the number and its
	// country code.
	PhoneNumber(ctx context.Context, code string) (phone, countryCode string, err error)
	// WXACode returns the image of an unlimited mini-program code.
	WXACode(ctx context.Context, scene, page string) ([]byte, error)
}

// Scope says whether the staff member acting may act in a village; the
// console builds it from the principal and the permission the route needs.
type Scope func(villageID int64) bool

// Config tunes the service.
type Config struct {
	// Secret is the master secret; the service derives one key per
	// purpose from it (tokens, personal codes, scenes, cards, invites).
	Secret []byte
	// AccessTTL is the life of a mini-program access token (default 30m);
	// RefreshTTL of a refresh token (default 30 days).
	AccessTTL, RefreshTTL time.Duration
	// PersonalCodeTTL is how long a personal code is accepted (default 60s).
	PersonalCodeTTL time.Duration
	// InviteTTL is how long an invite code is valid (default 72h).
	InviteTTL time.Duration
	// LinkTTL is how long a staff link code is valid (default 10m).
	LinkTTL time.Duration
	// DevLogin enables DevLogin (embedded demo mode only; the app refuses
	// it with a deployment database).
	DevLogin bool
	// BindLimit is how many binding attempts (invite code, phone, staff
	// link) one user may make per BindWindow (default 5 per 10m);
	// BindIPLimit the same per client IP (default 20).
	BindLimit, BindIPLimit int
	BindWindow             time.Duration
	// LoginIPLimit bounds logins per client IP per minute (default 30).
	LoginIPLimit int
	// CallerTTL is how long this process reuses what Authenticate resolved
	// for a session (default 5s; negative: never), so a change made by
	// another process is seen within it (see callerCache).
	CallerTTL time.Duration
	Now       func() time.Time
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.AccessTTL, 30*time.Minute)
	def(&c.RefreshTTL, 30*24*time.Hour)
	def(&c.PersonalCodeTTL, 60*time.Second)
	def(&c.InviteTTL, 72*time.Hour)
	def(&c.LinkTTL, 10*time.Minute)
	def(&c.BindWindow, 10*time.Minute)
	if c.CallerTTL == 0 {
		c.CallerTTL = 5 * time.Second
	}
	if c.BindLimit <= 0 {
		c.BindLimit = 5
	}
	if c.BindIPLimit <= 0 {
		c.BindIPLimit = 20
	}
	if c.LoginIPLimit <= 0 {
		c.LoginIPLimit = 30
	}
	if c.Now == nil {
		c.Now = func() time.Time { return time.Now().UTC() }
	}
}

// keys are the purpose-bound keys derived from the master secret.
type keys struct {
	access, personal, scene, card, invite, link []byte
}

// Service is the mini-program's identity.
type Service struct {
	db     *gorm.DB
	kv     *kv.Client
	people *people.Store
	vault  people.Vault
	wx     WeChat
	cfg    Config
	keys   keys
	// callers caches resolved callers per session (see callerCache).
	callers *callerCache
}

// NewService returns a Service. wx may be nil when no mini-program is
// configured: logins and phone binding then answer 503.
func NewService(db *gorm.DB, kvc *kv.Client, ps *people.Store, vault people.Vault, wx WeChat, cfg Config) (*Service, error) {
	if len(cfg.Secret) < 32 {
		return nil, errors.New("identity: secret must be at least 32 bytes")
	}
	cfg.defaults()
	k := keys{
		access:   pii.DeriveKey(cfg.Secret, "mp-access-token"),
		personal: pii.DeriveKey(cfg.Secret, "mp-personal-code"),
		scene:    pii.DeriveKey(cfg.Secret, "mp-scene"),
		card:     pii.DeriveKey(cfg.Secret, "household-card"),
		invite:   pii.DeriveKey(cfg.Secret, "mp-invite-code"),
		link:     pii.DeriveKey(cfg.Secret, "mp-staff-link"),
	}
	return &Service{db: db, kv: kvc, people: ps, vault: vault, wx: wx, cfg: cfg, keys: k, callers: newCallerCache(cfg.CallerTTL)}, nil
}

// Error codes of this package.
const (
	CodeNotBound        apperr.Code = "NOT_BOUND"
	CodeInviteInvalid   apperr.Code = "INVITE_CODE_INVALID"
	CodeChooseResident  apperr.Code = "RESIDENT_CHOICE_REQUIRED"
	CodePhoneNotMatched apperr.Code = "PHONE_NOT_MATCHED"
	CodeCodeExpired     apperr.Code = "CODE_EXPIRED"
	CodeCardRevoked     apperr.Code = "CARD_REVOKED"
)

// ErrNotBound refuses what only a bound villager may do.
var ErrNotBound = apperr.New(CodeNotBound, "请先绑定村民身份")

var (
	errNoWeChat      = apperr.New(apperr.CodeUnavailable, "服务器未配置微信小程序，暂时无法使用微信登录")
	errAlreadyBound  = apperr.New(apperr.CodeConflict, "您的微信已绑定村民身份；如需更换，请联系社工")
	errResidentTaken = apperr.New(apperr.CodeConflict, "该村民已绑定其他微信；如需更换，请联系社工")
)

// User is a WeChat user of the mini-program as stored. Never serialise it:
// the openid is not shown to anyone.
type User struct {
	ID          int64  `gorm:"primaryKey"`
	OpenIDHash  string `gorm:"column:openid_hash"`
	OpenID      string `gorm:"column:openid"`
	UnionID     string `gorm:"column:unionid"`
	ResidentID  *int64
	VillageID   *int64
	BoundVia    string
	BoundAt     *time.Time
	StaffID     *int64
	PhoneEnc    string
	PhoneIdx    string
	LastLoginAt *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TableName pins the table name.
func (User) TableName() string { return "mp_users" }

// Ways a user came to be bound.
const (
	ViaInvite = "invite"
	ViaPhone  = "phone"
	ViaStaff  = "staff"
)

// Caller is an authenticated mini-program user, resolved once per request.
// ResidentID, HouseholdID and VillageID are 0 while the user is unbound;
// StaffID is 0 unless the user linked a staff account.
type Caller struct {
	UserID      int64
	SessionID   int64
	ResidentID  int64
	HouseholdID int64
	VillageID   int64
	StaffID     int64
}

// Bound reports whether the caller is bound to a resident.
func (c Caller) Bound() bool { return c.ResidentID != 0 }

// mac is HMAC-SHA256 of msg under key.
func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// hashHex is the lower-case hex SHA-256 of s, for lookups of
// case-sensitive values through case-insensitive columns.
func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func notFound(err error, what string) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return apperr.NotFound(what)
	}
	return err
}

// limit counts one attempt of what by user and by IP, refusing beyond the
// configured limits, so invite and link codes cannot be guessed.
func (s *Service) limit(ctx context.Context, what string, userID int64, ip string) error {
	for _, l := range []struct {
		key   string
		limit int
	}{
		{fmt.Sprintf("%s:user:%d", what, userID), s.cfg.BindLimit},
		{fmt.Sprintf("%s:ip:%s", what, ip), s.cfg.BindIPLimit},
	} {
		ok, retry, err := s.kv.Allow(ctx, l.key, l.limit, s.cfg.BindWindow)
		if err != nil {
			return err
		}
		if !ok {
			return apperr.Newf(apperr.CodeRateLimited, "尝试次数过多，请 %d 分钟后再试", int(retry.Minutes())+1)
		}
	}
	return nil
}

// user loads a user.
func (s *Service) user(ctx context.Context, tx *gorm.DB, id int64) (User, error) {
	var u User
	err := tx.WithContext(ctx).First(&u, id).Error
	return u, notFound(err, "微信用户")
}

// OpenIDOf returns the openid of the user bound to a resident, or "" when
// none is, for the notification sender.
func (s *Service) OpenIDOf(ctx context.Context, residentID int64) (string, error) {
	var ids []string
	err := s.db.WithContext(ctx).Model(&User{}).Where("resident_id = ?", residentID).Limit(1).Pluck("openid", &ids).Error
	if err != nil || len(ids) == 0 {
		return "", err
	}
	return ids[0], nil
}
