package staff

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/sqldb"
)

// User is a staff account as stored. Never serialise it; use UserView.
type User struct {
	ID           int64 `gorm:"primaryKey"`
	Username     string
	DisplayName  string
	PhoneEnc     string
	ResidentID   *int64
	HouseholdID  *int64
	PasswordHash string
	Disabled     bool
	FailedLogins int
	LockedUntil  *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// TableName pins the table name.
func (User) TableName() string { return "staff_users" }

// Assignment is a stored Grant.
type Assignment struct {
	ID        int64 `gorm:"primaryKey"`
	StaffID   int64
	Role      Role
	RegionID  int64
	CreatedAt time.Time
}

// TableName pins the table name.
func (Assignment) TableName() string { return "role_assignments" }

// UserView is a staff account as other staff see it.
type UserView struct {
	ID          int64     `json:"id"`
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name"`
	ResidentID  *int64    `json:"resident_id,omitempty"`
	Disabled    bool      `json:"disabled"`
	Locked      bool      `json:"locked"`
	Grants      []Grant   `json:"grants"`
	CreatedAt   time.Time `json:"created_at"`
}

// NewUser is the input for CreateUser.
type NewUser struct {
	Username    string
	DisplayName string
	Password    string
	ResidentID  *int64
	Grants      []Grant
}

// CheckPassword enforces the password policy: 10+ characters with letters
// and digits. It is deliberately simple; length matters most.
func CheckPassword(pw string) error {
	var letter, digit bool
	for _, r := range pw {
		letter = letter || unicode.IsLetter(r)
		digit = digit || unicode.IsDigit(r)
	}
	if len([]rune(pw)) < 10 || !letter || !digit {
		return apperr.Invalid("password", "密码至少 10 位，且须同时包含字母和数字")
	}
	if len(pw) > 72 {
		return apperr.Invalid("password", "密码不能超过 72 个字节")
	}
	return nil
}

// hashPassword hashes with bcrypt at the service's cost.
func (s *Service) hashPassword(pw string) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(pw), s.cfg.BcryptCost)
	return string(b), err
}

// checkGrants makes sure by may grant every grant in gs: the role is one
// by's roles may grant, on a region of the role's level inside by's regions.
func (s *Service) checkGrants(ctx context.Context, tx *gorm.DB, by Principal, gs []Grant) error {
	for i, g := range gs {
		field := fmt.Sprintf("grants[%d]", i)
		if !g.Role.Valid() {
			return apperr.Invalid(field+".role", "未知角色 "+string(g.Role))
		}
		var region people.Region
		if err := tx.WithContext(ctx).First(&region, g.RegionID).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return apperr.Invalid(field+".region_id", "区域不存在")
			}
			return err
		}
		if region.Level != g.Role.Level() {
			return apperr.Invalid(field+".region_id", fmt.Sprintf("角色 %s 只能授予在 %s 级区域", g.Role, g.Role.Level()))
		}
		if !s.mayGrantOn(ctx, tx, by, g.Role, region) {
			return apperr.Newf(apperr.CodeForbidden, "无权在该区域授予角色 %s", g.Role)
		}
	}
	return nil
}

// mayGrantOn reports whether by holds a role that may grant role on a
// region inside one of the regions that role was granted on.
func (s *Service) mayGrantOn(ctx context.Context, tx *gorm.DB, by Principal, role Role, region people.Region) bool {
	for _, granter := range by.Roles() {
		if !MayGrant(granter, role) {
			continue
		}
		for _, rid := range by.RegionsFor(granter) {
			if region.Within(rid) {
				return true
			}
		}
	}
	return false
}

// CreateUser creates a staff account with its grants.
func (s *Service) CreateUser(ctx context.Context, by Principal, who audit.Actor, in NewUser) (UserView, error) {
	in.Username = strings.TrimSpace(in.Username)
	in.DisplayName = strings.TrimSpace(in.DisplayName)
	if !validUsername(in.Username) {
		return UserView{}, apperr.Invalid("username", "用户名为 3-32 位字母、数字、下划线或点")
	}
	if n := len([]rune(in.DisplayName)); n == 0 || n > 32 {
		return UserView{}, apperr.Invalid("display_name", "姓名不能为空且不超过 32 个字")
	}
	if err := CheckPassword(in.Password); err != nil {
		return UserView{}, err
	}
	if len(in.Grants) == 0 {
		return UserView{}, apperr.Invalid("grants", "至少授予一个角色")
	}
	hash, err := s.hashPassword(in.Password)
	if err != nil {
		return UserView{}, err
	}
	var view UserView
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		if err := s.checkGrants(ctx, tx, by, in.Grants); err != nil {
			return err
		}
		now := time.Now().UTC()
		u := User{Username: in.Username, DisplayName: in.DisplayName, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
		if in.ResidentID != nil {
			var res people.Resident
			if err := tx.First(&res, *in.ResidentID).Error; err != nil || !coversVillage(by, res.VillageID) {
				return apperr.Invalid("resident_id", "村民不存在或不在您的管理范围内")
			}
			u.ResidentID, u.HouseholdID = &res.ID, res.HouseholdID
		}
		if err := tx.Create(&u).Error; err != nil {
			if sqldb.IsDuplicateKey(err) {
				return apperr.Invalid("username", "用户名已被使用")
			}
			return err
		}
		if err := replaceGrants(tx, u.ID, in.Grants); err != nil {
			return err
		}
		view = viewOf(u, in.Grants, now)
		return audit.Record(ctx, tx, who, audit.Change{VillageID: firstVillage(tx, in.Grants), Action: "staff.create", TargetType: "staff", TargetID: u.ID, After: view})
	})
	return view, err
}

// coversVillage reports whether by manages staff in village.
func coversVillage(by Principal, village int64) bool { return by.Can(ManageStaff, village) }

func replaceGrants(tx *gorm.DB, staffID int64, gs []Grant) error {
	if err := tx.Where("staff_id = ?", staffID).Delete(&Assignment{}).Error; err != nil {
		return err
	}
	seen := map[Grant]bool{}
	for _, g := range gs {
		if seen[g] {
			continue
		}
		seen[g] = true
		if err := tx.Create(&Assignment{StaffID: staffID, Role: g.Role, RegionID: g.RegionID, CreatedAt: time.Now().UTC()}).Error; err != nil {
			return err
		}
	}
	return nil
}

// firstVillage ties an audit entry to the village of the first
// village-level grant, so the village's supervisor sees it.
func firstVillage(tx *gorm.DB, gs []Grant) int64 {
	for _, g := range gs {
		if g.Role.Level() == people.Village {
			return g.RegionID
		}
	}
	return 0
}

func viewOf(u User, gs []Grant, now time.Time) UserView {
	if gs == nil {
		gs = []Grant{}
	}
	return UserView{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, ResidentID: u.ResidentID,
		Disabled: u.Disabled, Locked: u.LockedUntil != nil && u.LockedUntil.After(now), Grants: gs, CreatedAt: u.CreatedAt}
}

func validUsername(s string) bool {
	if len(s) < 3 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// grantsOf loads the grants of several users.
func grantsOf(ctx context.Context, db *gorm.DB, ids []int64) (map[int64][]Grant, error) {
	var as []Assignment
	if err := db.WithContext(ctx).Where("staff_id IN ?", ids).Order("id").Find(&as).Error; err != nil {
		return nil, err
	}
	out := map[int64][]Grant{}
	for _, a := range as {
		out[a.StaffID] = append(out[a.StaffID], Grant{Role: a.Role, RegionID: a.RegionID})
	}
	return out, nil
}

// visibleTo restricts a staff query to accounts holding a role on a region
// at or below one where by holds staff.read.
func (s *Service) visibleTo(ctx context.Context, by Principal) *gorm.DB {
	var conds []string
	var args []any
	for _, rid := range by.RegionsWith(ReadStaff) {
		conds = append(conds, "path LIKE ?")
		args = append(args, fmt.Sprintf("%%/%d/%%", rid))
	}
	if len(conds) == 0 {
		conds, args = []string{"1 = 0"}, nil
	}
	regions := s.db.Model(&people.Region{}).Select("id").Where(strings.Join(conds, " OR "), args...)
	assigned := s.db.Model(&Assignment{}).Select("staff_id").Where("region_id IN (?)", regions)
	return s.db.WithContext(ctx).Model(&User{}).Where("id IN (?)", assigned)
}

// ListUsers returns the staff visible to by, newest first.
func (s *Service) ListUsers(ctx context.Context, by Principal, offset, limit int) ([]UserView, int64, error) {
	q := s.visibleTo(ctx, by)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var us []User
	if err := q.Order("id DESC").Offset(offset).Limit(limit).Find(&us).Error; err != nil {
		return nil, 0, err
	}
	ids := make([]int64, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	gs, err := grantsOf(ctx, s.db, ids)
	if err != nil {
		return nil, 0, err
	}
	now := s.cfg.Now()
	out := make([]UserView, len(us))
	for i, u := range us {
		out[i] = viewOf(u, gs[u.ID], now)
	}
	return out, total, nil
}

// User returns one staff account visible to by (the caller always sees
// their own).
func (s *Service) User(ctx context.Context, by Principal, id int64) (UserView, error) {
	var u User
	q := s.visibleTo(ctx, by).Where("id = ?", id)
	if by.StaffID == id {
		q = s.db.WithContext(ctx).Where("id = ?", id)
	}
	if err := q.First(&u).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return UserView{}, apperr.NotFound("工作人员")
		}
		return UserView{}, err
	}
	gs, err := grantsOf(ctx, s.db, []int64{id})
	if err != nil {
		return UserView{}, err
	}
	return viewOf(u, gs[id], s.cfg.Now()), nil
}

// UserChange is the input for UpdateUser; nil fields stay as they are.
type UserChange struct {
	DisplayName *string
	Disabled    *bool
	Password    *string
	Grants      *[]Grant
	// Unlock clears a lockout after failed logins.
	Unlock bool
}

// UpdateUser changes a staff account. by must be able to grant every role
// the account holds now (so a village admin cannot touch a township admin)
// and every role it is given.
func (s *Service) UpdateUser(ctx context.Context, by Principal, who audit.Actor, id int64, ch UserChange) (UserView, error) {
	if ch.DisplayName != nil {
		if n := len([]rune(strings.TrimSpace(*ch.DisplayName))); n == 0 || n > 32 {
			return UserView{}, apperr.Invalid("display_name", "姓名不能为空且不超过 32 个字")
		}
	}
	var hash string
	if ch.Password != nil {
		if err := CheckPassword(*ch.Password); err != nil {
			return UserView{}, err
		}
		var err error
		if hash, err = s.hashPassword(*ch.Password); err != nil {
			return UserView{}, err
		}
	}
	if id == by.StaffID && (ch.Grants != nil || ch.Disabled != nil) {
		return UserView{}, apperr.New(apperr.CodeForbidden, "不能修改自己的角色或停用自己")
	}
	var view UserView
	var revoke bool
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var u User
		if err := sqldb.ForUpdate(tx).First(&u, id).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return apperr.NotFound("工作人员")
			}
			return err
		}
		current, err := grantsOf(ctx, tx, []int64{id})
		if err != nil {
			return err
		}
		if err := s.checkGrants(ctx, tx, by, current[id]); err != nil {
			// Not allowed to manage this account at all: do not reveal it.
			if apperr.Is(err, apperr.CodeForbidden) {
				return apperr.NotFound("工作人员")
			}
			return err
		}
		before := viewOf(u, current[id], s.cfg.Now())
		grants := current[id]
		if ch.Grants != nil {
			if len(*ch.Grants) == 0 {
				return apperr.Invalid("grants", "至少保留一个角色；停用账号请用 disabled")
			}
			if err := s.checkGrants(ctx, tx, by, *ch.Grants); err != nil {
				return err
			}
			if err := replaceGrants(tx, id, *ch.Grants); err != nil {
				return err
			}
			grants = *ch.Grants
		}
		if ch.DisplayName != nil {
			u.DisplayName = strings.TrimSpace(*ch.DisplayName)
		}
		if ch.Disabled != nil {
			u.Disabled = *ch.Disabled
			revoke = revoke || u.Disabled
		}
		if hash != "" {
			u.PasswordHash = hash
			revoke = true
		}
		if ch.Unlock {
			u.FailedLogins, u.LockedUntil = 0, nil
		}
		u.UpdatedAt = s.cfg.Now()
		if err := tx.Save(&u).Error; err != nil {
			return err
		}
		view = viewOf(u, grants, s.cfg.Now())
		return audit.Record(ctx, tx, who, audit.Change{VillageID: firstVillage(tx, grants), Action: "staff.update", TargetType: "staff", TargetID: id, Before: before, After: view})
	})
	if err == nil && revoke {
		err = s.RevokeAll(ctx, id)
	}
	return view, err
}

func nonEmpty(ids []int64) []int64 {
	if len(ids) == 0 {
		return []int64{-1}
	}
	return ids
}
