package ranking

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/ledger"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/rules"
)

// Status is where a version of a monthly ranking 月度排名 stands.
type Status string

// The statuses. A version is frozen from the ledger, published for its
// notice window 公示期, and finalised when the window has passed with every
// objection resolved. A correction freezes a new version; the one it
// replaces becomes superseded. Versions are never edited.
const (
	StatusFrozen     Status = "frozen"
	StatusPublished  Status = "published"
	StatusSuperseded Status = "superseded"
	StatusFinal      Status = "final"
)

// Publication is one version of a village's monthly ranking.
type Publication struct {
	ID           int64        `json:"id"`
	VillageID    int64        `json:"village_id"`
	VillageName  string       `json:"village_name"`
	PeriodKey    string       `json:"period_key"`
	PeriodLabel  string       `json:"period_label"`
	Subject      Subject      `json:"subject"`
	Track        ledger.Track `json:"track"`
	Basis        Basis        `json:"basis"`
	Version      int          `json:"version"`
	Status       Status       `json:"status"`
	AsOfSeq      int64        `json:"as_of_chain_seq"`
	Digest       string       `json:"digest"`
	EntryCount   int          `json:"entry_count"`
	BlackCount   int          `json:"black_count"`
	Committee    string       `json:"committee"`
	NoticeDays   int          `json:"notice_days"`
	PublishedAt  *time.Time   `json:"published_at,omitempty"`
	NoticeEndsAt *time.Time   `json:"notice_ends_at,omitempty"`
	FinalizedAt  *time.Time   `json:"finalized_at,omitempty"`
	SupersedesID *int64       `json:"supersedes_id,omitempty"`
	CreatedBy    string       `json:"created_by"`
	CreatedAt    time.Time    `json:"created_at"`
	// Entries is the ranking, best first; Black the 黑榜 side (rule
	// deductions of the month), when the village enabled it.
	Entries []PubEntry     `json:"entries,omitempty"`
	Black   []PubEntry     `json:"black,omitempty"`
	Titles  []AwardedTitle `json:"titles,omitempty"`
}

// PubEntry is one line of a published ranking.
type PubEntry struct {
	Rank      int64  `json:"rank"`
	SubjectID int64  `json:"subject_id"`
	Name      string `json:"name"`
	// Points, in PerMemberScale units on per-member rankings (see
	// PointsText); on the black side, the points deducted.
	Points     int64  `json:"points"`
	PointsText string `json:"points_text"`
}

// AwardedTitle is a title given from a final ranking.
type AwardedTitle struct {
	SubjectID int64  `json:"subject_id"`
	Name      string `json:"name"`
	Title     string `json:"title"`
	Rank      int64  `json:"rank"`
}

type publicationRow struct {
	ID           int64 `gorm:"primaryKey"`
	VillageID    int64
	PeriodKey    string
	Subject      string
	Track        string
	Basis        string
	Version      int
	Status       string
	AsOfSeq      int64
	Digest       string
	EntryCount   int
	BlackCount   int
	Committee    string
	NoticeDays   int
	PublishedAt  *time.Time
	NoticeEndsAt *time.Time
	FinalizedAt  *time.Time
	SupersedesID *int64
	CreatedBy    string
	CreatedAt    time.Time
}

func (publicationRow) TableName() string { return "ranking_publications" }

type entryRow struct {
	PublicationID int64  `gorm:"primaryKey;autoIncrement:false"`
	Side          string `gorm:"primaryKey"`
	Position      int    `gorm:"primaryKey;autoIncrement:false"`
	RankNo        int64
	SubjectID     int64
	Name          string
	Points        int64
}

func (entryRow) TableName() string { return "ranking_entries" }

type titleRow struct {
	PublicationID int64  `gorm:"primaryKey;autoIncrement:false"`
	SubjectID     int64  `gorm:"primaryKey;autoIncrement:false"`
	Title         string `gorm:"primaryKey"`
	VillageID     int64
	PeriodKey     string
	Subject       string
	RankNo        int64
	CreatedAt     time.Time
}

func (titleRow) TableName() string { return "ranking_titles" }

const (
	sideRed   = "red"
	sideBlack = "black"
)

// FreezeRequest freezes a village's ranking of one month.
type FreezeRequest struct {
	VillageID int64
	PeriodKey string // a month: 2026-03
	// Subject is resident, household or party; household follows the
	// village's basis (total or per member). Default: household when the
	// village keeps points per household, resident otherwise.
	Subject Subject
	Track   ledger.Track // default TrackTotal
	By      string
}

// snapshot is a ranking computed from the ledger.
type snapshot struct {
	subject Subject
	basis   Basis
	head    int64
	red     []PubEntry
	black   []PubEntry
}

// compute ranks a village's month from the ledger: the same aggregation a
// rebuild does, for one board, so a frozen ranking equals the village's
// live board of that month (vetoes honoured) as of chain_seq head.
func (s *Service) compute(ctx context.Context, village int64, period string, sub Subject, track ledger.Track, redBlack bool) (snapshot, error) {
	start, err := periodStart(rules.Month, period)
	if err != nil {
		return snapshot{}, err
	}
	dir, _, err := s.dir.load(ctx, village)
	if err != nil {
		return snapshot{}, err
	}
	head, err := s.chainHead(ctx, village)
	if err != nil {
		return snapshot{}, err
	}
	vetoes, err := s.vetoSet(ctx, village)
	if err != nil {
		return snapshot{}, err
	}
	want := family{subject: sub, period: rules.Month, key: period, track: track}
	keep := func(f family) bool {
		return f == want || (sub == SubjectHouseholdPerMember && f == family{subject: SubjectHousehold, period: rules.Month, key: period, track: track})
	}
	// Aggregate as of the month's start, so the month counts as retained
	// however long ago it was.
	aggs, _, err := s.aggregate(ctx, village, head, dir.geo, dir.mapping, vetoes, start, keep)
	if err != nil {
		return snapshot{}, err
	}
	snap := snapshot{subject: sub, head: head}
	var es []Entry
	for k, a := range aggs {
		if k.family == want {
			es = append(es, Entry{Member: k.member, Points: a.points, Tick: a.tick})
		}
	}
	SortEntries(es)
	ranks := RankEntries(es)
	ids := make([]int64, len(es))
	for i, e := range es {
		ids[i] = e.Member
	}
	if redBlack {
		black, err := s.deductions(ctx, village, head, period, sub, dir.mapping)
		if err != nil {
			return snap, err
		}
		snap.black = black
		for _, b := range black {
			ids = append(ids, b.SubjectID)
		}
	}
	names, err := s.dir.Names(ctx, sub.household(), ids)
	if err != nil {
		return snap, err
	}
	for i, e := range es {
		snap.red = append(snap.red, PubEntry{Rank: ranks[i], SubjectID: e.Member, Name: names[e.Member], Points: e.Points, PointsText: pointsText(sub, e.Points)})
	}
	for i := range snap.black {
		snap.black[i].Name = names[snap.black[i].SubjectID]
	}
	return snap, nil
}

func pointsText(sub Subject, p int64) string {
	if sub == SubjectHouseholdPerMember {
		return PerMemberText(p)
	}
	return fmt.Sprint(p)
}

// deductions lists who had rule deductions 扣分 counted in the month (net
// of reversals), most first: the black side of a 红黑榜.
func (s *Service) deductions(ctx context.Context, village, head int64, period string, sub Subject, m Mapping) ([]PubEntry, error) {
	sums := map[int64]int64{}
	_, err := s.scanVillage(ctx, village, head, func(p scanned) {
		h, amount, ok := deductionOf(p.Posting, p.OrigType)
		if !ok {
			return
		}
		at := p.CreatedAt
		if p.ReversesID != 0 && !p.OrigAt.IsZero() {
			at = p.OrigAt
		}
		if rules.Month.Key(at) != period {
			return
		}
		id := h.ID
		switch {
		case sub.household() && h.Kind == ledger.HolderResident:
			id = m.Residents[h.ID].Household
		case !sub.household() && h.Kind == ledger.HolderHousehold:
			return
		case sub == SubjectParty && !m.Residents[h.ID].Party:
			return
		}
		if id != 0 {
			sums[id] += amount
		}
	})
	if err != nil {
		return nil, err
	}
	var out []PubEntry
	for id, n := range sums {
		if n > 0 {
			out = append(out, PubEntry{SubjectID: id, Points: n, PointsText: fmt.Sprint(n)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Points != out[j].Points {
			return out[i].Points > out[j].Points
		}
		return out[i].SubjectID < out[j].SubjectID
	})
	for i := range out {
		out[i].Rank = int64(i + 1)
	}
	return out, nil
}

// digest fingerprints what a version publishes: its identity, the chain
// position it was computed to, and every line as a villager sees it (masked
// names). Anyone holding the export can recompute it.
func digest(p Publication, red, black []PubEntry) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "jifen-ranking/1\nvillage=%d\nperiod=%s\nsubject=%s\ntrack=%s\nbasis=%s\nversion=%d\nas_of_chain_seq=%d\n",
		p.VillageID, p.PeriodKey, p.Subject, p.Track, p.Basis, p.Version, p.AsOfSeq)
	for _, sl := range []struct {
		side string
		list []PubEntry
	}{{sideRed, red}, {sideBlack, black}} {
		for i, e := range sl.list {
			fmt.Fprintf(&sb, "%s|%d|%d|%d|%s|%d\n", sl.side, i+1, e.Rank, e.SubjectID, DisplayName(e.Name, p.Subject, Villager), e.Points)
		}
	}
	sum := sha256.Sum256([]byte(sb.String()))
	return hex.EncodeToString(sum[:])
}

// RecomputeDigest recomputes a version's digest from its entries.
func (p Publication) RecomputeDigest() string { return digest(p, p.Entries, p.Black) }

func (s *Service) villageName(ctx context.Context, db *gorm.DB, village int64) string {
	var names []string
	db.WithContext(ctx).Raw("SELECT name FROM regions WHERE id = ?", village).Scan(&names)
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// Freeze computes a month's ranking from the ledger and stores it as a new
// version (frozen, not yet public). A frozen version not yet published is
// superseded by freezing again; once published, only an objection's
// correction makes a new version. The freeze is audited as who's.
func (s *Service) Freeze(ctx context.Context, who audit.Actor, r FreezeRequest) (Publication, error) {
	if r.By == "" {
		r.By = byOf(who)
	}
	start, err := periodStart(rules.Month, r.PeriodKey)
	if err != nil {
		return Publication{}, apperr.Invalid("period_key", "月份应为 2026-03 这样的格式")
	}
	if s.now().Before(rules.Month.End(start)) {
		return Publication{}, apperr.New(apperr.CodeConflict, "该月尚未结束，不能冻结排名")
	}
	st, err := s.Settings(ctx, r.VillageID)
	if err != nil {
		return Publication{}, err
	}
	if r.Track == "" {
		r.Track = TrackTotal
	}
	if !validTrack(r.Track) {
		return Publication{}, apperr.Invalid("track", "积分类别只能是 civic、party、volunteer 或 total")
	}
	if r.Subject == "" {
		ls, err := s.ledger.Settings(ctx, r.VillageID)
		if err != nil {
			return Publication{}, err
		}
		r.Subject = SubjectResident
		if ls.HolderMode == ledger.HolderHousehold {
			r.Subject = SubjectHousehold
		}
	}
	basis := BasisTotal
	switch r.Subject {
	case SubjectResident, SubjectParty:
	case SubjectHousehold, SubjectHouseholdPerMember:
		r.Subject, basis = st.HouseholdSubject(), st.HouseholdBasis
	default:
		return Publication{}, apperr.Invalid("subject", "排名对象只能是 resident、household 或 party")
	}
	return s.freeze(ctx, who, r, basis, st, nil, nil)
}

// freeze stores a new version computed now and audits it. correcting,
// when set, is the published version a correction replaces; then also,
// inside the same transaction, resolve records what resolved it.
func (s *Service) freeze(ctx context.Context, who audit.Actor, r FreezeRequest, basis Basis, st Settings, correcting *publicationRow,
	resolve func(tx *gorm.DB, version publicationRow) error) (Publication, error) {
	snap, err := s.compute(ctx, r.VillageID, r.PeriodKey, r.Subject, r.Track, st.RedBlack)
	if err != nil {
		return Publication{}, err
	}
	committee := st.Committee
	if committee == "" {
		committee = s.villageName(ctx, s.db, r.VillageID) + "村民委员会"
	}
	now := s.now().UTC()
	var row publicationRow
	err = sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var latest []publicationRow
		q := tx.Where("village_id = ? AND period_key = ? AND subject = ? AND track = ?", r.VillageID, r.PeriodKey, r.Subject, r.Track).
			Order("version DESC").Limit(1)
		if err := sqldb.ForUpdate(q).Find(&latest).Error; err != nil {
			return err
		}
		row = publicationRow{VillageID: r.VillageID, PeriodKey: r.PeriodKey, Subject: string(r.Subject), Track: string(r.Track),
			Basis: string(basis), Version: 1, Status: string(StatusFrozen), AsOfSeq: snap.head, EntryCount: len(snap.red),
			BlackCount: len(snap.black), Committee: committee, NoticeDays: st.NoticeDays, CreatedBy: r.By, CreatedAt: now}
		if len(latest) == 1 {
			l := latest[0]
			row.Version = l.Version + 1
			switch {
			case correcting != nil:
				if l.ID != correcting.ID || Status(l.Status) != StatusPublished {
					return apperr.New(apperr.CodeConflict, "该排名已有更新的版本，请刷新后再处理")
				}
				row.Status, row.PublishedAt, row.NoticeEndsAt, row.NoticeDays = string(StatusPublished), &now, l.NoticeEndsAt, l.NoticeDays
			case Status(l.Status) == StatusFrozen:
			case Status(l.Status) == StatusSuperseded:
			default:
				return apperr.New(apperr.CodeConflict, "该月排名已公示，只能通过处理异议更正")
			}
			row.SupersedesID = &l.ID
			if Status(l.Status) != StatusSuperseded {
				if err := tx.Model(&publicationRow{}).Where("id = ?", l.ID).Update("status", StatusSuperseded).Error; err != nil {
					return err
				}
			}
		}
		pub := row.publication()
		row.Digest = digest(pub, snap.red, snap.black)
		if err := tx.Create(&row).Error; err != nil {
			if sqldb.IsDuplicateKey(err) {
				return apperr.New(apperr.CodeConflict, "另一个冻结操作正在进行，请稍后重试")
			}
			return err
		}
		var rows []entryRow
		for _, sl := range []struct {
			side string
			list []PubEntry
		}{{sideRed, snap.red}, {sideBlack, snap.black}} {
			for i, e := range sl.list {
				rows = append(rows, entryRow{PublicationID: row.ID, Side: sl.side, Position: i + 1, RankNo: e.Rank, SubjectID: e.SubjectID, Name: e.Name, Points: e.Points})
			}
		}
		if len(rows) > 0 {
			if err := tx.CreateInBatches(rows, 200).Error; err != nil {
				return err
			}
		}
		action := "ranking.freeze"
		if correcting != nil {
			action = "ranking.correct"
		}
		after := map[string]any{"period_key": row.PeriodKey, "subject": row.Subject, "track": row.Track, "version": row.Version,
			"status": row.Status, "digest": row.Digest, "entry_count": row.EntryCount, "black_count": row.BlackCount, "as_of_chain_seq": row.AsOfSeq}
		var before any
		if row.SupersedesID != nil {
			after["supersedes_id"] = *row.SupersedesID
			before = map[string]any{"id": *row.SupersedesID, "version": row.Version - 1}
		}
		if err := audit.Record(ctx, tx, who, audit.Change{VillageID: row.VillageID, Action: action, TargetType: "ranking", TargetID: row.ID,
			Before: before, After: after}); err != nil {
			return err
		}
		if resolve != nil {
			return resolve(tx, row)
		}
		return nil
	})
	if err != nil {
		return Publication{}, err
	}
	return s.Publication(ctx, row.ID, Staff)
}

// byOf is how a staff actor is named in the rows this package stores
// (created_by, resolved_by): "staff:7", or the actor's name without one.
func byOf(who audit.Actor) string {
	if who.StaffID != 0 {
		return fmt.Sprintf("staff:%d", who.StaffID)
	}
	return who.Name
}

func (r publicationRow) publication() Publication {
	p := Publication{ID: r.ID, VillageID: r.VillageID, PeriodKey: r.PeriodKey, Subject: Subject(r.Subject), Track: ledger.Track(r.Track),
		Basis: Basis(r.Basis), Version: r.Version, Status: Status(r.Status), AsOfSeq: r.AsOfSeq, Digest: r.Digest,
		EntryCount: r.EntryCount, BlackCount: r.BlackCount, Committee: r.Committee, NoticeDays: r.NoticeDays,
		PublishedAt: utc(r.PublishedAt), NoticeEndsAt: utc(r.NoticeEndsAt), FinalizedAt: utc(r.FinalizedAt), SupersedesID: r.SupersedesID,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC()}
	if t, err := periodStart(rules.Month, r.PeriodKey); err == nil {
		p.PeriodLabel = rules.Month.Label(t)
	}
	return p
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Publication returns one version with its entries and titles; villagers
// see masked names, and only published or final versions.
func (s *Service) Publication(ctx context.Context, id int64, v Viewer) (Publication, error) {
	db := s.db.WithContext(ctx)
	var rows []publicationRow
	if err := db.Where("id = ?", id).Find(&rows).Error; err != nil {
		return Publication{}, err
	}
	if len(rows) == 0 || (v == Villager && !public(Status(rows[0].Status))) {
		return Publication{}, apperr.NotFound("排名")
	}
	p := rows[0].publication()
	p.VillageName = s.villageName(ctx, db, p.VillageID)
	var es []entryRow
	if err := db.Where("publication_id = ?", id).Order("side DESC, position").Find(&es).Error; err != nil {
		return p, err
	}
	p.Entries, p.Black = []PubEntry{}, []PubEntry{}
	for _, e := range es {
		pe := PubEntry{Rank: e.RankNo, SubjectID: e.SubjectID, Name: DisplayName(e.Name, p.Subject, v), Points: e.Points, PointsText: pointsText(p.Subject, e.Points)}
		if e.Side == sideBlack {
			pe.PointsText = fmt.Sprint(e.Points)
			p.Black = append(p.Black, pe)
		} else {
			p.Entries = append(p.Entries, pe)
		}
	}
	var ts []titleRow
	if err := db.Where("publication_id = ?", id).Order("rank_no, subject_id").Find(&ts).Error; err != nil {
		return p, err
	}
	names := map[int64]string{}
	for _, e := range es {
		names[e.SubjectID] = e.Name
	}
	for _, t := range ts {
		p.Titles = append(p.Titles, AwardedTitle{SubjectID: t.SubjectID, Name: DisplayName(names[t.SubjectID], p.Subject, v), Title: t.Title, Rank: t.RankNo})
	}
	return p, nil
}

func public(s Status) bool { return s == StatusPublished || s == StatusFinal }

// Publications lists a village's versions, newest first (villagers: the
// public ones only), without entries.
func (s *Service) Publications(ctx context.Context, village int64, v Viewer, offset, limit int) ([]Publication, int64, error) {
	q := s.db.WithContext(ctx).Model(&publicationRow{}).Where("village_id = ?", village)
	if v == Villager {
		q = q.Where("status IN ?", []Status{StatusPublished, StatusFinal})
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []publicationRow
	if err := q.Order("id DESC").Offset(offset).Limit(limit).Find(&rows).Error; err != nil {
		return nil, 0, err
	}
	out := make([]Publication, len(rows))
	for i, r := range rows {
		out[i] = r.publication()
	}
	return out, total, nil
}

// Publish opens a frozen version's notice window of days (0: the
// village's default), audited as who's.
func (s *Service) Publish(ctx context.Context, who audit.Actor, id int64, days int) (Publication, error) {
	if days < 0 || days > 30 {
		return Publication{}, apperr.Invalid("notice_days", "公示期须在 1 到 30 天之间")
	}
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		row, err := lockPublication(tx, id)
		if err != nil {
			return err
		}
		if Status(row.Status) != StatusFrozen {
			return apperr.New(apperr.CodeConflict, "只有已冻结、未公示的排名可以公示")
		}
		if days == 0 {
			days = row.NoticeDays
		}
		now := s.now().UTC()
		ends := now.AddDate(0, 0, days)
		if err := tx.Model(&publicationRow{}).Where("id = ?", id).
			Updates(map[string]any{"status": StatusPublished, "published_at": now, "notice_ends_at": ends, "notice_days": days}).Error; err != nil {
			return err
		}
		return audit.Record(ctx, tx, who, audit.Change{VillageID: row.VillageID, Action: "ranking.publish", TargetType: "ranking", TargetID: id,
			Before: map[string]any{"status": row.Status},
			After: map[string]any{"status": StatusPublished, "period_key": row.PeriodKey, "version": row.Version, "digest": row.Digest,
				"notice_days": days, "notice_ends_at": ends}})
	})
	if err != nil {
		return Publication{}, err
	}
	return s.Publication(ctx, id, Staff)
}

func lockPublication(tx *gorm.DB, id int64) (publicationRow, error) {
	var rows []publicationRow
	if err := sqldb.ForUpdate(tx.Where("id = ?", id)).Find(&rows).Error; err != nil {
		return publicationRow{}, err
	}
	if len(rows) == 0 {
		return publicationRow{}, apperr.NotFound("排名")
	}
	return rows[0], nil
}

// VillageOf returns the village a version belongs to, for scope checks.
func (s *Service) VillageOf(ctx context.Context, id int64) (int64, error) {
	var vs []int64
	if err := s.db.WithContext(ctx).Raw("SELECT village_id FROM ranking_publications WHERE id = ?", id).Scan(&vs).Error; err != nil {
		return 0, err
	}
	if len(vs) == 0 {
		return 0, apperr.NotFound("排名")
	}
	return vs[0], nil
}

// ObjectionStatus is where an objection 异议 stands.
type ObjectionStatus string

// The objection statuses.
const (
	ObjectionOpen      ObjectionStatus = "open"
	ObjectionRejected  ObjectionStatus = "rejected"
	ObjectionCorrected ObjectionStatus = "corrected"
)

// Objection is a resident's objection to a published version.
type Objection struct {
	ID            int64           `json:"id"`
	PublicationID int64           `json:"publication_id"`
	VillageID     int64           `json:"village_id"`
	ResidentID    int64           `json:"resident_id"`
	Reason        string          `json:"reason"`
	Status        ObjectionStatus `json:"status"`
	Reply         string          `json:"reply"`
	ResolvedBy    string          `json:"resolved_by,omitempty"`
	ResolvedAt    *time.Time      `json:"resolved_at,omitempty"`
	CorrectionID  *int64          `json:"correction_id,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
}

type objectionRow struct {
	ID            int64 `gorm:"primaryKey"`
	PublicationID int64
	VillageID     int64
	ResidentID    int64
	Reason        string
	Status        string
	Reply         string
	ResolvedBy    string
	ResolvedAt    *time.Time
	CorrectionID  *int64
	CreatedAt     time.Time
}

func (objectionRow) TableName() string { return "ranking_objections" }

func (r objectionRow) objection() Objection {
	return Objection{ID: r.ID, PublicationID: r.PublicationID, VillageID: r.VillageID, ResidentID: r.ResidentID, Reason: r.Reason,
		Status: ObjectionStatus(r.Status), Reply: r.Reply, ResolvedBy: r.ResolvedBy, ResolvedAt: utc(r.ResolvedAt),
		CorrectionID: r.CorrectionID, CreatedAt: r.CreatedAt.UTC()}
}

// Object records a resident's objection to a published version during its
// notice window; a resident has at most one open objection per version.
func (s *Service) Object(ctx context.Context, publicationID, village, resident int64, reason string) (Objection, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > 500 {
		return Objection{}, apperr.Invalid("reason", "请填写异议理由（不超过 500 字）")
	}
	var row objectionRow
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		p, err := lockPublication(tx, publicationID)
		if err != nil {
			return err
		}
		if p.VillageID != village || !public(Status(p.Status)) {
			return apperr.NotFound("排名")
		}
		now := s.now().UTC()
		if Status(p.Status) != StatusPublished || p.NoticeEndsAt == nil || !now.Before(*p.NoticeEndsAt) {
			return apperr.New(apperr.CodeConflict, "公示期已结束，不能再提出异议")
		}
		var open int64
		if err := tx.Model(&objectionRow{}).Where("publication_id = ? AND resident_id = ? AND status = ?", publicationID, resident, ObjectionOpen).
			Count(&open).Error; err != nil {
			return err
		}
		if open > 0 {
			return apperr.New(apperr.CodeConflict, "您对该排名的异议正在处理中")
		}
		row = objectionRow{PublicationID: publicationID, VillageID: village, ResidentID: resident, Reason: reason, Status: string(ObjectionOpen), CreatedAt: now}
		return tx.Create(&row).Error
	})
	if err != nil {
		return Objection{}, err
	}
	return row.objection(), nil
}

// Objections lists the objections to every version of the ranking a
// version belongs to, oldest first.
func (s *Service) Objections(ctx context.Context, publicationID int64) ([]Objection, error) {
	db := s.db.WithContext(ctx)
	ids, err := s.versionIDs(db, publicationID)
	if err != nil {
		return nil, err
	}
	var rows []objectionRow
	if err := db.Where("publication_id IN ?", ids).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]Objection, len(rows))
	for i, r := range rows {
		out[i] = r.objection()
	}
	return out, nil
}

// versionIDs lists every version of the ranking publication id belongs to.
func (s *Service) versionIDs(db *gorm.DB, id int64) ([]int64, error) {
	var ids []int64
	err := db.Raw(`SELECT o.id FROM ranking_publications p JOIN ranking_publications o
		ON o.village_id = p.village_id AND o.period_key = p.period_key AND o.subject = p.subject AND o.track = p.track
		WHERE p.id = ?`, id).Scan(&ids).Error
	if err == nil && len(ids) == 0 {
		err = apperr.NotFound("排名")
	}
	return ids, err
}

// Resolution answers an objection: rejected with a reply, or corrected,
// which freezes a new version from the ledger (where the correction was
// posted, e.g. a reversal) and publishes it in place of the current one,
// within the same notice window.
type Resolution struct {
	Corrected bool
	Reply     string
	By        string
}

// Resolve answers an objection and returns it with, on a correction, the
// new version. The answer (and the new version) is audited as who's, in
// the transaction that records it.
func (s *Service) Resolve(ctx context.Context, who audit.Actor, objectionID int64, r Resolution) (Objection, *Publication, error) {
	if r.By == "" {
		r.By = byOf(who)
	}
	r.Reply = strings.TrimSpace(r.Reply)
	if r.Reply == "" || utf8.RuneCountInString(r.Reply) > 500 {
		return Objection{}, nil, apperr.Invalid("reply", "请填写答复（不超过 500 字）")
	}
	db := s.db.WithContext(ctx)
	var obj []objectionRow
	if err := db.Where("id = ?", objectionID).Find(&obj).Error; err != nil {
		return Objection{}, nil, err
	}
	if len(obj) == 0 {
		return Objection{}, nil, apperr.NotFound("异议")
	}
	if ObjectionStatus(obj[0].Status) != ObjectionOpen {
		return Objection{}, nil, apperr.New(apperr.CodeConflict, "该异议已处理")
	}
	now := s.now().UTC()
	// answer records the answer inside tx: the objection's row (unless
	// another answer came first) and its audit entry.
	answer := func(tx *gorm.DB, correction *publicationRow) error {
		upd := map[string]any{"reply": r.Reply, "resolved_by": r.By, "resolved_at": now, "status": ObjectionRejected}
		after := map[string]any{"status": ObjectionRejected, "reply": r.Reply}
		if correction != nil {
			upd["status"], upd["correction_id"] = ObjectionCorrected, correction.ID
			after["status"], after["correction_id"], after["correction_version"] = ObjectionCorrected, correction.ID, correction.Version
		}
		res := tx.Model(&objectionRow{}).Where("id = ? AND status = ?", objectionID, ObjectionOpen).Updates(upd)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.CodeConflict, "该异议已处理")
		}
		return audit.Record(ctx, tx, who, audit.Change{VillageID: obj[0].VillageID, Action: "ranking.objection.resolve", TargetType: "ranking_objection",
			TargetID: objectionID, Before: map[string]any{"status": ObjectionOpen, "publication_id": obj[0].PublicationID}, After: after})
	}
	var correction *Publication
	if r.Corrected {
		ids, err := s.versionIDs(db, obj[0].PublicationID)
		if err != nil {
			return Objection{}, nil, err
		}
		var cur []publicationRow
		if err := db.Where("id IN ? AND status = ?", ids, StatusPublished).Find(&cur).Error; err != nil {
			return Objection{}, nil, err
		}
		if len(cur) != 1 {
			return Objection{}, nil, apperr.New(apperr.CodeConflict, "只有公示中的排名可以更正")
		}
		st, err := s.Settings(ctx, cur[0].VillageID)
		if err != nil {
			return Objection{}, nil, err
		}
		p, err := s.freeze(ctx, who, FreezeRequest{VillageID: cur[0].VillageID, PeriodKey: cur[0].PeriodKey, Subject: Subject(cur[0].Subject),
			Track: ledger.Track(cur[0].Track), By: r.By}, Basis(cur[0].Basis), st, &cur[0],
			func(tx *gorm.DB, v publicationRow) error { return answer(tx, &v) })
		if err != nil {
			return Objection{}, nil, err
		}
		correction = &p
	} else if err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error { return answer(tx, nil) }); err != nil {
		return Objection{}, nil, err
	}
	if err := db.Where("id = ?", objectionID).Find(&obj).Error; err != nil {
		return Objection{}, nil, err
	}
	return obj[0].objection(), correction, nil
}

// ObjectionVillage returns the village an objection belongs to.
func (s *Service) ObjectionVillage(ctx context.Context, id int64) (int64, error) {
	var vs []int64
	if err := s.db.WithContext(ctx).Raw("SELECT village_id FROM ranking_objections WHERE id = ?", id).Scan(&vs).Error; err != nil {
		return 0, err
	}
	if len(vs) == 0 {
		return 0, apperr.NotFound("异议")
	}
	return vs[0], nil
}

// Finalize closes a published version whose notice window has passed with
// every objection resolved, and awards the titles of the village's rules;
// both are audited as who's.
func (s *Service) Finalize(ctx context.Context, who audit.Actor, id int64) (Publication, error) {
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		row, err := lockPublication(tx, id)
		if err != nil {
			return err
		}
		if Status(row.Status) != StatusPublished {
			return apperr.New(apperr.CodeConflict, "只有公示中的最新版本可以定稿")
		}
		now := s.now().UTC()
		if row.NoticeEndsAt == nil || now.Before(*row.NoticeEndsAt) {
			return apperr.New(apperr.CodeConflict, "公示期尚未结束")
		}
		ids, err := s.versionIDs(tx, id)
		if err != nil {
			return err
		}
		var open int64
		if err := tx.Model(&objectionRow{}).Where("publication_id IN ? AND status = ?", ids, ObjectionOpen).Count(&open).Error; err != nil {
			return err
		}
		if open > 0 {
			return apperr.Newf(apperr.CodeConflict, "还有 %d 条异议未处理", open)
		}
		st, err := loadSettings(tx, row.VillageID)
		if err != nil {
			return err
		}
		if err := tx.Model(&publicationRow{}).Where("id = ?", id).Updates(map[string]any{"status": StatusFinal, "finalized_at": now}).Error; err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, who, audit.Change{VillageID: row.VillageID, Action: "ranking.finalize", TargetType: "ranking", TargetID: id,
			Before: map[string]any{"status": row.Status},
			After:  map[string]any{"status": StatusFinal, "period_key": row.PeriodKey, "version": row.Version, "digest": row.Digest}}); err != nil {
			return err
		}
		sub := Subject(row.Subject)
		if sub == SubjectHouseholdPerMember {
			sub = SubjectHousehold
		}
		type awarded struct {
			SubjectID int64  `json:"subject_id"`
			Title     string `json:"title"`
			RankNo    int64  `json:"rank"`
		}
		var titles []awarded
		for _, rule := range st.Titles {
			if rule.Subject != sub || string(rule.Track) != row.Track {
				continue
			}
			var es []entryRow
			if err := tx.Where("publication_id = ? AND side = ? AND rank_no <= ? AND points > 0", id, sideRed, rule.TopN).
				Order("position").Find(&es).Error; err != nil {
				return err
			}
			for _, e := range es {
				t := titleRow{PublicationID: id, SubjectID: e.SubjectID, Title: rule.Title, VillageID: row.VillageID, PeriodKey: row.PeriodKey,
					Subject: string(sub), RankNo: e.RankNo, CreatedAt: now}
				if err := tx.Create(&t).Error; err != nil && !sqldb.IsDuplicateKey(err) {
					return err
				}
				titles = append(titles, awarded{SubjectID: e.SubjectID, Title: rule.Title, RankNo: int64(e.RankNo)})
			}
		}
		if len(titles) == 0 {
			return nil
		}
		return audit.Record(ctx, tx, who, audit.Change{VillageID: row.VillageID, Action: "ranking.titles.award", TargetType: "ranking", TargetID: id,
			After: map[string]any{"period_key": row.PeriodKey, "subject": sub, "titles": titles}})
	})
	if err != nil {
		return Publication{}, err
	}
	return s.Publication(ctx, id, Staff)
}
