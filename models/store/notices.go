package store

import (
	"context"
	"strconv"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/notify"
	"github.com/villagepoints/jifen/models/sqldb"
)

// ReadyNoticesConsumer names the ledger consumer of ReadyNotices.
const ReadyNoticesConsumer = "store_ready_notices"

// readyNotices tells villagers that an online order is ready for pickup
// (notify.RedemptionReady). It hangs off the ledger's events (the order's
// hold posting) instead of writing in the order's transaction, which is
// the store's busiest and holds the reward's row: the message costs the
// order nothing, and follows it within the Sealer's and Relay's intervals.
type readyNotices struct{ s *Store }

// ReadyNotices returns the consumer that queues the "ready for pickup"
// messages; run it with a ledger.Relay. A message is queued once per order
// (its dedup key), however often the events are delivered, and only while
// the order is still open.
func (s *Store) ReadyNotices() ledger.Consumer { return readyNotices{s: s} }

func (readyNotices) Name() string { return ReadyNoticesConsumer }

// Deliver queues the messages in a transaction of its own.
func (n readyNotices) Deliver(ctx context.Context, villageID int64, events []ledger.Event) error {
	return sqldb.InTx(ctx, n.s.db, func(tx *gorm.DB) error { return n.DeliverTx(ctx, tx, villageID, events) })
}

// DeliverTx queues the messages of the orders whose holds the events
// open, in the Relay's transaction (ledger.TxConsumer).
func (n readyNotices) DeliverTx(ctx context.Context, tx *gorm.DB, villageID int64, events []ledger.Event) error {
	var ids []int64
	seen := map[int64]bool{}
	for _, e := range events {
		p := e.Posting
		if p.Type == ledger.TypeRedemptionHold && p.Source.Type == sourceType && !seen[p.Source.ID] {
			seen[p.Source.ID] = true
			ids = append(ids, p.Source.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	tx = tx.WithContext(ctx)
	orders, err := scanOrders(tx.Table("store_orders").
		Where("id IN ? AND village_id = ? AND status = ? AND channel = ?", ids, villageID, StatusOpen, ChannelOnline).Order("id"))
	if err != nil || len(orders) == 0 {
		return err
	}
	st, err := loadSettings(tx, villageID)
	if err != nil {
		return err
	}
	ms := make([]notify.Message, len(orders))
	for i, o := range orders {
		ms[i] = notify.Message{ResidentID: o.ResidentID, Kind: notify.RedemptionReady,
			DedupKey: "store-order:" + strconv.FormatInt(o.ID, 10), Data: map[string]string{
				"item": o.item(), "place": st.PickupPlace, "deadline": o.PickupBy.In(n.s.loc).Format("2006-01-02 15:04"),
			}}
	}
	return notify.EnqueueAll(ctx, tx, notify.RedemptionReady, ms)
}
