package ledger

import (
	"context"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/villagepoints/jifen/models/sqldb"
)

// Rebuilder is a consumer whose state Rebuild can recompute from postings.
type Rebuilder interface {
	Consumer
	// Reset replaces the consumer's state for a village, atomically, with
	// balances b: the sum of the village's postings up to chain_seq seq.
	Reset(ctx context.Context, villageID int64, b Balances, seq int64) error
}

// Correction is one cached balance Rebuild had to change.
type Correction struct {
	Account AccountKey
	Was     int64
	Now     int64
}

// RebuildReport says what Rebuild found and did.
type RebuildReport struct {
	VillageID int64
	// Accounts is how many accounts the postings define.
	Accounts int
	// Corrected lists the SQL balances that differed from the postings;
	// empty when the cache was right.
	Corrected []Correction
	// Rebuilt names the consumers whose state was reset.
	Rebuilt []string
}

// Rebuild recomputes a village's derived state from its postings: the SQL
// balance cache (holder accounts from all postings, system accounts from
// sealed ones, as the Sealer keeps them) and then each given consumer's
// state (the Redis cache). It is safe to run while postings are being
// written: it locks the chain head (the Sealer waits) and the village's
// account rows (writers to those rows wait), and resets a consumer under
// that consumer's lock (its Relay waits).
func (s *Store) Rebuild(ctx context.Context, villageID int64, derived ...Rebuilder) (RebuildReport, error) {
	rep := RebuildReport{VillageID: villageID}
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		rep.Corrected, rep.Accounts = nil, 0
		now := s.clock()
		if _, err := lockHead(tx, villageID, now); err != nil {
			return err
		}
		var rows []accountRow
		q := tx.Table("ledger_accounts").Where("village_id = ?", villageID).Order("kind, owner_id, track")
		if err := sqldb.ForUpdate(q).Scan(&rows).Error; err != nil {
			return fmt.Errorf("ledger: lock accounts: %w", err)
		}
		want := Balances{}
		err := scanPostings(tx.Raw("SELECT * FROM ledger_postings WHERE village_id = ?", villageID), func(p Posting) error {
			for _, side := range []struct {
				k AccountKey
				d int64
			}{{p.From(), -p.Amount}, {p.To(), p.Amount}} {
				if side.k.Kind.System() && !p.Sealed() {
					continue // the Sealer has not folded it in yet
				}
				want[side.k] += side.d
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("ledger: sum postings: %w", err)
		}
		rep.Accounts = len(want)
		have := map[AccountKey]bool{}
		for _, r := range rows {
			k := r.key()
			have[k] = true
			if r.Balance == want[k] {
				continue
			}
			rep.Corrected = append(rep.Corrected, Correction{Account: k, Was: r.Balance, Now: want[k]})
			if err := tx.Exec("UPDATE ledger_accounts SET balance = ?, updated_at = ? WHERE village_id = ? AND kind = ? AND owner_id = ? AND track = ?",
				want[k], now, villageID, k.Kind, k.Owner, k.Track).Error; err != nil {
				return fmt.Errorf("ledger: correct balance: %w", err)
			}
		}
		for _, k := range sortedKeys(want) {
			if have[k] || want[k] == 0 {
				continue
			}
			// A writer may have created the row since the lock was taken;
			// its own update is then already right.
			row := accountRow{VillageID: villageID, Kind: string(k.Kind), OwnerID: k.Owner, Track: string(k.Track), Balance: want[k], UpdatedAt: now}
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
			if res.Error != nil {
				return fmt.Errorf("ledger: restore balance row: %w", res.Error)
			}
			if res.RowsAffected > 0 {
				rep.Corrected = append(rep.Corrected, Correction{Account: k, Now: want[k]})
			}
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	for _, d := range derived {
		if err := s.rebuildConsumer(ctx, villageID, d); err != nil {
			return rep, err
		}
		rep.Rebuilt = append(rep.Rebuilt, d.Name())
	}
	return rep, nil
}

// rebuildConsumer resets one consumer's state for a village. Under the
// consumer's lock (its Relay waits) it sums the village's postings up to
// the chain head, hands the sums to Reset and sets the cursor to the head;
// later postings reach the consumer through the Relay as usual.
func (s *Store) rebuildConsumer(ctx context.Context, villageID int64, d Rebuilder) error {
	name := d.Name()
	return s.inTx(ctx, func(tx *gorm.DB) error {
		now := s.clock()
		if err := lockConsumer(tx, name, now); err != nil {
			return err
		}
		var heads []int64
		if err := tx.Raw("SELECT seq FROM ledger_chain_heads WHERE village_id = ?", villageID).Scan(&heads).Error; err != nil {
			return fmt.Errorf("ledger: read chain head: %w", err)
		}
		var head int64
		if len(heads) == 1 {
			head = heads[0]
		}
		b := Balances{}
		err := scanPostings(tx.Raw("SELECT * FROM ledger_postings WHERE village_id = ? AND chain_seq <= ?", villageID, head),
			func(p Posting) error {
				b.Apply(p)
				return nil
			})
		if err != nil {
			return fmt.Errorf("ledger: sum sealed postings: %w", err)
		}
		if err := d.Reset(ctx, villageID, b.nonZero(), head); err != nil {
			return err
		}
		return setCursor(tx, name, villageID, head, now)
	})
}
