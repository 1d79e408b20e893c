package duty

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Claim statuses.
const (
	ClaimPending  = "pending"
	ClaimApproved = "approved"
	ClaimRejected = "rejected"
	ClaimReleased = "released"
)

// Claim is a party member's claim 认领 of a post.
type Claim struct {
	ID         int64      `json:"id"`
	PostID     int64      `json:"post_id"`
	VillageID  int64      `json:"village_id"`
	ResidentID int64      `json:"resident_id"`
	Status     string     `json:"status"`
	DecidedBy  *int64     `json:"decided_by,omitempty"`
	DecidedAt  *time.Time `json:"decided_at,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	// Replayed marks the answer to a retried claim (same key).
	Replayed bool `json:"replayed,omitempty" gorm:"-"`
}

// TableName is the claims table.
func (Claim) TableName() string { return "duty_claims" }

// ClaimView is a claim with the names a list shows.
type ClaimView struct {
	Claim
	PostName     string `json:"post_name"`
	ResidentName string `json:"resident_name,omitempty"`
}

// ClaimPost claims a post for an active party member of the post's
// village. A pending claim holds its seat, so approvals never exceed
// capacity; a member holds at most the village's max_posts pending or
// approved posts. The settings row lock serialises a village's claims, so
// the seat count and the member's count are read and written by one claim
// at a time. A retry with the same key answers with the first claim.
func (s *Service) ClaimPost(ctx context.Context, village, resident, post int64, key string) (Claim, error) {
	if key != "" {
		if c, ok, err := s.replayClaim(ctx, s.db, resident, post, key); ok || err != nil {
			return c, err
		}
	}
	var c Claim
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		now := s.clock()
		if err := activeMember(tx, village, resident); err != nil {
			return err
		}
		st, err := lockSettings(tx, village, now)
		if err != nil {
			return err
		}
		if key != "" {
			// Checked again under the lock: a twin of this request may have
			// committed while this one waited for it.
			prior, ok, err := s.replayClaim(ctx, tx, resident, post, key)
			if ok || err != nil {
				c = prior
				return err
			}
		}
		var p Post
		if err := sqldb.ForUpdate(tx).Where("id = ? AND village_id = ? AND active = ?", post, village, true).Take(&p).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return apperr.NotFound("责任岗")
			}
			return apperr.Internal(err)
		}
		var held []Claim
		if err := tx.Where("village_id = ? AND resident_id = ? AND status IN ?", village, resident, []string{ClaimPending, ClaimApproved}).
			Find(&held).Error; err != nil {
			return apperr.Internal(err)
		}
		for _, h := range held {
			if h.PostID == p.ID {
				return apperr.New(apperr.CodeConflict, "您已认领该岗位")
			}
		}
		if len(held) >= st.MaxPosts {
			return apperr.Newf(CodePostLimit, "每名党员最多认领 %d 个责任岗", st.MaxPosts)
		}
		if p.Claimed >= p.Capacity {
			return apperr.New(CodePostFull, "该岗位名额已满")
		}
		c = Claim{PostID: p.ID, VillageID: village, ResidentID: resident, Status: ClaimPending, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&c).Error; err != nil {
			return apperr.Internal(err)
		}
		if err := saveKey(tx, resident, keyClaim, key, c.ID, now); err != nil {
			return err // a duplicate key is a concurrent retry: replayed below
		}
		return dbErr(tx.Model(&Post{}).Where("id = ?", p.ID).Update("claimed", gorm.Expr("claimed + 1")).Error)
	})
	if err != nil && key != "" && sqldb.IsDuplicateKey(err) {
		if c, ok, err := s.replayClaim(ctx, s.db, resident, post, key); ok || err != nil {
			return c, err
		}
	}
	if err != nil && apperr.From(err).Code == apperr.CodeInternal {
		return Claim{}, apperr.Internal(err)
	}
	return c, err
}

// replayClaim finds the claim an earlier request with key made; the key
// used for another post is refused.
func (s *Service) replayClaim(ctx context.Context, db *gorm.DB, resident, post int64, key string) (Claim, bool, error) {
	target, ok, err := keyTarget(db.WithContext(ctx), resident, keyClaim, key)
	if !ok || err != nil {
		return Claim{}, ok, err
	}
	var rows []Claim
	if err := db.WithContext(ctx).Where("id = ?", target).Limit(1).Find(&rows).Error; err != nil || len(rows) == 0 {
		return Claim{}, true, apperr.Internal(fmt.Errorf("duty: claim %d of key: %v", target, err))
	}
	if rows[0].PostID != post {
		return Claim{}, true, apperr.New(apperr.CodeIdempotency, "该 Idempotency-Key 已用于认领其他岗位")
	}
	rows[0].Replayed = true
	return rows[0], true, nil
}

// ClaimFilter narrows a claims list; zero fields do not filter.
type ClaimFilter struct {
	Status     string
	PostID     int64
	ResidentID int64
}

// Claims lists a village's claims, newest first, with post and member
// names (the console's view).
func (s *Service) Claims(ctx context.Context, village int64, f ClaimFilter, offset, limit int) ([]ClaimView, int64, error) {
	q := s.db.WithContext(ctx).Model(&Claim{}).Where("village_id = ?", village)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.PostID != 0 {
		q = q.Where("post_id = ?", f.PostID)
	}
	if f.ResidentID != 0 {
		q = q.Where("resident_id = ?", f.ResidentID)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, apperr.Internal(err)
	}
	var rows []Claim
	if err := q.Order("id DESC").Offset(offset).Limit(limit).Find(&rows).Error; err != nil {
		return nil, 0, apperr.Internal(err)
	}
	out, err := s.claimViews(ctx, rows, true)
	return out, total, err
}

// MyClaims lists one member's claims, newest first.
func (s *Service) MyClaims(ctx context.Context, village, resident int64) ([]ClaimView, error) {
	var rows []Claim
	if err := s.db.WithContext(ctx).Where("village_id = ? AND resident_id = ?", village, resident).Order("id DESC").Limit(100).Find(&rows).Error; err != nil {
		return nil, apperr.Internal(err)
	}
	return s.claimViews(ctx, rows, false)
}

func (s *Service) claimViews(ctx context.Context, rows []Claim, withNames bool) ([]ClaimView, error) {
	var posts, people []int64
	for _, r := range rows {
		posts, people = append(posts, r.PostID), append(people, r.ResidentID)
	}
	n, err := namesOf(s.db.WithContext(ctx), posts, people, withNames)
	if err != nil {
		return nil, err
	}
	out := make([]ClaimView, len(rows))
	for i, r := range rows {
		out[i] = ClaimView{Claim: r, PostName: n.posts[r.PostID], ResidentName: n.residents[r.ResidentID]}
	}
	return out, nil
}

// DecideClaim approves or rejects a pending claim; a rejection names its
// reason and frees the seat. inScope checks the claim's village.
func (s *Service) DecideClaim(ctx context.Context, who audit.Actor, claim int64, approve bool, reason string, inScope func(int64) bool) (Claim, error) {
	reason = strings.TrimSpace(reason)
	if utf8.RuneCountInString(reason) > 200 {
		return Claim{}, apperr.Invalid("reason", "理由不能超过 200 字")
	}
	if !approve && reason == "" {
		return Claim{}, apperr.Invalid("reason", "驳回认领须填写理由")
	}
	var c Claim
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		err := sqldb.ForUpdate(tx).Where("id = ?", claim).Take(&c).Error
		if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && inScope != nil && !inScope(c.VillageID)) {
			return apperr.NotFound("认领记录")
		}
		if err != nil {
			return apperr.Internal(err)
		}
		if c.Status != ClaimPending {
			return apperr.New(apperr.CodeConflict, "该认领已处理")
		}
		before := c
		now := s.clock()
		c.Status, c.DecidedBy, c.DecidedAt, c.Reason, c.UpdatedAt = ClaimApproved, &who.StaffID, &now, reason, now
		if !approve {
			c.Status = ClaimRejected
			if err := tx.Model(&Post{}).Where("id = ?", c.PostID).Update("claimed", gorm.Expr("claimed - 1")).Error; err != nil {
				return apperr.Internal(err)
			}
		}
		if err := tx.Save(&c).Error; err != nil {
			return apperr.Internal(err)
		}
		return record(ctx, tx, who, c.VillageID, "duty.claim."+map[bool]string{true: "approve", false: "reject"}[approve], "duty_claim", c.ID, before, c)
	})
	return c, err
}

// ReleaseClaim ends an approved (or still pending) claim: the member
// leaves the post, the seat is freed and the member may claim another.
// Their reports and past assessments stay. inScope checks the village.
func (s *Service) ReleaseClaim(ctx context.Context, who audit.Actor, claim int64, reason string, inScope func(int64) bool) (Claim, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > 200 {
		return Claim{}, apperr.Invalid("reason", "请填写解除理由（不超过 200 字）")
	}
	var c Claim
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		err := sqldb.ForUpdate(tx).Where("id = ?", claim).Take(&c).Error
		if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && inScope != nil && !inScope(c.VillageID)) {
			return apperr.NotFound("认领记录")
		}
		if err != nil {
			return apperr.Internal(err)
		}
		if c.Status != ClaimApproved && c.Status != ClaimPending {
			return apperr.New(apperr.CodeConflict, "该认领已结束")
		}
		before := c
		now := s.clock()
		c.Status, c.DecidedBy, c.DecidedAt, c.Reason, c.UpdatedAt = ClaimReleased, &who.StaffID, &now, reason, now
		if err := tx.Model(&Post{}).Where("id = ?", c.PostID).Update("claimed", gorm.Expr("claimed - 1")).Error; err != nil {
			return apperr.Internal(err)
		}
		if err := tx.Save(&c).Error; err != nil {
			return apperr.Internal(err)
		}
		return record(ctx, tx, who, c.VillageID, "duty.claim.release", "duty_claim", c.ID, before, c)
	})
	return c, err
}
