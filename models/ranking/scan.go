package ranking

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/villagepoints/jifen/models/ledger"
)

// The rankings read the ledger's postings table directly, read-only, in
// chain order: a rebuild needs every sealed posting of a village up to a
// chain_seq with only a few columns, faster than the ledger's exported
// queries (which serve one holder at a time) allow.

// chainHead returns a village's last sealed chain_seq (0 if none).
func (s *Service) chainHead(ctx context.Context, village int64) (int64, error) {
	var heads []int64
	if err := s.db.WithContext(ctx).Raw("SELECT seq FROM ledger_chain_heads WHERE village_id = ?", village).Scan(&heads).Error; err != nil {
		return 0, fmt.Errorf("ranking: read chain head: %w", err)
	}
	if len(heads) == 0 {
		return 0, nil
	}
	return heads[0], nil
}

// scanned is one posting as a scan hands it over: the posting, and for a
// reversal the time and type of the posting it reverses.
type scanned struct {
	ledger.Posting
	OrigAt   time.Time
	OrigType ledger.PostingType
}

// scanVillage streams a village's sealed postings up to chain_seq head in
// chain order. A reversal always comes after what it reverses (that was
// sealed first), so the originals are remembered on the way.
func (s *Service) scanVillage(ctx context.Context, village, head int64, fn func(scanned)) (int64, error) {
	rows, err := s.db.WithContext(ctx).Raw(`SELECT id, chain_seq, type, track, from_kind, from_owner, to_kind, to_owner, amount, created_at, reverses_id
		FROM ledger_postings WHERE village_id = ? AND chain_seq IS NOT NULL AND chain_seq <= ? ORDER BY chain_seq`, village, head).Rows()
	if err != nil {
		return 0, fmt.Errorf("ranking: read postings: %w", err)
	}
	defer rows.Close()
	type orig struct {
		at  time.Time
		typ ledger.PostingType
	}
	origins := map[int64]orig{}
	var n int64
	for rows.Next() {
		var p ledger.Posting
		var typ, track, fromKind, toKind string
		var reverses sql.NullInt64
		if err := rows.Scan(&p.ID, &p.ChainSeq, &typ, &track, &fromKind, &p.FromOwner, &toKind, &p.ToOwner, &p.Amount, &p.CreatedAt, &reverses); err != nil {
			return n, fmt.Errorf("ranking: scan posting: %w", err)
		}
		p.VillageID = village
		p.Type, p.Track = ledger.PostingType(typ), ledger.Track(track)
		p.FromKind, p.ToKind = ledger.AccountKind(fromKind), ledger.AccountKind(toKind)
		p.CreatedAt = p.CreatedAt.UTC()
		sc := scanned{Posting: p}
		if reverses.Valid {
			sc.Posting.ReversesID = reverses.Int64
			o := origins[reverses.Int64]
			sc.OrigAt, sc.OrigType = o.at, o.typ
		} else if p.Type != ledger.TypeRedemptionHold && p.Type != ledger.TypeRedemptionRelease && p.Type != ledger.TypeExpiry {
			origins[p.ID] = orig{at: p.CreatedAt, typ: p.Type}
		}
		fn(sc)
		n++
	}
	return n, rows.Err()
}
