// Package notify tells residents what happened to them: points awarded or
// deducted, an appeal decided, a redemption ready or expired, a duty report
// due, a volunteer activity cancelled or a waitlisted place won. Every
// message lands in the resident's in-app inbox, written in the producer's
// own transaction (Enqueue), and is queued for WeChat as a subscribe
// message 订阅消息 that a Dispatcher sends later, retrying with backoff.
// Nothing depends on WeChat delivering: the inbox holds the same text.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Kind is what a message is about.
type Kind string

// The kinds. Each has a layout (layout.go) that says which Data keys it
// needs and how it reads in the inbox and in WeChat.
const (
	PointsAwarded     Kind = "points_awarded"
	PointsDeducted    Kind = "points_deducted"
	AppealDecided     Kind = "appeal_decided"
	RedemptionReady   Kind = "redemption_ready"
	RedemptionExpired Kind = "redemption_expired"
	// DutyReportDue reminds a party member with no duty report 履职纪实 in
	// the period that it closes soon.
	DutyReportDue Kind = "duty_report_due"
	// ActivityCancelled tells a resident enrolled or waitlisted for a
	// volunteer activity 志愿活动 that staff called it off, and why.
	ActivityCancelled Kind = "activity_cancelled"
	// WaitlistPromoted tells a waitlisted 候补 resident that a place freed
	// up and they are now enrolled.
	WaitlistPromoted Kind = "waitlist_promoted"
)

// Kinds lists every kind.
var Kinds = []Kind{PointsAwarded, PointsDeducted, AppealDecided, RedemptionReady, RedemptionExpired, DutyReportDue, ActivityCancelled, WaitlistPromoted}

// Message is one notification for a resident. Data holds the kind's
// values ("points", "reason", …, see layout.go) as text.
type Message struct {
	ResidentID int64
	Kind       Kind
	Data       map[string]string
	// DedupKey, when set, makes a second Enqueue of the same Kind and key
	// a no-op, for producers that may run twice (e.g. "posting:123").
	DedupKey string
}

// Notification is one inbox row as stored.
type Notification struct {
	ID         int64 `gorm:"primaryKey"`
	ResidentID int64
	Kind       Kind
	Title      string
	Body       string
	DataJSON   string `gorm:"column:data_json"`
	DedupKey   *string
	ReadAt     *time.Time
	CreatedAt  time.Time
}

// TableName pins the table name.
func (Notification) TableName() string { return "notifications" }

// DeliveryRecord is the WeChat delivery of one notification as stored.
type DeliveryRecord struct {
	ID             int64 `gorm:"primaryKey"`
	NotificationID int64
	Status         string
	Attempts       int
	NextAttemptAt  time.Time
	LeaseOwner     string
	LeaseUntil     *time.Time
	LastError      string
	SentAt         *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// TableName pins the table name.
func (DeliveryRecord) TableName() string { return "notification_deliveries" }

// Delivery statuses. Pending rows are retried until sent, or until a
// permanent refusal or MaxAttempts makes them failed; skipped rows had
// nobody or nothing to send to (no binding, no template, no WeChat).
const (
	StatusPending = "pending"
	StatusSent    = "sent"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// Enqueue writes a notification to the resident's inbox and queues its
// WeChat delivery, inside tx: the producer's transaction, so a message
// exists exactly when the change it reports does. It returns the
// notification's id, or 0 when DedupKey was already used.
func Enqueue(ctx context.Context, tx *gorm.DB, m Message) (int64, error) {
	n, err := notificationOf(m, time.Now().UTC())
	if err != nil {
		return 0, err
	}
	// A duplicate DedupKey fails this statement only; the producer's
	// transaction goes on (MySQL and SQLite roll back the statement alone).
	if err := tx.WithContext(ctx).Create(&n).Error; err != nil {
		if m.DedupKey != "" && sqldb.IsDuplicateKey(err) {
			return 0, nil
		}
		return 0, err
	}
	d := pending(n.ID, n.CreatedAt)
	if err := tx.WithContext(ctx).Create(&d).Error; err != nil {
		return 0, err
	}
	return n.ID, nil
}

// enqueueBatch bounds the rows of one multi-row INSERT.
const enqueueBatch = 200

// EnqueueAll is Enqueue for many messages of one kind, each with its own
// DedupKey, in three statements per batch instead of two per message: a
// consumer that reports a burst of events (every order of the last second)
// pays for the burst, not for each event. A key already used is skipped,
// as in Enqueue.
func EnqueueAll(ctx context.Context, tx *gorm.DB, kind Kind, ms []Message) error {
	now := time.Now().UTC()
	rows := make([]Notification, 0, len(ms))
	keys := make([]string, 0, len(ms))
	for _, m := range ms {
		if m.Kind != kind {
			return fmt.Errorf("notify: %s message in a batch of %s", m.Kind, kind)
		}
		if m.DedupKey == "" {
			return fmt.Errorf("notify: %s message without a dedup key in a batch", kind)
		}
		n, err := notificationOf(m, now)
		if err != nil {
			return err
		}
		rows = append(rows, n)
		keys = append(keys, m.DedupKey)
	}
	tx = tx.WithContext(ctx)
	for start := 0; start < len(rows); start += enqueueBatch {
		end := min(start+enqueueBatch, len(rows))
		// Inserted ids are read back by key rather than taken from the
		// driver: with keys skipped, a multi-row insert's ids need not
		// be consecutive.
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Omit("ID").Create(rows[start:end]).Error; err != nil {
			return fmt.Errorf("notify: insert %s messages: %w", kind, err)
		}
		var ids []int64
		if err := tx.Model(&Notification{}).Where("kind = ? AND dedup_key IN ?", kind, keys[start:end]).Pluck("id", &ids).Error; err != nil {
			return fmt.Errorf("notify: read back %s messages: %w", kind, err)
		}
		ds := make([]DeliveryRecord, len(ids))
		for i, id := range ids {
			ds[i] = pending(id, now)
		}
		// A message whose key was used before already has its delivery.
		if len(ds) > 0 {
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Omit("ID").Create(&ds).Error; err != nil {
				return fmt.Errorf("notify: queue %s deliveries: %w", kind, err)
			}
		}
	}
	return nil
}

// notificationOf checks a message against its kind's layout and renders it.
func notificationOf(m Message, now time.Time) (Notification, error) {
	l, ok := layouts[m.Kind]
	if !ok {
		return Notification{}, fmt.Errorf("notify: unknown kind %q", m.Kind)
	}
	if m.ResidentID <= 0 {
		return Notification{}, errors.New("notify: message without a resident")
	}
	if err := l.check(m.Data); err != nil {
		return Notification{}, fmt.Errorf("notify: %s: %w", m.Kind, err)
	}
	data, err := json.Marshal(m.Data)
	if err != nil {
		return Notification{}, err
	}
	n := Notification{ResidentID: m.ResidentID, Kind: m.Kind, Title: l.title, Body: l.body(m.Data), DataJSON: string(data), CreatedAt: now}
	if m.DedupKey != "" {
		n.DedupKey = &m.DedupKey
	}
	return n, nil
}

func pending(notificationID int64, now time.Time) DeliveryRecord {
	return DeliveryRecord{NotificationID: notificationID, Status: StatusPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
}

// Item is a notification as the resident sees it in the inbox.
type Item struct {
	ID        int64             `json:"id"`
	Kind      Kind              `json:"kind"`
	Title     string            `json:"title"`
	Body      string            `json:"body"`
	Data      map[string]string `json:"data"`
	Read      bool              `json:"read"`
	CreatedAt time.Time         `json:"created_at"`
}

func itemOf(n Notification) Item {
	it := Item{ID: n.ID, Kind: n.Kind, Title: n.Title, Body: n.Body, Read: n.ReadAt != nil, CreatedAt: n.CreatedAt, Data: map[string]string{}}
	_ = json.Unmarshal([]byte(n.DataJSON), &it.Data)
	return it
}

// Inbox reads and marks a resident's notifications. Every method takes the
// resident whose inbox it is; another resident's notification is not found.
type Inbox struct {
	db *gorm.DB
}

// NewInbox returns an Inbox over db.
func NewInbox(db *gorm.DB) *Inbox { return &Inbox{db: db} }

// List returns one page of a resident's notifications, newest first.
func (i *Inbox) List(ctx context.Context, residentID int64, unreadOnly bool, offset, limit int) ([]Item, int64, error) {
	q := i.db.WithContext(ctx).Model(&Notification{}).Where("resident_id = ?", residentID)
	if unreadOnly {
		q = q.Where("read_at IS NULL")
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var ns []Notification
	if err := q.Order("id DESC").Offset(offset).Limit(limit).Find(&ns).Error; err != nil {
		return nil, 0, err
	}
	out := make([]Item, len(ns))
	for k, n := range ns {
		out[k] = itemOf(n)
	}
	return out, total, nil
}

// MarkRead marks one of the resident's notifications read.
func (i *Inbox) MarkRead(ctx context.Context, residentID, id int64) (Item, error) {
	var n Notification
	err := i.db.WithContext(ctx).Where("id = ? AND resident_id = ?", id, residentID).First(&n).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Item{}, apperr.NotFound("消息")
	}
	if err != nil {
		return Item{}, err
	}
	if n.ReadAt == nil {
		now := time.Now().UTC()
		if err := i.db.WithContext(ctx).Model(&Notification{}).Where("id = ? AND read_at IS NULL", n.ID).Update("read_at", now).Error; err != nil {
			return Item{}, err
		}
		n.ReadAt = &now
	}
	return itemOf(n), nil
}
