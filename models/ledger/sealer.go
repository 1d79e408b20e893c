package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/villagepoints/jifen/models/sqldb"
)

// Sealer adds postings to their village's hash chain, off the request path.
// Writers never wait for it: a posting is written unsealed, and the Sealer
// later gives it the next chain_seq, the previous posting's hash and its own
// hash. The chain order is the seal order (auto-increment ids may commit out
// of order). Each batch locks the village's chain-head row, so several
// replicas can run Sealers safely. The Sealer also folds sealed postings
// into the cached balances of the village's system accounts, which are
// therefore never a hot row on the write path.
type Sealer struct {
	store *Store
	// Batch is how many postings one transaction seals (default 200).
	Batch int
	// Workers is how many villages SealAll seals at once (default 4);
	// villages' chains are independent.
	Workers int
}

// NewSealer returns a Sealer for the store's database.
func NewSealer(s *Store) *Sealer { return &Sealer{store: s, Batch: 200, Workers: 4} }

type chainHead struct {
	VillageID int64 `gorm:"primaryKey;autoIncrement:false"`
	Seq       int64
	Hash      string
	UpdatedAt time.Time
}

func (chainHead) TableName() string { return "ledger_chain_heads" }

// lockHead creates the village's chain head if needed and locks it.
func lockHead(tx *gorm.DB, villageID int64, now time.Time) (chainHead, error) {
	head := chainHead{VillageID: villageID, Hash: GenesisHash, UpdatedAt: now}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&head).Error; err != nil {
		return head, fmt.Errorf("ledger: create chain head: %w", err)
	}
	var heads []chainHead
	if err := sqldb.ForUpdate(tx.Table("ledger_chain_heads").Where("village_id = ?", villageID)).Scan(&heads).Error; err != nil {
		return head, fmt.Errorf("ledger: lock chain head: %w", err)
	}
	if len(heads) != 1 {
		return head, errors.New("ledger: chain head vanished")
	}
	return heads[0], nil
}

// SealVillage seals every posting of the village that is unsealed when it
// starts, in batches, and reports how many it sealed.
func (z *Sealer) SealVillage(ctx context.Context, villageID int64) (int, error) {
	total := 0
	for {
		n, err := z.sealBatch(ctx, villageID)
		total += n
		if err != nil || n < z.batch() {
			return total, err
		}
	}
}

func (z *Sealer) batch() int {
	if z.Batch <= 0 {
		return 200
	}
	return z.Batch
}

func (z *Sealer) sealBatch(ctx context.Context, villageID int64) (int, error) {
	s := z.store
	sealed := 0
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		sealed = 0
		now := s.clock()
		head, err := lockHead(tx, villageID, now)
		if err != nil {
			return err
		}
		var rows []postingRow
		if err := tx.Raw("SELECT * FROM ledger_postings WHERE village_id = ? AND chain_seq IS NULL ORDER BY id LIMIT ?",
			villageID, z.batch()).Scan(&rows).Error; err != nil {
			return fmt.Errorf("ledger: read unsealed postings: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		ps := make([]Posting, len(rows))
		system := Balances{}
		for i, r := range rows {
			p := seal(r.posting(), head.Seq, head.Hash)
			head.Seq, head.Hash = p.ChainSeq, p.Hash
			ps[i] = p
			if p.FromKind.System() {
				system[p.From()] -= p.Amount
			}
			if p.ToKind.System() {
				system[p.To()] += p.Amount
			}
		}
		if err := writeChain(tx, ps); err != nil {
			return err
		}
		for _, k := range sortedKeys(system.nonZero()) {
			if err := s.addToAccount(tx, villageID, k, system[k], now); err != nil {
				return err
			}
		}
		if err := tx.Exec("UPDATE ledger_chain_heads SET seq = ?, hash = ?, updated_at = ? WHERE village_id = ?",
			head.Seq, head.Hash, now, villageID).Error; err != nil {
			return fmt.Errorf("ledger: move chain head: %w", err)
		}
		sealed = len(ps)
		return nil
	})
	return sealed, err
}

// writeChain fills the chain columns of a batch in one statement.
func writeChain(tx *gorm.DB, ps []Posting) error {
	var seq, prev, hash strings.Builder
	var seqArgs, prevArgs, hashArgs []any
	ids := make([]int64, len(ps))
	for i, p := range ps {
		seq.WriteString(" WHEN ? THEN ?")
		prev.WriteString(" WHEN ? THEN ?")
		hash.WriteString(" WHEN ? THEN ?")
		seqArgs = append(seqArgs, p.ID, p.ChainSeq)
		prevArgs = append(prevArgs, p.ID, p.PrevHash)
		hashArgs = append(hashArgs, p.ID, p.Hash)
		ids[i] = p.ID
	}
	q := "UPDATE ledger_postings SET chain_seq = CASE id" + seq.String() + " END, prev_hash = CASE id" + prev.String() +
		" END, hash = CASE id" + hash.String() + " END WHERE id IN ? AND chain_seq IS NULL"
	args := append(append(append(seqArgs, prevArgs...), hashArgs...), ids)
	res := tx.Exec(q, args...)
	if res.Error != nil {
		return fmt.Errorf("ledger: seal postings: %w", res.Error)
	}
	if res.RowsAffected != int64(len(ps)) {
		return fmt.Errorf("ledger: sealed %d of %d postings", res.RowsAffected, len(ps))
	}
	return nil
}

// SealAll seals the unsealed postings of every village. MySQL/MariaDB find
// the villages by a loose scan of the chain index (one step per village);
// SQLite scans that index, which suits the embedded mode's size.
func (z *Sealer) SealAll(ctx context.Context) (int, error) {
	n, _, err := z.sealAll(ctx)
	return n, err
}

// sealAll also reports whether a village filled a whole batch, a sign that
// postings arrive faster than the interval lets them gather.
func (z *Sealer) sealAll(ctx context.Context) (int, bool, error) {
	var villages []int64
	if err := z.store.db.WithContext(ctx).Raw("SELECT DISTINCT village_id FROM ledger_postings WHERE chain_seq IS NULL").
		Scan(&villages).Error; err != nil {
		return 0, false, fmt.Errorf("ledger: find unsealed villages: %w", err)
	}
	var (
		mu       sync.Mutex
		total    int
		backlog  bool
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan int64)
	)
	for range max(z.Workers, 1) {
		wg.Go(func() {
			for v := range next {
				n, err := z.SealVillage(ctx, v)
				mu.Lock()
				total += n
				backlog = backlog || n >= z.batch()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	for _, v := range villages {
		next <- v
	}
	close(next)
	wg.Wait()
	return total, backlog, firstErr
}

// Run seals every interval until ctx ends, at once again while villages
// fill whole batches. Waiting for the interval otherwise lets postings
// gather, so a busy ledger is sealed in few, large transactions; the
// interval (say 500ms) is how long a posting may stay outside the chain and
// unseen by consumers. Errors are logged and retried at the next tick; the
// chain simply waits.
func (z *Sealer) Run(ctx context.Context, interval time.Duration) {
	for {
		_, backlog, err := z.sealAll(ctx)
		if err != nil && ctx.Err() == nil {
			slog.Warn("ledger: sealer", "err", err)
		}
		if backlog && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
