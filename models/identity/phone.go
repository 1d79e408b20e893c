package identity

import (
	"context"
	"errors"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/sqldb"
)

// bindRequest is a phone number that matched several residents, waiting
// for a social worker to say which one the user is.
type bindRequest struct {
	ID         int64 `gorm:"primaryKey"`
	UserID     int64
	Status     string
	ResidentID *int64
	DecidedBy  *int64
	DecidedAt  *time.Time
	CreatedAt  time.Time
}

func (bindRequest) TableName() string { return "mp_bind_requests" }

type bindCandidate struct {
	RequestID  int64 `gorm:"primaryKey"`
	ResidentID int64 `gorm:"primaryKey"`
	VillageID  int64
}

func (bindCandidate) TableName() string { return "mp_bind_candidates" }

// Statuses of a bind request.
const (
	requestPending   = "pending"
	requestApproved  = "approved"
	requestRejected  = "rejected"
	requestWithdrawn = "withdrawn"
)

// BindWithPhone binds the caller by the phone number WeChat vouches for
// (the getPhoneNumber code). One active, unbound resident with that number
// binds at once; several make a request a social worker of their village
// confirms; none is PHONE_NOT_MATCHED. The number is kept sealed on the
// user either way.
func (s *Service) BindWithPhone(ctx context.Context, c Caller, who audit.Actor, phoneCode, ip string) (BindResult, error) {
	if err := s.limit(ctx, "bind-phone", c.UserID, ip); err != nil {
		return BindResult{}, err
	}
	if c.Bound() {
		return BindResult{}, errAlreadyBound
	}
	if s.wx == nil {
		return BindResult{}, errNoWeChat
	}
	number, country, err := s.wx.PhoneNumber(ctx, phoneCode)
	if err != nil {
		return BindResult{}, err
	}
	phone, ok := pii.NormalizePhone(number)
	if !ok || (country != "" && country != "86") {
		return BindResult{}, apperr.New(CodePhoneNotMatched, "未找到登记该手机号的村民，请联系社工获取邀请码")
	}
	idx := s.vault.Index(phone)
	var out BindResult
	defer s.callers.forgetUsers(c.UserID)
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		now := s.cfg.Now()
		if err := tx.Model(&User{}).Where("id = ?", c.UserID).Updates(map[string]any{
			"phone_enc": s.vault.Seal(phone), "phone_idx": idx, "updated_at": now}).Error; err != nil {
			return err
		}
		var matches []people.Resident
		if err := tx.Where("phone_idx = ? AND status = ?", idx, people.StatusActive).Order("id").Find(&matches).Error; err != nil {
			return err
		}
		var free []people.Resident
		for _, r := range matches {
			taken, err := residentBound(tx, r.ID)
			if err != nil {
				return err
			}
			if !taken {
				free = append(free, r)
			}
		}
		// One match binds at once. Several are ambiguous even when only one
		// is still free (a family sharing a number): a social worker decides.
		switch {
		case len(free) == 0 && len(matches) > 0:
			return apperr.New(apperr.CodeConflict, "登记该手机号的村民已绑定其他微信；如需更换，请联系社工")
		case len(free) == 0:
			return apperr.New(CodePhoneNotMatched, "未找到登记该手机号的村民，请联系社工获取邀请码")
		case len(matches) == 1:
			out = BindResult{Status: "bound", ResidentID: free[0].ID}
			return s.bind(ctx, tx, who, c.UserID, free[0], ViaPhone)
		}
		if err := tx.Model(&bindRequest{}).Where("user_id = ? AND status = ?", c.UserID, requestPending).
			Updates(map[string]any{"status": requestWithdrawn, "decided_at": now}).Error; err != nil {
			return err
		}
		req := bindRequest{UserID: c.UserID, Status: requestPending, CreatedAt: now}
		if err := tx.Create(&req).Error; err != nil {
			return err
		}
		for _, r := range free {
			if err := tx.Create(&bindCandidate{RequestID: req.ID, ResidentID: r.ID, VillageID: r.VillageID}).Error; err != nil {
				return err
			}
		}
		out = BindResult{Status: "pending", RequestID: req.ID}
		return nil
	})
	return out, err
}

// Candidate is a resident a bind request may be approved for, as staff see it.
type Candidate struct {
	ResidentID      int64  `json:"resident_id"`
	Name            string `json:"name"`
	Relation        string `json:"relation"`
	HouseholdID     *int64 `json:"household_id,omitempty"`
	HouseholdNumber string `json:"household_number,omitempty"`
}

// BindRequestView is a pending bind request as staff of one village see it:
// the phone masked and only their own village's candidates.
type BindRequestView struct {
	ID         int64       `json:"id"`
	UserID     int64       `json:"user_id"`
	Phone      string      `json:"phone"`
	Candidates []Candidate `json:"candidates"`
	CreatedAt  time.Time   `json:"created_at"`
}

// ListBindRequests returns the pending requests with a candidate in village,
// oldest first.
func (s *Service) ListBindRequests(ctx context.Context, village int64, offset, limit int) ([]BindRequestView, int64, error) {
	q := s.db.WithContext(ctx).Model(&bindRequest{}).Where("status = ? AND id IN (?)", requestPending,
		s.db.Model(&bindCandidate{}).Select("request_id").Where("village_id = ?", village))
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var reqs []bindRequest
	if err := q.Order("id").Offset(offset).Limit(limit).Find(&reqs).Error; err != nil {
		return nil, 0, err
	}
	out := make([]BindRequestView, 0, len(reqs))
	for _, r := range reqs {
		u, err := s.user(ctx, s.db, r.UserID)
		if err != nil {
			return nil, 0, err
		}
		v := BindRequestView{ID: r.ID, UserID: r.UserID, CreatedAt: r.CreatedAt, Candidates: []Candidate{}}
		if p, err := s.vault.Open(u.PhoneEnc); err == nil {
			v.Phone = pii.MaskPhone(p)
		}
		var cands []bindCandidate
		if err := s.db.WithContext(ctx).Where("request_id = ? AND village_id = ?", r.ID, village).Order("resident_id").Find(&cands).Error; err != nil {
			return nil, 0, err
		}
		for _, c := range cands {
			cand, err := s.candidate(ctx, s.db, c.ResidentID)
			if err != nil {
				return nil, 0, err
			}
			v.Candidates = append(v.Candidates, cand)
		}
		out = append(out, v)
	}
	return out, total, nil
}

func (s *Service) candidate(ctx context.Context, tx *gorm.DB, residentID int64) (Candidate, error) {
	var r people.Resident
	if err := tx.WithContext(ctx).First(&r, residentID).Error; err != nil {
		return Candidate{}, err
	}
	c := Candidate{ResidentID: r.ID, Name: r.Name, Relation: r.Relation, HouseholdID: r.HouseholdID}
	if r.HouseholdID != nil {
		var h people.Household
		if err := tx.WithContext(ctx).First(&h, *r.HouseholdID).Error; err == nil {
			c.HouseholdNumber = h.Number
		}
	}
	return c, nil
}

// DecideBindRequest approves a pending request for residentID, one of its
// candidates in the staff member's scope, or rejects it (residentID 0).
// Staff who see none of its candidates get 404.
func (s *Service) DecideBindRequest(ctx context.Context, scope Scope, who audit.Actor, requestID int64, approve bool, residentID int64) error {
	var bound int64
	defer func() { s.callers.forgetUsers(bound) }()
	return sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var req bindRequest
		if err := sqldb.ForUpdate(tx).First(&req, requestID).Error; err != nil {
			return notFound(err, "绑定申请")
		}
		bound = req.UserID
		var cands []bindCandidate
		if err := tx.Where("request_id = ?", req.ID).Order("resident_id").Find(&cands).Error; err != nil {
			return err
		}
		var visible []int64
		var village int64
		for _, c := range cands {
			if scope(c.VillageID) {
				visible = append(visible, c.ResidentID)
				if village == 0 {
					village = c.VillageID
				}
			}
		}
		if len(visible) == 0 {
			return apperr.NotFound("绑定申请")
		}
		if req.Status != requestPending {
			return apperr.New(apperr.CodeConflict, "该绑定申请已处理或已撤回")
		}
		now := s.cfg.Now()
		if !approve {
			if err := tx.Model(&bindRequest{}).Where("id = ?", req.ID).Updates(map[string]any{
				"status": requestRejected, "decided_by": who.StaffID, "decided_at": now}).Error; err != nil {
				return err
			}
			return audit.Record(ctx, tx, who, audit.Change{VillageID: village, Action: "wechat.bind.reject", TargetType: "bind_request", TargetID: req.ID,
				After: map[string]any{"user_id": req.UserID}})
		}
		if !slices.Contains(visible, residentID) {
			return apperr.Invalid("resident_id", "请从本村的候选村民中选择")
		}
		var r people.Resident
		if err := tx.First(&r, residentID).Error; err != nil {
			return notFound(err, "村民")
		}
		if err := s.bind(ctx, tx, who, req.UserID, r, ViaPhone); err != nil {
			return err
		}
		// bind withdrew the user's pending requests; this one was approved.
		return tx.Model(&bindRequest{}).Where("id = ?", req.ID).Updates(map[string]any{
			"status": requestApproved, "resident_id": r.ID, "decided_by": who.StaffID, "decided_at": now}).Error
	})
}

// PendingRequest is the caller's own bind request waiting for staff.
type PendingRequest struct {
	ID        int64     `json:"id"`
	CreatedAt time.Time `json:"created_at"`
}

// pendingRequest returns the user's pending request; ok is false when
// there is none.
func (s *Service) pendingRequest(ctx context.Context, userID int64) (req PendingRequest, ok bool, err error) {
	var row bindRequest
	err = s.db.WithContext(ctx).Where("user_id = ? AND status = ?", userID, requestPending).Order("id DESC").First(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return req, false, nil
	}
	if err != nil {
		return req, false, err
	}
	return PendingRequest{ID: row.ID, CreatedAt: row.CreatedAt}, true, nil
}
