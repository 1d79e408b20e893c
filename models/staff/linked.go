package staff

import (
	"context"
	"errors"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
)

// IssueLinkedSession starts a staff session for an account whose WeChat
// user is linked to it (models/identity checked the link): the token
// exchange that lets a social worker use staff routes from the
// mini-program. It is an ordinary staff session, so logout, password
// resets and disabling the account end it like any other.
func (s *Service) IssueLinkedSession(ctx context.Context, staffID int64, from Client) (Tokens, error) {
	var u User
	if err := s.db.WithContext(ctx).First(&u, staffID).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return Tokens{}, apperr.New(apperr.CodeForbidden, "关联的工作人员账号不存在")
		}
		return Tokens{}, err
	}
	if u.Disabled {
		return Tokens{}, apperr.New(apperr.CodeForbidden, "账号已停用，请联系管理员")
	}
	if u.LockedUntil != nil && u.LockedUntil.After(s.cfg.Now()) {
		return Tokens{}, apperr.New(apperr.CodeAccountLocked, "账号已锁定，请稍后再试或联系管理员解锁")
	}
	return s.startSession(ctx, s.db, u.ID, from)
}
