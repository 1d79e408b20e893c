package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
)

// Outgoing is one subscribe message to send.
type Outgoing struct {
	OpenID     string
	TemplateID string
	Page       string
	// Data maps template keywords to values.
	Data map[string]string
}

// Sender sends a subscribe message (models/wechat in production). An error
// that retrying cannot fix has, somewhere in its chain, a
// `Permanent() bool` method answering true; any other error is retried.
type Sender func(ctx context.Context, m Outgoing) error

// Recipients returns the openid of the WeChat user bound to a resident, or
// "" when there is none.
type Recipients func(ctx context.Context, residentID int64) (string, error)

// DispatcherConfig tunes a Dispatcher.
type DispatcherConfig struct {
	// Templates maps each kind to its subscribe template id; a kind without
	// one stays in the inbox only.
	Templates map[Kind]string
	// Page is the mini-program page a message opens (default the inbox).
	Page string
	// MaxAttempts is how many sends a message gets before it is given up
	// (default 8).
	MaxAttempts int
	// Backoff is the wait before attempt n+1 after n failed attempts
	// (default 30s doubling, at most 1h).
	Backoff func(n int) time.Duration
	// Interval is how often Run looks for due messages (default 2s).
	Interval time.Duration
	// Batch bounds the messages one round sends (default 50).
	Batch int
	// Lease is how long a replica owns a message it is sending; after a
	// crash another replica takes it once the lease ends (default 2m).
	Lease time.Duration
	Now   func() time.Time
	Log   *slog.Logger
}

// DefaultPage is the mini-program page a notification opens.
const DefaultPage = "pages/notifications/index"

// Dispatcher sends queued notifications to WeChat. Several replicas may
// run one each: a message is leased before it is sent, so one replica
// sends it (again only if that replica dies mid-send).
type Dispatcher struct {
	db    *gorm.DB
	send  Sender
	to    Recipients
	cfg   DispatcherConfig
	owner string
}

// NewDispatcher returns a Dispatcher. send may be nil when no mini-program
// is configured: messages are then marked skipped and stay in the inbox.
func NewDispatcher(db *gorm.DB, send Sender, to Recipients, cfg DispatcherConfig) *Dispatcher {
	if cfg.Page == "" {
		cfg.Page = DefaultPage
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 50
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Dispatcher{db: db, send: send, to: to, cfg: cfg, owner: hex.EncodeToString(b[:])}
}

// DefaultBackoff waits 30s after the first failure, doubling up to 1h.
func DefaultBackoff(n int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// Run sends due messages every Interval until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := d.RunOnce(ctx); err != nil && ctx.Err() == nil {
			d.cfg.Log.Error("notify: dispatch round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce sends the messages due now and reports how many it handled.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	now := d.cfg.Now()
	var ids []int64
	err := d.db.WithContext(ctx).Model(&DeliveryRecord{}).
		Where("status = ? AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)", StatusPending, now, now).
		Order("next_attempt_at, id").Limit(d.cfg.Batch).Pluck("id", &ids).Error
	if err != nil {
		return 0, err
	}
	done := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			return done, ctx.Err()
		}
		res := d.db.WithContext(ctx).Model(&DeliveryRecord{}).
			Where("id = ? AND status = ? AND (lease_until IS NULL OR lease_until < ?)", id, StatusPending, now).
			Updates(map[string]any{"lease_owner": d.owner, "lease_until": now.Add(d.cfg.Lease)})
		if res.Error != nil {
			return done, res.Error
		}
		if res.RowsAffected == 0 {
			continue // another replica took it
		}
		if err := d.deliver(ctx, id); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}

// deliver sends one leased message and records the outcome.
func (d *Dispatcher) deliver(ctx context.Context, id int64) error {
	var rec DeliveryRecord
	if err := d.db.WithContext(ctx).First(&rec, id).Error; err != nil {
		return err
	}
	var n Notification
	if err := d.db.WithContext(ctx).First(&n, rec.NotificationID).Error; err != nil {
		return err
	}
	template := d.cfg.Templates[n.Kind]
	switch {
	case template == "":
		return d.finish(ctx, rec, StatusSkipped, "未配置该类消息的订阅模板")
	case d.send == nil:
		return d.finish(ctx, rec, StatusSkipped, "未配置微信小程序")
	}
	openID, err := d.to(ctx, n.ResidentID)
	if err != nil {
		return d.retry(ctx, rec, err)
	}
	if openID == "" {
		return d.finish(ctx, rec, StatusSkipped, "村民未绑定微信")
	}
	var data map[string]string
	if err := json.Unmarshal([]byte(n.DataJSON), &data); err != nil {
		return d.finish(ctx, rec, StatusFailed, "消息数据损坏")
	}
	err = d.send(ctx, Outgoing{OpenID: openID, TemplateID: template, Page: d.cfg.Page, Data: layouts[n.Kind].wechatData(data, n.CreatedAt)})
	switch {
	case err == nil:
		return d.finish(ctx, rec, StatusSent, "")
	case permanent(err):
		return d.finish(ctx, rec, StatusFailed, err.Error())
	}
	return d.retry(ctx, rec, err)
}

func permanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// retry records a failed attempt: the message is tried again after the
// backoff, or given up once it has had MaxAttempts.
func (d *Dispatcher) retry(ctx context.Context, rec DeliveryRecord, cause error) error {
	attempts := rec.Attempts + 1
	if attempts >= d.cfg.MaxAttempts {
		d.cfg.Log.Warn("notify: giving up a message", "delivery", rec.ID, "attempts", attempts, "err", cause)
		return d.update(ctx, rec, map[string]any{"status": StatusFailed, "attempts": attempts,
			"last_error": clip(fmt.Sprintf("重试 %d 次后放弃：%v", attempts, cause))})
	}
	return d.update(ctx, rec, map[string]any{"attempts": attempts, "last_error": clip(cause.Error()),
		"next_attempt_at": d.cfg.Now().Add(d.cfg.Backoff(attempts))})
}

func (d *Dispatcher) finish(ctx context.Context, rec DeliveryRecord, status, why string) error {
	upd := map[string]any{"status": status, "last_error": clip(why)}
	if status == StatusSent {
		upd["sent_at"] = d.cfg.Now()
	}
	if status != StatusSkipped {
		upd["attempts"] = rec.Attempts + 1
	}
	return d.update(ctx, rec, upd)
}

// update writes the outcome and ends the lease, provided this replica
// still holds it.
func (d *Dispatcher) update(ctx context.Context, rec DeliveryRecord, upd map[string]any) error {
	upd["lease_owner"], upd["lease_until"], upd["updated_at"] = "", nil, d.cfg.Now()
	return d.db.WithContext(context.WithoutCancel(ctx)).Model(&DeliveryRecord{}).
		Where("id = ? AND lease_owner = ?", rec.ID, d.owner).Updates(upd).Error
}

func clip(s string) string {
	r := []rune(s)
	if len(r) > 450 {
		return string(r[:450])
	}
	return s
}
