package ranking

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/rules"
)

// Participation is how many of a village's households took part in a
// period: households with any posting (theirs, or a member's) over all
// households.
type Participation struct {
	VillageID  int64  `json:"village_id"`
	Village    string `json:"village"`
	TownshipID int64  `json:"township_id"`
	Households int64  `json:"households"`
	Active     int64  `json:"active_households"`
	// Permille is Active/Households in thousandths (375 is 37.5%).
	Permille int64 `json:"rate_permille"`
}

// Participation reports the villages under a township or county (or one
// village) for the period containing key's start, best rate first: the
// cross-village view of township and county admins.
func (s *Service) Participation(ctx context.Context, regionID int64, period rules.Period, key string) ([]Participation, error) {
	if key == "" {
		key = period.Key(s.now())
	}
	start, err := periodStart(period, key)
	if err != nil {
		return nil, err
	}
	from, to := start, period.End(start)
	if period == rules.AllTime {
		from = time.Unix(0, 0)
	}
	db := s.db.WithContext(ctx)
	var regs []struct {
		Path string
	}
	if err := db.Raw("SELECT path FROM regions WHERE id = ?", regionID).Scan(&regs).Error; err != nil {
		return nil, err
	}
	if len(regs) == 0 {
		return nil, apperr.NotFound("区域")
	}
	var villages []struct {
		ID   int64
		Name string
		Path string
	}
	if err := db.Raw("SELECT id, name, path FROM regions WHERE level = 'village' AND path LIKE ? ORDER BY id", regs[0].Path+"%").
		Scan(&villages).Error; err != nil {
		return nil, err
	}
	if len(villages) == 0 {
		return []Participation{}, nil
	}
	ids := make([]int64, len(villages))
	for i, v := range villages {
		ids[i] = v.ID
	}
	var counts []struct {
		VillageID int64
		N         int64
	}
	if err := db.Raw("SELECT village_id, COUNT(*) AS n FROM households WHERE village_id IN ? GROUP BY village_id", ids).Scan(&counts).Error; err != nil {
		return nil, fmt.Errorf("ranking: count households: %w", err)
	}
	var holders []struct {
		VillageID int64
		Kind      string
		Owner     int64
	}
	if err := db.Raw(`SELECT DISTINCT village_id, to_kind AS kind, to_owner AS owner FROM ledger_postings
		WHERE village_id IN ? AND created_at >= ? AND created_at < ? AND to_kind IN ('resident', 'household')
		UNION SELECT DISTINCT village_id, from_kind, from_owner FROM ledger_postings
		WHERE village_id IN ? AND created_at >= ? AND created_at < ? AND from_kind IN ('resident', 'household')`,
		ids, from.UTC(), to.UTC(), ids, from.UTC(), to.UTC()).Scan(&holders).Error; err != nil {
		return nil, fmt.Errorf("ranking: find active holders: %w", err)
	}
	active := map[int64]map[int64]bool{}
	for _, h := range holders {
		hh := h.Owner
		if h.Kind == "resident" {
			dir, _, err := s.dir.fresh(ctx, h.VillageID, time.Now())
			if err != nil {
				return nil, err
			}
			hh = dir.mapping.Residents[h.Owner].Household
		}
		if hh == 0 {
			continue
		}
		if active[h.VillageID] == nil {
			active[h.VillageID] = map[int64]bool{}
		}
		active[h.VillageID][hh] = true
	}
	total := map[int64]int64{}
	for _, c := range counts {
		total[c.VillageID] = c.N
	}
	out := make([]Participation, len(villages))
	for i, v := range villages {
		p := Participation{VillageID: v.ID, Village: v.Name, Households: total[v.ID], Active: int64(len(active[v.ID]))}
		if path := parsePath(v.Path); len(path) >= 2 {
			p.TownshipID = path[len(path)-2]
		}
		if p.Households > 0 {
			p.Permille = p.Active * 1000 / p.Households
		}
		out[i] = p
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Permille > out[j].Permille })
	return out, nil
}
