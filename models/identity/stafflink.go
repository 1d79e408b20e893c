package identity

import (
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/sqldb"
)

// A staff member links their WeChat to their staff account in two steps:
// signed in to the console, they ask for a link code (valid LinkTTL, used
// once); in the mini-program they enter it. The mini-program never sees a
// staff password. Once linked, the mini-program exchanges its session for
// a staff session (see the staff-session route), so staff routes, roles
// and revocation stay exactly the console's.

// LinkCode is a one-time code that links a WeChat user to a staff account.
type LinkCode struct {
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
}

const linkLen = 8

func (s *Service) linkKey(code string) string {
	return s.kv.Key("mp-staff-link", hex.EncodeToString(mac(s.keys.link, code)))
}

// CreateLinkCode makes a link code for a staff member.
func (s *Service) CreateLinkCode(ctx context.Context, staffID int64) (LinkCode, error) {
	code := randomCode(linkLen)
	if err := s.kv.Set(ctx, s.linkKey(code), staffID, s.cfg.LinkTTL).Err(); err != nil {
		return LinkCode{}, err
	}
	return LinkCode{Code: code[:4] + "-" + code[4:], ExpiresAt: s.cfg.Now().Add(s.cfg.LinkTTL)}, nil
}

// LinkStaff links the caller to the staff account a link code names. A
// staff account is linked to one WeChat user at a time: linking another
// unlinks the previous one.
func (s *Service) LinkStaff(ctx context.Context, c Caller, who audit.Actor, code, ip string) error {
	if err := s.limit(ctx, "staff-link", c.UserID, ip); err != nil {
		return err
	}
	invalid := apperr.New(CodeInviteInvalid, "绑定码无效或已过期，请在管理后台重新获取")
	norm, ok := normalizeCode(code, linkLen)
	if !ok {
		return invalid
	}
	v, err := s.kv.GetDel(ctx, s.linkKey(norm)).Result()
	if errors.Is(err, redis.Nil) {
		return invalid
	}
	if err != nil {
		return err
	}
	staffID, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return invalid
	}
	who.StaffID, who.Name = staffID, who.Name+"（工作人员）"
	var prev []int64
	defer func() { s.callers.forgetUsers(append(prev, c.UserID)...) }()
	return sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		prev = prev[:0]
		if err := tx.Model(&User{}).Where("staff_id = ? AND id <> ?", staffID, c.UserID).Pluck("id", &prev).Error; err != nil {
			return err
		}
		now := s.cfg.Now()
		if len(prev) > 0 {
			if err := tx.Model(&User{}).Where("id IN ?", prev).Updates(map[string]any{"staff_id": nil, "updated_at": now}).Error; err != nil {
				return err
			}
		}
		if err := tx.Model(&User{}).Where("id = ?", c.UserID).Updates(map[string]any{"staff_id": staffID, "updated_at": now}).Error; err != nil {
			return err
		}
		return audit.Record(ctx, tx, who, audit.Change{Action: "wechat.staff_link", TargetType: "staff", TargetID: staffID,
			Before: map[string]any{"user_ids": prev}, After: map[string]any{"user_id": c.UserID}})
	})
}

// UnlinkStaff removes the caller's staff link.
func (s *Service) UnlinkStaff(ctx context.Context, c Caller, who audit.Actor) error {
	if c.StaffID == 0 {
		return apperr.New(apperr.CodeConflict, "您的微信未关联工作人员账号")
	}
	who.StaffID = c.StaffID
	defer s.callers.forgetUsers(c.UserID)
	return sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		if err := tx.Model(&User{}).Where("id = ?", c.UserID).Updates(map[string]any{"staff_id": nil, "updated_at": s.cfg.Now()}).Error; err != nil {
			return err
		}
		return audit.Record(ctx, tx, who, audit.Change{Action: "wechat.staff_unlink", TargetType: "staff", TargetID: c.StaffID,
			Before: map[string]any{"user_id": c.UserID}})
	})
}
