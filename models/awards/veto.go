package awards

import (
	"context"
	"fmt"
	"strconv"

	"github.com/villagepoints/jifen/rules"
)

// syncVeto tells the rankings the current state of one veto award: a
// posted award records its veto for the month, quarter and year of the
// act; a reversed one lifts them unless another posted veto award of the
// same subject still stands in that period. The mark is cleared only if
// the award did not change meanwhile.
func (s *Service) syncVeto(ctx context.Context, id int64) error {
	if s.opts.Vetoes == nil {
		return fmt.Errorf("awards: no veto recorder wired")
	}
	var rows []awardRow
	if err := s.db.WithContext(ctx).Where("id = ? AND veto_pending = ?", id, true).Limit(1).Find(&rows).Error; err != nil {
		return fmt.Errorf("awards: read veto award: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	r := rows[0]
	at := r.CreatedAt
	if r.PostedAt != nil {
		at = *r.PostedAt
	}
	for _, key := range rules.VetoPeriods(at) {
		v := Veto{VillageID: r.VillageID, Household: r.VetoSubject == "household", SubjectID: r.VetoSubjectID, PeriodKey: key,
			Reason: "一票否决：" + r.ItemTitle, Source: "award:" + strconv.FormatInt(r.ID, 10), By: "staff:" + strconv.FormatInt(r.ActorStaffID, 10)}
		var err error
		switch Status(r.Status) {
		case Posted:
			err = s.opts.Vetoes.RecordVeto(ctx, v)
		case Reversed:
			var others int64
			p, _ := periodOfKey(key)
			if err = s.db.WithContext(ctx).Model(&awardRow{}).Where("village_id = ? AND veto_subject = ? AND veto_subject_id = ? AND status = ? AND id <> ? AND posted_at >= ? AND posted_at < ?",
				r.VillageID, r.VetoSubject, r.VetoSubjectID, string(Posted), r.ID, p.Start(at).UTC(), p.End(at).UTC()).Count(&others).Error; err == nil && others == 0 {
				err = s.opts.Vetoes.LiftVeto(ctx, v)
			}
		}
		if err != nil {
			return err
		}
	}
	return s.db.WithContext(ctx).Model(&awardRow{}).Where("id = ? AND status = ?", r.ID, r.Status).Update("veto_pending", false).Error
}

func periodOfKey(key string) (rules.Period, bool) {
	switch {
	case len(key) == 7 && key[4] == '-' && key[5] == 'Q':
		return rules.Quarter, true
	case len(key) == 7:
		return rules.Month, true
	case len(key) == 4:
		return rules.Year, true
	}
	return rules.AllTime, false
}

// SyncVetoes tells the rankings about every veto award still marked, for
// a worker to run periodically (and after a recorder is first wired). It
// returns how many it synced.
func (s *Service) SyncVetoes(ctx context.Context) (int, error) {
	var ids []int64
	if err := s.db.WithContext(ctx).Model(&awardRow{}).Where("veto_pending = ?", true).Order("id").Limit(500).Pluck("id", &ids).Error; err != nil {
		return 0, fmt.Errorf("awards: pending vetoes: %w", err)
	}
	for i, id := range ids {
		if err := s.syncVeto(ctx, id); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}
