package awards

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/catalog"
	"github.com/villagepoints/jifen/models/sqldb"
)

// CodeBatchRefused refuses a whole batch because some residents could not
// be awarded; Details lists each one with its reason.
const CodeBatchRefused apperr.Code = "BATCH_REFUSED"

// MaxBatch bounds one batch (a village event rarely has more attendees).
const MaxBatch = 200

// BatchRequest awards one item to many residents for one event.
type BatchRequest struct {
	VillageID      int64
	RuleItemID     int64
	ResidentIDs    []int64
	Photos         []int64
	Note           string
	IdempotencyKey string
}

// Batch is a stored batch with its awards.
type Batch struct {
	ID        int64     `json:"id"`
	VillageID int64     `json:"village_id"`
	Awards    []Award   `json:"awards"`
	CreatedAt time.Time `json:"created_at"`
	Replayed  bool      `json:"replayed,omitempty"`
}

type batchRow struct {
	ID             int64 `gorm:"primaryKey"`
	VillageID      int64
	RuleItemID     int64
	ActorStaffID   int64
	IdempotencyKey string
	RequestHash    int64
	Note           string
	AwardCount     int
	CreatedAt      time.Time
}

func (batchRow) TableName() string { return "award_batches" }

// Refusal is why one resident of a batch could not be awarded.
type Refusal struct {
	ResidentID int64       `json:"resident_id"`
	Code       apperr.Code `json:"code"`
	Message    string      `json:"message"`
}

// GiveBatch awards one item to every listed resident, all or nothing: if
// any resident is refused (cap, cooldown, conflict of interest…), nothing
// posts and the refusal lists every refused resident.
func (s *Service) GiveBatch(ctx context.Context, who Staff, r BatchRequest) (Batch, error) {
	if err := validateCommon(r.IdempotencyKey, r.Note, r.Photos); err != nil {
		return Batch{}, err
	}
	ids := slices.Clone(r.ResidentIDs)
	slices.Sort(ids)
	if len(ids) == 0 || len(ids) > MaxBatch {
		return Batch{}, apperr.Invalid("resident_ids", fmt.Sprintf("一次批量评分须有 1 到 %d 名村民", MaxBatch))
	}
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		return Batch{}, apperr.Invalid("resident_ids", "村民重复")
	}
	hash := fingerprint("batch", r.RuleItemID, ids, r.Photos, r.Note)
	env, err := s.env(ctx, r.VillageID)
	if err != nil {
		return Batch{}, err
	}
	var out Batch
	replayed := false
	var posted []awardRow
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		replayed, posted = false, nil
		var prev []batchRow
		if err := tx.Where("village_id = ? AND actor_staff_id = ? AND idempotency_key = ?", r.VillageID, who.ID, r.IdempotencyKey).Limit(1).Find(&prev).Error; err != nil {
			return fmt.Errorf("awards: read batch by key: %w", err)
		}
		if len(prev) == 1 {
			if err := replayCheck(prev[0].RequestHash, hash); err != nil {
				return err
			}
			replayed = true
			out, err = batchOf(tx, prev[0])
			return err
		}
		it, err := catalog.CurrentForAward(tx, r.VillageID, r.RuleItemID)
		if err != nil {
			return err
		}
		if it.Points < 0 {
			return apperr.Invalid("rule_item_id", "批量评分只能用于加分条目，扣分请逐人办理")
		}
		if err := checkPhotos(tx, r.VillageID, r.Photos); err != nil {
			return err
		}
		rs, err := loadResidents(tx, r.VillageID, ids)
		if err != nil {
			return err
		}
		subs := make([]subject, 0, len(rs))
		for _, res := range rs {
			subs = append(subs, subjectOf(res))
		}
		now := s.clock()
		if err := lockSubjects(tx, r.VillageID, it.Code, subs, now); err != nil {
			return err
		}
		b := batchRow{VillageID: r.VillageID, RuleItemID: it.ID, ActorStaffID: who.ID, IdempotencyKey: r.IdempotencyKey,
			RequestHash: hash, Note: strings.TrimSpace(r.Note), AwardCount: len(ids), CreatedAt: now}
		if err := tx.Create(&b).Error; err != nil {
			return err
		}
		var refusals []Refusal
		for _, id := range ids {
			row, err := s.judgeAndInsert(ctx, tx, env, who, it, judged{resident: id, photos: r.Photos, note: r.Note,
				source: FromBatch, batchID: &b.ID, residents: rs})
			if e := (*apperr.Error)(nil); err != nil {
				if e = apperr.From(err); e.Code == apperr.CodeInternal {
					return err
				}
				refusals = append(refusals, Refusal{ResidentID: id, Code: e.Code, Message: e.Message})
				continue
			}
			posted = append(posted, row)
		}
		if len(refusals) > 0 {
			return apperr.Newf(CodeBatchRefused, "%d 名村民不符合评分条件，本次批量评分未执行", len(refusals)).WithDetails(refusals)
		}
		out = Batch{ID: b.ID, VillageID: b.VillageID, CreatedAt: b.CreatedAt}
		for _, p := range posted {
			out.Awards = append(out.Awards, p.award())
		}
		return record(ctx, tx, who, r.VillageID, "award_batch.create", "award_batch", b.ID, nil, map[string]any{"rule_item_id": it.ID, "residents": ids})
	})
	if err != nil {
		if sqldb.IsDuplicateKey(err) {
			return Batch{}, apperr.New(apperr.CodeConflict, "相同的批量评分正在处理，请稍后查看结果")
		}
		return Batch{}, err
	}
	out.Replayed = replayed
	if !replayed {
		for _, p := range posted {
			s.afterCommit(ctx, p)
		}
	}
	return out, nil
}

func batchOf(tx *gorm.DB, b batchRow) (Batch, error) {
	var rows []awardRow
	if err := tx.Where("batch_id = ?", b.ID).Order("id").Find(&rows).Error; err != nil {
		return Batch{}, fmt.Errorf("awards: read batch awards: %w", err)
	}
	out := Batch{ID: b.ID, VillageID: b.VillageID, CreatedAt: b.CreatedAt.UTC()}
	for _, r := range rows {
		out.Awards = append(out.Awards, r.award())
	}
	return out, nil
}
