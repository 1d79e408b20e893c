package identity

import (
	"context"
	"strings"
	"time"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/people"
)

// ScanResult is what a staff scan resolves to: a resident (personal code)
// or a household and its members (household card), as staff see them.
type ScanResult struct {
	Kind      string                `json:"kind"` // "resident" or "household"
	Resident  *people.ResidentView  `json:"resident,omitempty"`
	Household *people.Household     `json:"household,omitempty"`
	Members   []people.ResidentView `json:"members,omitempty"`
	// ExpiresAt is when a personal code stops being accepted.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// ResolveScan resolves a code a staff member scanned: a villager's personal
// code (valid for its minute, and only while the villager is still bound
// to that resident) or a household card (until revoked). Anything of a
// village outside scope is not found. This is the only place a household
// card is accepted.
func (s *Service) ResolveScan(ctx context.Context, scope Scope, code string) (ScanResult, error) {
	code = strings.TrimSpace(code)
	switch {
	case strings.HasPrefix(code, personalPrefix):
		return s.resolvePersonal(ctx, scope, code)
	case strings.HasPrefix(code, cardPrefix):
		return s.resolveCard(ctx, scope, code)
	}
	return ScanResult{}, apperr.Invalid("code", "无法识别的二维码")
}

func (s *Service) resolvePersonal(ctx context.Context, scope Scope, code string) (ScanResult, error) {
	claims, err := verifyPersonal(s.keys.personal, code, s.cfg.Now())
	if err != nil {
		return ScanResult{}, err
	}
	u, err := s.user(ctx, s.db, claims.UserID)
	if err != nil || u.ResidentID == nil || *u.ResidentID != claims.ResidentID {
		// Unbound or rebound since the code was shown.
		return ScanResult{}, apperr.New(CodeCodeExpired, "二维码已失效，请让村民刷新后重新出示")
	}
	r, err := s.people.Resident(ctx, claims.ResidentID)
	if err == people.ErrNotFound || err == nil && !scope(r.VillageID) {
		return ScanResult{}, apperr.NotFound("村民")
	}
	if err != nil {
		return ScanResult{}, err
	}
	v := s.people.View(r)
	out := ScanResult{Kind: "resident", Resident: &v, ExpiresAt: &claims.Expires}
	if r.HouseholdID != nil {
		if h, err := s.people.Household(ctx, *r.HouseholdID); err == nil {
			out.Household = &h
		}
	}
	return out, nil
}

func (s *Service) resolveCard(ctx context.Context, scope Scope, code string) (ScanResult, error) {
	c, err := s.cardOf(ctx, code)
	if err != nil {
		return ScanResult{}, err
	}
	if !scope(c.VillageID) {
		return ScanResult{}, apperr.NotFound("户")
	}
	h, err := s.people.Household(ctx, c.HouseholdID)
	if err != nil {
		return ScanResult{}, err
	}
	rs, _, err := s.people.ListResidents(ctx, people.ResidentFilter{VillageIDs: []int64{h.VillageID}, HouseholdID: h.ID, Status: people.StatusActive}, 0, 100)
	if err != nil {
		return ScanResult{}, err
	}
	members := make([]people.ResidentView, len(rs))
	for i, r := range rs {
		members[i] = s.people.View(r)
	}
	return ScanResult{Kind: "household", Household: &h, Members: members}, nil
}
