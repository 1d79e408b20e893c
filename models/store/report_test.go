package store

import (
	"bytes"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
)

// The month report counts what was handed over and refunded per reward,
// sets the year's spending against the budget, and the merchant's
// statement takes off only the goods that came back.
func TestReportAndSettlement(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		v := e.villageA.ID
		one, two := Customer{VillageID: v, ResidentID: 1}, Customer{VillageID: v, ResidentID: 2}
		mustAward(t, e, v, ledger.Resident(1), 1000)
		mustAward(t, e, v, ledger.Resident(2), 1000)
		if _, err := e.store.SetBudget(ctx, admin, v, 2024, 100000); err != nil {
			t.Fatal(err)
		}
		m, err := e.store.CreateMerchant(ctx, admin, e.township.ID, "镇供销社", "0571-1234567")
		if err != nil {
			t.Fatal(err)
		}
		rice := mustReward(t, e, v, func(in *RewardInput) { in.Name, in.Points, in.CostFen, in.MerchantID = "大米", 30, 2500, &m.ID })
		soap := mustReward(t, e, v, func(in *RewardInput) { in.Name, in.Points, in.CostFen, in.MerchantID = "肥皂", 5, 300, &m.ID })
		pickUp := func(c Customer, reward, qty int64) Order {
			o := mustOrder(t, e, c, reward, qty)
			done, err := e.store.Verify(ctx, clerk, v, o.PickupCode)
			if err != nil {
				t.Fatal(err)
			}
			return done
		}
		pickUp(one, rice.ID, 2)
		back := pickUp(two, rice.ID, 1)
		if _, err := e.store.Refund(ctx, admin, back.ID, "退货", true); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Sell(ctx, clerk, SaleRequest{VillageID: v, Code: e.scanner.code(two), IdempotencyKey: key(),
			Items: []SaleItem{{soap.ID, 3}}}); err != nil {
			t.Fatal(err)
		}
		mustOrder(t, e, one, rice.ID, 1) // open: not counted

		rep, err := e.store.MonthReport(ctx, v, 2024, time.March)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Lines) != 2 {
			t.Fatalf("lines %+v", rep.Lines)
		}
		r, s := rep.Lines[0], rep.Lines[1]
		if r.Redeemed != (Tally{3, 90, 7500}) || r.Refunded != (Tally{1, 30, 2500}) || r.Net != (Tally{2, 60, 5000}) || r.Stock != 97 || r.Reserved != 1 {
			t.Fatalf("rice %+v", r)
		}
		if s.Redeemed != (Tally{3, 15, 900}) || s.Net != (Tally{3, 15, 900}) || s.Stock != 97 {
			t.Fatalf("soap %+v", s)
		}
		if rep.Total.Net != (Tally{5, 75, 5900}) || rep.Budget != (BudgetStatus{Year: 2024, AmountFen: 100000, SpentFen: 5900, RemainingFen: 94100}) {
			t.Fatalf("total %+v budget %+v", rep.Total, rep.Budget)
		}

		e.clock.Advance(25 * 24 * time.Hour) // April 4th
		pickUp(one, rice.ID, 1)
		april, err := e.store.MonthReport(ctx, v, 2024, time.April)
		if err != nil {
			t.Fatal(err)
		}
		if april.Lines[0].Redeemed != (Tally{1, 30, 2500}) || april.Budget.SpentFen != 8400 {
			t.Fatalf("april %+v", april)
		}

		march, _ := time.Parse(time.RFC3339, "2024-03-01T00:00:00+08:00")
		st, err := e.store.Settlement(ctx, admin, m.ID, []int64{v}, march, march.AddDate(0, 1, 0))
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Lines) != 2 || st.Lines[0].Handed != 3 || st.Lines[0].Returned != 1 || st.Lines[0].AmountFen != 5000 ||
			st.Lines[1].Quantity != 3 || st.TotalFen != 5900 {
			t.Fatalf("settlement %+v", st)
		}
		if other, err := e.store.Settlement(ctx, admin, m.ID, []int64{e.villageB.ID}, march, march.AddDate(0, 1, 0)); err != nil || other.TotalFen != 0 {
			t.Fatalf("another village's statement %+v %v", other, err)
		}
		_, err = e.store.Settlement(ctx, admin, m.ID, []int64{v}, march, march)
		wantCode(t, err, apperr.CodeInvalid)

		var buf bytes.Buffer
		if err := rep.WriteXLSX(&buf, "甲村"); err != nil {
			t.Fatal(err)
		}
		f, err := excelize.OpenReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := f.GetRows("月度报表")
		if err != nil || rows[2][1] != "大米" || rows[2][5] != "75.00" || rows[4][11] != "59.00" || rows[8][2] != "941.00" {
			t.Fatalf("sheet %q %v", rows, err)
		}
		buf.Reset()
		if err := st.WriteXLSX(&buf, map[int64]string{v: "甲村"}, e.store.loc); err != nil {
			t.Fatal(err)
		}
		if f, err = excelize.OpenReader(&buf); err != nil {
			t.Fatal(err)
		}
		if rows, err = f.GetRows("结算单"); err != nil || rows[0][0] != "镇供销社 结算单 2024-03-01 至 2024-03-31" || rows[4][7] != "59.00" {
			t.Fatalf("statement %q %v", rows, err)
		}
	})
}

func TestYuan(t *testing.T) {
	for fen, want := range map[int64]string{0: "0.00", 5: "0.05", 250: "2.50", 123456: "1234.56", -1050: "-10.50"} {
		if got := Yuan(fen); got != want {
			t.Errorf("Yuan(%d) = %s, want %s", fen, got, want)
		}
	}
}
