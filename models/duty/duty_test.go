package duty

import (
	"context"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
	"github.com/villagepoints/jifen/rules"
)

func mustMembers(t *testing.T, db *gorm.DB, village int64, n int) []int64 {
	t.Helper()
	var ids []int64
	now := time.Now().UTC()
	for range n {
		row := map[string]any{"village_id": village, "name": "党员", "party_member": true, "created_at": now, "updated_at": now}
		if err := db.Table("residents").Create(row).Error; err != nil {
			t.Fatal(err)
		}
		var id int64
		db.Table("residents").Order("id DESC").Limit(1).Pluck("id", &id)
		ids = append(ids, id)
	}
	return ids
}

func TestClaimsAndAssessmentFlow(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		now := time.Date(2026, 4, 15, 2, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		ls := ledger.New(db, ledger.Options{Now: clock, SettingsTTL: -1})
		svc := New(db, func(tx *gorm.DB) LedgerTx { return ls.In(tx) }, clock)
		const village = 7
		members := mustMembers(t, db, village, 6)
		post, err := svc.CreatePost(ctx, village, "环境整治岗", "清理河道", 2, 10)
		if err != nil {
			t.Fatal(err)
		}
		other, _ := svc.CreatePost(ctx, village, "政策宣传岗", "", 5, 10)

		// Six members race for two seats.
		var wg sync.WaitGroup
		for _, m := range members {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := svc.ClaimPost(ctx, village, m, post.ID); err != nil && !apperr.Is(err, CodePostFull) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		var claims []Claim
		db.Where("post_id = ?", post.ID).Find(&claims)
		if len(claims) != 2 {
			t.Fatalf("%d claims on a 2-seat post", len(claims))
		}
		// One active post per member by default.
		if _, err := svc.ClaimPost(ctx, village, claims[0].ResidentID, other.ID); !apperr.Is(err, CodePostLimit) {
			t.Fatalf("second post: %v", err)
		}
		for _, c := range claims {
			if _, err := svc.DecideClaim(ctx, 1, c.ID, true, "", nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.FileReport(ctx, village, claims[0].ResidentID, post.ID, now, "清理河道垃圾", nil, nil, nil); err != nil {
			t.Fatal(err)
		}
		missing, err := svc.MissingReports(ctx, village, rules.Month, now)
		if err != nil || len(missing) != 1 || missing[0] != claims[1].ResidentID {
			t.Fatalf("missing reports %v %v", missing, err)
		}

		a, err := svc.OpenAssessment(ctx, 1, village, now)
		if err != nil {
			t.Fatal(err)
		}
		items, _ := svc.Items(ctx, a.ID)
		if len(items) != 2 {
			t.Fatalf("%d items", len(items))
		}
		if _, err := svc.Score(ctx, 1, items[0].ID, StageBranch, rules.Excellent, nil, "", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Score(ctx, 1, items[0].ID, StageSelf, rules.Qualified, nil, "", nil); !apperr.Is(err, CodeStageLocked) {
			t.Fatalf("self score after branch: %v", err)
		}
		if _, err := svc.Score(ctx, 1, items[1].ID, StageGroup, "", []int64{30, 30}, "", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Advance(ctx, 1, a.ID, StatusNotice, nil); !apperr.Is(err, CodeWrongStatus) {
			t.Fatalf("skip review: %v", err)
		}
		for _, to := range []string{StatusReview, StatusNotice} {
			if _, err := svc.Advance(ctx, 1, a.ID, to, nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.Advance(ctx, 1, a.ID, StatusFinal, nil); !apperr.Is(err, CodeNoticeActive) {
			t.Fatalf("final during notice: %v", err)
		}
		now = now.AddDate(0, 0, 6)
		if _, err := svc.Advance(ctx, 1, a.ID, StatusFinal, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Advance(ctx, 1, a.ID, StatusFinal, nil); !apperr.Is(err, CodeWrongStatus) {
			t.Fatalf("final twice: %v", err)
		}
		var sum int64
		db.Table("ledger_postings").Where("type = ? AND track = ?", ledger.TypeDutyAssessment, ledger.TrackParty).Select("COALESCE(SUM(amount),0)").Scan(&sum)
		if sum != 10+6 { // excellent 10; 60/100 × base 10 = 6
			t.Fatalf("posted %d party points, want 16", sum)
		}
	})
}
