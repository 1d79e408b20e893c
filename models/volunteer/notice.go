package volunteer

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/notify"
	"github.com/villagepoints/jifen/rules"
)

// when is an activity's time as a villager reads it, China time, in the
// form a WeChat time keyword accepts ("2026年5月2日 09:00~12:00").
func when(a Activity) string {
	start, end := a.StartsAt.In(rules.China), a.EndsAt.In(rules.China)
	s := start.Format("2006年1月2日 15:04") + "~"
	if end.Format(time.DateOnly) == start.Format(time.DateOnly) {
		return s + end.Format("15:04")
	}
	return s + end.Format("2006年1月2日 15:04")
}

// notifyCancelled tells the residents of the given sign-ups that staff
// called the activity off, inside the cancelling transaction. The dedupe
// key names the activity and the resident: an activity is cancelled once.
func notifyCancelled(ctx context.Context, tx *gorm.DB, a Activity, residents []int64, reason string) error {
	data := map[string]string{"title": notify.Fit(a.Title), "time": when(a), "reason": notify.Fit(reason)}
	for _, r := range residents {
		if _, err := notify.Enqueue(ctx, tx, notify.Message{ResidentID: r, Kind: notify.ActivityCancelled, Data: data,
			DedupKey: fmt.Sprintf("volunteer-activity:%d:%d", a.ID, r)}); err != nil {
			return dbErr(err)
		}
	}
	return nil
}

// notifyPromoted tells a waitlisted resident they got a place, inside the
// transaction that promotes them. A resident may be promoted again after
// cancelling and joining the waiting list anew, so the dedupe key names
// the sign-up and the moment it joined the list (its updated_at while
// waitlisted): one message per stint on the list.
func notifyPromoted(ctx context.Context, tx *gorm.DB, a Activity, waiting Signup) error {
	data := map[string]string{"title": notify.Fit(a.Title), "time": when(a)}
	if a.Place != "" {
		data["place"] = notify.Fit(a.Place)
	}
	_, err := notify.Enqueue(ctx, tx, notify.Message{ResidentID: waiting.ResidentID, Kind: notify.WaitlistPromoted, Data: data,
		DedupKey: fmt.Sprintf("volunteer-signup:%d:%d", waiting.ID, waiting.UpdatedAt.UnixMicro())})
	return dbErr(err)
}
