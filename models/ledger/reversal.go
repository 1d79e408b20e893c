package ledger

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/sqldb"
)

// ReverseRequest corrects a posting 冲正; Reason is required.
type ReverseRequest struct {
	VillageID      int64
	PostingID      int64
	Actor          Actor
	Reason         string
	IdempotencyKey string
}

// Reverse posts the mirror image of a posting, linked to it by ReversesID.
// A posting is reversed at most once: the unique index on reverses_id
// settles concurrent attempts, and the losers get CodeAlreadyReversed.
// Reversing an award whose points are already spent is refused with
// CodePointsShort, since no balance may go below zero.
func (s *Store) Reverse(ctx context.Context, r ReverseRequest) (*Result, error) {
	if err := validateReason(r.Reason, true); err != nil {
		return nil, err
	}
	if r.PostingID <= 0 {
		return nil, apperr.Invalid("posting_id", "流水编号无效")
	}
	return s.run(ctx, operation{
		village: r.VillageID, actor: r.Actor, key: r.IdempotencyKey,
		hash: requestHash("reverse", r.PostingID, r.Reason),
		plan: func(tx *gorm.DB, st Settings, now time.Time) (*plan, error) {
			// Locking the original makes concurrent reversals of it take
			// turns, so the losers see the winner's reversal below and get
			// CodeAlreadyReversed rather than a confusing balance refusal.
			orig, err := findPosting(sqldb.ForUpdate(tx), r.VillageID, r.PostingID)
			if err != nil {
				return nil, err
			}
			var done []int64
			if err := tx.Raw("SELECT id FROM ledger_postings WHERE reverses_id = ?", orig.ID).Scan(&done).Error; err != nil {
				return nil, fmt.Errorf("ledger: find reversal: %w", err)
			}
			if len(done) > 0 {
				return nil, alreadyReversed()
			}
			rev, err := reversalOf(orig, r.Actor, r.Reason)
			if err != nil {
				return nil, err
			}
			return &plan{postings: []Posting{rev}}, nil
		},
	})
}

func findPosting(db *gorm.DB, villageID, id int64) (Posting, error) {
	var rows []postingRow
	if err := db.Table("ledger_postings").Where("id = ? AND village_id = ?", id, villageID).Scan(&rows).Error; err != nil {
		return Posting{}, fmt.Errorf("ledger: load posting: %w", err)
	}
	if len(rows) == 0 {
		return Posting{}, apperr.NotFound("流水")
	}
	return rows[0].posting(), nil
}

// Posting returns one posting of a village.
func (s *Store) Posting(ctx context.Context, villageID, id int64) (Posting, error) {
	return findPosting(s.db.WithContext(ctx), villageID, id)
}
