package ledger

import (
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/sqldb"
)

// CodeTrackNotAccepted refuses a spend that the holder's points would
// cover, but only with tracks the request does not accept (a reward that
// takes volunteer points only, say, from a resident whose points are all
// civic ones).
const CodeTrackNotAccepted apperr.Code = "POINTS_TRACK_NOT_ACCEPTED"

// payingTracks lists the tracks a spend draws on, in the order it draws on
// them: the village's spendable tracks in the village's order, narrowed to
// the request's tracks when it names any. A track the request names but
// the village does not let be spent never pays: the village's settings
// bound every reward, including a township's shared ones.
func payingTracks(spendable, only []Track) []Track {
	if len(only) == 0 {
		return spendable
	}
	var out []Track
	for _, t := range spendable {
		for _, o := range only {
			if t == o {
				out = append(out, t)
				break
			}
		}
	}
	return out
}

// validateTracks checks a request's track filter.
func validateTracks(ts []Track) error {
	seen := map[Track]bool{}
	for _, t := range ts {
		if !t.Valid() || seen[t] {
			return apperr.Invalid("tracks", "可用积分类别无效或重复")
		}
		seen[t] = true
	}
	return nil
}

// withTracks appends a track filter to a request's fingerprint fields only
// when there is one, so requests without a filter keep the fingerprint
// they had before filters existed (their retries still replay).
func withTracks(fields []any, ts []Track) []any {
	if len(ts) == 0 {
		return fields
	}
	return append(fields, ts)
}

// trackLabels names tracks for messages: "村规民约积分、志愿积分".
func trackLabels(ts []Track) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Label() + "积分"
	}
	return strings.Join(parts, "、")
}

// spend takes amount from the holder's paying tracks (payingTracks) for a
// hold or a redemption and says how much each track gave. The split is
// deterministic: the tracks are drawn in the village's order, each as far
// as its balance goes before the next is touched, so a spend uses as few
// tracks as that order allows and never takes a track below zero.
//
// The common case costs one statement: when the first paying track covers
// the whole amount (the split's answer then), a conditional update checks
// and takes it at once, and for a hold (into names the held account kind)
// puts it into the held account in the same statement (moveCovered); what
// it moved is returned as already applied.
// Otherwise the paying accounts are locked and split over, and the debits
// are left to applyHolderDeltas. A refusal says CodePointsShort, or
// CodeTrackNotAccepted when the tracks the request left out would have
// covered it.
func (s *Store) spend(tx *gorm.DB, villageID int64, st Settings, h Holder, amount int64, only []Track, into AccountKind, now time.Time) ([]TrackAmount, Balances, error) {
	if err := st.checkHolder(h); err != nil {
		return nil, nil, err
	}
	if len(st.Spendable) == 0 {
		return nil, nil, apperr.New(apperr.CodePointsShort, "本村暂未开放积分兑换")
	}
	paying := payingTracks(st.Spendable, only)
	if len(paying) == 0 {
		return nil, nil, apperr.Newf(CodeTrackNotAccepted, "该商品只能用%s兑换，本村暂未开放这类积分兑换", trackLabels(only))
	}
	first := AccountKey{Kind: h.main(), Owner: h.ID, Track: paying[0]}
	applied := Balances{first: -amount}
	var ok bool
	var err error
	if into == "" {
		ok, err = s.debitCovered(tx, villageID, first, amount, now)
	} else {
		to := AccountKey{Kind: into, Owner: h.ID, Track: paying[0]}
		applied[to] = amount
		ok, err = s.moveCovered(tx, villageID, first, to, amount, now)
	}
	if err != nil {
		return nil, nil, err
	}
	if ok {
		return []TrackAmount{{Track: paying[0], Amount: amount}}, applied, nil
	}
	balances, err := holderBalances(sqldb.ForUpdate(tx), villageID, h, paying)
	if err != nil {
		return nil, nil, fmt.Errorf("ledger: lock paying accounts: %w", err)
	}
	legs, err := splitSpend(balances, paying, amount)
	if err == nil || len(paying) == len(st.Spendable) {
		return legs, nil, err
	}
	return nil, nil, s.notAccepted(tx, villageID, st, h, paying, balances, amount, err)
}

// notAccepted turns a refusal of a spend with a track filter into
// CodeTrackNotAccepted when the village's other spendable tracks would
// have covered it; otherwise it is the refusal as it was.
func (s *Store) notAccepted(tx *gorm.DB, villageID int64, st Settings, h Holder, paying []Track, balances map[Track]int64, amount int64, short error) error {
	var left []Track
	for _, t := range st.Spendable {
		if !contains(paying, t) {
			left = append(left, t)
		}
	}
	others, err := holderBalances(tx, villageID, h, left)
	if err != nil {
		return fmt.Errorf("ledger: read other tracks: %w", err)
	}
	var available, other int64
	for _, t := range paying {
		available += max(balances[t], 0)
	}
	var helping []Track
	for _, t := range left {
		if others[t] > 0 {
			other += others[t]
			helping = append(helping, t)
		}
	}
	if available+other < amount {
		return short
	}
	return apperr.Newf(CodeTrackNotAccepted, "该商品只能用%s兑换：可用 %d 分，需要 %d 分（%s不能用于兑换该商品）",
		trackLabels(paying), available, amount, trackLabels(helping))
}

// holderBalances reads the balances of a holder's main accounts on the
// given tracks (a locking read when db says so); a missing row is zero.
func holderBalances(db *gorm.DB, villageID int64, h Holder, tracks []Track) (map[Track]int64, error) {
	var rows []accountRow
	q := db.Table("ledger_accounts").
		Where("village_id = ? AND kind = ? AND owner_id = ? AND track IN ?", villageID, h.main(), h.ID, tracks).
		Order("track")
	if err := q.Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := map[Track]int64{}
	for _, r := range rows {
		out[Track(r.Track)] = r.Balance
	}
	return out, nil
}

func contains(ts []Track, t Track) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}
