package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"regexp"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/kv"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Tokens is what a login or refresh returns: a short-lived access token
// and a refresh token that is retired when used.
type Tokens struct {
	AccessToken      string    `json:"access_token"`
	AccessExpiresAt  time.Time `json:"access_expires_at"`
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	TokenType        string    `json:"token_type"`
}

// LoginResult is a login's tokens and what the mini-program should show
// next (bind first, or the home page).
type LoginResult struct {
	Tokens
	Bound       bool `json:"bound"`
	StaffLinked bool `json:"staff_linked"`
}

// session is a stored mini-program login: the hash of its refresh token.
type session struct {
	ID          int64 `gorm:"primaryKey"`
	UserID      int64
	RefreshHash string
	ExpiresAt   time.Time
	RevokedAt   *time.Time
	CreatedAt   time.Time
}

func (session) TableName() string { return "mp_sessions" }

const (
	tokenIssuer   = "jifen"
	tokenAudience = "miniprogram"
)

var errSessionInvalid = apperr.New(apperr.CodeUnauthenticated, "登录已失效，请重新进入小程序")

// Login exchanges a wx.login code for the caller's openid through WeChat
// and starts a session. The session_key WeChat returns never reaches this
// package. Logins are rate limited per client IP.
func (s *Service) Login(ctx context.Context, code, ip string) (LoginResult, error) {
	ok, retry, err := s.kv.Allow(ctx, "mp-login:ip:"+ip, s.cfg.LoginIPLimit, time.Minute)
	if err != nil {
		return LoginResult{}, err
	}
	if !ok {
		return LoginResult{}, apperr.Newf(apperr.CodeRateLimited, "登录过于频繁，请 %d 秒后再试", int(retry.Seconds())+1)
	}
	if s.wx == nil {
		return LoginResult{}, errNoWeChat
	}
	openID, unionID, err := s.wx.Code2Session(ctx, code)
	if err != nil {
		return LoginResult{}, err
	}
	return s.loginAs(ctx, openID, unionID)
}

var devCode = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// DevLogin logs in the fake WeChat user "dev_<code>" without WeChat, so
// the demo can be driven with curl. It works only when Config.DevLogin is
// set, which the app allows in the embedded mode alone.
func (s *Service) DevLogin(ctx context.Context, code string) (LoginResult, error) {
	if !s.cfg.DevLogin {
		return LoginResult{}, apperr.New(apperr.CodeNotFound, "接口不存在")
	}
	if !devCode.MatchString(code) {
		return LoginResult{}, apperr.Invalid("code", "开发登录的 code 为 1-32 位字母、数字、下划线或连字符")
	}
	return s.loginAs(ctx, "dev_"+code, "")
}

func (s *Service) loginAs(ctx context.Context, openID, unionID string) (LoginResult, error) {
	u, err := s.upsertUser(ctx, openID, unionID)
	if err != nil {
		return LoginResult{}, err
	}
	t, err := s.startSession(ctx, s.db, u.ID)
	if err != nil {
		return LoginResult{}, err
	}
	return LoginResult{Tokens: t, Bound: u.ResidentID != nil, StaffLinked: u.StaffID != nil}, nil
}

// upsertUser finds the user of an openid or creates it. Two first logins
// racing meet at the unique index; the loser finds the winner's row.
func (s *Service) upsertUser(ctx context.Context, openID, unionID string) (User, error) {
	h := hashHex(openID)
	var u User
	write := func() error {
		return sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
			now := s.cfg.Now()
			err := sqldb.ForUpdate(tx).Where("openid_hash = ?", h).First(&u).Error
			if errors.Is(err, gorm.ErrRecordNotFound) {
				u = User{OpenIDHash: h, OpenID: openID, UnionID: unionID, LastLoginAt: &now, CreatedAt: now, UpdatedAt: now}
				return tx.Create(&u).Error
			}
			if err != nil {
				return err
			}
			upd := map[string]any{"last_login_at": now, "updated_at": now}
			if unionID != "" && unionID != u.UnionID {
				upd["unionid"] = unionID
			}
			return tx.Model(&User{}).Where("id = ?", u.ID).Updates(upd).Error
		})
	}
	err := write()
	if sqldb.IsDuplicateKey(err) {
		err = write()
	}
	return u, err
}

func (s *Service) startSession(ctx context.Context, tx *gorm.DB, userID int64) (Tokens, error) {
	now := s.cfg.Now()
	refresh := randomToken()
	sess := session{UserID: userID, RefreshHash: hashHex(refresh), ExpiresAt: now.Add(s.cfg.RefreshTTL), CreatedAt: now}
	if err := tx.WithContext(ctx).Create(&sess).Error; err != nil {
		return Tokens{}, err
	}
	exp := now.Add(s.cfg.AccessTTL)
	claims := accessClaims{SessionID: sess.ID, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: tokenIssuer, Subject: strconv.FormatInt(userID, 10), Audience: jwt.ClaimStrings{tokenAudience},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
	}}
	access, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.keys.access)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{AccessToken: access, AccessExpiresAt: exp, RefreshToken: refresh, RefreshExpiresAt: sess.ExpiresAt, TokenType: "Bearer"}, nil
}

type accessClaims struct {
	SessionID int64 `json:"sid"`
	jwt.RegisteredClaims
}

// Refresh exchanges a refresh token for new tokens and retires it.
// Presenting a retired refresh token again means it was copied: every
// session of the user ends.
func (s *Service) Refresh(ctx context.Context, refresh string) (Tokens, error) {
	now := s.cfg.Now()
	var out Tokens
	var reused int64
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var sess session
		if err := sqldb.ForUpdate(tx).Where("refresh_hash = ?", hashHex(refresh)).First(&sess).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return errSessionInvalid
			}
			return err
		}
		if sess.RevokedAt != nil {
			reused = sess.UserID
			return errSessionInvalid
		}
		if !sess.ExpiresAt.After(now) {
			return errSessionInvalid
		}
		if err := tx.Model(&session{}).Where("id = ?", sess.ID).Update("revoked_at", now).Error; err != nil {
			return err
		}
		var err error
		out, err = s.startSession(ctx, tx, sess.UserID)
		return err
	})
	if reused != 0 {
		if rerr := s.RevokeAll(ctx, reused); rerr != nil {
			return Tokens{}, rerr
		}
	}
	return out, err
}

// Logout ends the caller's session; its access token stops working at
// once in this process and within Config.CallerTTL in every other.
func (s *Service) Logout(ctx context.Context, c Caller) error {
	defer s.callers.forgetSessions(c.SessionID)
	if err := s.db.WithContext(ctx).Model(&session{}).Where("id = ? AND revoked_at IS NULL", c.SessionID).Update("revoked_at", s.cfg.Now()).Error; err != nil {
		return err
	}
	return s.denySessions(ctx, []int64{c.SessionID})
}

// RevokeAll ends every session of a user (at once here, within
// Config.CallerTTL elsewhere, as Logout).
func (s *Service) RevokeAll(ctx context.Context, userID int64) error {
	var ids []int64
	if err := s.db.WithContext(ctx).Model(&session{}).Where("user_id = ? AND revoked_at IS NULL", userID).Pluck("id", &ids).Error; err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	defer s.callers.forgetSessions(ids...)
	if err := s.db.WithContext(ctx).Model(&session{}).Where("id IN ?", ids).Update("revoked_at", s.cfg.Now()).Error; err != nil {
		return err
	}
	return s.denySessions(ctx, ids)
}

// denySessions marks sessions revoked in Redis for as long as one of their
// access tokens can live, so every replica refuses them at once.
func (s *Service) denySessions(ctx context.Context, ids []int64) error {
	return s.revoked().Revoke(ctx, ids...)
}

func (s *Service) revoked() kv.Revocations {
	return s.kv.Revocations("mp-session-revoked", s.cfg.AccessTTL+time.Minute)
}

// Authenticate verifies a mini-program access token (never a staff one:
// another key and audience) and resolves the session's state and the
// caller's binding: from Redis (the deny list) and the database, or from
// what this process resolved for the same token less than
// Config.CallerTTL ago (its expiry still checked). A change this service
// makes is seen on the next request; one made elsewhere within CallerTTL
// (see callerCache).
func (s *Service) Authenticate(ctx context.Context, token string) (Caller, error) {
	now := s.cfg.Now()
	c, hit, epoch := s.callers.get(token, now)
	if hit {
		return c, nil
	}
	var claims accessClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return s.keys.access, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithIssuer(tokenIssuer),
		jwt.WithAudience(tokenAudience), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.cfg.Now))
	if err != nil {
		return Caller{}, errSessionInvalid
	}
	userID, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil {
		return Caller{}, errSessionInvalid
	}
	revoked, err := s.revoked().Revoked(ctx, claims.SessionID)
	if err != nil {
		return Caller{}, err
	}
	if revoked {
		return Caller{}, errSessionInvalid
	}
	c, err = s.resolve(ctx, userID)
	if err != nil {
		return Caller{}, err
	}
	c.SessionID = claims.SessionID
	s.callers.put(token, c, claims.ExpiresAt.Time, now, epoch)
	return c, nil
}

// resolve reads a user and what they are bound to in one query.
func (s *Service) resolve(ctx context.Context, userID int64) (Caller, error) {
	var rows []struct {
		ID          int64
		StaffID     *int64
		ResidentID  *int64
		VillageID   *int64
		HouseholdID *int64
	}
	err := s.db.WithContext(ctx).Raw(`SELECT u.id, u.staff_id, u.resident_id, r.village_id, r.household_id
		FROM mp_users u LEFT JOIN residents r ON r.id = u.resident_id WHERE u.id = ?`, userID).Scan(&rows).Error
	if err != nil {
		return Caller{}, err
	}
	if len(rows) == 0 {
		return Caller{}, errSessionInvalid
	}
	u := rows[0]
	c := Caller{UserID: u.ID}
	if u.StaffID != nil {
		c.StaffID = *u.StaffID
	}
	if u.ResidentID != nil {
		if u.VillageID == nil {
			return Caller{}, apperr.NotFound("村民")
		}
		c.ResidentID, c.VillageID = *u.ResidentID, *u.VillageID
		if u.HouseholdID != nil {
			c.HouseholdID = *u.HouseholdID
		}
	}
	return c, nil
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
