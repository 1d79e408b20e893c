package ledger

import (
	"context"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
)

// TrackBalance is a holder's standing in one track.
type TrackBalance struct {
	Track Track
	// Available is the balance of the holder's own account: what is left
	// after open holds took their share.
	Available int64
	// Held is frozen by open redemption holds.
	Held int64
	// Spendable says whether the village lets this track be redeemed.
	Spendable bool
}

// HolderBalance is what a resident (or household) sees as their points.
type HolderBalance struct {
	VillageID int64
	Holder    Holder
	// Tracks has one entry per track, in Tracks order.
	Tracks []TrackBalance
	// Available sums the own accounts of all tracks.
	Available int64
	// Spendable sums Available over spendable tracks: what a redemption
	// may draw on now (balance minus held, spendable tracks only).
	Spendable int64
	// Held sums points frozen by open holds.
	Held int64
	// Expiring lists, soonest first, when earned points will lapse under
	// the village's expiry policy (points already due are included until
	// the expiry job posts them).
	Expiring []ExpiringPoints
}

// Balance reads a holder's balances from the SQL cache, with upcoming
// expiry worked out from their postings.
func (s *Store) Balance(ctx context.Context, villageID int64, h Holder) (HolderBalance, error) {
	if err := firstErr(validateVillage(villageID), h.validate()); err != nil {
		return HolderBalance{}, err
	}
	db := s.db.WithContext(ctx)
	st, err := loadSettings(db, villageID)
	if err != nil {
		return HolderBalance{}, err
	}
	var rows []accountRow
	if err := db.Raw("SELECT * FROM ledger_accounts WHERE village_id = ? AND kind IN ? AND owner_id = ?",
		villageID, []AccountKind{h.main(), h.held()}, h.ID).Scan(&rows).Error; err != nil {
		return HolderBalance{}, fmt.Errorf("ledger: read balance: %w", err)
	}
	b := Balances{}
	for _, r := range rows {
		b[r.key()] = r.Balance
	}
	out := HolderBalance{VillageID: villageID, Holder: h}
	for _, t := range Tracks {
		tb := TrackBalance{
			Track:     t,
			Available: b[AccountKey{Kind: h.main(), Owner: h.ID, Track: t}],
			Held:      b[AccountKey{Kind: h.held(), Owner: h.ID, Track: t}],
			Spendable: st.spends(t),
		}
		out.Tracks = append(out.Tracks, tb)
		out.Available += tb.Available
		out.Held += tb.Held
		if tb.Spendable {
			out.Spendable += max(tb.Available, 0)
		}
	}
	if st.Expiry.Policy != ExpiryNone {
		ps, err := holderPostings(db, villageID, h, 0, 0)
		if err != nil {
			return HolderBalance{}, err
		}
		for track, moves := range movementsByTrack(ps, h.main(), h.ID) {
			out.Expiring = append(out.Expiring, upcoming(track, remainingLots(moves, st.Expiry, s.loc), time.Time{})...)
		}
		sort.Slice(out.Expiring, func(i, j int) bool {
			a, b := out.Expiring[i], out.Expiring[j]
			if !a.ExpiresAt.Equal(b.ExpiresAt) {
				return a.ExpiresAt.Before(b.ExpiresAt)
			}
			return a.Track < b.Track
		})
	}
	return out, nil
}

// HistoryQuery pages through a holder's postings, newest first.
type HistoryQuery struct {
	VillageID int64
	Holder    Holder
	// BeforeID is the cursor: only postings with a smaller id; 0 starts at
	// the newest.
	BeforeID int64
	// Limit is the page size, 20 by default and at most 100.
	Limit int
}

// HistoryEntry is one posting as the holder sees it.
type HistoryEntry struct {
	Posting Posting
	// Change is what the posting did to the holder's available points.
	Change int64
	// HeldChange is what it did to their held points.
	HeldChange int64
}

// HistoryPage is one page of history; NextBeforeID is the cursor of the
// next page, 0 at the end.
type HistoryPage struct {
	Entries      []HistoryEntry
	NextBeforeID int64
}

// History lists a holder's postings with their causes, newest first.
func (s *Store) History(ctx context.Context, q HistoryQuery) (HistoryPage, error) {
	if err := firstErr(validateVillage(q.VillageID), q.Holder.validate()); err != nil {
		return HistoryPage{}, err
	}
	if q.Limit <= 0 {
		q.Limit = 20
	}
	if q.Limit > 100 {
		return HistoryPage{}, apperr.Invalid("limit", "每页最多 100 条")
	}
	h := q.Holder
	ps, err := holderPostings(s.db.WithContext(ctx), q.VillageID, h, q.BeforeID, q.Limit+1)
	if err != nil {
		return HistoryPage{}, err
	}
	var page HistoryPage
	if len(ps) > q.Limit {
		ps = ps[:q.Limit]
		page.NextBeforeID = ps[len(ps)-1].ID
	}
	for _, p := range ps {
		e := HistoryEntry{Posting: p}
		for _, side := range []struct {
			kind  AccountKind
			owner int64
			sign  int64
		}{{p.FromKind, p.FromOwner, -1}, {p.ToKind, p.ToOwner, 1}} {
			switch {
			case side.owner != h.ID:
			case side.kind == h.main():
				e.Change += side.sign * p.Amount
			case side.kind == h.held():
				e.HeldChange += side.sign * p.Amount
			}
		}
		page.Entries = append(page.Entries, e)
	}
	return page, nil
}

// MonthTotal sums one type and track of postings in a month.
type MonthTotal struct {
	Type   PostingType
	Track  Track
	Count  int64
	Amount int64
}

// monthRange is a calendar month in loc as a half-open UTC interval.
func monthRange(year int, month time.Month, loc *time.Location) (time.Time, time.Time) {
	from := time.Date(year, month, 1, 0, 0, 0, 0, loc)
	return from.UTC(), from.AddDate(0, 1, 0).UTC()
}

// MonthTotals sums a village's postings of one month (village local time)
// by type and track, for the monthly notice 公示 and statistics.
func (s *Store) MonthTotals(ctx context.Context, villageID int64, year int, month time.Month) ([]MonthTotal, error) {
	if err := validateVillage(villageID); err != nil {
		return nil, err
	}
	if month < time.January || month > time.December {
		return nil, apperr.Invalid("month", "月份无效")
	}
	from, to := monthRange(year, month, s.loc)
	var rows []MonthTotal
	err := s.db.WithContext(ctx).Raw(`SELECT type, track, COUNT(*) AS count, SUM(amount) AS amount FROM ledger_postings
		WHERE village_id = ? AND created_at >= ? AND created_at < ? GROUP BY type, track ORDER BY type, track`,
		villageID, from, to).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("ledger: month totals: %w", err)
	}
	return rows, nil
}

// Balances returns every account balance of a village: holder accounts
// from their cached rows, system accounts as the Sealer's folded balance
// plus the postings it has not sealed yet. They always sum to zero.
func (s *Store) Balances(ctx context.Context, villageID int64) (Balances, error) {
	var b Balances
	err := s.snapshot(ctx, func(tx *gorm.DB) error {
		var rows []accountRow
		if err := tx.Raw("SELECT * FROM ledger_accounts WHERE village_id = ?", villageID).Scan(&rows).Error; err != nil {
			return fmt.Errorf("ledger: read balances: %w", err)
		}
		var unsealed []postingRow
		if err := tx.Raw("SELECT * FROM ledger_postings WHERE village_id = ? AND chain_seq IS NULL", villageID).Scan(&unsealed).Error; err != nil {
			return fmt.Errorf("ledger: read unsealed postings: %w", err)
		}
		b = combineBalances(rows, postingsOf(unsealed))
		return nil
	})
	return b, err
}

// combineBalances adds the unsealed postings' system-account effects to
// the cached rows (holder rows already include them).
func combineBalances(rows []accountRow, unsealed []Posting) Balances {
	b := Balances{}
	for _, r := range rows {
		b[r.key()] += r.Balance
	}
	for _, p := range unsealed {
		if p.FromKind.System() {
			b[p.From()] -= p.Amount
		}
		if p.ToKind.System() {
			b[p.To()] += p.Amount
		}
	}
	return b.nonZero()
}
