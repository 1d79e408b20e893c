package awards

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/catalog"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/notify"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/rules"
)

// Status is where an award stands.
type Status string

// The award statuses.
const (
	Pending  Status = "pending"  // a deduction waiting for a second staff member
	Posted   Status = "posted"   // in the ledger
	Rejected Status = "rejected" // the second staff member refused it
	Reversed Status = "reversed" // an appeal or objection overturned it
)

// Source says how an award came about.
type Source string

// The award sources.
const (
	FromStaff      Source = "staff"
	FromBatch      Source = "batch"
	FromSelfReport Source = "self_report"
)

// Staff is the staff member acting, with the roles they hold in the
// village concerned.
type Staff struct {
	ID        int64
	Name      string
	Roles     []string
	RequestID string
	IP        string
}

func (w Staff) audit() audit.Actor {
	return audit.Actor{StaffID: w.ID, Name: w.Name, RequestID: w.RequestID, IP: w.IP}
}

func (w Staff) ledgerActor() ledger.Actor { return ledger.StaffActor(w.ID) }

func record(ctx context.Context, tx *gorm.DB, who Staff, village int64, action, target string, id int64, before, after any) error {
	return audit.Record(ctx, tx, who.audit(), audit.Change{VillageID: village, Action: action, TargetType: target, TargetID: id, Before: before, After: after})
}

// Award is one award 积分记录 as staff see it.
type Award struct {
	ID           int64       `json:"id"`
	VillageID    int64       `json:"village_id"`
	RuleItemID   int64       `json:"rule_item_id"`
	ItemCode     string      `json:"item_code"`
	ItemVersion  int         `json:"item_version"`
	ItemTitle    string      `json:"item_title"`
	ResidentID   int64       `json:"resident_id"`
	HouseholdID  int64       `json:"household_id,omitempty"`
	Points       int64       `json:"points"`
	Track        rules.Track `json:"track"`
	Source       Source      `json:"source"`
	Status       Status      `json:"status"`
	BatchID      *int64      `json:"batch_id,omitempty"`
	SelfReportID *int64      `json:"self_report_id,omitempty"`
	Note         string      `json:"note"`
	Photos       []int64     `json:"photos"`
	ActorStaffID int64       `json:"actor_staff_id"`
	ConfirmedBy  *int64      `json:"confirmed_by,omitempty"`
	DecisionNote string      `json:"decision_note,omitempty"`
	PostingID    *int64      `json:"posting_id,omitempty"`
	ReversalID   *int64      `json:"reversal_posting_id,omitempty"`
	Veto         bool        `json:"veto"`
	CreatedAt    time.Time   `json:"created_at"`
	PostedAt     *time.Time  `json:"posted_at,omitempty"`
	DecidedAt    *time.Time  `json:"decided_at,omitempty"`
	// Replayed is set when a retry with the same idempotency key returned
	// the original award.
	Replayed bool `json:"replayed,omitempty"`
}

type awardRow struct {
	ID                int64 `gorm:"primaryKey"`
	VillageID         int64
	RuleItemID        int64
	ItemCode          string
	ItemVersion       int
	ItemTitle         string
	ResidentID        int64
	HouseholdID       int64
	Points            int64
	Track             string
	Source            string
	Status            string
	BatchID           *int64
	SelfReportID      *int64
	Note              string
	Photos            string
	ActorStaffID      int64
	IdempotencyKey    *string
	RequestHash       int64
	ConfirmedBy       *int64
	DecisionNote      string
	PostingID         *int64
	ReversalPostingID *int64
	VetoSubject       string
	VetoSubjectID     int64
	VetoPending       bool
	CreatedAt         time.Time
	PostedAt          *time.Time
	DecidedAt         *time.Time
}

func (awardRow) TableName() string { return "awards" }

func (r awardRow) award() Award {
	a := Award{ID: r.ID, VillageID: r.VillageID, RuleItemID: r.RuleItemID, ItemCode: r.ItemCode, ItemVersion: r.ItemVersion,
		ItemTitle: r.ItemTitle, ResidentID: r.ResidentID, HouseholdID: r.HouseholdID, Points: r.Points, Track: rules.Track(r.Track),
		Source: Source(r.Source), Status: Status(r.Status), BatchID: r.BatchID, SelfReportID: r.SelfReportID, Note: r.Note,
		Photos: parseIDs(r.Photos), ActorStaffID: r.ActorStaffID, ConfirmedBy: r.ConfirmedBy, DecisionNote: r.DecisionNote,
		PostingID: r.PostingID, ReversalID: r.ReversalPostingID, Veto: r.VetoSubject != "", CreatedAt: r.CreatedAt.UTC(),
		PostedAt: utc(r.PostedAt), DecidedAt: utc(r.DecidedAt)}
	return a
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func formatIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}

func parseIDs(s string) []int64 {
	out := []int64{}
	for p := range strings.SplitSeq(s, ",") {
		if n, err := strconv.ParseInt(p, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// fingerprint hashes a request's fields so a reused idempotency key with a
// different request is told apart from a retry.
func fingerprint(fields ...any) int64 {
	b, _ := json.Marshal(fields)
	sum := sha256.Sum256(b)
	return int64(binary.BigEndian.Uint64(sum[:8]) >> 1)
}

// GiveRequest awards (or deducts by) one rule item to one resident.
type GiveRequest struct {
	VillageID      int64
	RuleItemID     int64
	ResidentID     int64
	Photos         []int64
	Note           string
	IdempotencyKey string
}

func validateCommon(key, note string, photos []int64) error {
	switch {
	case strings.TrimSpace(key) == "" || len(key) > 128:
		return apperr.Invalid("idempotency_key", "缺少幂等键或幂等键过长")
	case utf8.RuneCountInString(note) > 500:
		return apperr.Invalid("note", "备注不超过 500 字")
	case len(photos) > 9:
		return apperr.Invalid("photos", "照片最多 9 张")
	}
	return nil
}

// Give awards one item to one resident: the posting, or a precise refusal
// ("本月该项已达上限 3 次"). A deduction in a village that requires a
// second staff member is stored as Pending and posts on confirmation. A
// retry with the same key returns the original award.
func (s *Service) Give(ctx context.Context, who Staff, r GiveRequest) (Award, error) {
	if err := validateCommon(r.IdempotencyKey, r.Note, r.Photos); err != nil {
		return Award{}, err
	}
	hash := fingerprint("give", r.RuleItemID, r.ResidentID, r.Photos, r.Note)
	env, err := s.env(ctx, r.VillageID)
	if err != nil {
		return Award{}, err
	}
	var out awardRow
	replayed := false
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		replayed = false
		if prev, ok, err := byKey(tx, r.VillageID, who.ID, r.IdempotencyKey); err != nil || ok {
			if err == nil {
				out, replayed, err = prev, true, replayCheck(prev.RequestHash, hash)
			}
			return err
		}
		it, err := catalog.CurrentForAward(tx, r.VillageID, r.RuleItemID)
		if err != nil {
			return err
		}
		if err := checkPhotos(tx, r.VillageID, r.Photos); err != nil {
			return err
		}
		key := r.IdempotencyKey
		row, err := s.judgeAndInsert(ctx, tx, env, who, it, judged{resident: r.ResidentID, photos: r.Photos, note: r.Note,
			source: FromStaff, key: &key, hash: hash})
		if err != nil {
			return err
		}
		out = row
		return record(ctx, tx, who, r.VillageID, "award.create", "award", row.ID, nil, row.award())
	})
	if err != nil {
		if sqldb.IsDuplicateKey(err) {
			// A concurrent request with the same key won the insert.
			return s.replayByKey(ctx, r.VillageID, who.ID, r.IdempotencyKey, hash)
		}
		return Award{}, err
	}
	if !replayed {
		s.afterCommit(ctx, out)
	}
	a := out.award()
	a.Replayed = replayed
	return a, nil
}

// villageEnv is what a write reads before its transaction: the ledger's
// and the awards' settings of the village. (Reading them inside would hold
// SQLite's single connection twice.)
type villageEnv struct {
	village  int64
	ledger   ledger.Settings
	settings Settings
}

func (s *Service) env(ctx context.Context, village int64) (villageEnv, error) {
	ls, err := s.opts.Settings.Settings(ctx, village)
	if err != nil {
		return villageEnv{}, err
	}
	st, err := s.Settings(ctx, village)
	if err != nil {
		return villageEnv{}, err
	}
	return villageEnv{village: village, ledger: ls, settings: st}, nil
}

func byKey(tx *gorm.DB, village, staffID int64, key string) (awardRow, bool, error) {
	var rows []awardRow
	if err := tx.Where("village_id = ? AND actor_staff_id = ? AND idempotency_key = ?", village, staffID, key).Limit(1).Find(&rows).Error; err != nil {
		return awardRow{}, false, fmt.Errorf("awards: read by key: %w", err)
	}
	if len(rows) == 0 {
		return awardRow{}, false, nil
	}
	return rows[0], true, nil
}

func replayCheck(stored, hash int64) error {
	if stored != hash {
		return apperr.New(apperr.CodeIdempotency, "该幂等键已用于另一个请求，请勿更改后重复提交")
	}
	return nil
}

func (s *Service) replayByKey(ctx context.Context, village, staffID int64, key string, hash int64) (Award, error) {
	prev, ok, err := byKey(s.db.WithContext(ctx), village, staffID, key)
	if err != nil {
		return Award{}, err
	}
	if !ok {
		return Award{}, apperr.New(apperr.CodeConflict, "请求冲突，请重试")
	}
	if err := replayCheck(prev.RequestHash, hash); err != nil {
		return Award{}, err
	}
	a := prev.award()
	a.Replayed = true
	return a, nil
}

// CodeResidentInactive refuses awards to residents who moved out or died.
const CodeResidentInactive apperr.Code = "RESIDENT_INACTIVE"

type residentRow struct {
	ID          int64
	VillageID   int64
	HouseholdID *int64
	Name        string
	Status      string
}

func (r residentRow) household() int64 {
	if r.HouseholdID == nil {
		return 0
	}
	return *r.HouseholdID
}

// loadResidents reads residents of village with tx; one of another
// village is reported as not found.
func loadResidents(tx *gorm.DB, village int64, ids []int64) (map[int64]residentRow, error) {
	var rows []residentRow
	if err := tx.Raw("SELECT id, village_id, household_id, name, status FROM residents WHERE id IN ?", ids).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("awards: read residents: %w", err)
	}
	out := map[int64]residentRow{}
	for _, r := range rows {
		if r.VillageID == village {
			out[r.ID] = r
		}
	}
	return out, nil
}

// staffSelf reads the staff member's own resident and household, fresh in
// the transaction, for the conflict-of-interest check.
func staffSelf(tx *gorm.DB, staffID int64) (resident, household int64, err error) {
	var rows []struct {
		ResidentID  *int64
		HouseholdID *int64
	}
	if err := tx.Raw("SELECT resident_id, household_id FROM staff_users WHERE id = ?", staffID).Scan(&rows).Error; err != nil {
		return 0, 0, fmt.Errorf("awards: read staff: %w", err)
	}
	if len(rows) == 1 {
		if rows[0].ResidentID != nil {
			resident = *rows[0].ResidentID
		}
		if rows[0].HouseholdID != nil {
			household = *rows[0].HouseholdID
		}
	}
	return resident, household, nil
}

// checkPhotos refuses evidence ids that are not photos of the village.
func checkPhotos(tx *gorm.DB, village int64, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	seen := map[int64]bool{}
	for _, id := range ids {
		if seen[id] {
			return apperr.Invalid("photos", "照片重复")
		}
		seen[id] = true
	}
	var n int64
	if err := tx.Table("evidence_files").Where("id IN ? AND village_id = ?", ids, village).Count(&n).Error; err != nil {
		return fmt.Errorf("awards: check photos: %w", err)
	}
	if int(n) != len(ids) {
		return apperr.Invalid("photos", "照片不存在或不属于本村，请重新上传")
	}
	return nil
}

// subject is the lock subject of a resident: their household, or the
// resident alone. Locking the household serialises every cap kind at once
// (a person cap is inside the household's lock too).
type subject struct {
	kind string
	id   int64
}

func subjectOf(r residentRow) subject {
	if h := r.household(); h != 0 {
		return subject{"household", h}
	}
	return subject{"resident", r.ID}
}

// lockSubjects takes the lock rows of (village, code, subject) in a fixed
// order, so two transactions that lock several never wait on each other
// in a circle. The upsert is the lock: it writes the row, which holds it
// until commit on MySQL, and SQLite's writer lock is already held.
func lockSubjects(tx *gorm.DB, village int64, code string, subs []subject, now time.Time) error {
	subs = slices.Clone(subs)
	slices.SortFunc(subs, func(a, b subject) int {
		if c := strings.Compare(a.kind, b.kind); c != 0 {
			return c
		}
		return int(a.id - b.id)
	})
	subs = slices.Compact(subs)
	for _, sub := range subs {
		row := map[string]any{"village_id": village, "item_code": code, "subject": sub.kind, "subject_id": sub.id, "touched_at": now}
		if err := tx.Table("award_locks").Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "village_id"}, {Name: "item_code"}, {Name: "subject"}, {Name: "subject_id"}},
			DoUpdates: clause.Assignments(map[string]any{"touched_at": now}),
		}).Create(row).Error; err != nil {
			return fmt.Errorf("awards: lock subject: %w", err)
		}
	}
	return nil
}

// history reads the earlier awards of the item code that count against
// the resident's caps and cooldown: posted ones and deductions waiting
// for confirmation (which would otherwise slip past a cap together),
// except the award being confirmed.
func history(tx *gorm.DB, village int64, code string, r residentRow, it rules.Item, now time.Time, except int64) ([]rules.Past, error) {
	since := now
	if it.Cooldown > 0 {
		since = now.Add(-it.Cooldown)
	}
	for _, c := range it.Caps {
		if st := c.Period.Start(now); st.Before(since) {
			since = st
		}
	}
	q := tx.Model(&awardRow{}).Where("village_id = ? AND item_code = ? AND status IN ? AND id <> ? AND created_at >= ?",
		village, code, []string{string(Posted), string(Pending)}, except, since.UTC())
	if h := r.household(); h != 0 {
		q = q.Where("(resident_id = ? OR household_id = ?)", r.ID, h)
	} else {
		q = q.Where("resident_id = ?", r.ID)
	}
	var rows []awardRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("awards: read history: %w", err)
	}
	out := make([]rules.Past, len(rows))
	for i, p := range rows {
		out[i] = rules.Past{ResidentID: p.ResidentID, HouseholdID: p.HouseholdID, Points: p.Points, At: p.CreatedAt}
	}
	return out, nil
}

// judged is one award to judge and insert.
type judged struct {
	resident     int64
	photos       []int64
	note         string
	source       Source
	key          *string
	hash         int64
	batchID      *int64
	selfReportID *int64
	// residents is a preloaded resident set (batches); nil loads one.
	residents map[int64]residentRow
}

// judgeAndInsert locks the subject, judges the award by the item version
// it, inserts it, and posts it unless it must wait for a second staff
// member. Everything happens in tx.
func (s *Service) judgeAndInsert(ctx context.Context, tx *gorm.DB, env villageEnv, who Staff, it catalog.Item, j judged) (awardRow, error) {
	now := s.clock()
	rs := j.residents
	if rs == nil {
		var err error
		if rs, err = loadResidents(tx, env.village, []int64{j.resident}); err != nil {
			return awardRow{}, err
		}
	}
	res, ok := rs[j.resident]
	if !ok {
		return awardRow{}, apperr.NotFound("村民")
	}
	if res.Status != "active" {
		return awardRow{}, apperr.Newf(CodeResidentInactive, "%s已迁出或注销，不能评分", res.Name)
	}
	myResident, myHousehold, err := staffSelf(tx, who.ID)
	if err != nil {
		return awardRow{}, err
	}
	if err := lockSubjects(tx, env.village, it.Code, []subject{subjectOf(res)}, now); err != nil {
		return awardRow{}, err
	}
	rule := it.Rule()
	hist, err := history(tx, env.village, it.Code, res, rule, now, 0)
	if err != nil {
		return awardRow{}, err
	}
	if err := rules.Decide(rules.Award{Item: rule, ResidentID: res.ID, HouseholdID: res.household(),
		Actor:          rules.Actor{StaffID: who.ID, Roles: who.Roles, ResidentID: myResident, HouseholdID: myHousehold},
		FromSelfReport: j.source == FromSelfReport, Photos: len(j.photos), At: now}, hist); err != nil {
		return awardRow{}, err
	}
	row := awardRow{VillageID: env.village, RuleItemID: it.ID, ItemCode: it.Code, ItemVersion: it.Version, ItemTitle: it.Title,
		ResidentID: res.ID, HouseholdID: res.household(), Points: it.Points, Track: string(it.Track), Source: string(j.source),
		Status: string(Posted), BatchID: j.batchID, SelfReportID: j.selfReportID, Note: strings.TrimSpace(j.note),
		Photos: formatIDs(j.photos), ActorStaffID: who.ID, IdempotencyKey: j.key, RequestHash: j.hash, CreatedAt: now}
	if it.Veto {
		row.VetoSubject, row.VetoSubjectID = "resident", res.ID
		if it.VetoScope == rules.PerHousehold && res.household() != 0 {
			row.VetoSubject, row.VetoSubjectID = "household", res.household()
		}
	}
	if it.Points < 0 && env.settings.ConfirmDeductions {
		row.Status = string(Pending)
	}
	if err := tx.Create(&row).Error; err != nil {
		return awardRow{}, err // a duplicate key is the caller's replay
	}
	if row.Status == string(Posted) {
		if err := s.post(ctx, tx, env, &row); err != nil {
			return awardRow{}, err
		}
	}
	return row, nil
}

// post writes the award's ledger posting, marks it posted and tells the
// resident, in tx. The ledger key is derived from the award row, which is
// the request's idempotency anchor.
func (s *Service) post(ctx context.Context, tx *gorm.DB, env villageEnv, row *awardRow) error {
	holder := ledger.Resident(row.ResidentID)
	if env.ledger.HolderMode == ledger.HolderHousehold {
		if row.HouseholdID == 0 {
			return apperr.Invalid("resident_id", "本村积分按户记账，该村民尚未登记户，请先为其登记户")
		}
		holder = ledger.Household(row.HouseholdID)
	}
	lt := s.opts.Ledger(tx)
	src := ledger.Source{Type: "award", ID: row.ID}
	key := "award:" + strconv.FormatInt(row.ID, 10)
	actor := ledger.StaffActor(row.ActorStaffID)
	var res *ledger.Result
	var err error
	if row.Points > 0 {
		res, err = lt.Award(ctx, ledger.AwardRequest{VillageID: row.VillageID, Holder: holder, Track: ledger.Track(row.Track), Amount: row.Points,
			Type: ledger.TypeRuleAward, Source: src, Actor: actor, Reason: row.ItemTitle, IdempotencyKey: key})
	} else {
		res, err = lt.Deduct(ctx, ledger.DeductRequest{VillageID: row.VillageID, Holder: holder, Track: ledger.Track(row.Track), Amount: -row.Points,
			Source: src, Actor: actor, Reason: row.ItemTitle, IdempotencyKey: key})
	}
	if err != nil {
		return err
	}
	if len(res.Postings) == 0 {
		return errors.New("awards: the ledger returned no posting")
	}
	now := s.clock()
	pid := res.Postings[0].ID
	row.PostingID, row.PostedAt, row.Status = &pid, &now, string(Posted)
	row.VetoPending = row.VetoSubject != ""
	if err := tx.Model(&awardRow{}).Where("id = ?", row.ID).Updates(map[string]any{
		"posting_id": pid, "posted_at": now, "status": row.Status, "veto_pending": row.VetoPending}).Error; err != nil {
		return fmt.Errorf("awards: mark posted: %w", err)
	}
	kind, points := notify.PointsAwarded, row.Points
	if points < 0 {
		kind, points = notify.PointsDeducted, -points
	}
	_, err = notify.Enqueue(ctx, tx, notify.Message{ResidentID: row.ResidentID, Kind: kind, DedupKey: key,
		Data: map[string]string{"points": strconv.FormatInt(points, 10), "reason": row.ItemTitle}})
	return err
}

// afterCommit tells the rankings about a veto award's new state. It runs
// after the transaction (the rankings keep their own store); a failure
// leaves the award marked and SyncVetoes tells them later.
func (s *Service) afterCommit(ctx context.Context, row awardRow) {
	if row.VetoSubject == "" {
		return
	}
	if err := s.syncVeto(ctx, row.ID); err != nil {
		s.opts.Log.Warn("veto not yet applied to rankings; SyncVetoes will retry", "award", row.ID, "err", err)
	}
}
