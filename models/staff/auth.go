package staff

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/kv"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Config tunes authentication.
type Config struct {
	SigningKey   []byte        // HMAC key for access tokens (derived from the master secret)
	AccessTTL    time.Duration // default 15m
	RefreshTTL   time.Duration // default 7 days
	MaxFailures  int           // failed logins before lockout, default 5
	LockFor      time.Duration // lockout length, default 15m
	IPLimit      int           // login attempts per IP per minute, default 20
	UserLimit    int           // login attempts per username per minute, default 10
	BcryptCost   int           // default bcrypt.DefaultCost+2
	Now          func() time.Time
	tokenIssuer  string
	tokenSubject string
}

func (c *Config) defaults() {
	if c.AccessTTL == 0 {
		c.AccessTTL = 15 * time.Minute
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = 7 * 24 * time.Hour
	}
	if c.MaxFailures == 0 {
		c.MaxFailures = 5
	}
	if c.LockFor == 0 {
		c.LockFor = 15 * time.Minute
	}
	if c.IPLimit == 0 {
		c.IPLimit = 20
	}
	if c.UserLimit == 0 {
		c.UserLimit = 10
	}
	if c.BcryptCost == 0 {
		c.BcryptCost = bcrypt.DefaultCost + 2
	}
	if c.Now == nil {
		c.Now = func() time.Time { return time.Now().UTC() }
	}
	c.tokenIssuer = "jifen"
	c.tokenSubject = "staff"
}

// Service authenticates staff and manages their accounts.
type Service struct {
	db     *gorm.DB
	kv     *kv.Client
	people *people.Store
	cfg    Config
	// dummyHash is compared against when a username does not exist, so a
	// missing account takes as long to refuse as a wrong password.
	dummyHash []byte
}

// NewService returns a Service.
func NewService(db *gorm.DB, kvc *kv.Client, ps *people.Store, cfg Config) (*Service, error) {
	if len(cfg.SigningKey) < 32 {
		return nil, errors.New("staff: signing key must be at least 32 bytes")
	}
	cfg.defaults()
	dummy, err := bcrypt.GenerateFromPassword([]byte("not-a-password-0"), cfg.BcryptCost)
	if err != nil {
		return nil, err
	}
	return &Service{db: db, kv: kvc, people: ps, cfg: cfg, dummyHash: dummy}, nil
}

// Tokens is what a successful login or refresh returns.
type Tokens struct {
	AccessToken      string    `json:"access_token"`
	AccessExpiresAt  time.Time `json:"access_expires_at"`
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	TokenType        string    `json:"token_type"`
}

// Session is a stored login: the hash of its refresh token.
type Session struct {
	ID          int64 `gorm:"primaryKey"`
	StaffID     int64
	RefreshHash string
	ExpiresAt   time.Time
	RevokedAt   *time.Time
	CreatedAt   time.Time
	UserAgent   string
	IP          string `gorm:"column:ip"`
}

// TableName pins the table name.
func (Session) TableName() string { return "staff_sessions" }

// Client describes where a login comes from.
type Client struct {
	IP        string
	UserAgent string
}

var errBadLogin = apperr.New(apperr.CodeUnauthenticated, "用户名或密码错误")

// Login checks a username and password. Attempts are rate limited per IP
// and per username across replicas, and an account is locked after
// MaxFailures wrong passwords in a row.
func (s *Service) Login(ctx context.Context, username, password string, from Client) (Tokens, error) {
	for _, lim := range []struct {
		key   string
		limit int
	}{{"login:ip:" + from.IP, s.cfg.IPLimit}, {"login:user:" + username, s.cfg.UserLimit}} {
		ok, retry, err := s.kv.Allow(ctx, lim.key, lim.limit, time.Minute)
		if err != nil {
			return Tokens{}, err
		}
		if !ok {
			return Tokens{}, apperr.Newf(apperr.CodeRateLimited, "登录尝试过于频繁，请 %d 秒后再试", int(retry.Seconds())+1)
		}
	}
	now := s.cfg.Now()
	var u User
	err := s.db.WithContext(ctx).Where("username = ?", username).First(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
		return Tokens{}, errBadLogin
	}
	if err != nil {
		return Tokens{}, err
	}
	if u.LockedUntil != nil && u.LockedUntil.After(now) {
		return Tokens{}, apperr.Newf(apperr.CodeAccountLocked, "密码错误次数过多，账号已锁定，请于 %s 后再试或联系管理员解锁",
			u.LockedUntil.In(chinaTime).Format("15:04"))
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		return Tokens{}, s.recordFailure(ctx, u.ID, now)
	}
	if u.Disabled {
		return Tokens{}, apperr.New(apperr.CodeForbidden, "账号已停用，请联系管理员")
	}
	if u.FailedLogins != 0 || u.LockedUntil != nil {
		if err := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", u.ID).
			Updates(map[string]any{"failed_logins": 0, "locked_until": nil}).Error; err != nil {
			return Tokens{}, err
		}
	}
	return s.startSession(ctx, s.db, u.ID, from)
}

var chinaTime = time.FixedZone("CST", 8*3600)

// recordFailure counts a wrong password atomically and locks the account
// when the count reaches the limit.
func (s *Service) recordFailure(ctx context.Context, id int64, now time.Time) error {
	var locked bool
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var u User
		if err := sqldb.ForUpdate(tx).First(&u, id).Error; err != nil {
			return err
		}
		u.FailedLogins++
		upd := map[string]any{"failed_logins": u.FailedLogins}
		if u.FailedLogins >= s.cfg.MaxFailures {
			upd["failed_logins"] = 0
			upd["locked_until"] = now.Add(s.cfg.LockFor)
			locked = true
		}
		return tx.Model(&User{}).Where("id = ?", id).Updates(upd).Error
	})
	if err != nil {
		return err
	}
	if locked {
		return apperr.Newf(apperr.CodeAccountLocked, "密码连续错误 %d 次，账号已锁定 %d 分钟", s.cfg.MaxFailures, int(s.cfg.LockFor.Minutes()))
	}
	return errBadLogin
}

func (s *Service) startSession(ctx context.Context, tx *gorm.DB, staffID int64, from Client) (Tokens, error) {
	now := s.cfg.Now()
	refresh := randomToken()
	sess := Session{StaffID: staffID, RefreshHash: hashToken(refresh), ExpiresAt: now.Add(s.cfg.RefreshTTL),
		CreatedAt: now, UserAgent: truncate(from.UserAgent, 255), IP: truncate(from.IP, 64)}
	if err := tx.WithContext(ctx).Create(&sess).Error; err != nil {
		return Tokens{}, err
	}
	access, exp, err := s.signAccess(staffID, sess.ID, now)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{AccessToken: access, AccessExpiresAt: exp, RefreshToken: refresh, RefreshExpiresAt: sess.ExpiresAt, TokenType: "Bearer"}, nil
}

type accessClaims struct {
	SessionID int64 `json:"sid"`
	jwt.RegisteredClaims
}

func (s *Service) signAccess(staffID, sessionID int64, now time.Time) (string, time.Time, error) {
	exp := now.Add(s.cfg.AccessTTL)
	claims := accessClaims{SessionID: sessionID, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: s.cfg.tokenIssuer, Subject: strconv.FormatInt(staffID, 10), Audience: jwt.ClaimStrings{s.cfg.tokenSubject},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
	}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.cfg.SigningKey)
	return tok, exp, err
}

// Refresh exchanges a refresh token for new tokens and retires the old
// one. Presenting a retired refresh token again means it was copied: every
// session of that account is revoked.
func (s *Service) Refresh(ctx context.Context, refresh string, from Client) (Tokens, error) {
	invalid := apperr.New(apperr.CodeUnauthenticated, "登录已失效，请重新登录")
	now := s.cfg.Now()
	var out Tokens
	var reused int64
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var sess Session
		if err := sqldb.ForUpdate(tx).Where("refresh_hash = ?", hashToken(refresh)).First(&sess).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return invalid
			}
			return err
		}
		if sess.RevokedAt != nil {
			reused = sess.StaffID
			return invalid
		}
		if !sess.ExpiresAt.After(now) {
			return invalid
		}
		var u User
		if err := tx.First(&u, sess.StaffID).Error; err != nil || u.Disabled {
			return invalid
		}
		if err := tx.Model(&Session{}).Where("id = ?", sess.ID).Update("revoked_at", now).Error; err != nil {
			return err
		}
		var err error
		out, err = s.startSession(ctx, tx, sess.StaffID, from)
		return err
	})
	if reused != 0 {
		if rerr := s.RevokeAll(ctx, reused); rerr != nil {
			return Tokens{}, rerr
		}
	}
	return out, err
}

// Logout revokes the session an access token belongs to; its access token
// stops working at once, not when it expires.
func (s *Service) Logout(ctx context.Context, p Principal) error {
	now := s.cfg.Now()
	if err := s.db.WithContext(ctx).Model(&Session{}).Where("id = ? AND revoked_at IS NULL", p.SessionID).Update("revoked_at", now).Error; err != nil {
		return err
	}
	return s.denySessions(ctx, []int64{p.SessionID})
}

// RevokeAll ends every session of a staff member (password reset, account
// disabled, stolen refresh token).
func (s *Service) RevokeAll(ctx context.Context, staffID int64) error {
	var ids []int64
	if err := s.db.WithContext(ctx).Model(&Session{}).Where("staff_id = ? AND revoked_at IS NULL", staffID).Pluck("id", &ids).Error; err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	if err := s.db.WithContext(ctx).Model(&Session{}).Where("id IN ?", ids).Update("revoked_at", s.cfg.Now()).Error; err != nil {
		return err
	}
	return s.denySessions(ctx, ids)
}

// denySessions marks sessions revoked in Redis for as long as one of their
// access tokens can live, so every replica refuses them immediately.
func (s *Service) denySessions(ctx context.Context, ids []int64) error {
	return s.revoked().Revoke(ctx, ids...)
}

func (s *Service) revoked() kv.Revocations {
	return s.kv.Revocations("staff-session-revoked", s.cfg.AccessTTL+time.Minute)
}

// Authenticate verifies an access token and loads the principal with the
// villages each role covers. Disabled accounts and revoked sessions fail.
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	invalid := apperr.New(apperr.CodeUnauthenticated, "登录已失效，请重新登录")
	var claims accessClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return s.cfg.SigningKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithIssuer(s.cfg.tokenIssuer),
		jwt.WithAudience(s.cfg.tokenSubject), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.cfg.Now))
	if err != nil {
		return Principal{}, invalid
	}
	staffID, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil {
		return Principal{}, invalid
	}
	revoked, err := s.revoked().Revoked(ctx, claims.SessionID)
	if err != nil {
		return Principal{}, err
	}
	if revoked {
		return Principal{}, invalid
	}
	p, err := s.Principal(ctx, staffID)
	if err != nil {
		if apperr.Is(err, apperr.CodeNotFound) {
			return Principal{}, invalid
		}
		return Principal{}, err
	}
	p.SessionID = claims.SessionID
	return p, nil
}

// Principal loads a staff member's grants and the villages they cover.
func (s *Service) Principal(ctx context.Context, staffID int64) (Principal, error) {
	var u User
	if err := s.db.WithContext(ctx).First(&u, staffID).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return Principal{}, apperr.NotFound("工作人员")
		}
		return Principal{}, err
	}
	if u.Disabled {
		return Principal{}, apperr.NotFound("工作人员")
	}
	gs, err := grantsOf(ctx, s.db, []int64{staffID})
	if err != nil {
		return Principal{}, err
	}
	villages := map[int64][]int64{}
	for _, g := range gs[staffID] {
		if _, done := villages[g.RegionID]; done {
			continue
		}
		vs, err := s.people.VillagesUnder(ctx, []int64{g.RegionID})
		if err != nil {
			return Principal{}, err
		}
		villages[g.RegionID] = vs
	}
	p := NewPrincipal(u.ID, u.Username, u.DisplayName, gs[staffID], func(g Grant) []int64 { return villages[g.RegionID] })
	p.HouseholdID = u.HouseholdID
	return p, nil
}

// Bootstrap creates the first county admin when no staff account exists
// yet, so a fresh deployment can be set up. It does nothing otherwise.
func (s *Service) Bootstrap(ctx context.Context, username, password string, countyID int64) (bool, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&User{}).Count(&n).Error; err != nil || n > 0 {
		return false, err
	}
	if err := CheckPassword(password); err != nil {
		return false, fmt.Errorf("staff: bootstrap password: %w", err)
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return false, err
	}
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		now := s.cfg.Now()
		u := User{Username: username, DisplayName: "县管理员", PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&u).Error; err != nil {
			return err
		}
		return replaceGrants(tx, u.ID, []Grant{{Role: CountyAdmin, RegionID: countyID}})
	})
	return err == nil, err
}

// CreateUserUnchecked creates an account without a granting principal; it
// is for the demo loader and tests, never for a route.
func (s *Service) CreateUserUnchecked(ctx context.Context, in NewUser, householdID *int64) (int64, error) {
	hash, err := s.hashPassword(in.Password)
	if err != nil {
		return 0, err
	}
	var id int64
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		now := s.cfg.Now()
		u := User{Username: in.Username, DisplayName: in.DisplayName, PasswordHash: hash, ResidentID: in.ResidentID,
			HouseholdID: householdID, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&u).Error; err != nil {
			return err
		}
		id = u.ID
		return replaceGrants(tx, u.ID, in.Grants)
	})
	return id, err
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
