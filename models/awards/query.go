package awards

import (
	"context"
	"fmt"
	"time"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/rules"
)

// AwardFilter narrows a village's awards.
type AwardFilter struct {
	Status     Status
	ResidentID int64
	ItemCode   string
}

// List lists a village's awards, newest first.
func (s *Service) List(ctx context.Context, village int64, f AwardFilter, offset, limit int) ([]Award, int64, error) {
	q := s.db.WithContext(ctx).Model(&awardRow{}).Where("village_id = ?", village)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.ResidentID != 0 {
		q = q.Where("resident_id = ?", f.ResidentID)
	}
	if f.ItemCode != "" {
		q = q.Where("item_code = ?", f.ItemCode)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("awards: count: %w", err)
	}
	var rows []awardRow
	if err := q.Order("id DESC").Offset(offset).Limit(limit).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("awards: list: %w", err)
	}
	out := make([]Award, len(rows))
	for i, r := range rows {
		out[i] = r.award()
	}
	return out, total, nil
}

// Get returns one award the caller may see.
func (s *Service) Get(ctx context.Context, id int64, scope func(int64) bool) (Award, error) {
	var rows []awardRow
	if err := s.db.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return Award{}, fmt.Errorf("awards: read: %w", err)
	}
	if len(rows) == 0 || !scope(rows[0].VillageID) {
		return Award{}, apperr.NotFound("积分记录")
	}
	return rows[0].award(), nil
}

// MyAward is an award as its resident sees it, with the appeal deadline
// of a deduction.
type MyAward struct {
	Award
	AppealUntil *time.Time `json:"appeal_until,omitempty"`
}

// MyAwards lists a resident's awards that concern them (not pending
// proposals), newest first.
func (s *Service) MyAwards(ctx context.Context, v Villager, offset, limit int) ([]MyAward, int64, error) {
	st, err := s.Settings(ctx, v.VillageID)
	if err != nil {
		return nil, 0, err
	}
	q := s.db.WithContext(ctx).Model(&awardRow{}).Where("resident_id = ? AND status IN ?", v.ResidentID, []string{string(Posted), string(Reversed)})
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []awardRow
	if err := q.Order("id DESC").Offset(offset).Limit(limit).Find(&rows).Error; err != nil {
		return nil, 0, err
	}
	out := make([]MyAward, len(rows))
	for i, r := range rows {
		out[i] = MyAward{Award: r.award()}
		out[i].ActorStaffID = 0 // villagers see the decision, not which worker made it
		if r.Points < 0 && Status(r.Status) == Posted && r.PostedAt != nil {
			d := rules.AppealDeadline(*r.PostedAt, st.AppealDays)
			out[i].AppealUntil = &d
		}
	}
	return out, total, nil
}

// NoticeEntry is one award on public notice 公示, with the name masked.
type NoticeEntry struct {
	AwardID   int64     `json:"award_id"`
	Name      string    `json:"name"`
	ItemCode  string    `json:"item_code"`
	ItemTitle string    `json:"item_title"`
	Points    int64     `json:"points"`
	Status    Status    `json:"status"`
	PostedAt  time.Time `json:"posted_at"`
}

// Notice is a village's public notice of one month's awards.
type Notice struct {
	VillageID int64         `json:"village_id"`
	Period    string        `json:"period"` // 2026-03
	Label     string        `json:"label"`  // 2026年3月
	ClosesAt  time.Time     `json:"closes_at"`
	Open      bool          `json:"open"`
	Entries   []NoticeEntry `json:"entries"`
	Total     int64         `json:"total"`
}

// Notice lists the awards posted in a village in the month named by
// period ("2026-03"), names masked (张*三), with its objection window.
func (s *Service) Notice(ctx context.Context, village int64, period string, offset, limit int) (Notice, error) {
	start, err := time.ParseInLocation("2006-01", period, rules.China)
	if err != nil {
		return Notice{}, apperr.Invalid("period", "公示周期应为 2026-03 这样的月份")
	}
	st, err := s.Settings(ctx, village)
	if err != nil {
		return Notice{}, err
	}
	end := rules.Month.End(start)
	closes := rules.NoticeCloses(rules.Month, start, st.NoticeDays)
	n := Notice{VillageID: village, Period: period, Label: rules.Month.Label(start), ClosesAt: closes.UTC(),
		Open: s.clock().Before(closes), Entries: []NoticeEntry{}}
	q := s.db.WithContext(ctx).Table("awards AS a").Joins("JOIN residents r ON r.id = a.resident_id").
		Where("a.village_id = ? AND a.status IN ? AND a.posted_at >= ? AND a.posted_at < ?", village,
			[]string{string(Posted), string(Reversed)}, start.UTC(), end.UTC())
	if err := q.Count(&n.Total).Error; err != nil {
		return Notice{}, fmt.Errorf("awards: count notice: %w", err)
	}
	var rows []struct {
		ID        int64
		Name      string
		ItemCode  string
		ItemTitle string
		Points    int64
		Status    string
		PostedAt  time.Time
	}
	if err := q.Select("a.id, r.name, a.item_code, a.item_title, a.points, a.status, a.posted_at").Order("a.posted_at, a.id").
		Offset(offset).Limit(limit).Scan(&rows).Error; err != nil {
		return Notice{}, fmt.Errorf("awards: list notice: %w", err)
	}
	for _, r := range rows {
		n.Entries = append(n.Entries, NoticeEntry{AwardID: r.ID, Name: pii.MaskName(r.Name), ItemCode: r.ItemCode, ItemTitle: r.ItemTitle,
			Points: r.Points, Status: Status(r.Status), PostedAt: r.PostedAt.UTC()})
	}
	return n, nil
}
