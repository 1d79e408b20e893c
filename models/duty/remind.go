package duty

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/notify"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/rules"
)

// ReminderLead is how long before a period closes its reminders go out.
const ReminderLead = 3 * 24 * time.Hour

// RemindMissing sends a DutyReportDue notification to every member of
// every village who has no duty report in the period containing now,
// once that period closes within lead. Each message carries a dedupe key
// naming the village, period and member, so however often this runs (every
// replica, every hour) a member is reminded at most once per period. It
// returns how many messages were new.
func (s *Service) RemindMissing(ctx context.Context, lead time.Duration) (int, error) {
	now := s.clock()
	var villages []Settings
	if err := s.db.WithContext(ctx).Order("village_id").Find(&villages).Error; err != nil {
		return 0, apperr.Internal(err)
	}
	sent := 0
	for _, st := range villages {
		p := rules.Period(st.Period)
		end := p.End(now)
		if end.Sub(now) > lead {
			continue
		}
		missing, err := s.MissingReports(ctx, st.VillageID, now)
		if err != nil {
			return sent, err
		}
		deadline := end.Add(-time.Second).In(rules.China).Format("1月2日")
		for _, m := range missing.Members {
			var id int64
			// One transaction per message: the inbox row and its WeChat
			// delivery row exist together or not at all.
			err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
				var err error
				id, err = notify.Enqueue(ctx, tx, notify.Message{ResidentID: m.ResidentID, Kind: notify.DutyReportDue,
					Data:     map[string]string{"period": p.Label(now), "deadline": deadline},
					DedupKey: fmt.Sprintf("duty-due:%d:%s:%d", st.VillageID, missing.PeriodKey, m.ResidentID)})
				return err
			})
			if err != nil {
				return sent, apperr.Internal(err)
			}
			if id != 0 {
				sent++
			}
		}
	}
	return sent, nil
}
