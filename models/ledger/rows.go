package ledger

import (
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/sqldb"
)

// postingRow is a ledger_postings row as gorm reads and writes it.
type postingRow struct {
	ID          int64 `gorm:"primaryKey"`
	VillageID   int64
	RequestID   int64
	Leg         int
	RequestHash int64
	Type        string
	Track       string
	FromKind    string
	FromOwner   int64
	ToKind      string
	ToOwner     int64
	HolderKind  string
	HolderID    int64
	Amount      int64
	SourceType  string
	SourceID    int64
	Actor       string
	Reason      string
	ReversesID  *int64
	HoldID      *int64
	CreatedAt   time.Time
	ChainSeq    *int64
	PrevHash    string
	Hash        string
}

func (postingRow) TableName() string { return "ledger_postings" }

func (r postingRow) posting() Posting {
	p := Posting{
		ID:        r.ID,
		VillageID: r.VillageID,
		Type:      PostingType(r.Type),
		Track:     Track(r.Track),
		FromKind:  AccountKind(r.FromKind),
		FromOwner: r.FromOwner,
		ToKind:    AccountKind(r.ToKind),
		ToOwner:   r.ToOwner,
		Holder:    Holder{Kind: HolderKind(r.HolderKind), ID: r.HolderID},
		Amount:    r.Amount,
		Source:    Source{Type: r.SourceType, ID: r.SourceID},
		Actor:     Actor(r.Actor),
		Reason:    r.Reason,
		RequestID: r.RequestID,
		CreatedAt: r.CreatedAt.UTC(),

		leg:         r.Leg,
		requestHash: r.RequestHash,
	}
	if r.ReversesID != nil {
		p.ReversesID = *r.ReversesID
	}
	if r.HoldID != nil {
		p.HoldID = *r.HoldID
	}
	if r.ChainSeq != nil {
		p.ChainSeq = *r.ChainSeq
	}
	p.PrevHash, p.Hash = r.PrevHash, r.Hash
	return p
}

func rowOf(p Posting) postingRow {
	r := postingRow{
		ID:          p.ID,
		VillageID:   p.VillageID,
		Type:        string(p.Type),
		Track:       string(p.Track),
		FromKind:    string(p.FromKind),
		FromOwner:   p.FromOwner,
		ToKind:      string(p.ToKind),
		ToOwner:     p.ToOwner,
		HolderKind:  string(p.Holder.Kind),
		HolderID:    p.Holder.ID,
		Amount:      p.Amount,
		SourceType:  p.Source.Type,
		SourceID:    p.Source.ID,
		Actor:       string(p.Actor),
		Reason:      p.Reason,
		RequestID:   p.RequestID,
		Leg:         p.leg,
		RequestHash: p.requestHash,
		CreatedAt:   p.CreatedAt,
	}
	if p.ReversesID != 0 {
		r.ReversesID = &p.ReversesID
	}
	if p.HoldID != 0 {
		r.HoldID = &p.HoldID
	}
	return r
}

func postingsOf(rows []postingRow) []Posting {
	out := make([]Posting, len(rows))
	for i, r := range rows {
		out[i] = r.posting()
	}
	return out
}

// scanPostings streams the postings a query returns to fn, so a whole
// village's history never sits in memory at once.
func scanPostings(q *gorm.DB, fn func(Posting) error) error {
	rows, err := q.Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r postingRow
		if err := q.ScanRows(rows, &r); err != nil {
			return err
		}
		if err := fn(r.posting()); err != nil {
			return err
		}
	}
	return rows.Err()
}

// accountRow is a ledger_accounts row: a cached balance.
type accountRow struct {
	VillageID int64  `gorm:"primaryKey;autoIncrement:false"`
	Kind      string `gorm:"primaryKey"`
	OwnerID   int64  `gorm:"primaryKey;autoIncrement:false"`
	Track     string `gorm:"primaryKey"`
	Balance   int64
	UpdatedAt time.Time
}

func (accountRow) TableName() string { return "ledger_accounts" }

func (r accountRow) key() AccountKey {
	return AccountKey{Kind: AccountKind(r.Kind), Owner: r.OwnerID, Track: Track(r.Track)}
}

// exec runs one fixed statement on the transaction's connection, prepared
// once per connection and skipping gorm's statement building: the posting
// path runs a handful of these per request, and on a small machine the
// client's CPU and the round trips count as much as the server's work.
// The SQL must be plain (no slice arguments to expand).
func (s *Store) exec(tx *gorm.DB, q string, args ...any) (sql.Result, error) {
	return s.stmts.Exec(tx, q, args...)
}

const (
	accountAddSQL = `UPDATE ledger_accounts SET balance = balance + ?, updated_at = ?
		WHERE village_id = ? AND kind = ? AND owner_id = ? AND track = ?`
	accountInsertSQL = `INSERT INTO ledger_accounts (village_id, kind, owner_id, track, balance, updated_at) VALUES (?, ?, ?, ?, ?, ?)`
	// accountDebitSQL takes an amount only if the balance covers it.
	accountDebitSQL = `UPDATE ledger_accounts SET balance = balance - ?, updated_at = ?
		WHERE village_id = ? AND kind = ? AND owner_id = ? AND track = ? AND balance >= ?`
	// accountMoveSQL moves an amount between two accounts of one holder
	// and track: the giving row changes only if its balance covers it,
	// the receiving row whenever it exists (see moveCovered).
	accountMoveSQL = `UPDATE ledger_accounts SET balance = balance + CASE WHEN kind = ? THEN ? ELSE ? END, updated_at = ?
		WHERE village_id = ? AND owner_id = ? AND track = ? AND kind IN (?, ?) AND (kind = ? OR balance >= ?)`
	accountExistsSQL = `SELECT COUNT(*) FROM ledger_accounts WHERE village_id = ? AND kind = ? AND owner_id = ? AND track = ?`
)

// addToAccount adds delta (non-zero) to an account's cached balance,
// creating the row on first use. It takes no balance check; callers that
// must not go below zero use debitCovered.
func (s *Store) addToAccount(tx *gorm.DB, villageID int64, k AccountKey, delta int64, now time.Time) error {
	for range 2 {
		res, err := s.exec(tx, accountAddSQL, delta, now, villageID, k.Kind, k.Owner, k.Track)
		if err != nil {
			return fmt.Errorf("ledger: update balance of %s: %w", k, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		_, err = s.exec(tx, accountInsertSQL, villageID, k.Kind, k.Owner, k.Track, delta, now)
		if err == nil {
			return nil
		}
		if !sqldb.IsDuplicateKey(err) {
			return fmt.Errorf("ledger: create account %s: %w", k, err)
		}
		// Another transaction created the row meanwhile: update it.
	}
	return fmt.Errorf("ledger: account %s neither updates nor inserts", k)
}

// debitCovered takes amount from an account only if its balance covers it,
// in one statement that also locks the row. It reports whether it did.
func (s *Store) debitCovered(tx *gorm.DB, villageID int64, k AccountKey, amount int64, now time.Time) (bool, error) {
	res, err := s.exec(tx, accountDebitSQL, amount, now, villageID, k.Kind, k.Owner, k.Track, amount)
	if err != nil {
		return false, fmt.Errorf("ledger: debit %s: %w", k, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// moveCovered moves amount from one account to another of the same owner
// and track (a holder's points to their held account) only if the giving
// balance covers it, and reports whether it did. It is debitCovered and
// addToAccount in one statement, which locks the two rows in key order as
// applyHolderDeltas would. One changed row is resolved by whether the
// receiving row exists: if it does, it took the amount the giver did not
// cover, and gives it back; if not, the giver paid and the row is created.
// Nobody creates the receiving row between the statement and that check:
// a held account is only ever created by a hold, under its holder's
// account row, which the statement holds locked once it has changed it.
func (s *Store) moveCovered(tx *gorm.DB, villageID int64, from, to AccountKey, amount int64, now time.Time) (bool, error) {
	res, err := s.exec(tx, accountMoveSQL, from.Kind, -amount, amount, now,
		villageID, from.Owner, from.Track, from.Kind, to.Kind, to.Kind, amount)
	if err != nil {
		return false, fmt.Errorf("ledger: move %s to %s: %w", from, to, err)
	}
	n, err := res.RowsAffected()
	if err != nil || n != 1 {
		return n == 2, err
	}
	var exists int64
	if err := tx.Raw(accountExistsSQL, villageID, to.Kind, to.Owner, to.Track).Scan(&exists).Error; err != nil {
		return false, fmt.Errorf("ledger: read account %s: %w", to, err)
	}
	if exists == 0 {
		return true, s.addToAccount(tx, villageID, to, amount, now)
	}
	return false, s.addToAccount(tx, villageID, to, -amount, now)
}

// accountBalance reads one cached balance; a missing row is zero.
func accountBalance(tx *gorm.DB, villageID int64, k AccountKey) (int64, error) {
	var bs []int64
	err := tx.Raw("SELECT balance FROM ledger_accounts WHERE village_id = ? AND kind = ? AND owner_id = ? AND track = ?",
		villageID, k.Kind, k.Owner, k.Track).Scan(&bs).Error
	if err != nil || len(bs) == 0 {
		return 0, err
	}
	return bs[0], nil
}

// holderPostings lists a holder's postings, newest first: all of them, or
// a page of limit below beforeID.
func holderPostings(db *gorm.DB, villageID int64, h Holder, beforeID int64, limit int) ([]Posting, error) {
	q := "SELECT * FROM ledger_postings WHERE village_id = ? AND holder_id = ? AND holder_kind = ?"
	args := []any{villageID, h.ID, h.Kind}
	if beforeID > 0 {
		q += " AND id < ?"
		args = append(args, beforeID)
	}
	q += " ORDER BY id DESC"
	if limit > 0 {
		q += " LIMIT " + strconv.Itoa(limit)
	}
	var rows []postingRow
	if err := db.Raw(q, args...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("ledger: postings of %s: %w", h, err)
	}
	return postingsOf(rows), nil
}
