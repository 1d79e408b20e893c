package identity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/sqldb"
)

// inviteCode is a stored invite code 邀请码: only its keyed hash.
type inviteCode struct {
	ID          int64 `gorm:"primaryKey"`
	CodeHash    string
	VillageID   int64
	ResidentID  *int64
	HouseholdID *int64
	CreatedBy   int64
	ExpiresAt   time.Time
	UsedAt      *time.Time
	UsedBy      *int64
	CreatedAt   time.Time
}

func (inviteCode) TableName() string { return "mp_invite_codes" }

// Invite is a new invite code, shown once to the social worker who made it.
type Invite struct {
	ID          int64     `json:"id"`
	Code        string    `json:"code"`
	ResidentID  *int64    `json:"resident_id,omitempty"`
	HouseholdID *int64    `json:"household_id,omitempty"`
	VillageID   int64     `json:"village_id"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// codeAlphabet has no 0/O or 1/I, so a code read aloud or typed by an
// elderly villager survives; 32 symbols, 5 bits each.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// randomCode returns n symbols of codeAlphabet.
func randomCode(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)] // 256 is a multiple of 32: no bias
	}
	return string(b)
}

// inviteLen is the length of an invite code: 40 bits, guessed online only
// and BindLimit tries per window at that.
const inviteLen = 8

// normalizeCode upper-cases a typed code and drops spaces and dashes; ok
// is false when what remains cannot be a code of length n.
func normalizeCode(s string, n int) (string, bool) {
	s = strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(s)))
	if len(s) != n {
		return s, false
	}
	for _, r := range s {
		if !strings.ContainsRune(codeAlphabet, r) {
			return s, false
		}
	}
	return s, true
}

func (s *Service) inviteHash(code string) string { return hex.EncodeToString(mac(s.keys.invite, code)) }

// InviteTarget names whom an invite code is for: one resident, or one
// household whose member says who they are when binding.
type InviteTarget struct {
	ResidentID  int64
	HouseholdID int64
}

// CreateInvite makes a one-time invite code for a resident or household of
// a village in scope. A resident who is already bound gets none.
func (s *Service) CreateInvite(ctx context.Context, scope Scope, who audit.Actor, target InviteTarget) (Invite, error) {
	if (target.ResidentID == 0) == (target.HouseholdID == 0) {
		return Invite{}, apperr.New(apperr.CodeInvalid, "邀请码须指定一位村民或一户")
	}
	var out Invite
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		row := inviteCode{CreatedBy: who.StaffID, CreatedAt: s.cfg.Now(), ExpiresAt: s.cfg.Now().Add(s.cfg.InviteTTL)}
		if target.ResidentID != 0 {
			var r people.Resident
			if err := tx.First(&r, target.ResidentID).Error; err != nil {
				return notFound(err, "村民")
			}
			if !scope(r.VillageID) {
				return apperr.NotFound("村民")
			}
			if r.Status != people.StatusActive {
				return apperr.New(apperr.CodeConflict, "该村民已迁出或已故，不能绑定微信")
			}
			if taken, err := residentBound(tx, r.ID); err != nil || taken {
				if err == nil {
					err = apperr.New(apperr.CodeConflict, "该村民已绑定微信")
				}
				return err
			}
			row.VillageID, row.ResidentID = r.VillageID, &r.ID
		} else {
			var h people.Household
			if err := tx.First(&h, target.HouseholdID).Error; err != nil {
				return notFound(err, "户")
			}
			if !scope(h.VillageID) {
				return apperr.NotFound("户")
			}
			row.VillageID, row.HouseholdID = h.VillageID, &h.ID
		}
		var code string
		for range 5 {
			code = randomCode(inviteLen)
			row.CodeHash = s.inviteHash(code)
			err := tx.Create(&row).Error
			if err == nil {
				break
			}
			if !sqldb.IsDuplicateKey(err) {
				return err
			}
			row.ID = 0
		}
		if row.ID == 0 {
			return errors.New("identity: no free invite code after 5 tries")
		}
		out = Invite{ID: row.ID, Code: code[:4] + "-" + code[4:], ResidentID: row.ResidentID, HouseholdID: row.HouseholdID, VillageID: row.VillageID, ExpiresAt: row.ExpiresAt}
		// The audit entry never holds the code itself.
		return audit.Record(ctx, tx, who, audit.Change{VillageID: row.VillageID, Action: "wechat.invite.create", TargetType: "invite_code", TargetID: row.ID,
			After: map[string]any{"resident_id": row.ResidentID, "household_id": row.HouseholdID, "expires_at": row.ExpiresAt}})
	})
	return out, err
}

// Member is a member of a household as a villager sees it: other people's
// names masked.
type Member struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Relation string `json:"relation"`
	Bound    bool   `json:"bound"`
	Me       bool   `json:"me,omitempty"`
}

// BindResult says what a binding attempt did: bound at once, or waiting
// for a social worker to confirm which resident the phone number is.
type BindResult struct {
	Status     string `json:"status"` // "bound" or "pending"
	ResidentID int64  `json:"resident_id,omitempty"`
	RequestID  int64  `json:"request_id,omitempty"`
}

// BindWithInvite binds the caller with an invite code. A household code
// also needs residentID, the member the caller says they are; without it
// the answer is RESIDENT_CHOICE_REQUIRED with the household's members
// (names masked) in its details, and the code stays unused. Attempts are
// rate limited per user and IP, so codes cannot be guessed.
func (s *Service) BindWithInvite(ctx context.Context, c Caller, who audit.Actor, code string, residentID int64, ip string) (BindResult, error) {
	if err := s.limit(ctx, "bind-invite", c.UserID, ip); err != nil {
		return BindResult{}, err
	}
	if c.Bound() {
		return BindResult{}, errAlreadyBound
	}
	norm, ok := normalizeCode(code, inviteLen)
	if !ok {
		return BindResult{}, apperr.New(CodeInviteInvalid, "邀请码无效，请核对后重新输入")
	}
	var out BindResult
	defer s.callers.forgetUsers(c.UserID)
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var inv inviteCode
		if err := sqldb.ForUpdate(tx).Where("code_hash = ?", s.inviteHash(norm)).First(&inv).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return apperr.New(CodeInviteInvalid, "邀请码无效，请核对后重新输入")
			}
			return err
		}
		now := s.cfg.Now()
		if inv.UsedAt != nil {
			return apperr.New(CodeInviteInvalid, "邀请码已被使用，请向社工重新获取")
		}
		if !inv.ExpiresAt.After(now) {
			return apperr.New(CodeInviteInvalid, "邀请码已过期，请向社工重新获取")
		}
		var r people.Resident
		switch {
		case inv.ResidentID != nil:
			if residentID != 0 && residentID != *inv.ResidentID {
				return apperr.Invalid("resident_id", "该邀请码不是发给这位村民的")
			}
			if err := tx.First(&r, *inv.ResidentID).Error; err != nil {
				return notFound(err, "村民")
			}
		case residentID == 0:
			members, err := s.members(ctx, tx, *inv.HouseholdID, 0)
			if err != nil {
				return err
			}
			return apperr.New(CodeChooseResident, "这是一户的邀请码，请选择您是户中哪一位").WithDetails(map[string]any{"members": members})
		default:
			err := tx.Where("id = ? AND household_id = ?", residentID, *inv.HouseholdID).First(&r).Error
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return apperr.Invalid("resident_id", "该村民不属于这个邀请码对应的户")
			}
			if err != nil {
				return err
			}
		}
		if r.VillageID != inv.VillageID {
			return apperr.New(CodeInviteInvalid, "邀请码与村民所在村不符，请向社工重新获取")
		}
		if err := s.bind(ctx, tx, who, c.UserID, r, ViaInvite); err != nil {
			return err
		}
		out = BindResult{Status: "bound", ResidentID: r.ID}
		return tx.Model(&inviteCode{}).Where("id = ?", inv.ID).Updates(map[string]any{"used_at": now, "used_by": c.UserID}).Error
	})
	return out, err
}

// bind binds user to resident inside tx and records it. The user must be
// unbound and the resident active and unbound; the unique index on
// mp_users.resident_id settles a race between two users.
func (s *Service) bind(ctx context.Context, tx *gorm.DB, who audit.Actor, userID int64, r people.Resident, via string) error {
	var u User
	if err := sqldb.ForUpdate(tx).First(&u, userID).Error; err != nil {
		return notFound(err, "微信用户")
	}
	if u.ResidentID != nil {
		return errAlreadyBound
	}
	if r.Status != people.StatusActive {
		return apperr.New(apperr.CodeConflict, "该村民已迁出或已故，不能绑定微信")
	}
	if taken, err := residentBound(tx, r.ID); err != nil || taken {
		if err == nil {
			err = errResidentTaken
		}
		return err
	}
	now := s.cfg.Now()
	err := tx.Model(&User{}).Where("id = ?", userID).Updates(map[string]any{
		"resident_id": r.ID, "village_id": r.VillageID, "bound_via": via, "bound_at": now, "updated_at": now}).Error
	if sqldb.IsDuplicateKey(err) {
		return errResidentTaken
	}
	if err != nil {
		return err
	}
	if err := tx.Model(&bindRequest{}).Where("user_id = ? AND status = ?", userID, requestPending).
		Updates(map[string]any{"status": requestWithdrawn, "decided_at": now}).Error; err != nil {
		return err
	}
	return audit.Record(ctx, tx, who, audit.Change{VillageID: r.VillageID, Action: "wechat.bind", TargetType: "resident", TargetID: r.ID,
		After: map[string]any{"user_id": userID, "via": via}})
}

func residentBound(tx *gorm.DB, residentID int64) (bool, error) {
	var n int64
	err := tx.Model(&User{}).Where("resident_id = ?", residentID).Count(&n).Error
	return n > 0, err
}

// members lists a household's active residents for a villager: names
// masked except the caller's own (me).
func (s *Service) members(ctx context.Context, tx *gorm.DB, householdID, me int64) ([]Member, error) {
	var rs []people.Resident
	if err := tx.WithContext(ctx).Where("household_id = ? AND status = ?", householdID, people.StatusActive).Order("id").Find(&rs).Error; err != nil {
		return nil, err
	}
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	var bound []int64
	if err := tx.WithContext(ctx).Model(&User{}).Where("resident_id IN ?", append(ids, -1)).Pluck("resident_id", &bound).Error; err != nil {
		return nil, err
	}
	out := make([]Member, len(rs))
	for i, r := range rs {
		name := pii.MaskName(r.Name)
		if r.ID == me {
			name = r.Name
		}
		out[i] = Member{ID: r.ID, Name: name, Relation: r.Relation, Me: r.ID == me}
		for _, b := range bound {
			out[i].Bound = out[i].Bound || b == r.ID
		}
	}
	return out, nil
}
