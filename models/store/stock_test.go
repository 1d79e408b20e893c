package store

import (
	"testing"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/ledger"
)

// Restocks and write-offs are idempotent, audited, cannot take what open
// orders reserved, and open and close low-stock alerts.
func TestStockMovementsAndAlerts(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		c := Customer{VillageID: v, ResidentID: 1}
		mustAward(t, e, v, ledger.Resident(1), 1000)
		rw := mustReward(t, e, v, func(in *RewardInput) { in.InitialStock = 6; in.LowStockAt = 3; in.Points = 10 })
		mustOrder(t, e, c, rw.ID, 2) // stock 4, reserved 2
		_, err := e.store.MoveStock(ctx, clerk, rw.ID, MoveRequest{Kind: MoveWriteOff, Quantity: 1, IdempotencyKey: key()})
		wantCode(t, err, apperr.CodeInvalid) // a write-off needs a reason
		_, err = e.store.MoveStock(ctx, clerk, rw.ID, MoveRequest{Kind: MoveWriteOff, Quantity: 5, Reason: "受潮", IdempotencyKey: key()})
		wantCode(t, err, apperr.CodeStockShort)
		off := MoveRequest{Kind: MoveWriteOff, Quantity: 1, Reason: "受潮", IdempotencyKey: "w1"}
		m, err := e.store.MoveStock(ctx, clerk, rw.ID, off)
		if err != nil || m.Delta != -1 || m.StockAfter != 3 {
			t.Fatalf("write-off %+v %v", m, err)
		}
		if again, err := e.store.MoveStock(ctx, clerk, rw.ID, off); err != nil || again.ID != m.ID {
			t.Fatalf("retry %+v %v", again, err)
		}
		off.Quantity = 2
		_, err = e.store.MoveStock(ctx, clerk, rw.ID, off)
		wantCode(t, err, apperr.CodeIdempotency)
		alerts, err := e.store.Alerts(ctx, v)
		if err != nil || len(alerts) != 1 || alerts[0].RewardID != rw.ID || alerts[0].Stock != 3 || alerts[0].Threshold != 3 {
			t.Fatalf("alerts %+v %v", alerts, err)
		}
		mustOrder(t, e, c, rw.ID, 1) // stock 2: still one alert
		if alerts, _ := e.store.Alerts(ctx, v); len(alerts) != 1 {
			t.Fatalf("alerts %+v", alerts)
		}
		if _, err := e.store.MoveStock(ctx, clerk, rw.ID, MoveRequest{Kind: MoveRestock, Quantity: 10, IdempotencyKey: key()}); err != nil {
			t.Fatal(err)
		}
		if alerts, _ := e.store.Alerts(ctx, v); len(alerts) != 0 {
			t.Fatalf("alerts after restock %+v", alerts)
		}
		if r := mustFindReward(t, e, rw.ID); r.Stock != 12 || r.Reserved != 3 {
			t.Fatalf("stock %d reserved %d", r.Stock, r.Reserved)
		}
		ms, total, err := e.store.Movements(ctx, admin, rw.ID, 0, 10)
		if err != nil || total != 3 || ms[0].Kind != MoveRestock || ms[2].Reason != "初始库存" {
			t.Fatalf("movements %+v %v", ms, err)
		}
		entries, _, err := audit.List(ctx, e.db, audit.Filter{VillageIDs: []int64{v}, Action: "store.stock.write_off"}, 0, 10)
		if err != nil || len(entries) != 1 || entries[0].ActorID != clerk.Actor.StaffID {
			t.Fatalf("audit %+v %v", entries, err)
		}
		service := mustReward(t, e, v, func(in *RewardInput) { in.Kind, in.StockTracked, in.InitialStock = KindService, false, 0 })
		_, err = e.store.MoveStock(ctx, clerk, service.ID, MoveRequest{Kind: MoveRestock, Quantity: 1, IdempotencyKey: key()})
		wantCode(t, err, apperr.CodeConflict)
	})
}
