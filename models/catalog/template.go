package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/rules"
)

// DefaultTemplateID names the embedded default template (rules'
// DefaultTemplate), which every village may adopt.
const DefaultTemplateID = 0

// Template is a published catalog a village may adopt.
type Template struct {
	ID        int64       `json:"id"`
	RegionID  int64       `json:"region_id"` // 0 for the embedded default
	Name      string      `json:"name"`
	ItemCount int         `json:"item_count"`
	Items     []ItemInput `json:"-"`
	CreatedAt time.Time   `json:"created_at"`
}

type templateRow struct {
	ID          int64 `gorm:"primaryKey"`
	RegionID    int64
	Name        string
	ItemsJSON   string `gorm:"column:items_json"`
	ItemCount   int
	PublishedBy int64
	CreatedAt   time.Time
}

func (templateRow) TableName() string { return "rule_templates" }

func (r templateRow) template() (Template, error) {
	t := Template{ID: r.ID, RegionID: r.RegionID, Name: r.Name, ItemCount: r.ItemCount, CreatedAt: r.CreatedAt.UTC()}
	if err := json.Unmarshal([]byte(r.ItemsJSON), &t.Items); err != nil {
		return t, fmt.Errorf("catalog: template %d: %w", r.ID, err)
	}
	return t, nil
}

func defaultTemplate() (Template, error) {
	d, err := rules.DefaultTemplate()
	if err != nil {
		return Template{}, err
	}
	t := Template{ID: DefaultTemplateID, Name: d.Name, ItemCount: len(d.Items)}
	for _, it := range d.Items {
		t.Items = append(t.Items, InputOf(it))
	}
	return t, nil
}

// Templates lists the default template and those published on regions
// (a village's township and county), newest first after the default.
func (s *Store) Templates(ctx context.Context, regions []int64) ([]Template, error) {
	d, err := defaultTemplate()
	if err != nil {
		return nil, err
	}
	out := []Template{d}
	if len(regions) == 0 {
		return out, nil
	}
	var rows []templateRow
	if err := s.db.WithContext(ctx).Select("id, region_id, name, item_count, created_at").Where("region_id IN ?", regions).Order("id DESC").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("catalog: list templates: %w", err)
	}
	for _, r := range rows {
		out = append(out, Template{ID: r.ID, RegionID: r.RegionID, Name: r.Name, ItemCount: r.ItemCount, CreatedAt: r.CreatedAt.UTC()})
	}
	return out, nil
}

// Publish stores a template on a township or county region. Templates are
// immutable: publishing again makes a new one.
func (s *Store) Publish(ctx context.Context, who audit.Actor, region int64, name string, items []ItemInput) (Template, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return Template{}, apperr.Invalid("name", "模板名称不能为空且不超过 100 个字")
	}
	if len(items) == 0 || len(items) > 300 {
		return Template{}, apperr.Invalid("items", "模板须有 1 到 300 个条目")
	}
	codes := map[string]bool{}
	for i := range items {
		if err := items[i].validate(); err != nil {
			e := apperr.From(err)
			return Template{}, apperr.Invalid(fmt.Sprintf("items[%d].%s", i, e.Field), e.Message)
		}
		if codes[items[i].Code] {
			return Template{}, apperr.Invalid(fmt.Sprintf("items[%d].code", i), "模板内条目编号重复："+items[i].Code)
		}
		codes[items[i].Code] = true
	}
	b, err := json.Marshal(items)
	if err != nil {
		return Template{}, err
	}
	row := templateRow{RegionID: region, Name: name, ItemsJSON: string(b), ItemCount: len(items), PublishedBy: who.StaffID, CreatedAt: s.clock()}
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return fmt.Errorf("catalog: publish template: %w", err)
		}
		return audit.Record(ctx, tx, who, audit.Change{Action: "rule_template.publish", TargetType: "rule_template", TargetID: row.ID,
			After: map[string]any{"region_id": region, "name": name, "items": len(items)}})
	})
	if err != nil {
		return Template{}, err
	}
	return row.template()
}

// Adoption is what adopting a template did.
type Adoption struct {
	TemplateID int64    `json:"template_id"`
	Created    []string `json:"created"`
	// Kept lists codes the village already had: adoption never overwrites
	// a village's own version (一村一品); edit the item to take the new text.
	Kept []string `json:"kept"`
}

// Adopt copies a template's items into a village as version 1 of each
// code it does not have yet, and adds the template's categories. regions
// are the regions whose templates the village may adopt (its township and
// county); the default template is always allowed.
func (s *Store) Adopt(ctx context.Context, who audit.Actor, village, templateID int64, regions []int64) (Adoption, error) {
	var t Template
	var err error
	if templateID == DefaultTemplateID {
		t, err = defaultTemplate()
	} else {
		var rows []templateRow
		if err = s.db.WithContext(ctx).Where("id = ?", templateID).Limit(1).Find(&rows).Error; err != nil {
			return Adoption{}, fmt.Errorf("catalog: read template: %w", err)
		}
		if len(rows) == 0 || !slices.Contains(regions, rows[0].RegionID) {
			return Adoption{}, apperr.NotFound("模板")
		}
		t, err = rows[0].template()
	}
	if err != nil {
		return Adoption{}, err
	}
	out := Adoption{TemplateID: templateID, Created: []string{}, Kept: []string{}}
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		out.Created, out.Kept = []string{}, []string{}
		now := s.clock()
		existing, err := categoriesTx(tx, village)
		if err != nil {
			return err
		}
		var cats []string
		if len(existing) == 0 {
			cats = slices.Clone(DefaultCategories)
		}
		for _, it := range t.Items {
			if !slices.Contains(existing, it.Category) && !slices.Contains(cats, it.Category) {
				cats = append(cats, it.Category)
			}
		}
		if err := insertCategories(tx, village, cats, len(existing), now); err != nil {
			return err
		}
		var have []string
		if err := tx.Model(&itemRow{}).Where("village_id = ?", village).Distinct().Pluck("code", &have).Error; err != nil {
			return fmt.Errorf("catalog: existing codes: %w", err)
		}
		var tid *int64
		if t.ID != DefaultTemplateID {
			tid = &t.ID
		}
		for _, it := range t.Items {
			if slices.Contains(have, it.Code) {
				out.Kept = append(out.Kept, it.Code)
				continue
			}
			row := rowOf(village, 1, it, who.StaffID, tid, now)
			if err := tx.Create(&row).Error; err != nil {
				return fmt.Errorf("catalog: adopt item %s: %w", it.Code, err)
			}
			out.Created = append(out.Created, it.Code)
		}
		return audit.Record(ctx, tx, who, audit.Change{VillageID: village, Action: "rule_template.adopt", TargetType: "rule_template", TargetID: templateID, After: out})
	})
	return out, err
}
