package store

import (
	"testing"
	"time"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/people"
)

func TestRewardInputValidation(t *testing.T) {
	t1 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(-time.Hour)
	good := func() RewardInput {
		return RewardInput{Kind: KindGoods, Name: " 大米 ", Points: 30, StockTracked: true, InitialStock: 10}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*RewardInput)
		field string // "" = valid
	}{
		{"goods with stock", func(*RewardInput) {}, ""},
		{"service without stock", func(in *RewardInput) { in.Kind, in.StockTracked, in.InitialStock = KindService, false, 0 }, ""},
		{"unknown kind", func(in *RewardInput) { in.Kind = "gift" }, "kind"},
		{"blank name", func(in *RewardInput) { in.Name = "  " }, "name"},
		{"zero points", func(in *RewardInput) { in.Points = 0 }, "points"},
		{"points above the ledger's maximum", func(in *RewardInput) { in.Points = ledger.MaxAmount + 1 }, "points"},
		{"negative cost", func(in *RewardInput) { in.CostFen = -1 }, "cost_fen"},
		{"negative resident limit", func(in *RewardInput) { in.LimitResidentMonth = -1 }, "limit_resident_month"},
		{"household limit too high", func(in *RewardInput) { in.LimitHouseholdMonth = 1001 }, "limit_household_month"},
		{"goods must track stock", func(in *RewardInput) { in.StockTracked, in.InitialStock = false, 0 }, "stock_tracked"},
		{"stock on an untracked reward", func(in *RewardInput) { in.Kind, in.StockTracked = KindService, false }, "initial_stock"},
		{"negative stock", func(in *RewardInput) { in.InitialStock = -1 }, "initial_stock"},
		{"validity ends before it starts", func(in *RewardInput) { in.ValidFrom, in.ValidUntil = &t1, &t2 }, "valid_until"},
		{"ten photos", func(in *RewardInput) { in.Photos = make([]string, 10) }, "photos"},
		{"blank photo", func(in *RewardInput) { in.Photos = []string{"a.jpg", " "} }, "photos[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := good()
			tc.edit(&in)
			err := in.normalize()
			if tc.field == "" {
				if err != nil || in.Name != "大米" || in.Photos == nil {
					t.Fatalf("want valid, got %v (%+v)", err, in)
				}
				return
			}
			if e := apperr.From(err); err == nil || e.Field != tc.field {
				t.Fatalf("want an error on %s, got %v", tc.field, err)
			}
		})
	}
}

// Staff manage rewards only in their regions; villagers see their village's
// and their township's shelves only.
func TestRewardScope(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		onlyA := Staff{Actor: admin.Actor, In: func(r int64) bool { return r == e.villageA.ID }}
		_, err := e.store.CreateReward(ctx, onlyA, e.villageB.ID, RewardInput{Kind: KindGoods, Name: "油", Points: 5, StockTracked: true})
		wantCode(t, err, apperr.CodeOutOfScope)
		_, err = e.store.CreateReward(ctx, admin, e.villageA.ID+1000, RewardInput{Kind: KindGoods, Name: "油", Points: 5, StockTracked: true})
		wantCode(t, err, apperr.CodeNotFound)
		own := mustReward(t, e, e.villageA.ID, func(in *RewardInput) { in.Name = "油" })
		_, err = e.store.CreateReward(ctx, admin, e.villageA.ID, RewardInput{Kind: KindGoods, Name: "油", Points: 5, StockTracked: true})
		wantCode(t, err, apperr.CodeConflict) // a retried create
		shared := mustReward(t, e, e.township.ID, func(in *RewardInput) { in.Name = "洗车券"; in.Kind = KindVoucher })
		mustReward(t, e, e.villageC.ID, func(in *RewardInput) { in.Name = "别村的米" })
		mustReward(t, e, e.villageA.ID, func(in *RewardInput) { in.Name = "下架的"; in.OnShelf = false })
		if shared.RegionLevel != people.Township || own.RegionLevel != people.Village {
			t.Fatalf("levels %s %s", shared.RegionLevel, own.RegionLevel)
		}
		_, err = e.store.Reward(ctx, onlyA, shared.ID)
		wantCode(t, err, apperr.CodeNotFound)

		items, total, err := e.store.Shelf(ctx, Customer{VillageID: e.villageA.ID, ResidentID: 1}, 0, 10)
		if err != nil || total != 2 || items[0].ID != own.ID || items[1].ID != shared.ID || !items[1].Township {
			t.Fatalf("shelf %+v (%d) %v", items, total, err)
		}
		all, total, err := e.store.VillageRewards(ctx, e.villageA.ID, RewardFilter{}, 0, 10)
		if err != nil || total != 3 || len(all) != 3 {
			t.Fatalf("staff list %d %v", total, err)
		}
		_, err = e.store.ShelfReward(ctx, Customer{VillageID: e.villageC.ID, ResidentID: 1}, own.ID)
		wantCode(t, err, apperr.CodeNotFound)

		price := int64(45)
		name := "好油"
		got, err := e.store.UpdateReward(ctx, admin, own.ID, RewardPatch{Points: &price, Name: &name})
		if err != nil || got.Points != 45 || got.Name != "好油" || got.Stock != own.Stock {
			t.Fatalf("update %+v %v", got, err)
		}
		zero := int64(0)
		_, err = e.store.UpdateReward(ctx, admin, own.ID, RewardPatch{Points: &zero})
		wantCode(t, err, apperr.CodeInvalid)
		m, err := e.store.CreateMerchant(ctx, admin, e.villageC.ID, "丙村小卖部", "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.store.UpdateReward(ctx, admin, own.ID, RewardPatch{SetMerchant: true, MerchantID: &m.ID})
		wantCode(t, err, apperr.CodeInvalid) // the merchant supplies another store
	})
}

func TestPatchApply(t *testing.T) {
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	in := RewardInput{Name: "米", Points: 10, ValidFrom: &from, Photos: []string{"a"}}
	photos := []string{"b", "c"}
	out := RewardPatch{SetValidity: true, Photos: &photos}.apply(in)
	if out.ValidFrom != nil || out.ValidUntil != nil || len(out.Photos) != 2 || out.Name != "米" || out.Points != 10 {
		t.Fatalf("%+v", out)
	}
	photos[0] = "changed"
	if out.Photos[0] != "b" {
		t.Fatal("apply shares the patch's slice")
	}
}
