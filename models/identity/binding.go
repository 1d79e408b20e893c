package identity

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Self is the caller's own resident record: their own name in full, their
// phone masked like everywhere else.
type Self struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Relation    string `json:"relation"`
	VillageID   int64  `json:"village_id"`
	VillageName string `json:"village_name"`
	HouseholdID *int64 `json:"household_id,omitempty"`
	PartyMember bool   `json:"party_member"`
	Phone       string `json:"phone"`
}

// Me is what the mini-program shows of the caller.
type Me struct {
	UserID         int64           `json:"user_id"`
	Bound          bool            `json:"bound"`
	StaffLinked    bool            `json:"staff_linked"`
	Resident       *Self           `json:"resident,omitempty"`
	PendingRequest *PendingRequest `json:"pending_request,omitempty"`
}

// Me describes the caller.
func (s *Service) Me(ctx context.Context, c Caller) (Me, error) {
	out := Me{UserID: c.UserID, Bound: c.Bound(), StaffLinked: c.StaffID != 0}
	if !c.Bound() {
		req, ok, err := s.pendingRequest(ctx, c.UserID)
		if err != nil {
			return out, err
		}
		if ok {
			out.PendingRequest = &req
		}
		return out, nil
	}
	r, err := s.people.Resident(ctx, c.ResidentID)
	if err != nil {
		return out, err
	}
	v := s.people.View(r)
	self := Self{ID: r.ID, Name: r.Name, Relation: r.Relation, VillageID: r.VillageID, HouseholdID: r.HouseholdID, PartyMember: r.PartyMember, Phone: v.Phone}
	if village, err := s.people.Region(ctx, r.VillageID); err == nil {
		self.VillageName = village.Name
	}
	out.Resident = &self
	return out, nil
}

// HouseholdView is the caller's own household: the other members' names
// masked.
type HouseholdView struct {
	ID       int64    `json:"id"`
	Number   string   `json:"number"`
	Address  string   `json:"address"`
	HeadName string   `json:"head_name"`
	Members  []Member `json:"members"`
}

// Household returns the caller's household; a resident without one gets 404.
func (s *Service) Household(ctx context.Context, c Caller) (HouseholdView, error) {
	if !c.Bound() {
		return HouseholdView{}, ErrNotBound
	}
	if c.HouseholdID == 0 {
		return HouseholdView{}, apperr.NotFound("户")
	}
	h, err := s.people.Household(ctx, c.HouseholdID)
	if err != nil {
		return HouseholdView{}, err
	}
	members, err := s.members(ctx, s.db, h.ID, c.ResidentID)
	if err != nil {
		return HouseholdView{}, err
	}
	head := pii.MaskName(h.HeadName)
	for _, m := range members {
		if m.Me && m.Name == h.HeadName {
			head = h.HeadName
		}
	}
	return HouseholdView{ID: h.ID, Number: h.Number, Address: h.Address, HeadName: head, Members: members}, nil
}

// Binding is a WeChat user bound to a resident, as staff see it (never the
// openid).
type Binding struct {
	UserID       int64      `json:"user_id"`
	ResidentID   int64      `json:"resident_id"`
	ResidentName string     `json:"resident_name"`
	HouseholdID  *int64     `json:"household_id,omitempty"`
	BoundVia     string     `json:"bound_via"`
	BoundAt      *time.Time `json:"bound_at"`
	StaffLinked  bool       `json:"staff_linked"`
}

// ListBindings returns the users bound to residents of a village, newest
// binding first.
func (s *Service) ListBindings(ctx context.Context, village int64, offset, limit int) ([]Binding, int64, error) {
	q := s.db.WithContext(ctx).Model(&User{}).Where("village_id = ? AND resident_id IS NOT NULL", village)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var us []User
	if err := q.Order("bound_at DESC, id DESC").Offset(offset).Limit(limit).Find(&us).Error; err != nil {
		return nil, 0, err
	}
	out := make([]Binding, 0, len(us))
	for _, u := range us {
		r, err := s.people.Resident(ctx, *u.ResidentID)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, Binding{UserID: u.ID, ResidentID: r.ID, ResidentName: r.Name, HouseholdID: r.HouseholdID,
			BoundVia: u.BoundVia, BoundAt: u.BoundAt, StaffLinked: u.StaffID != nil})
	}
	return out, total, nil
}

func checkReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if n := len([]rune(reason)); n == 0 || n > 200 {
		return "", apperr.Invalid("reason", "请填写原因（不超过 200 字）")
	}
	return reason, nil
}

// boundUser locks a user bound to a resident of a village in scope; any
// other user is reported as not found.
func boundUser(tx *gorm.DB, scope Scope, userID int64) (User, error) {
	var u User
	if err := sqldb.ForUpdate(tx).First(&u, userID).Error; err != nil {
		return u, notFound(err, "微信绑定")
	}
	if u.ResidentID == nil || u.VillageID == nil || !scope(*u.VillageID) {
		return u, apperr.NotFound("微信绑定")
	}
	return u, nil
}

// Unbind removes a user's binding (staff only, with a reason, audited).
func (s *Service) Unbind(ctx context.Context, scope Scope, who audit.Actor, userID int64, reason string) error {
	reason, err := checkReason(reason)
	if err != nil {
		return err
	}
	defer s.callers.forgetUsers(userID)
	return sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		u, err := boundUser(tx, scope, userID)
		if err != nil {
			return err
		}
		if err := tx.Model(&User{}).Where("id = ?", u.ID).Updates(map[string]any{
			"resident_id": nil, "village_id": nil, "bound_via": "", "bound_at": nil, "updated_at": s.cfg.Now()}).Error; err != nil {
			return err
		}
		return audit.Record(ctx, tx, who, audit.Change{VillageID: *u.VillageID, Action: "wechat.unbind", TargetType: "resident", TargetID: *u.ResidentID,
			Before: map[string]any{"user_id": u.ID, "resident_id": *u.ResidentID, "via": u.BoundVia},
			After:  map[string]any{"user_id": u.ID, "resident_id": nil, "reason": reason}})
	})
}

// Rebind moves a user's binding to another resident of a village in scope
// (staff only, with a reason, audited): for a user bound to the wrong
// family member.
func (s *Service) Rebind(ctx context.Context, scope Scope, who audit.Actor, userID, residentID int64, reason string) error {
	reason, err := checkReason(reason)
	if err != nil {
		return err
	}
	defer s.callers.forgetUsers(userID)
	return sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		u, err := boundUser(tx, scope, userID)
		if err != nil {
			return err
		}
		var r people.Resident
		if err := tx.First(&r, residentID).Error; err != nil {
			return notFound(err, "村民")
		}
		if !scope(r.VillageID) {
			return apperr.NotFound("村民")
		}
		if r.ID == *u.ResidentID {
			return apperr.New(apperr.CodeConflict, "该微信已绑定这位村民")
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
		err = tx.Model(&User{}).Where("id = ?", u.ID).Updates(map[string]any{
			"resident_id": r.ID, "village_id": r.VillageID, "bound_via": ViaStaff, "bound_at": s.cfg.Now(), "updated_at": s.cfg.Now()}).Error
		if sqldb.IsDuplicateKey(err) {
			return errResidentTaken
		}
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, who, audit.Change{VillageID: r.VillageID, Action: "wechat.rebind", TargetType: "resident", TargetID: r.ID,
			Before: map[string]any{"user_id": u.ID, "resident_id": *u.ResidentID, "village_id": *u.VillageID, "via": u.BoundVia},
			After:  map[string]any{"user_id": u.ID, "resident_id": r.ID, "reason": reason}})
	})
}
