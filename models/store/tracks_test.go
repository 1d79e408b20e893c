package store

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
)

// A reward's tracks are checked and stored in the ledger's order; naming
// every track is naming none; a patch replaces them; villagers see them.
func TestRewardTracks(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		_, err := e.store.CreateReward(ctx, admin, v, RewardInput{Kind: KindGoods, Name: "油", Points: 5, StockTracked: true,
			Tracks: []ledger.Track{"gold"}})
		wantField(t, err, "tracks")
		_, err = e.store.CreateReward(ctx, admin, v, RewardInput{Kind: KindGoods, Name: "油", Points: 5, StockTracked: true,
			Tracks: []ledger.Track{ledger.TrackCivic, ledger.TrackCivic}})
		wantField(t, err, "tracks")

		rw := mustReward(t, e, v, func(in *RewardInput) { in.Tracks = []ledger.Track{ledger.TrackVolunteer, ledger.TrackCivic} })
		if fmt.Sprint(rw.Tracks) != "[civic volunteer]" || fmt.Sprint(mustFindReward(t, e, rw.ID).Tracks) != "[civic volunteer]" {
			t.Fatalf("tracks %v", rw.Tracks)
		}
		all := []ledger.Track{ledger.TrackParty, ledger.TrackCivic, ledger.TrackVolunteer}
		up, err := e.store.UpdateReward(ctx, admin, rw.ID, RewardPatch{Tracks: &all})
		if err != nil || len(up.Tracks) != 0 {
			t.Fatalf("every track: %v %v", up.Tracks, err)
		}
		vol := []ledger.Track{ledger.TrackVolunteer}
		if up, err = e.store.UpdateReward(ctx, admin, rw.ID, RewardPatch{Tracks: &vol}); err != nil || fmt.Sprint(up.Tracks) != "[volunteer]" {
			t.Fatalf("volunteer only: %v %v", up.Tracks, err)
		}
		item, err := e.store.ShelfReward(ctx, Customer{VillageID: v, ResidentID: 1}, rw.ID)
		if err != nil || fmt.Sprint(item.Tracks) != "[volunteer]" {
			t.Fatalf("shelf item %+v %v", item, err)
		}
	})
}

// An order draws only on the tracks its reward takes: points elsewhere are
// refused with their own code and a message that says which; a reward on
// two tracks splits in the village's order, and cancelling, verifying and
// refunding move exactly what each track gave.
func TestOrderPaysWithTheRewardsTracks(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		r := ledger.Resident(1)
		c := Customer{VillageID: v, ResidentID: 1}
		mustAwardTrack(t, e, v, r, ledger.TrackCivic, 50)
		mustAwardTrack(t, e, v, r, ledger.TrackVolunteer, 40)
		tracks := func(when string, civic, vol, held int64) {
			t.Helper()
			b := mustBalance(t, e, v, r)
			got := map[ledger.Track]int64{}
			for _, tb := range b.Tracks {
				got[tb.Track] = tb.Available
			}
			if got[ledger.TrackCivic] != civic || got[ledger.TrackVolunteer] != vol || b.Held != held {
				t.Fatalf("%s: %+v", when, b)
			}
		}

		volOnly := mustReward(t, e, v, func(in *RewardInput) { in.Points = 45; in.Tracks = []ledger.Track{ledger.TrackVolunteer} })
		_, err := e.store.PlaceOrder(ctx, c, OrderRequest{RewardID: volOnly.ID, Quantity: 1, IdempotencyKey: key()})
		wantCode(t, err, ledger.CodeTrackNotAccepted)
		if msg := apperr.From(err).Message; msg != "该商品只能用志愿积分兑换：可用 40 分，需要 45 分（村规民约积分不能用于兑换该商品）" {
			t.Fatalf("message %q", msg)
		}
		if got := mustFindReward(t, e, volOnly.ID); got.Stock != 100 || got.Reserved != 0 {
			t.Fatalf("a refused order took stock: %+v", got)
		}
		partyOnly := mustReward(t, e, v, func(in *RewardInput) { in.Points = 1; in.Tracks = []ledger.Track{ledger.TrackParty} })
		_, err = e.store.PlaceOrder(ctx, c, OrderRequest{RewardID: partyOnly.ID, Quantity: 1, IdempotencyKey: key()})
		wantCode(t, err, ledger.CodeTrackNotAccepted) // the village does not spend party points
		tracks("refused", 50, 40, 0)

		both := mustReward(t, e, v, func(in *RewardInput) {
			in.Points = 70
			in.Tracks = []ledger.Track{ledger.TrackCivic, ledger.TrackVolunteer}
		})
		o := mustOrder(t, e, c, both.ID, 1)
		tracks("held civic first", 0, 20, 70)
		if _, err := e.store.Cancel(ctx, c, o.ID); err != nil {
			t.Fatal(err)
		}
		tracks("cancelled", 50, 40, 0)

		o = mustOrder(t, e, c, both.ID, 1)
		done, err := e.store.Verify(ctx, clerk, v, o.PickupCode)
		if err != nil || len(done.capturePostings) != 2 {
			t.Fatalf("verify %+v %v", done, err)
		}
		tracks("picked up", 0, 20, 0)
		if _, err := e.store.Refund(ctx, admin, o.ID, "质量问题", true); err != nil {
			t.Fatal(err)
		}
		tracks("refunded", 50, 40, 0)

		// At the counter too.
		code := e.scanner.code(c)
		_, err = e.store.Sell(ctx, clerk, SaleRequest{VillageID: v, Code: code, Items: []SaleItem{{RewardID: volOnly.ID, Quantity: 1}}, IdempotencyKey: key()})
		wantCode(t, err, ledger.CodeTrackNotAccepted)
		cheap := mustReward(t, e, v, func(in *RewardInput) { in.Points = 10; in.Tracks = []ledger.Track{ledger.TrackVolunteer} })
		if _, err := e.store.Sell(ctx, clerk, SaleRequest{VillageID: v, Code: code, Items: []SaleItem{{RewardID: cheap.ID, Quantity: 2}}, IdempotencyKey: key()}); err != nil {
			t.Fatal(err)
		}
		tracks("sold", 50, 20, 0)
		mustVerifyLedger(t, e, v)
	})
}

// Two residents' rush and one resident's many orders on a reward that
// takes volunteer points only: no track is overdrawn, civic points are
// never touched, and exactly what the volunteer points cover goes through.
func TestConcurrentOrdersOnTracksNeverOverdraw(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		rw := mustReward(t, e, v, func(in *RewardInput) { in.Points = 30; in.Tracks = []ledger.Track{ledger.TrackVolunteer} })
		both := mustReward(t, e, v, func(in *RewardInput) {
			in.Points = 25
			in.Tracks = []ledger.Track{ledger.TrackCivic, ledger.TrackVolunteer}
		})
		for id := int64(1); id <= 2; id++ {
			mustAwardTrack(t, e, v, ledger.Resident(id), ledger.TrackCivic, 100)
			mustAwardTrack(t, e, v, ledger.Resident(id), ledger.TrackVolunteer, 100)
		}
		var ok, refused atomic.Int64
		var mu sync.Mutex
		var errs []error
		parallel(20, func(i int) {
			c := Customer{VillageID: v, ResidentID: int64(i%2 + 1)}
			_, err := e.store.PlaceOrder(ctx, c, OrderRequest{RewardID: rw.ID, Quantity: 1, IdempotencyKey: key()})
			switch {
			case err == nil:
				ok.Add(1)
			case apperr.Is(err, ledger.CodeTrackNotAccepted):
				refused.Add(1)
			default:
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
		if len(errs) > 0 || ok.Load() != 6 || refused.Load() != 14 {
			t.Fatalf("%d orders, %d refused, errors %v", ok.Load(), refused.Load(), errs)
		}
		// Now both tracks, 25 at a time: 10 civic and 100 volunteer... per
		// resident 110 points left, so 4 orders each go through.
		ok.Store(0)
		parallel(12, func(i int) {
			c := Customer{VillageID: v, ResidentID: int64(i%2 + 1)}
			if _, err := e.store.PlaceOrder(ctx, c, OrderRequest{RewardID: both.ID, Quantity: 1, IdempotencyKey: key()}); err == nil {
				ok.Add(1)
			} else if !apperr.Is(err, apperr.CodePointsShort) {
				t.Error(err)
			}
		})
		if ok.Load() != 8 {
			t.Fatalf("%d orders on both tracks, want 8", ok.Load())
		}
		for id := int64(1); id <= 2; id++ {
			b := mustBalance(t, e, v, ledger.Resident(id))
			if b.Spendable != 10 || b.Held != 190 {
				t.Fatalf("resident %d: %+v", id, b)
			}
			for _, tb := range b.Tracks {
				if tb.Available < 0 {
					t.Fatalf("resident %d overdrawn: %+v", id, b)
				}
			}
		}
		mustVerifyLedger(t, e, v)
	})
}

// Another replica's copy of a reward never lets an order through at an old
// price, on a reward taken off the shelf, or past the stock: its stock
// update checks the reward's revision under the row lock, and a stale copy
// costs a retry from a fresh read.
func TestOrderFromAStaleRewardCopy(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		other, err := New(e.db, e.people, e.scanner, LedgerOptions(e.ledger, Options{PickupKey: []byte(strings.Repeat("p", 32)), Now: e.clock.Now}))
		if err != nil {
			t.Fatal(err)
		}
		mustAward(t, e, v, ledger.Resident(1), 1000)
		c := Customer{VillageID: v, ResidentID: 1}
		rw := mustReward(t, e, v, func(in *RewardInput) { in.Points = 30; in.InitialStock = 3 })
		order := func() (CustomerOrder, error) {
			return other.PlaceOrder(ctx, c, OrderRequest{RewardID: rw.ID, Quantity: 1, IdempotencyKey: key()})
		}
		if _, err := order(); err != nil { // other now holds a copy
			t.Fatal(err)
		}
		price := int64(40)
		if _, err := e.store.UpdateReward(ctx, admin, rw.ID, RewardPatch{Points: &price}); err != nil {
			t.Fatal(err)
		}
		if o, err := order(); err != nil || o.Points != 40 {
			t.Fatalf("after a price change: %+v %v", o, err)
		}
		off := false
		if _, err := e.store.UpdateReward(ctx, admin, rw.ID, RewardPatch{OnShelf: &off}); err != nil {
			t.Fatal(err)
		}
		_, err = order()
		wantCode(t, err, CodeUnavailable)
		on := true
		if _, err := e.store.UpdateReward(ctx, admin, rw.ID, RewardPatch{OnShelf: &on}); err != nil {
			t.Fatal(err)
		}
		if _, err := order(); err != nil { // the last one
			t.Fatal(err)
		}
		_, err = order()
		wantCode(t, err, apperr.CodeStockShort)
		if got := mustFindReward(t, e, rw.ID); got.Stock != 0 || got.Reserved != 3 {
			t.Fatalf("stock %d reserved %d", got.Stock, got.Reserved)
		}
		if b := mustBalance(t, e, v, ledger.Resident(1)); b.Held != 30+40+40 {
			t.Fatalf("balance %+v", b)
		}
	})
}
