package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
)

// Tally is what a set of orders adds up to.
type Tally struct {
	Quantity int64 `json:"quantity"`
	Points   int64 `json:"points"`
	CostFen  int64 `json:"cost_fen"`
}

func (t Tally) minus(u Tally) Tally {
	return Tally{Quantity: t.Quantity - u.Quantity, Points: t.Points - u.Points, CostFen: t.CostFen - u.CostFen}
}

func (t *Tally) add(u Tally) {
	t.Quantity += u.Quantity
	t.Points += u.Points
	t.CostFen += u.CostFen
}

// ReportLine is one reward's month: what was handed over (orders verified
// or sold at the counter in the month), what was refunded in the month,
// the difference, and the stock as it is now.
type ReportLine struct {
	RewardID     int64  `json:"reward_id"`
	RewardName   string `json:"reward_name"`
	Kind         Kind   `json:"kind"`
	Redeemed     Tally  `json:"redeemed"`
	Refunded     Tally  `json:"refunded"`
	Net          Tally  `json:"net"`
	StockTracked bool   `json:"stock_tracked"`
	Stock        int64  `json:"stock"`
	Reserved     int64  `json:"reserved"`
}

// BudgetStatus sets the store's spending against the village's budget for
// the report's year, up to the end of the report's month.
type BudgetStatus struct {
	Year         int   `json:"year"`
	AmountFen    int64 `json:"amount_fen"` // 0 when no budget is set
	SpentFen     int64 `json:"spent_fen"`  // year to date, net of refunds
	RemainingFen int64 `json:"remaining_fen"`
}

// MonthReport is a village store's month 月度报表: per reward, and in total.
type MonthReport struct {
	VillageID int64        `json:"village_id"`
	Month     string       `json:"month"` // 2024-03
	Lines     []ReportLine `json:"lines"`
	Total     ReportLine   `json:"total"`
	Budget    BudgetStatus `json:"budget"`
}

// monthRange is [first instant of the month, first of the next) in loc.
func monthRange(year int, month time.Month, loc *time.Location) (time.Time, time.Time) {
	from := time.Date(year, month, 1, 0, 0, 0, 0, loc)
	return from.UTC(), from.AddDate(0, 1, 0).UTC()
}

// tallies sums the orders of a village whose column (completed_at or
// refunded_at) falls in [from, to), per reward.
func tallies(db *gorm.DB, villageID int64, column string, from, to time.Time) (map[int64]Tally, error) {
	var rows []struct {
		RewardID int64
		Tally
	}
	if err := db.Raw(`SELECT reward_id, SUM(quantity) AS quantity, SUM(points) AS points, SUM(cost_fen) AS cost_fen
		FROM store_orders WHERE village_id = ? AND `+column+` >= ? AND `+column+` < ? GROUP BY reward_id`,
		villageID, from, to).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: sum orders: %w", err)
	}
	out := make(map[int64]Tally, len(rows))
	for _, r := range rows {
		out[r.RewardID] = r.Tally
	}
	return out, nil
}

// MonthReport computes a village store's report for one month (village
// time): every reward of the village's and its township's stores that had
// stock or orders, with the year's spending against the budget.
func (s *Store) MonthReport(ctx context.Context, villageID int64, year int, month time.Month) (MonthReport, error) {
	rep := MonthReport{VillageID: villageID, Month: fmt.Sprintf("%04d-%02d", year, month), Lines: []ReportLine{}}
	town, err := s.township(ctx, villageID)
	if err != nil {
		return rep, err
	}
	from, to := monthRange(year, month, s.loc)
	yearFrom, _ := monthRange(year, time.January, s.loc)
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		redeemed, err := tallies(tx, villageID, "completed_at", from, to)
		if err != nil {
			return err
		}
		refunded, err := tallies(tx, villageID, "refunded_at", from, to)
		if err != nil {
			return err
		}
		var rewards []rewardRow
		if err := tx.Table("store_rewards").Where("region_id IN ?", []int64{villageID, town}).Order("id").Scan(&rewards).Error; err != nil {
			return err
		}
		for _, rr := range rewards {
			r := rr.reward()
			l := ReportLine{RewardID: r.ID, RewardName: r.Name, Kind: r.Kind, Redeemed: redeemed[r.ID], Refunded: refunded[r.ID],
				StockTracked: r.StockTracked, Stock: r.Stock, Reserved: r.Reserved}
			l.Net = l.Redeemed.minus(l.Refunded)
			if l.Redeemed == (Tally{}) && l.Refunded == (Tally{}) && r.Stock == 0 && r.Reserved == 0 && !r.OnShelf {
				continue // an old reward with nothing to say
			}
			rep.Lines = append(rep.Lines, l)
			rep.Total.Redeemed.add(l.Redeemed)
			rep.Total.Refunded.add(l.Refunded)
			rep.Total.Net.add(l.Net)
		}
		rep.Total.RewardName = "合计"
		yearRedeemed, err := tallies(tx, villageID, "completed_at", yearFrom, to)
		if err != nil {
			return err
		}
		yearRefunded, err := tallies(tx, villageID, "refunded_at", yearFrom, to)
		if err != nil {
			return err
		}
		for _, t := range yearRedeemed {
			rep.Budget.SpentFen += t.CostFen
		}
		for _, t := range yearRefunded {
			rep.Budget.SpentFen -= t.CostFen
		}
		rep.Budget.Year = year
		if rep.Budget.AmountFen, err = budgetOf(tx, villageID, year); err != nil {
			return err
		}
		rep.Budget.RemainingFen = rep.Budget.AmountFen - rep.Budget.SpentFen
		return nil
	}, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	return rep, err
}

// SettlementLine is what one village owes a merchant for one reward at one
// unit cost over a period: goods handed over, minus goods returned to the
// store with a refund.
type SettlementLine struct {
	VillageID   int64  `json:"village_id"`
	RewardID    int64  `json:"reward_id"`
	RewardName  string `json:"reward_name"`
	UnitCostFen int64  `json:"unit_cost_fen"`
	Handed      int64  `json:"handed"`
	Returned    int64  `json:"returned"`
	Quantity    int64  `json:"quantity"`
	AmountFen   int64  `json:"amount_fen"`
}

// Settlement is a merchant's statement 结算单 for [From, To).
type Settlement struct {
	Merchant  Merchant         `json:"merchant"`
	From      time.Time        `json:"from"`
	To        time.Time        `json:"to"`
	Lines     []SettlementLine `json:"lines"`
	TotalFen  int64            `json:"total_fen"`
	Villages  []int64          `json:"villages"`
	CreatedAt time.Time        `json:"created_at"`
}

// Settlement computes a merchant's statement for [from, to) over the given
// villages (those whose store the caller may read). A refund whose goods
// came back is taken off; a refund without them is not, since the goods
// were handed over.
func (s *Store) Settlement(ctx context.Context, st Staff, merchantID int64, villages []int64, from, to time.Time) (Settlement, error) {
	if !to.After(from) || to.Sub(from) > 366*24*time.Hour {
		return Settlement{}, apperr.Invalid("to", "结算期间须在一年以内，且结束晚于开始")
	}
	m, err := s.Merchant(ctx, st, merchantID)
	if err != nil {
		return Settlement{}, err
	}
	out := Settlement{Merchant: m, From: dbTime(from), To: dbTime(to), Lines: []SettlementLine{}, Villages: villages, CreatedAt: s.clock()}
	if len(villages) == 0 {
		return out, nil
	}
	type key struct {
		village, reward, cost int64
	}
	lines := map[key]*SettlementLine{}
	collect := func(column string, extra string, returned bool) error {
		var rows []struct {
			VillageID   int64
			RewardID    int64
			RewardName  string
			UnitCostFen int64
			Quantity    int64
		}
		if err := s.db.WithContext(ctx).Raw(`SELECT village_id, reward_id, MAX(reward_name) AS reward_name, unit_cost_fen, SUM(quantity) AS quantity
			FROM store_orders WHERE merchant_id = ? AND village_id IN ? AND `+column+` >= ? AND `+column+` < ?`+extra+`
			GROUP BY village_id, reward_id, unit_cost_fen ORDER BY village_id, reward_id, unit_cost_fen`,
			merchantID, villages, out.From, out.To).Scan(&rows).Error; err != nil {
			return fmt.Errorf("store: settlement: %w", err)
		}
		for _, r := range rows {
			k := key{r.VillageID, r.RewardID, r.UnitCostFen}
			l, ok := lines[k]
			if !ok {
				l = &SettlementLine{VillageID: r.VillageID, RewardID: r.RewardID, RewardName: r.RewardName, UnitCostFen: r.UnitCostFen}
				lines[k] = l
			}
			if returned {
				l.Returned += r.Quantity
			} else {
				l.Handed += r.Quantity
			}
		}
		return nil
	}
	if err := collect("completed_at", "", false); err != nil {
		return out, err
	}
	if err := collect("refunded_at", " AND restocked = TRUE", true); err != nil {
		return out, err
	}
	for _, l := range lines {
		l.Quantity = l.Handed - l.Returned
		l.AmountFen = l.Quantity * l.UnitCostFen
		out.TotalFen += l.AmountFen
		out.Lines = append(out.Lines, *l)
	}
	sort.Slice(out.Lines, func(i, j int) bool {
		a, b := out.Lines[i], out.Lines[j]
		if a.VillageID != b.VillageID {
			return a.VillageID < b.VillageID
		}
		if a.RewardID != b.RewardID {
			return a.RewardID < b.RewardID
		}
		return a.UnitCostFen < b.UnitCostFen
	})
	return out, nil
}

// Yuan renders fen as yuan with two decimals ("12.30"), in integers only.
func Yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}
