package identity

import (
	"context"
	"crypto/hmac"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/sqldb"
)

// card is a printed household card 户卡 as stored.
type card struct {
	ID          int64 `gorm:"primaryKey"`
	HouseholdID int64
	VillageID   int64
	Serial      string
	Status      string
	IssuedBy    int64
	IssuedAt    time.Time
	RevokedBy   *int64
	RevokedAt   *time.Time
}

func (card) TableName() string { return "household_cards" }

// Card statuses.
const (
	CardActive  = "active"
	CardRevoked = "revoked"
)

// Card is a household card as staff see it. Code, the content of its QR
// code, is shown for active cards only, so a lost card can be reprinted
// until it is revoked.
type Card struct {
	ID          int64      `json:"id"`
	HouseholdID int64      `json:"household_id"`
	Serial      string     `json:"serial"`
	Status      string     `json:"status"`
	Code        string     `json:"code,omitempty"`
	IssuedAt    time.Time  `json:"issued_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// A card's code is "HC1.<serial>.<tag>": the serial printed beside it and
// an HMAC, so nobody can make a card by counting serials. It never
// changes, which is why only a staff scan accepts it.
const cardPrefix = "HC1."

const serialLen = 10

func (s *Service) cardCode(serial string) string {
	body := cardPrefix + serial
	return body + "." + tag(s.keys.card, body)
}

func (s *Service) cardView(c card) Card {
	v := Card{ID: c.ID, HouseholdID: c.HouseholdID, Serial: c.Serial, Status: c.Status, IssuedAt: c.IssuedAt, RevokedAt: c.RevokedAt}
	if c.Status == CardActive {
		v.Code = s.cardCode(c.Serial)
	}
	return v
}

// IssueCard prints a new card for a household of a village in scope; the
// household's previous card, if any, stops working.
func (s *Service) IssueCard(ctx context.Context, scope Scope, who audit.Actor, householdID int64) (Card, error) {
	var out Card
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var h people.Household
		if err := sqldb.ForUpdate(tx).First(&h, householdID).Error; err != nil {
			return notFound(err, "户")
		}
		if !scope(h.VillageID) {
			return apperr.NotFound("户")
		}
		now := s.cfg.Now()
		var old []int64
		if err := tx.Model(&card{}).Where("household_id = ? AND status = ?", h.ID, CardActive).Pluck("id", &old).Error; err != nil {
			return err
		}
		if len(old) > 0 {
			if err := tx.Model(&card{}).Where("id IN ?", old).Updates(map[string]any{
				"status": CardRevoked, "revoked_by": who.StaffID, "revoked_at": now}).Error; err != nil {
				return err
			}
		}
		c := card{HouseholdID: h.ID, VillageID: h.VillageID, Status: CardActive, IssuedBy: who.StaffID, IssuedAt: now}
		for range 5 {
			c.Serial = randomCode(serialLen)
			err := tx.Create(&c).Error
			if err == nil {
				break
			}
			if !sqldb.IsDuplicateKey(err) {
				return err
			}
			c.ID = 0
		}
		if c.ID == 0 {
			return errors.New("identity: no free card serial after 5 tries")
		}
		out = s.cardView(c)
		return audit.Record(ctx, tx, who, audit.Change{VillageID: h.VillageID, Action: "household_card.issue", TargetType: "household", TargetID: h.ID,
			After: map[string]any{"card_id": c.ID, "serial": c.Serial, "revoked": old}})
	})
	return out, err
}

// RevokeCard stops a card from working.
func (s *Service) RevokeCard(ctx context.Context, scope Scope, who audit.Actor, cardID int64) (Card, error) {
	var out Card
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var c card
		if err := sqldb.ForUpdate(tx).First(&c, cardID).Error; err != nil {
			return notFound(err, "户卡")
		}
		if !scope(c.VillageID) {
			return apperr.NotFound("户卡")
		}
		if c.Status != CardActive {
			return apperr.New(apperr.CodeConflict, "该户卡已作废")
		}
		now := s.cfg.Now()
		c.Status, c.RevokedBy, c.RevokedAt = CardRevoked, &who.StaffID, &now
		if err := tx.Model(&card{}).Where("id = ?", c.ID).Updates(map[string]any{
			"status": c.Status, "revoked_by": who.StaffID, "revoked_at": now}).Error; err != nil {
			return err
		}
		out = s.cardView(c)
		return audit.Record(ctx, tx, who, audit.Change{VillageID: c.VillageID, Action: "household_card.revoke", TargetType: "household", TargetID: c.HouseholdID,
			Before: map[string]any{"card_id": c.ID, "status": CardActive}, After: map[string]any{"card_id": c.ID, "status": CardRevoked}})
	})
	return out, err
}

// ListCards returns a household's cards, newest first; the caller has
// checked the household is in scope.
func (s *Service) ListCards(ctx context.Context, householdID int64) ([]Card, error) {
	var cs []card
	if err := s.db.WithContext(ctx).Where("household_id = ?", householdID).Order("id DESC").Find(&cs).Error; err != nil {
		return nil, err
	}
	out := make([]Card, len(cs))
	for i, c := range cs {
		out[i] = s.cardView(c)
	}
	return out, nil
}

// cardOf checks a card code's tag and returns its stored card.
func (s *Service) cardOf(ctx context.Context, code string) (card, error) {
	i := strings.LastIndexByte(code, '.')
	if i <= len(cardPrefix) {
		return card{}, errCodeInvalid
	}
	body, sig := code[:i], code[i+1:]
	if !hmac.Equal([]byte(sig), []byte(tag(s.keys.card, body))) {
		return card{}, errCodeInvalid
	}
	var c card
	if err := s.db.WithContext(ctx).Where("serial = ?", body[len(cardPrefix):]).First(&c).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return c, errCodeInvalid
		}
		return c, err
	}
	if c.Status != CardActive {
		return c, apperr.New(CodeCardRevoked, "该户卡已作废，请使用新卡")
	}
	return c, nil
}
