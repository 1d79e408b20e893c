package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Result is what a write returns: the postings it created (in order) and,
// for hold operations, the hold. A retry with the same idempotency key
// returns the original postings with Replayed set.
type Result struct {
	Postings []Posting
	Hold     *Hold
	Replayed bool
}

// operation is one use case that creates postings, run by Store.run.
type operation struct {
	village int64
	actor   Actor
	key     string
	// hash fingerprints the request (operation name and fields), so a
	// reused key with a different request is told apart from a retry.
	hash int64
	// plan reads what it needs inside the transaction (locking what decides
	// the write) and says what to post. It must have no effect outside tx.
	plan func(tx *gorm.DB, st Settings, now time.Time) (*plan, error)
}

// plan is what an operation posts.
type plan struct {
	postings []Posting
	// mayGoNegative lists holder accounts this plan may take below zero
	// (rule deductions in villages that allow it).
	mayGoNegative map[AccountKey]bool
	hold          *Hold
	// applied is what the plan already did to holder balances (a spend's
	// conditional debit, which checks and takes in one statement); the
	// rest of the postings' deltas is applied after they are inserted.
	applied Balances
}

// errDuplicate means a posting hit a unique index (the request's key, or
// reverses_id); errNothing that a job found nothing to post. Neither leaves
// the package.
var (
	errDuplicate = errors.New("ledger: duplicate posting")
	errNothing   = errors.New("ledger: nothing to post")
)

// requestHash fingerprints a request from its operation name and fields:
// the first 63 bits of a sha256 over their JSON.
func requestHash(name string, fields ...any) int64 {
	b, err := json.Marshal(append([]any{name}, fields...))
	if err != nil {
		panic(err)
	}
	return hash63(b)
}

// requestID names a request by its idempotency scope (village, actor,
// key). Postings carry it with their leg number under a unique index, so
// the first posting of a request claims its key.
func requestID(villageID int64, actor Actor, key string) int64 {
	return hash63([]byte(strconv.FormatInt(villageID, 10) + "\x00" + string(actor) + "\x00" + key))
}

func hash63(b []byte) int64 {
	sum := sha256.Sum256(b)
	return int64(binary.BigEndian.Uint64(sum[:8]) >> 1)
}

// run executes an operation as one transaction: plan, insert the postings,
// update the holder balances. An award is two statements, locking only the
// request's key and the holder's own account row.
//
// The postings are also the request's idempotency record (the first one's
// insert claims the key through a unique index, so a concurrent duplicate
// waits there and then replays), its stored result, and the outbox
// (consumers read them in chain order); none of that costs a statement of
// its own. A refused request stores nothing, so the same key may be sent
// again once the refusal no longer holds. An operation whose plan locks
// rows first (a spend, a hold being settled, a reversal) may see the
// effect of its own duplicate that committed while it waited; a refusal
// therefore first looks whether the key has been used meanwhile, and if so
// replays.
func (s *Store) run(ctx context.Context, o operation) (*Result, error) {
	if err := validateVillage(o.village); err != nil {
		return nil, err
	}
	if err := o.actor.validate(); err != nil {
		return nil, err
	}
	if err := validateKey(o.key); err != nil {
		return nil, err
	}
	reqID := requestID(o.village, o.actor, o.key)
	if s.outer != nil {
		return s.runIn(ctx, s.outer, o, reqID)
	}
	var res *Result
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var err error
		res, _, err = s.attempt(tx, o, reqID)
		return err
	})
	var refusal *apperr.Error
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, errDuplicate), errors.As(err, &refusal):
		prev, lerr := s.requestPostings(s.db.WithContext(ctx), o.village, reqID)
		if lerr != nil {
			return nil, lerr
		}
		if len(prev) > 0 {
			return s.replay(s.db.WithContext(ctx), o, prev)
		}
		if errors.Is(err, errDuplicate) {
			return nil, alreadyReversed() // the only other unique index
		}
	}
	return nil, err
}

// runIn is run inside the caller's transaction (see In). A duplicate key
// is looked up in that same transaction: MySQL and SQLite roll back only
// the failed statement, so the transaction stays usable, once what the
// plan wrote before the postings (a hold row, a spend's debit) is undone.
func (s *Store) runIn(ctx context.Context, tx *gorm.DB, o operation, reqID int64) (*Result, error) {
	tx = tx.WithContext(ctx)
	res, pl, err := s.attempt(tx, o, reqID)
	if !errors.Is(err, errDuplicate) {
		return res, err
	}
	if err := s.undoPlan(tx, o.village, pl); err != nil {
		return nil, err
	}
	prev, lerr := s.requestPostings(tx, o.village, reqID)
	if lerr != nil {
		return nil, lerr
	}
	if len(prev) > 0 {
		return s.replay(tx, o, prev)
	}
	return nil, alreadyReversed()
}

// attempt plans an operation and writes its postings and balance updates
// in tx. On errDuplicate it returns the plan, whose own writes the caller
// undoes unless it rolls back.
func (s *Store) attempt(tx *gorm.DB, o operation, reqID int64) (*Result, *plan, error) {
	now := s.clock()
	st, err := s.settingsFor(tx, o.village)
	if err != nil {
		return nil, nil, err
	}
	pl, err := o.plan(tx, st, now)
	if err != nil {
		return nil, nil, err
	}
	if len(pl.postings) == 0 {
		return nil, nil, errNothing
	}
	ps, err := s.insertPostings(tx, o, reqID, pl.postings, now)
	if err != nil {
		return nil, pl, err
	}
	if err := s.applyHolderDeltas(tx, o.village, pl, now); err != nil {
		return nil, nil, err
	}
	return &Result{Postings: ps, Hold: pl.hold}, nil, nil
}

// undoPlan takes back what a plan wrote before its postings were refused
// as a duplicate, inside a transaction that goes on: its debits and its
// hold row. No other transaction has seen either.
func (s *Store) undoPlan(tx *gorm.DB, villageID int64, pl *plan) error {
	if pl == nil {
		return nil
	}
	now := s.clock()
	for _, k := range sortedKeys(pl.applied) {
		if err := s.addToAccount(tx, villageID, k, -pl.applied[k], now); err != nil {
			return err
		}
	}
	if pl.hold != nil {
		if _, err := s.exec(tx, "DELETE FROM ledger_holds WHERE id = ?", pl.hold.ID); err != nil {
			return fmt.Errorf("ledger: undo hold: %w", err)
		}
	}
	return nil
}

// requestPostings loads the postings a request wrote, in leg order.
func (s *Store) requestPostings(db *gorm.DB, villageID, reqID int64) ([]Posting, error) {
	var rows []postingRow
	if err := db.Raw("SELECT * FROM ledger_postings WHERE village_id = ? AND request_id = ? ORDER BY leg",
		villageID, reqID).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("ledger: load request's postings: %w", err)
	}
	return postingsOf(rows), nil
}

// replay answers a request whose key is already used, given the postings
// that used it: the original result if the request is the same,
// CodeIdempotency if it is not.
func (s *Store) replay(db *gorm.DB, o operation, prev []Posting) (*Result, error) {
	if prev[0].Actor != o.actor || prev[0].requestHash != o.hash {
		return nil, apperr.New(apperr.CodeIdempotency, "该幂等键已用于另一个请求，请勿更改后重复提交")
	}
	res := &Result{Postings: prev, Replayed: true}
	if id := prev[0].HoldID; id != 0 {
		h, err := loadHold(db, o.village, id)
		if err != nil {
			return nil, err
		}
		res.Hold = &h
	}
	return res, nil
}

// applyHolderDeltas updates the cached balances of the holder accounts a
// plan touches, in key order so concurrent plans lock rows in one order. A
// debit that the balance does not cover is refused with CodePointsShort,
// unless the plan allows that account to go negative.
func (s *Store) applyHolderDeltas(tx *gorm.DB, villageID int64, pl *plan, now time.Time) error {
	deltas := holderDeltas(pl.postings)
	for k, d := range pl.applied {
		deltas[k] -= d
	}
	for _, k := range sortedKeys(deltas.nonZero()) {
		d := deltas[k]
		if d > 0 || pl.mayGoNegative[k] {
			if err := s.addToAccount(tx, villageID, k, d, now); err != nil {
				return err
			}
			continue
		}
		ok, err := s.debitCovered(tx, villageID, k, -d, now)
		if err != nil {
			return err
		}
		if !ok {
			bal, err := accountBalance(tx, villageID, k)
			if err != nil {
				return err
			}
			return pointsShort(bal, -d)
		}
	}
	return nil
}

const postingInsertSQL = `INSERT INTO ledger_postings (village_id, request_id, leg, request_hash, type, track,
	from_kind, from_owner, to_kind, to_owner, holder_kind, holder_id, amount, source_type, source_id, actor, reason,
	reverses_id, hold_id, created_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insertPostings writes a plan's postings and returns them with ids. The
// first insert claims the request's key.
func (s *Store) insertPostings(tx *gorm.DB, o operation, requestID int64, ps []Posting, now time.Time) ([]Posting, error) {
	out := make([]Posting, len(ps))
	for i, p := range ps {
		p.VillageID = o.village
		p.Actor = o.actor
		p.RequestID = requestID
		p.leg, p.requestHash = i, o.hash
		p.CreatedAt = now
		h, ok := holderOf(p)
		if !ok {
			return nil, fmt.Errorf("ledger: posting %s → %s concerns no holder", p.From(), p.To())
		}
		p.Holder = h
		r := rowOf(p)
		res, err := s.exec(tx, postingInsertSQL, r.VillageID, r.RequestID, r.Leg, r.RequestHash, r.Type, r.Track,
			r.FromKind, r.FromOwner, r.ToKind, r.ToOwner, r.HolderKind, r.HolderID, r.Amount, r.SourceType, r.SourceID,
			r.Actor, r.Reason, r.ReversesID, r.HoldID, r.CreatedAt)
		if sqldb.IsDuplicateKey(err) {
			return nil, errDuplicate
		}
		if err != nil {
			return nil, fmt.Errorf("ledger: insert posting: %w", err)
		}
		if p.ID, err = res.LastInsertId(); err != nil {
			return nil, fmt.Errorf("ledger: posting id: %w", err)
		}
		out[i] = p
	}
	return out, nil
}

func alreadyReversed() error {
	return apperr.New(apperr.CodeAlreadyReversed, "该流水已冲正，不能重复冲正")
}
