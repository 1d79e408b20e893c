package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/sqldb"
)

// HoldStatus is where a redemption hold 兑换冻结 stands.
type HoldStatus string

// The hold statuses. Only an open hold can change, and only once.
const (
	HoldOpen     HoldStatus = "open"
	HoldCaptured HoldStatus = "captured" // 已核销
	HoldReleased HoldStatus = "released" // 已解冻 (cancelled)
	HoldExpired  HoldStatus = "expired"  // 超时解冻
)

// DefaultHoldTTL is how long a hold stays open when the request names no
// expiry.
const DefaultHoldTTL = 24 * time.Hour

// Hold freezes points for a redemption until it is captured (the goods are
// handed over), released (cancelled) or expires. While open, its points sit
// in the holder's held account, so they cannot be spent twice.
type Hold struct {
	ID        int64
	VillageID int64
	Holder    Holder
	Amount    int64
	// Legs says how much each track contributed.
	Legs      []TrackAmount
	Status    HoldStatus
	Source    Source
	ExpiresAt time.Time
	CreatedAt time.Time
	// ClosedAt is when the hold left HoldOpen; zero while open.
	ClosedAt time.Time
}

type holdRow struct {
	ID         int64 `gorm:"primaryKey"`
	VillageID  int64
	HolderKind string
	HolderID   int64
	Amount     int64
	Legs       string
	Status     string
	SourceType string
	SourceID   int64
	ExpiresAt  time.Time
	CreatedAt  time.Time
	ClosedAt   *time.Time
}

func (holdRow) TableName() string { return "ledger_holds" }

const holdInsertSQL = `INSERT INTO ledger_holds (village_id, holder_kind, holder_id, amount, legs, status, source_type, source_id,
	expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func (r holdRow) hold() (Hold, error) {
	legs, err := parseLegs(r.Legs)
	if err != nil {
		return Hold{}, err
	}
	h := Hold{
		ID: r.ID, VillageID: r.VillageID,
		Holder: Holder{Kind: HolderKind(r.HolderKind), ID: r.HolderID},
		Amount: r.Amount, Legs: legs, Status: HoldStatus(r.Status),
		Source:    Source{Type: r.SourceType, ID: r.SourceID},
		ExpiresAt: r.ExpiresAt.UTC(), CreatedAt: r.CreatedAt.UTC(),
	}
	if r.ClosedAt != nil {
		h.ClosedAt = r.ClosedAt.UTC()
	}
	return h, nil
}

func loadHold(db *gorm.DB, villageID, id int64) (Hold, error) {
	var rows []holdRow
	if err := db.Raw("SELECT * FROM ledger_holds WHERE id = ? AND village_id = ?", id, villageID).Scan(&rows).Error; err != nil {
		return Hold{}, fmt.Errorf("ledger: load hold: %w", err)
	}
	if len(rows) == 0 {
		return Hold{}, apperr.NotFound("冻结记录")
	}
	return rows[0].hold()
}

// lockHold reads a hold and locks its row for the rest of the transaction;
// whoever locks it first decides its fate.
func lockHold(tx *gorm.DB, villageID, id int64) (Hold, error) {
	var rows []holdRow
	q := tx.Table("ledger_holds").Where("id = ? AND village_id = ?", id, villageID)
	if err := sqldb.ForUpdate(q).Scan(&rows).Error; err != nil {
		return Hold{}, fmt.Errorf("ledger: lock hold: %w", err)
	}
	if len(rows) == 0 {
		return Hold{}, apperr.NotFound("冻结记录")
	}
	return rows[0].hold()
}

// Hold returns one hold.
func (s *Store) Hold(ctx context.Context, villageID, holdID int64) (Hold, error) {
	return loadHold(s.db.WithContext(ctx), villageID, holdID)
}

// OpenHolds lists a holder's open holds, oldest first (the redemptions
// waiting to be handed over).
func (s *Store) OpenHolds(ctx context.Context, villageID int64, h Holder) ([]Hold, error) {
	var rows []holdRow
	if err := s.db.WithContext(ctx).Raw(`SELECT * FROM ledger_holds WHERE village_id = ? AND holder_kind = ? AND holder_id = ? AND status = ?
		ORDER BY id`, villageID, h.Kind, h.ID, HoldOpen).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("ledger: list holds: %w", err)
	}
	out := make([]Hold, 0, len(rows))
	for _, r := range rows {
		hold, err := r.hold()
		if err != nil {
			return nil, err
		}
		out = append(out, hold)
	}
	return out, nil
}

// HoldRequest freezes points for a redemption order.
type HoldRequest struct {
	VillageID int64
	Holder    Holder
	Amount    int64
	// Tracks narrows the tracks that may pay (a reward's 可用积分类别);
	// empty means every track the village lets be spent. See spend.
	Tracks []Track
	// Source is the redemption order.
	Source Source
	// ExpiresAt is when an uncaptured hold is released; zero means
	// DefaultHoldTTL from now.
	ExpiresAt      time.Time
	Actor          Actor
	IdempotencyKey string
}

// PlaceHold moves Amount from the holder's paying tracks to their held
// account (redemption_hold postings, one per track drawn, split as spend
// says) and opens a hold whose legs record what each track gave, so that
// capture and release move exactly that back out. It is refused with
// CodePointsShort when the paying tracks do not cover it, and with
// CodeTrackNotAccepted when only tracks that Tracks leaves out would.
func (s *Store) PlaceHold(ctx context.Context, r HoldRequest) (*Result, error) {
	if err := firstErr(validateAmount(r.Amount), validateSource(r.Source), validateTracks(r.Tracks)); err != nil {
		return nil, err
	}
	return s.run(ctx, operation{
		village: r.VillageID, actor: r.Actor, key: r.IdempotencyKey,
		hash: requestHash("hold", withTracks([]any{r.Holder, r.Amount, r.Source, r.ExpiresAt.UTC()}, r.Tracks)...),
		plan: func(tx *gorm.DB, st Settings, now time.Time) (*plan, error) {
			// Checked here, after the key: a retry after the expiry time
			// still gets its original result.
			if !r.ExpiresAt.IsZero() && !r.ExpiresAt.After(now) {
				return nil, apperr.Invalid("expires_at", "冻结到期时间须晚于现在")
			}
			legs, applied, err := s.spend(tx, r.VillageID, st, r.Holder, r.Amount, r.Tracks, r.Holder.held(), now)
			if err != nil {
				return nil, err
			}
			expires := dbTime(r.ExpiresAt)
			if r.ExpiresAt.IsZero() {
				expires = now.Add(DefaultHoldTTL)
			}
			row := holdRow{
				VillageID: r.VillageID, HolderKind: string(r.Holder.Kind), HolderID: r.Holder.ID,
				Amount: r.Amount, Legs: formatLegs(legs), Status: string(HoldOpen),
				SourceType: r.Source.Type, SourceID: r.Source.ID, ExpiresAt: expires, CreatedAt: now,
			}
			res, err := s.exec(tx, holdInsertSQL, row.VillageID, row.HolderKind, row.HolderID, row.Amount, row.Legs, row.Status,
				row.SourceType, row.SourceID, row.ExpiresAt, row.CreatedAt)
			if err != nil {
				return nil, fmt.Errorf("ledger: insert hold: %w", err)
			}
			if row.ID, err = res.LastInsertId(); err != nil {
				return nil, fmt.Errorf("ledger: hold id: %w", err)
			}
			h, err := row.hold()
			if err != nil {
				return nil, err
			}
			pl := &plan{hold: &h, applied: applied}
			for _, l := range legs {
				pl.postings = append(pl.postings, Posting{
					Type: TypeRedemptionHold, Track: l.Track,
					FromKind: r.Holder.main(), FromOwner: r.Holder.ID,
					ToKind: r.Holder.held(), ToOwner: r.Holder.ID,
					Amount: l.Amount, Source: r.Source, HoldID: h.ID,
				})
			}
			return pl, nil
		},
	})
}

// CaptureRequest settles an open hold when the goods are handed over 核销.
type CaptureRequest struct {
	VillageID      int64
	HoldID         int64
	Actor          Actor
	IdempotencyKey string
}

// Capture moves a hold's points from the held account to redeemed
// (redemption_capture postings). A hold that is no longer open, or whose
// time is up, is refused with CodeConflict; ExpireHolds releases the latter.
func (s *Store) Capture(ctx context.Context, r CaptureRequest) (*Result, error) {
	return s.run(ctx, operation{
		village: r.VillageID, actor: r.Actor, key: r.IdempotencyKey,
		hash: requestHash("capture", r.HoldID),
		plan: func(tx *gorm.DB, st Settings, now time.Time) (*plan, error) {
			return closeHold(tx, r.VillageID, r.HoldID, HoldCaptured, "", now)
		},
	})
}

// ReleaseRequest cancels an open hold.
type ReleaseRequest struct {
	VillageID      int64
	HoldID         int64
	Actor          Actor
	Reason         string
	IdempotencyKey string
}

// Release gives a hold's points back to the holder (redemption_release
// postings).
func (s *Store) Release(ctx context.Context, r ReleaseRequest) (*Result, error) {
	if err := validateReason(r.Reason, false); err != nil {
		return nil, err
	}
	return s.run(ctx, operation{
		village: r.VillageID, actor: r.Actor, key: r.IdempotencyKey,
		hash: requestHash("release", r.HoldID, r.Reason),
		plan: func(tx *gorm.DB, st Settings, now time.Time) (*plan, error) {
			return closeHold(tx, r.VillageID, r.HoldID, HoldReleased, r.Reason, now)
		},
	})
}

// closeHold locks an open hold, moves it to status and plans the postings
// that settle it. Capture, Release and ExpireHolds all come through here,
// so whichever locks the hold first wins and the others see it closed.
func closeHold(tx *gorm.DB, villageID, holdID int64, status HoldStatus, reason string, now time.Time) (*plan, error) {
	h, err := lockHold(tx, villageID, holdID)
	if err != nil {
		return nil, err
	}
	if h.Status != HoldOpen {
		if status == HoldExpired {
			return nil, errNothing
		}
		return nil, apperr.Newf(apperr.CodeConflict, "该冻结已%s", map[HoldStatus]string{
			HoldCaptured: "核销", HoldReleased: "解冻", HoldExpired: "超时解冻",
		}[h.Status])
	}
	expired := !now.Before(h.ExpiresAt)
	switch {
	case status == HoldCaptured && expired:
		return nil, apperr.New(apperr.CodeConflict, "冻结已超时，请重新兑换")
	case status == HoldExpired && !expired:
		return nil, errNothing
	}
	if err := tx.Exec("UPDATE ledger_holds SET status = ?, closed_at = ? WHERE id = ? AND status = ?",
		status, now, h.ID, HoldOpen).Error; err != nil {
		return nil, fmt.Errorf("ledger: close hold: %w", err)
	}
	h.Status, h.ClosedAt = status, now
	pl := &plan{hold: &h}
	for _, l := range h.Legs {
		p := Posting{
			Type: TypeRedemptionRelease, Track: l.Track,
			FromKind: h.Holder.held(), FromOwner: h.Holder.ID,
			ToKind: h.Holder.main(), ToOwner: h.Holder.ID,
			Amount: l.Amount, Source: h.Source, HoldID: h.ID, Reason: reason,
		}
		if status == HoldCaptured {
			p.Type, p.ToKind, p.ToOwner = TypeRedemptionCapture, KindRedeemed, 0
		}
		pl.postings = append(pl.postings, p)
	}
	return pl, nil
}

// ExpireHolds releases every hold whose time is up by now, each in its own
// transaction, and reports how many it released. It is safe to run on
// several replicas and alongside Capture: each hold is settled once.
func (s *Store) ExpireHolds(ctx context.Context, now time.Time) (int, error) {
	released := 0
	skip := map[int64]bool{}
	for {
		var due []struct {
			ID        int64
			VillageID int64
		}
		if err := s.db.WithContext(ctx).Raw(
			"SELECT id, village_id FROM ledger_holds WHERE status = ? AND expires_at <= ? ORDER BY expires_at, id LIMIT 200",
			HoldOpen, dbTime(now)).Scan(&due).Error; err != nil {
			return released, fmt.Errorf("ledger: find due holds: %w", err)
		}
		progress := false
		for _, d := range due {
			if skip[d.ID] {
				continue
			}
			skip[d.ID] = true
			progress = true
			res, err := s.run(ctx, operation{
				village: d.VillageID, actor: SystemActor, key: "hold-expiry:" + strconv.FormatInt(d.ID, 10),
				hash: requestHash("expire_hold", d.ID),
				plan: func(tx *gorm.DB, st Settings, txNow time.Time) (*plan, error) {
					return closeHold(tx, d.VillageID, d.ID, HoldExpired, "冻结超时自动解冻", dbTime(now))
				},
			})
			switch {
			case errors.Is(err, errNothing):
			case err != nil:
				return released, err
			case !res.Replayed:
				released++
			}
		}
		if !progress {
			return released, nil
		}
	}
}
