// Package catalog keeps each village's rule catalog 积分细则: its editable
// categories, its rule items as immutable versions (editing makes a new
// version; awards keep the version they used), and the templates a
// township or county publishes and a village adopts and then customises
// (一村一品). The judgement of an award is rules' pure engine; this package
// only stores what it judges by.
package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/rules"
)

// CodeItemChanged refuses a write made against a version that has since
// been replaced, so staff never act on a rule they did not see.
const CodeItemChanged apperr.Code = "RULE_ITEM_CHANGED"

// Store is the catalog's storage.
type Store struct {
	db  *gorm.DB
	now func() time.Time
}

// New returns a Store over a migrated database; now is the clock (nil:
// time.Now).
func New(db *gorm.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Item is one version of a village's rule item as the console shows it.
type Item struct {
	ID            int64         `json:"id"`
	VillageID     int64         `json:"village_id"`
	Code          string        `json:"code"`
	Version       int           `json:"version"`
	Category      string        `json:"category"`
	Title         string        `json:"title"`
	Description   string        `json:"description"`
	Points        int64         `json:"points"`
	Track         rules.Track   `json:"track"`
	Caps          []rules.Cap   `json:"caps"`
	CooldownHours int           `json:"cooldown_hours"`
	MinPhotos     int           `json:"min_photos"`
	AwardRoles    []string      `json:"award_roles"`
	SelfReport    bool          `json:"self_report"`
	Veto          bool          `json:"veto"`
	VetoScope     rules.Subject `json:"veto_scope,omitempty"`
	ValidFrom     *time.Time    `json:"valid_from,omitempty"`
	ValidUntil    *time.Time    `json:"valid_until,omitempty"`
	TemplateID    *int64        `json:"template_id,omitempty"`
	// Current is false for versions an edit has replaced.
	Current   bool      `json:"current"`
	CreatedBy int64     `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// Rule is the item as the rules engine judges it.
func (it Item) Rule() rules.Item {
	r := rules.Item{ID: it.ID, Version: it.Version, Code: it.Code, Category: it.Category, Title: it.Title,
		Description: it.Description, Points: it.Points, Track: it.Track, Caps: it.Caps,
		Cooldown: time.Duration(it.CooldownHours) * time.Hour, MinPhotos: it.MinPhotos, AwardRoles: it.AwardRoles,
		SelfReport: it.SelfReport, Veto: it.Veto, VetoScope: it.VetoScope}
	if it.ValidFrom != nil {
		r.ValidFrom = *it.ValidFrom
	}
	if it.ValidUntil != nil {
		r.ValidUntil = *it.ValidUntil
	}
	return r
}

// ItemInput is an item definition from a request or a template.
type ItemInput struct {
	Code          string
	Category      string
	Title         string
	Description   string
	Points        int64
	Track         rules.Track
	Caps          []rules.Cap
	CooldownHours int
	MinPhotos     int
	AwardRoles    []string
	SelfReport    bool
	Veto          bool
	VetoScope     rules.Subject
	ValidFrom     *time.Time
	ValidUntil    *time.Time
}

// InputOf turns an engine item (a template's) into an input.
func InputOf(r rules.Item) ItemInput {
	return ItemInput{Code: r.Code, Category: r.Category, Title: r.Title, Description: r.Description, Points: r.Points,
		Track: r.Track, Caps: r.Caps, CooldownHours: int(r.Cooldown / time.Hour), MinPhotos: r.MinPhotos,
		AwardRoles: r.AwardRoles, SelfReport: r.SelfReport, Veto: r.Veto, VetoScope: r.VetoScope}
}

// awardRoles are the roles an item may name as awarders.
var awardRoles = map[string]bool{"social_worker": true, "village_admin": true}

// validate checks the definition with the engine's rules plus the
// catalog's own (known roles, hour-granular cooldowns).
func (in *ItemInput) validate() error {
	in.Code = strings.TrimSpace(in.Code)
	in.Title = strings.TrimSpace(in.Title)
	in.Category = strings.TrimSpace(in.Category)
	if in.CooldownHours < 0 || in.CooldownHours > 24*366 {
		return apperr.Invalid("cooldown_hours", "冷却时间须在 0 到 8784 小时之间")
	}
	for _, r := range in.AwardRoles {
		if !awardRoles[r] {
			return apperr.Invalid("award_roles", "可评分角色只能是 social_worker 或 village_admin")
		}
	}
	if in.Caps == nil {
		in.Caps = []rules.Cap{}
	}
	if in.AwardRoles == nil {
		in.AwardRoles = []string{}
	}
	probe := Item{Code: in.Code, Category: in.Category, Title: in.Title, Description: in.Description, Points: in.Points,
		Track: in.Track, Caps: in.Caps, CooldownHours: in.CooldownHours, MinPhotos: in.MinPhotos, AwardRoles: in.AwardRoles,
		SelfReport: in.SelfReport, Veto: in.Veto, VetoScope: in.VetoScope, ValidFrom: in.ValidFrom, ValidUntil: in.ValidUntil}
	return probe.Rule().Validate()
}

type itemRow struct {
	ID              int64 `gorm:"primaryKey"`
	VillageID       int64
	Code            string
	Version         int
	Category        string
	Title           string
	Description     string
	Points          int64
	Track           string
	CapsJSON        string `gorm:"column:caps_json"`
	CooldownSeconds int64
	MinPhotos       int
	AwardRoles      string
	SelfReport      bool
	Veto            bool
	VetoScope       string
	ValidFrom       *time.Time
	ValidUntil      *time.Time
	TemplateID      *int64
	CreatedBy       int64
	CreatedAt       time.Time
	SupersededAt    *time.Time
}

func (itemRow) TableName() string { return "rule_items" }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (r itemRow) item() Item {
	it := Item{ID: r.ID, VillageID: r.VillageID, Code: r.Code, Version: r.Version, Category: r.Category, Title: r.Title,
		Description: r.Description, Points: r.Points, Track: rules.Track(r.Track), CooldownHours: int(r.CooldownSeconds / 3600),
		MinPhotos: r.MinPhotos, SelfReport: r.SelfReport, Veto: r.Veto, VetoScope: rules.Subject(r.VetoScope),
		ValidFrom: utcPtr(r.ValidFrom), ValidUntil: utcPtr(r.ValidUntil), TemplateID: r.TemplateID,
		Current: r.SupersededAt == nil, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), AwardRoles: []string{}}
	_ = json.Unmarshal([]byte(r.CapsJSON), &it.Caps)
	if it.Caps == nil {
		it.Caps = []rules.Cap{}
	}
	if r.AwardRoles != "" {
		it.AwardRoles = strings.Split(r.AwardRoles, ",")
	}
	return it
}

func rowOf(village int64, version int, in ItemInput, by int64, templateID *int64, now time.Time) itemRow {
	caps, _ := json.Marshal(in.Caps)
	return itemRow{VillageID: village, Code: in.Code, Version: version, Category: in.Category, Title: in.Title,
		Description: in.Description, Points: in.Points, Track: string(in.Track), CapsJSON: string(caps),
		CooldownSeconds: int64(in.CooldownHours) * 3600, MinPhotos: in.MinPhotos, AwardRoles: strings.Join(in.AwardRoles, ","),
		SelfReport: in.SelfReport, Veto: in.Veto, VetoScope: string(in.VetoScope), ValidFrom: utcPtr(in.ValidFrom),
		ValidUntil: utcPtr(in.ValidUntil), TemplateID: templateID, CreatedBy: by, CreatedAt: now}
}

// ItemFilter narrows a village's list of current items.
type ItemFilter struct {
	Category string
	// SelfReport lists only items villagers may report themselves.
	SelfReport bool
}

// Items lists a village's current item versions by category and code.
func (s *Store) Items(ctx context.Context, village int64, f ItemFilter) ([]Item, error) {
	q := s.db.WithContext(ctx).Where("village_id = ? AND superseded_at IS NULL", village)
	if f.Category != "" {
		q = q.Where("category = ?", f.Category)
	}
	if f.SelfReport {
		q = q.Where("self_report = ?", true)
	}
	var rows []itemRow
	if err := q.Order("category, code").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("catalog: list items: %w", err)
	}
	out := make([]Item, len(rows))
	for i, r := range rows {
		out[i] = r.item()
	}
	return out, nil
}

// ErrNotFound is returned for an item that does not exist.
var ErrNotFound = apperr.NotFound("积分细则条目")

// Item returns one version by id.
func (s *Store) Item(ctx context.Context, id int64) (Item, error) {
	return ItemByID(s.db.WithContext(ctx), id)
}

// ItemByID reads one version with db (a transaction on write paths).
func ItemByID(db *gorm.DB, id int64) (Item, error) {
	var rows []itemRow
	if err := db.Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return Item{}, fmt.Errorf("catalog: read item: %w", err)
	}
	if len(rows) == 0 {
		return Item{}, ErrNotFound
	}
	return rows[0].item(), nil
}

// CurrentForAward reads, with tx, the version id names for an award in
// village: it must be of the village and still current. A replaced
// version is refused with CodeItemChanged, so an award never silently
// uses a rule other than the one the staff member picked.
func CurrentForAward(tx *gorm.DB, village, id int64) (Item, error) {
	it, err := ItemByID(tx, id)
	if err != nil {
		return Item{}, err
	}
	if it.VillageID != village {
		return Item{}, ErrNotFound
	}
	if !it.Current {
		return Item{}, apperr.Newf(CodeItemChanged, "条目“%s”已修改为新版本，请刷新后重新选择", it.Title)
	}
	return it, nil
}

// CurrentByCode reads, with tx, the current version of a village's item
// code (a self-report approved after an edit uses the rule in force).
func CurrentByCode(tx *gorm.DB, village int64, code string) (Item, error) {
	var rows []itemRow
	if err := tx.Where("village_id = ? AND code = ? AND superseded_at IS NULL", village, code).Limit(1).Find(&rows).Error; err != nil {
		return Item{}, fmt.Errorf("catalog: read current item: %w", err)
	}
	if len(rows) == 0 {
		return Item{}, ErrNotFound
	}
	return rows[0].item(), nil
}

// Versions lists every version of the item id belongs to, newest first.
func (s *Store) Versions(ctx context.Context, id int64) ([]Item, error) {
	it, err := s.Item(ctx, id)
	if err != nil {
		return nil, err
	}
	var rows []itemRow
	if err := s.db.WithContext(ctx).Where("village_id = ? AND code = ?", it.VillageID, it.Code).Order("version DESC").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("catalog: list versions: %w", err)
	}
	out := make([]Item, len(rows))
	for i, r := range rows {
		out[i] = r.item()
	}
	return out, nil
}

// CreateItem adds version 1 of a new item code to a village.
func (s *Store) CreateItem(ctx context.Context, who audit.Actor, village int64, in ItemInput) (Item, error) {
	if err := in.validate(); err != nil {
		return Item{}, err
	}
	var out Item
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		if err := checkCategory(tx, village, in.Category); err != nil {
			return err
		}
		row := rowOf(village, 1, in, who.StaffID, nil, s.clock())
		if err := tx.Create(&row).Error; err != nil {
			if sqldb.IsDuplicateKey(err) {
				return apperr.Newf(apperr.CodeConflict, "本村已有编号为 %s 的条目", in.Code)
			}
			return fmt.Errorf("catalog: create item: %w", err)
		}
		out = row.item()
		return audit.Record(ctx, tx, who, audit.Change{VillageID: village, Action: "rule_item.create", TargetType: "rule_item", TargetID: row.ID, After: out})
	})
	return out, err
}

// UpdateItem replaces the item whose current version is id by a new
// version built from in (the code cannot change). Awards made under the
// old version keep pointing at it.
func (s *Store) UpdateItem(ctx context.Context, who audit.Actor, scope func(village int64) bool, id int64, in ItemInput) (Item, error) {
	if err := in.validate(); err != nil {
		return Item{}, err
	}
	var out Item
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var rows []itemRow
		if err := sqldb.ForUpdate(tx).Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
			return fmt.Errorf("catalog: lock item: %w", err)
		}
		if len(rows) == 0 || !scope(rows[0].VillageID) {
			return ErrNotFound
		}
		old := rows[0]
		if old.SupersededAt != nil {
			return apperr.Newf(CodeItemChanged, "条目“%s”已有更新的版本，请在最新版本上修改", old.Title)
		}
		if in.Code != "" && in.Code != old.Code {
			return apperr.Invalid("code", "条目编号不能修改")
		}
		in.Code = old.Code
		if err := checkCategory(tx, old.VillageID, in.Category); err != nil {
			return err
		}
		now := s.clock()
		res := tx.Model(&itemRow{}).Where("id = ? AND superseded_at IS NULL", old.ID).Update("superseded_at", now)
		if res.Error != nil {
			return fmt.Errorf("catalog: supersede item: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			return apperr.Newf(CodeItemChanged, "条目“%s”已有更新的版本，请在最新版本上修改", old.Title)
		}
		row := rowOf(old.VillageID, old.Version+1, in, who.StaffID, old.TemplateID, now)
		if err := tx.Create(&row).Error; err != nil {
			return fmt.Errorf("catalog: create version: %w", err)
		}
		out = row.item()
		return audit.Record(ctx, tx, who, audit.Change{VillageID: old.VillageID, Action: "rule_item.update", TargetType: "rule_item", TargetID: row.ID, Before: old.item(), After: out})
	})
	return out, err
}
