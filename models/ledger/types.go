package ledger

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/villagepoints/jifen/apperr"
)

// Track is the line of points a posting belongs to, so rankings can be kept
// per track and a village can choose which tracks may be spent.
type Track string

// The tracks.
const (
	TrackCivic     Track = "civic"     // 村规民约积分
	TrackParty     Track = "party"     // 党员积分
	TrackVolunteer Track = "volunteer" // 志愿服务积分
)

// Tracks lists every track in display order.
var Tracks = []Track{TrackCivic, TrackParty, TrackVolunteer}

// Valid reports whether t is a known track.
func (t Track) Valid() bool {
	return t == TrackCivic || t == TrackParty || t == TrackVolunteer
}

// Label is the track's Chinese name for exports.
func (t Track) Label() string {
	switch t {
	case TrackCivic:
		return "村规民约"
	case TrackParty:
		return "党员"
	case TrackVolunteer:
		return "志愿"
	}
	return string(t)
}

// PostingType is the cause of a posting.
type PostingType string

// The posting types.
const (
	TypeRuleAward           PostingType = "rule_award"           // 细则加分
	TypeRuleDeduction       PostingType = "rule_deduction"       // 细则扣分
	TypeDutyAssessment      PostingType = "duty_assessment"      // 党员责任岗考评
	TypeVolunteerAttendance PostingType = "volunteer_attendance" // 志愿活动签到
	TypeRedemptionHold      PostingType = "redemption_hold"      // 兑换冻结
	TypeRedemptionCapture   PostingType = "redemption_capture"   // 兑换核销
	TypeRedemptionRelease   PostingType = "redemption_release"   // 兑换解冻
	TypeReversal            PostingType = "reversal"             // 冲正
	TypeExpiry              PostingType = "expiry"               // 积分过期
	TypeManualAdjustment    PostingType = "manual_adjustment"    // 人工调整
)

// Label is the type's Chinese name for exports.
func (t PostingType) Label() string {
	switch t {
	case TypeRuleAward:
		return "细则加分"
	case TypeRuleDeduction:
		return "细则扣分"
	case TypeDutyAssessment:
		return "责任岗考评"
	case TypeVolunteerAttendance:
		return "志愿服务"
	case TypeRedemptionHold:
		return "兑换冻结"
	case TypeRedemptionCapture:
		return "兑换核销"
	case TypeRedemptionRelease:
		return "兑换解冻"
	case TypeReversal:
		return "冲正"
	case TypeExpiry:
		return "积分过期"
	case TypeManualAdjustment:
		return "人工调整"
	}
	return string(t)
}

// earning reports whether a credit of this type brings new points into a
// holder's account (as opposed to giving back points it had before). Only
// earned points start an expiry lot.
func (t PostingType) earning() bool {
	switch t {
	case TypeRuleAward, TypeDutyAssessment, TypeVolunteerAttendance, TypeManualAdjustment:
		return true
	}
	return false
}

// HolderKind says whether points belong to a resident 村民 or a household 户.
type HolderKind string

// The holder kinds.
const (
	HolderResident  HolderKind = "resident"
	HolderHousehold HolderKind = "household"
)

// Holder is whoever owns points: a resident, or a household in villages that
// keep points per household.
type Holder struct {
	Kind HolderKind
	ID   int64
}

// Resident names a resident's points.
func Resident(id int64) Holder { return Holder{Kind: HolderResident, ID: id} }

// Household names a household's points.
func Household(id int64) Holder { return Holder{Kind: HolderHousehold, ID: id} }

func (h Holder) String() string { return fmt.Sprintf("%s:%d", h.Kind, h.ID) }

func (h Holder) validate() error {
	if h.Kind != HolderResident && h.Kind != HolderHousehold {
		return apperr.Invalid("holder", "积分账户类型只能是村民或户")
	}
	if h.ID <= 0 {
		return apperr.Invalid("holder", "积分账户编号无效")
	}
	return nil
}

// main is the kind of the holder's own account; held the kind of the
// sub-account that keeps points frozen for open redemption holds.
func (h Holder) main() AccountKind { return AccountKind(h.Kind) }
func (h Holder) held() AccountKind { return AccountKind(string(h.Kind) + "_held") }

// AccountKind says what an account is for. Holder accounts belong to one
// resident or household; system accounts to the village.
type AccountKind string

// The account kinds.
const (
	KindResident      AccountKind = "resident"       // 村民积分
	KindResidentHeld  AccountKind = "resident_held"  // 村民冻结积分
	KindHousehold     AccountKind = "household"      // 户积分
	KindHouseholdHeld AccountKind = "household_held" // 户冻结积分
	KindIssued        AccountKind = "issued"         // 发放
	KindDeducted      AccountKind = "deducted"       // 扣减
	KindRedeemed      AccountKind = "redeemed"       // 兑换
	KindExpired       AccountKind = "expired"        // 过期
	KindAdjustments   AccountKind = "adjustments"    // 人工调整
)

// System reports whether k is a village system account. System accounts have
// owner 0 and may be negative (issued is, by design).
func (k AccountKind) System() bool {
	switch k {
	case KindResident, KindResidentHeld, KindHousehold, KindHouseholdHeld:
		return false
	}
	return true
}

// Held reports whether k is a holder's held sub-account.
func (k AccountKind) Held() bool { return k == KindResidentHeld || k == KindHouseholdHeld }

// Label is the kind's Chinese name for exports.
func (k AccountKind) Label() string {
	switch k {
	case KindResident:
		return "村民"
	case KindResidentHeld:
		return "村民冻结"
	case KindHousehold:
		return "户"
	case KindHouseholdHeld:
		return "户冻结"
	case KindIssued:
		return "发放"
	case KindDeducted:
		return "扣减"
	case KindRedeemed:
		return "兑换"
	case KindExpired:
		return "过期"
	case KindAdjustments:
		return "人工调整"
	}
	return string(k)
}

// holder returns the holder owning an account of kind k, if any.
func (k AccountKind) holder(owner int64) (Holder, bool) {
	switch k {
	case KindResident, KindResidentHeld:
		return Resident(owner), true
	case KindHousehold, KindHouseholdHeld:
		return Household(owner), true
	}
	return Holder{}, false
}

// AccountKey names one account: its kind, its owner (0 for system accounts)
// and its track. Each track of a holder is its own account.
type AccountKey struct {
	Kind  AccountKind
	Owner int64
	Track Track
}

// String renders the key as kind:owner:track, the form used in Redis.
func (k AccountKey) String() string {
	return string(k.Kind) + ":" + strconv.FormatInt(k.Owner, 10) + ":" + string(k.Track)
}

// ParseAccountKey parses the kind:owner:track form.
func ParseAccountKey(s string) (AccountKey, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return AccountKey{}, fmt.Errorf("ledger: bad account key %q", s)
	}
	owner, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return AccountKey{}, fmt.Errorf("ledger: bad account key %q", s)
	}
	return AccountKey{Kind: AccountKind(parts[0]), Owner: owner, Track: Track(parts[2])}, nil
}

func systemAccount(k AccountKind, t Track) AccountKey { return AccountKey{Kind: k, Track: t} }

// Actor is who caused a posting: "staff:17", "resident:5" or "system".
type Actor string

// SystemActor causes postings of scheduled jobs (expiry, hold timeouts).
const SystemActor Actor = "system"

// StaffActor names a staff member.
func StaffActor(id int64) Actor { return Actor("staff:" + strconv.FormatInt(id, 10)) }

// ResidentActor names a villager acting for themselves (a redemption in the
// mini-program).
func ResidentActor(id int64) Actor { return Actor("resident:" + strconv.FormatInt(id, 10)) }

func (a Actor) validate() error {
	if a == SystemActor {
		return nil
	}
	kind, id, ok := strings.Cut(string(a), ":")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || (kind != "staff" && kind != "resident") || err != nil || n <= 0 {
		return apperr.Invalid("actor", "操作人无效")
	}
	return nil
}

// Source names the record that caused a posting, such as an award record or
// a redemption order: Type is the record kind ("award", "attendance",
// "redemption"…), ID its id.
type Source struct {
	Type string
	ID   int64
}

// Posting is one ledger entry 流水: Amount points of Track moved from one
// account to another, with its cause. Postings are never updated, except
// that the Sealer fills ChainSeq, PrevHash and Hash once.
type Posting struct {
	ID        int64
	VillageID int64
	Type      PostingType
	Track     Track
	FromKind  AccountKind
	FromOwner int64
	ToKind    AccountKind
	ToOwner   int64
	// Holder is the resident or household whose accounts the posting
	// touches; every posting concerns exactly one.
	Holder Holder
	Amount int64
	Source Source
	Actor  Actor
	// Reason is the written reason of a person's decision; required for
	// manual adjustments and reversals.
	Reason string
	// ReversesID is the posting this one reverses, 0 if none.
	ReversesID int64
	// HoldID is the redemption hold this posting belongs to, 0 if none.
	HoldID int64
	// RequestID names the request that wrote it (derived from village,
	// actor and idempotency key).
	RequestID int64
	CreatedAt time.Time
	// ChainSeq is the posting's place in its village's hash chain; 0 until
	// the Sealer has sealed it.
	ChainSeq int64
	PrevHash string
	Hash     string

	// leg is the posting's place among its request's postings, and
	// requestHash that request's fingerprint; together with RequestID they
	// make the postings the request's idempotency record.
	leg         int
	requestHash int64
}

// From is the debited account.
func (p Posting) From() AccountKey {
	return AccountKey{Kind: p.FromKind, Owner: p.FromOwner, Track: p.Track}
}

// To is the credited account.
func (p Posting) To() AccountKey { return AccountKey{Kind: p.ToKind, Owner: p.ToOwner, Track: p.Track} }

// holderOf is the one holder whose accounts a posting touches.
func holderOf(p Posting) (Holder, bool) {
	if h, ok := p.FromKind.holder(p.FromOwner); ok {
		return h, true
	}
	return p.ToKind.holder(p.ToOwner)
}

// Sealed reports whether the posting is in the hash chain yet.
func (p Posting) Sealed() bool { return p.ChainSeq > 0 }

// Limits on request fields.
const (
	// MaxAmount bounds one posting, far above any real award, so sums of
	// millions of postings stay far from overflow.
	MaxAmount     = 1_000_000
	maxReasonLen  = 500
	maxKeyLen     = 128
	maxSourceType = 32
)

func validateAmount(n int64) error {
	if n <= 0 || n > MaxAmount {
		return apperr.Invalid("amount", fmt.Sprintf("分值须在 1 到 %d 之间", MaxAmount))
	}
	return nil
}

func validateVillage(id int64) error {
	if id <= 0 {
		return apperr.Invalid("village_id", "村编号无效")
	}
	return nil
}

func validateKey(key string) error {
	if strings.TrimSpace(key) == "" || len(key) > maxKeyLen {
		return apperr.Invalid("idempotency_key", "缺少幂等键或幂等键过长")
	}
	return nil
}

func validateReason(reason string, required bool) error {
	if required && strings.TrimSpace(reason) == "" {
		return apperr.Invalid("reason", "请填写原因")
	}
	if utf8.RuneCountInString(reason) > maxReasonLen {
		return apperr.Invalid("reason", fmt.Sprintf("原因不能超过 %d 字", maxReasonLen))
	}
	return nil
}

func validateSource(s Source) error {
	if len(s.Type) > maxSourceType || s.ID < 0 {
		return apperr.Invalid("source", "来源记录无效")
	}
	return nil
}

func validateTrack(t Track) error {
	if !t.Valid() {
		return apperr.Invalid("track", "积分类别无效")
	}
	return nil
}

// pointsShort is the refusal for a debit the balance does not cover.
func pointsShort(available, need int64) error {
	if available < 0 {
		available = 0
	}
	return apperr.Newf(apperr.CodePointsShort, "积分不足：可用 %d 分，需要 %d 分", available, need)
}
