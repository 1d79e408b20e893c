package ledger

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
)

// AwardRequest credits points earned under a rule item, a duty assessment
// or volunteer attendance.
type AwardRequest struct {
	VillageID int64
	Holder    Holder
	Track     Track
	Amount    int64
	// Type is TypeRuleAward (the default), TypeDutyAssessment or
	// TypeVolunteerAttendance.
	Type   PostingType
	Source Source
	Actor  Actor
	Reason string
	// IdempotencyKey is scoped per village and actor.
	IdempotencyKey string
}

// Award credits a holder: issued → holder.
func (s *Store) Award(ctx context.Context, r AwardRequest) (*Result, error) {
	if r.Type == "" {
		r.Type = TypeRuleAward
	}
	if r.Type != TypeRuleAward && r.Type != TypeDutyAssessment && r.Type != TypeVolunteerAttendance {
		return nil, apperr.Invalid("type", "加分类型无效")
	}
	if err := firstErr(validateTrack(r.Track), validateAmount(r.Amount), validateSource(r.Source), validateReason(r.Reason, false)); err != nil {
		return nil, err
	}
	return s.run(ctx, operation{
		village: r.VillageID, actor: r.Actor, key: r.IdempotencyKey,
		hash: requestHash("award", r.Holder, r.Track, r.Amount, r.Type, r.Source, r.Reason),
		plan: func(tx *gorm.DB, st Settings, now time.Time) (*plan, error) {
			if err := st.checkHolder(r.Holder); err != nil {
				return nil, err
			}
			return &plan{postings: []Posting{{
				Type: r.Type, Track: r.Track,
				FromKind: KindIssued, ToKind: r.Holder.main(), ToOwner: r.Holder.ID,
				Amount: r.Amount, Source: r.Source, Reason: r.Reason,
			}}}, nil
		},
	})
}

// DeductRequest takes points off under a rule item 扣分.
type DeductRequest struct {
	VillageID      int64
	Holder         Holder
	Track          Track
	Amount         int64
	Source         Source
	Actor          Actor
	Reason         string
	IdempotencyKey string
}

// Deduct debits a holder's track: holder → deducted. It is refused with
// CodePointsShort when the track's balance does not cover it, unless the
// village allows rule deductions to go negative.
func (s *Store) Deduct(ctx context.Context, r DeductRequest) (*Result, error) {
	if err := firstErr(validateTrack(r.Track), validateAmount(r.Amount), validateSource(r.Source), validateReason(r.Reason, false)); err != nil {
		return nil, err
	}
	return s.run(ctx, operation{
		village: r.VillageID, actor: r.Actor, key: r.IdempotencyKey,
		hash: requestHash("deduct", r.Holder, r.Track, r.Amount, r.Source, r.Reason),
		plan: func(tx *gorm.DB, st Settings, now time.Time) (*plan, error) {
			if err := st.checkHolder(r.Holder); err != nil {
				return nil, err
			}
			p := Posting{
				Type: TypeRuleDeduction, Track: r.Track,
				FromKind: r.Holder.main(), FromOwner: r.Holder.ID, ToKind: KindDeducted,
				Amount: r.Amount, Source: r.Source, Reason: r.Reason,
			}
			pl := &plan{postings: []Posting{p}}
			if st.AllowNegativeDeduction {
				pl.mayGoNegative = map[AccountKey]bool{p.From(): true}
			}
			return pl, nil
		},
	})
}

// AdjustRequest is a manual adjustment 人工调整 by staff: Amount is signed
// (positive credits the holder) and Reason is required.
type AdjustRequest struct {
	VillageID      int64
	Holder         Holder
	Track          Track
	Amount         int64
	Source         Source
	Actor          Actor
	Reason         string
	IdempotencyKey string
}

// Adjust credits or debits a holder against the village's adjustments
// account. A debit must be covered by the track's balance.
func (s *Store) Adjust(ctx context.Context, r AdjustRequest) (*Result, error) {
	abs := r.Amount
	if abs < 0 {
		abs = -abs
	}
	if err := firstErr(validateTrack(r.Track), validateAmount(abs), validateSource(r.Source), validateReason(r.Reason, true)); err != nil {
		return nil, err
	}
	return s.run(ctx, operation{
		village: r.VillageID, actor: r.Actor, key: r.IdempotencyKey,
		hash: requestHash("adjust", r.Holder, r.Track, r.Amount, r.Source, r.Reason),
		plan: func(tx *gorm.DB, st Settings, now time.Time) (*plan, error) {
			if err := st.checkHolder(r.Holder); err != nil {
				return nil, err
			}
			p := Posting{
				Type: TypeManualAdjustment, Track: r.Track,
				FromKind: KindAdjustments, ToKind: r.Holder.main(), ToOwner: r.Holder.ID,
				Amount: abs, Source: r.Source, Reason: r.Reason,
			}
			if r.Amount < 0 {
				p.FromKind, p.FromOwner, p.ToKind, p.ToOwner = r.Holder.main(), r.Holder.ID, KindAdjustments, 0
			}
			return &plan{postings: []Posting{p}}, nil
		},
	})
}

// RedeemRequest spends points directly, without a hold (a clerk redeeming
// at the counter 积分超市核销).
type RedeemRequest struct {
	VillageID int64
	Holder    Holder
	Amount    int64
	// Tracks narrows the tracks that may pay (a reward's 可用积分类别);
	// empty means every track the village lets be spent. See spend.
	Tracks         []Track
	Source         Source
	Actor          Actor
	Reason         string
	IdempotencyKey string
}

// Redeem debits the holder's paying tracks (in the village's order, see
// spend) into the redeemed account, one redemption_capture posting per
// track drawn.
func (s *Store) Redeem(ctx context.Context, r RedeemRequest) (*Result, error) {
	if err := firstErr(validateAmount(r.Amount), validateSource(r.Source), validateReason(r.Reason, false), validateTracks(r.Tracks)); err != nil {
		return nil, err
	}
	return s.run(ctx, operation{
		village: r.VillageID, actor: r.Actor, key: r.IdempotencyKey,
		hash: requestHash("redeem", withTracks([]any{r.Holder, r.Amount, r.Source, r.Reason}, r.Tracks)...),
		plan: func(tx *gorm.DB, st Settings, now time.Time) (*plan, error) {
			legs, applied, err := s.spend(tx, r.VillageID, st, r.Holder, r.Amount, r.Tracks, "", now)
			if err != nil {
				return nil, err
			}
			pl := &plan{applied: applied}
			for _, l := range legs {
				pl.postings = append(pl.postings, Posting{
					Type: TypeRedemptionCapture, Track: l.Track,
					FromKind: r.Holder.main(), FromOwner: r.Holder.ID, ToKind: KindRedeemed,
					Amount: l.Amount, Source: r.Source, Reason: r.Reason,
				})
			}
			return pl, nil
		},
	})
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
