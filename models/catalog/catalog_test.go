package catalog

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
	"github.com/villagepoints/jifen/rules"
)

func all(int64) bool { return true }

// TestAdoptEditAndVersions adopts the default template, customises an
// item (a new version; the old one stays readable and is refused for new
// awards), publishes a township template and adopts it without touching
// the village's own versions.
func TestAdoptEditAndVersions(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := New(db, nil)
		who := audit.System
		const village, township = 7, 3
		ad, err := s.Adopt(ctx, who, village, DefaultTemplateID, nil)
		if err != nil || len(ad.Created) < 35 || len(ad.Kept) != 0 {
			t.Fatalf("adopt default: %d created, %v", len(ad.Created), err)
		}
		cats, _ := s.Categories(ctx, village)
		if len(cats) < 8 {
			t.Fatalf("categories %v", cats)
		}
		items, err := s.Items(ctx, village, ItemFilter{SelfReport: true})
		if err != nil || len(items) == 0 {
			t.Fatalf("self-report items: %v", err)
		}
		v1 := items[0]
		in := InputOf(v1.Rule())
		in.Points = v1.Points + 1
		in.Caps = []rules.Cap{{Subject: rules.PerHousehold, Period: rules.Week, MaxTimes: 1}}
		v2, err := s.UpdateItem(ctx, who, all, v1.ID, in)
		if err != nil || v2.Version != 2 || v2.Code != v1.Code || !v2.Current {
			t.Fatalf("edit: %+v %v", v2, err)
		}
		if _, err := s.UpdateItem(ctx, who, all, v1.ID, in); !apperr.Is(err, CodeItemChanged) {
			t.Fatalf("editing a superseded version: %v", err)
		}
		if old, _ := s.Item(ctx, v1.ID); old.Current || old.Points != v1.Points {
			t.Fatalf("old version changed: %+v", old)
		}
		if err := db.Transaction(func(tx *gorm.DB) error { _, err := CurrentForAward(tx, village, v1.ID); return err }); !apperr.Is(err, CodeItemChanged) {
			t.Fatalf("award with an old version: %v", err)
		}
		vs, _ := s.Versions(ctx, v2.ID)
		if len(vs) != 2 || vs[0].Version != 2 {
			t.Fatalf("versions %+v", vs)
		}
		bad := in
		bad.Category = "不存在的类别"
		if _, err := s.UpdateItem(ctx, who, all, v2.ID, bad); apperr.From(err).Field != "category" {
			t.Fatalf("unknown category: %v", err)
		}
		if _, err := s.SetCategories(ctx, who, village, []string{"只剩一个"}); !apperr.Is(err, apperr.CodeConflict) {
			t.Fatalf("dropping a used category: %v", err)
		}
		// A township template: one new code, one the village already has.
		newItem := ItemInput{Code: "ZX-01", Category: "公益志愿", Title: "参加义诊志愿服务", Points: 3, Track: rules.Volunteer, AwardRoles: []string{"social_worker"}}
		tpl, err := s.Publish(ctx, who, township, "镇模板", []ItemInput{newItem, InputOf(v1.Rule())})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Adopt(ctx, who, village, tpl.ID, []int64{99}); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("adopting another township's template: %v", err)
		}
		ad, err = s.Adopt(ctx, who, village, tpl.ID, []int64{township})
		if err != nil || len(ad.Created) != 1 || len(ad.Kept) != 1 {
			t.Fatalf("adopt township template: %+v %v", ad, err)
		}
		if cur, _ := s.Item(ctx, v2.ID); !cur.Current || cur.Points != v2.Points {
			t.Fatalf("adoption overwrote the village's version: %+v", cur)
		}
		ts, _ := s.Templates(ctx, []int64{township})
		if len(ts) != 2 || ts[0].ID != DefaultTemplateID {
			t.Fatalf("templates %+v", ts)
		}
	})
}
