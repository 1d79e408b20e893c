// Package audit keeps the append-only log of every staff write (who, what,
// when, before/after) that the supervision committee (村务监督委员会) reads.
// Entries are written in the same transaction as the change they describe,
// so a change without its entry cannot exist.
package audit

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm"
)

// Actor is who performs a write, as seen by the request that carries it.
type Actor struct {
	StaffID   int64
	Name      string
	RequestID string
	IP        string
}

// System is the actor of writes no person triggered (expiry, imports run by
// the server itself).
var System = Actor{StaffID: 0, Name: "system"}

// Entry is one audit log row.
type Entry struct {
	ID         int64     `gorm:"primaryKey" json:"id"`
	ActorID    int64     `json:"actor_id"`
	ActorName  string    `json:"actor_name"`
	VillageID  *int64    `json:"village_id,omitempty"`
	Action     string    `json:"action"`
	TargetType string    `json:"target_type"`
	TargetID   int64     `json:"target_id"`
	BeforeJSON *string   `gorm:"column:before_json" json:"before,omitempty"`
	AfterJSON  *string   `gorm:"column:after_json" json:"after,omitempty"`
	RequestID  string    `json:"request_id"`
	IP         string    `gorm:"column:ip" json:"ip"`
	CreatedAt  time.Time `json:"created_at"`
}

// TableName pins the table name.
func (Entry) TableName() string { return "audit_log" }

// Change describes one write for Record.
type Change struct {
	VillageID  int64 // 0 when the write is not tied to a village
	Action     string
	TargetType string
	TargetID   int64
	Before     any // nil for creations
	After      any // nil for deletions
}

// Record appends an entry for ch inside tx.
func Record(ctx context.Context, tx *gorm.DB, who Actor, ch Change) error {
	e := Entry{
		ActorID: who.StaffID, ActorName: who.Name, Action: ch.Action,
		TargetType: ch.TargetType, TargetID: ch.TargetID,
		RequestID: who.RequestID, IP: who.IP, CreatedAt: time.Now().UTC(),
	}
	if ch.VillageID != 0 {
		v := ch.VillageID
		e.VillageID = &v
	}
	var err error
	if e.BeforeJSON, err = encode(ch.Before); err != nil {
		return err
	}
	if e.AfterJSON, err = encode(ch.After); err != nil {
		return err
	}
	return tx.WithContext(ctx).Create(&e).Error
}

func encode(v any) (*string, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

// Filter selects entries for List.
type Filter struct {
	VillageIDs []int64 // entries of these villages; required for scoped readers
	// IncludeGlobal adds entries not tied to any village (county readers).
	IncludeGlobal bool
	ActorID       int64
	Action        string
	TargetType    string
	TargetID      int64
	Since, Until  time.Time
}

// List returns entries newest first.
func List(ctx context.Context, db *gorm.DB, f Filter, offset, limit int) ([]Entry, int64, error) {
	q := db.WithContext(ctx).Model(&Entry{})
	if f.IncludeGlobal {
		q = q.Where("village_id IN ? OR village_id IS NULL", nonEmpty(f.VillageIDs))
	} else {
		q = q.Where("village_id IN ?", nonEmpty(f.VillageIDs))
	}
	if f.ActorID != 0 {
		q = q.Where("actor_id = ?", f.ActorID)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.TargetType != "" {
		q = q.Where("target_type = ?", f.TargetType)
	}
	if f.TargetID != 0 {
		q = q.Where("target_id = ?", f.TargetID)
	}
	if !f.Since.IsZero() {
		q = q.Where("created_at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		q = q.Where("created_at < ?", f.Until)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var out []Entry
	err := q.Order("id DESC").Offset(offset).Limit(limit).Find(&out).Error
	return out, total, err
}

// nonEmpty keeps "IN ()" valid SQL when a reader has no villages.
func nonEmpty(ids []int64) []int64 {
	if len(ids) == 0 {
		return []int64{-1}
	}
	return ids
}
