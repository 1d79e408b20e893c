package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/villagepoints/jifen/models/sqldb"
)

// The outbox 事件出口 is the postings table itself, read in chain order.
// A posting is written in its use case's transaction; the Sealer then gives
// it its place in the village's chain (chain_seq: gapless, never reordered,
// unlike auto-increment ids that commit out of order). Each consumer keeps
// a cursor per village, the last chain_seq delivered to it, so a consumer
// added later simply starts from the beginning. Consumers therefore see a
// posting once it is sealed, which the Sealer does within its interval.

// BalancesConsumer is the consumer that keeps the Redis balance cache.
const BalancesConsumer = "balances"

// Event is one sealed posting delivered to a consumer; Posting.ChainSeq is
// its place in the village's stream.
type Event struct {
	Consumer string
	Posting  Posting
}

// Consumer receives ledger events: the Redis balance cache today,
// leaderboards and notifications later. Name is stable and unique; it keys
// the consumer's cursors. Deliver gets one village's events in chain order.
// It may be given events again after a crash (between delivering them and
// recording the cursor), so its effect must be idempotent: for example,
// remember the last chain_seq applied per village and skip what is not
// newer, which is what RedisBalances does.
type Consumer interface {
	Name() string
	Deliver(ctx context.Context, villageID int64, events []Event) error
}

// TxConsumer is a Consumer whose effects are rows in the ledger's own
// database (queued notifications, say). The Relay hands it the transaction
// that moves its cursor, so its writes commit exactly when the cursor
// moves: each event takes effect once, and the consumer needs no
// connection of its own (SQLite has one).
type TxConsumer interface {
	Consumer
	DeliverTx(ctx context.Context, tx *gorm.DB, villageID int64, events []Event) error
}

// ErrStale is returned by a Consumer whose state is behind the events it is
// given (its store was lost, as when Redis is flushed). A Relay answers it
// by rebuilding the consumer's state for that village if the consumer is a
// Rebuilder.
var ErrStale = errors.New("ledger: consumer state is behind its cursor")

// Relay delivers sealed postings to one consumer and advances its cursors.
// Each batch locks the consumer's row, so relay replicas take turns and
// Rebuild can reset the consumer's state between batches.
type Relay struct {
	store    *Store
	consumer Consumer
	// Batch is the most events one delivery carries (default 500).
	Batch int
}

// NewRelay returns a Relay for a consumer.
func NewRelay(s *Store, c Consumer) *Relay {
	return &Relay{store: s, consumer: c, Batch: 500}
}

type consumerRow struct {
	Name      string `gorm:"primaryKey"`
	UpdatedAt time.Time
}

func (consumerRow) TableName() string { return "ledger_consumers" }

// lockConsumer creates the consumer's row if needed and locks it.
func lockConsumer(tx *gorm.DB, name string, now time.Time) error {
	row := consumerRow{Name: name, UpdatedAt: now}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return fmt.Errorf("ledger: register consumer: %w", err)
	}
	var names []string
	if err := sqldb.ForUpdate(tx.Table("ledger_consumers").Select("name").Where("name = ?", name)).Scan(&names).Error; err != nil {
		return fmt.Errorf("ledger: lock consumer: %w", err)
	}
	return nil
}

type cursorRow struct {
	Consumer  string `gorm:"primaryKey"`
	VillageID int64  `gorm:"primaryKey;autoIncrement:false"`
	Seq       int64
	UpdatedAt time.Time
}

func (cursorRow) TableName() string { return "ledger_consumer_cursors" }

// setCursor records that a consumer has a village's events up to seq.
func setCursor(tx *gorm.DB, name string, villageID, seq int64, now time.Time) error {
	row := cursorRow{Consumer: name, VillageID: villageID, Seq: seq, UpdatedAt: now}
	err := tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "consumer"}, {Name: "village_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"seq", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("ledger: move cursor: %w", err)
	}
	return nil
}

// lag is one village whose sealed postings a consumer has not all had.
type lag struct {
	VillageID int64
	Pos       int64 // the consumer's cursor
	Head      int64
}

// lagging lists the villages with sealed postings past the consumer's
// cursor.
func lagging(db *gorm.DB, name string) ([]lag, error) {
	var out []lag
	err := db.Raw(`SELECT h.village_id AS village_id, COALESCE(c.seq, 0) AS pos, h.seq AS head
		FROM ledger_chain_heads h LEFT JOIN ledger_consumer_cursors c ON c.consumer = ? AND c.village_id = h.village_id
		WHERE h.seq > COALESCE(c.seq, 0) ORDER BY h.village_id`, name).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("ledger: find lagging villages: %w", err)
	}
	return out, nil
}

// DeliverBatch delivers up to Batch events, village by village, and
// reports how many. The consumer's Deliver runs inside the transaction that
// moves its cursor: if that fails the events are delivered again later,
// which the consumer absorbs.
func (r *Relay) DeliverBatch(ctx context.Context) (int, error) {
	s := r.store
	name := r.consumer.Name()
	batch := r.Batch
	if batch <= 0 {
		batch = 500
	}
	delivered := 0
	var stale []int64
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		delivered, stale = 0, nil
		now := s.clock()
		if err := lockConsumer(tx, name, now); err != nil {
			return err
		}
		behind, err := lagging(tx, name)
		if err != nil {
			return err
		}
		for _, l := range behind {
			if delivered >= batch {
				break
			}
			var rows []postingRow
			if err := tx.Raw("SELECT * FROM ledger_postings WHERE village_id = ? AND chain_seq > ? AND chain_seq <= ? ORDER BY chain_seq LIMIT ?",
				l.VillageID, l.Pos, l.Head, batch-delivered).Scan(&rows).Error; err != nil {
				return fmt.Errorf("ledger: read events: %w", err)
			}
			if len(rows) == 0 {
				continue
			}
			events := make([]Event, len(rows))
			for i, row := range rows {
				events[i] = Event{Consumer: name, Posting: row.posting()}
			}
			var err error
			if tc, ok := r.consumer.(TxConsumer); ok {
				err = tc.DeliverTx(ctx, tx, l.VillageID, events)
			} else {
				err = r.consumer.Deliver(ctx, l.VillageID, events)
			}
			if errors.Is(err, ErrStale) {
				stale = append(stale, l.VillageID)
				continue
			}
			if err != nil {
				return fmt.Errorf("ledger: deliver to %s: %w", name, err)
			}
			if err := setCursor(tx, name, l.VillageID, events[len(events)-1].Posting.ChainSeq, now); err != nil {
				return err
			}
			delivered += len(events)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if rb, ok := r.consumer.(Rebuilder); ok {
		for _, v := range stale {
			if err := s.rebuildConsumer(ctx, v, rb); err != nil {
				return delivered, err
			}
			slog.Warn("ledger: consumer state was behind; rebuilt it", "consumer", name, "village", v)
		}
	} else if len(stale) > 0 {
		return delivered, fmt.Errorf("ledger: consumer %s is behind for villages %v and cannot rebuild", name, stale)
	}
	return delivered, nil
}

// Drain delivers batches until every sealed posting is delivered.
func (r *Relay) Drain(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := r.DeliverBatch(ctx)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// Run delivers every interval until ctx ends, at once again after a full
// batch, so a busy ledger is delivered in few, large batches. Errors are
// logged and the batch is retried at the next tick.
func (r *Relay) Run(ctx context.Context, interval time.Duration) {
	for {
		n, err := r.DeliverBatch(ctx)
		if err != nil && ctx.Err() == nil {
			slog.Warn("ledger: relay", "consumer", r.consumer.Name(), "err", err)
		}
		if n >= r.Batch && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Pending counts the postings a consumer has not been delivered yet: the
// sealed ones past its cursors, and the ones still waiting for the Sealer.
func (s *Store) Pending(ctx context.Context, consumer string) (int64, error) {
	db := s.db.WithContext(ctx)
	behind, err := lagging(db, consumer)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, l := range behind {
		n += l.Head - l.Pos
	}
	var unsealed int64
	if err := db.Raw("SELECT COUNT(*) FROM ledger_postings WHERE chain_seq IS NULL").Scan(&unsealed).Error; err != nil {
		return 0, err
	}
	return n + unsealed, nil
}
