package rules

import (
	"embed"
	"encoding/json"
	"fmt"
	"time"
)

//go:embed templates/*.json
var templateFiles embed.FS

// Template is a published catalog that a county or township offers and a
// village adopts, then customises (一村一品).
type Template struct {
	Name    string
	Version int
	Items   []Item
}

type templateFile struct {
	Name    string         `json:"name"`
	Version int            `json:"version"`
	Items   []templateItem `json:"items"`
}

type templateItem struct {
	Code          string   `json:"code"`
	Category      string   `json:"category"`
	Title         string   `json:"title"`
	Description   string   `json:"description"`
	Points        int64    `json:"points"`
	Track         Track    `json:"track"`
	Caps          []Cap    `json:"caps"`
	CooldownHours int      `json:"cooldown_hours"`
	MinPhotos     int      `json:"min_photos"`
	AwardRoles    []string `json:"award_roles"`
	SelfReport    bool     `json:"self_report"`
	Veto          bool     `json:"veto"`
	VetoScope     Subject  `json:"veto_scope"`
}

// DefaultTemplate is the shipped catalog of about forty items written from
// the kinds of clauses county plans list: 社会公德, 环境卫生, 邻里和谐,
// 移风易俗, 孝老爱亲, 遵纪守法, 平安建设, 公益志愿, 村务参与 and 党员模范.
func DefaultTemplate() (Template, error) {
	b, err := templateFiles.ReadFile("templates/default.json")
	if err != nil {
		return Template{}, err
	}
	var f templateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return Template{}, fmt.Errorf("rules: default template: %w", err)
	}
	t := Template{Name: f.Name, Version: f.Version}
	for _, ti := range f.Items {
		it := Item{Code: ti.Code, Category: ti.Category, Title: ti.Title, Description: ti.Description, Points: ti.Points, Track: ti.Track,
			Caps: ti.Caps, Cooldown: time.Duration(ti.CooldownHours) * time.Hour, MinPhotos: ti.MinPhotos,
			AwardRoles: ti.AwardRoles, SelfReport: ti.SelfReport, Veto: ti.Veto, VetoScope: ti.VetoScope, Version: 1}
		if err := it.Validate(); err != nil {
			return Template{}, fmt.Errorf("rules: default template item %s: %w", ti.Code, err)
		}
		t.Items = append(t.Items, it)
	}
	return t, nil
}
