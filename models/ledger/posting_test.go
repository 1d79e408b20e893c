package ledger

import (
	"context"
	"testing"
	"time"

	"github.com/villagepoints/jifen/apperr"
)

func TestAwardShowsInBalanceAndHistory(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := Resident(9)
		mustAward(t, e, 1, r, TrackCivic, 30)
		mustAward(t, e, 1, r, TrackParty, 10)
		res, err := e.store.Award(ctx, AwardRequest{VillageID: 1, Holder: r, Track: TrackVolunteer, Amount: 4,
			Type: TypeVolunteerAttendance, Source: Source{"attendance", 12}, Actor: staff, IdempotencyKey: key()})
		if err != nil {
			t.Fatal(err)
		}
		p := res.Postings[0]
		if p.Type != TypeVolunteerAttendance || p.Source != (Source{"attendance", 12}) || p.Actor != staff ||
			p.From() != (AccountKey{KindIssued, 0, TrackVolunteer}) || p.To() != (AccountKey{KindResident, 9, TrackVolunteer}) ||
			!p.CreatedAt.Equal(t0) || p.Sealed() {
			t.Fatalf("posting %+v", p)
		}
		b := mustBalance(t, e, 1, r)
		if b.Available != 44 || b.Spendable != 34 || b.Held != 0 || b.Tracks[1] != (TrackBalance{TrackParty, 10, 0, false}) {
			t.Fatalf("balance %+v", b)
		}
		page, err := e.store.History(ctx, HistoryQuery{VillageID: 1, Holder: r, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Entries) != 2 || page.Entries[0].Posting.ID != p.ID || page.Entries[0].Change != 4 || page.NextBeforeID == 0 {
			t.Fatalf("page 1 %+v", page)
		}
		page, err = e.store.History(ctx, HistoryQuery{VillageID: 1, Holder: r, BeforeID: page.NextBeforeID, Limit: 2})
		if err != nil || len(page.Entries) != 1 || page.Entries[0].Change != 30 || page.NextBeforeID != 0 {
			t.Fatalf("page 2 %+v %v", page, err)
		}
		// Other villages and residents see nothing of it.
		if b := mustBalance(t, e, 2, r); b.Available != 0 {
			t.Fatalf("village 2 sees %+v", b)
		}
		mustVerify(t, e, 1)
	})
}

func TestValidation(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ok := AwardRequest{VillageID: 1, Holder: Resident(1), Track: TrackCivic, Amount: 5, Actor: staff, IdempotencyKey: "a"}
		for name, change := range map[string]func(*AwardRequest){
			"zero amount":      func(r *AwardRequest) { r.Amount = 0 },
			"huge amount":      func(r *AwardRequest) { r.Amount = MaxAmount + 1 },
			"unknown track":    func(r *AwardRequest) { r.Track = "gold" },
			"no key":           func(r *AwardRequest) { r.IdempotencyKey = " " },
			"no village":       func(r *AwardRequest) { r.VillageID = 0 },
			"bad actor":        func(r *AwardRequest) { r.Actor = "admin" },
			"bad holder":       func(r *AwardRequest) { r.Holder = Holder{Kind: "grid", ID: 1} },
			"deduction type":   func(r *AwardRequest) { r.Type = TypeRuleDeduction },
			"household holder": func(r *AwardRequest) { r.Holder = Household(1) },
		} {
			r := ok
			change(&r)
			if _, err := e.store.Award(ctx, r); !apperr.Is(err, apperr.CodeInvalid) {
				t.Errorf("%s: got %v, want INVALID_ARGUMENT", name, err)
			}
		}
		_, err := e.store.Adjust(ctx, AdjustRequest{VillageID: 1, Holder: Resident(1), Track: TrackCivic, Amount: 5, Actor: staff, IdempotencyKey: key()})
		if f := apperr.From(err); f.Code != apperr.CodeInvalid || f.Field != "reason" {
			t.Fatalf("adjustment without reason: %v", err)
		}
		if n := countRows(t, e.db, "SELECT COUNT(*) FROM ledger_postings"); n != 0 {
			t.Fatalf("%d postings after refusals", n)
		}
	})
}

func TestDeductionBelowZeroFollowsVillageSetting(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := Resident(3)
		deduct := func(village, amount int64) (*Result, error) {
			return e.store.Deduct(ctx, DeductRequest{VillageID: village, Holder: r, Track: TrackCivic, Amount: amount,
				Source: Source{"award", 1}, Actor: staff, Reason: "乱倒垃圾", IdempotencyKey: key()})
		}

		// Village 1 keeps the default: no balance below zero.
		mustAward(t, e, 1, r, TrackCivic, 12)
		before := dumpState(t, e.db, 1)
		_, err := deduct(1, 30)
		wantCode(t, err, apperr.CodePointsShort)
		if msg := apperr.From(err).Message; msg != "积分不足：可用 12 分，需要 30 分" {
			t.Fatalf("message %q", msg)
		}
		if after := dumpState(t, e.db, 1); after != before {
			t.Fatalf("a refused deduction changed state:\n%s\n%s", before, after)
		}
		if _, err := deduct(1, 12); err != nil {
			t.Fatal(err)
		}
		// A deduction from an account that never had points is refused too.
		_, err = deduct(1, 1)
		wantCode(t, err, apperr.CodePointsShort)

		// Village 2 lets rule deductions go negative, and nothing else.
		mustSettings(t, e, 2, func(s *Settings) { s.AllowNegativeDeduction = true })
		mustAward(t, e, 2, r, TrackCivic, 12)
		if _, err := deduct(2, 30); err != nil {
			t.Fatal(err)
		}
		if b := mustBalance(t, e, 2, r); b.Available != -18 || b.Spendable != 0 {
			t.Fatalf("balance %+v", b)
		}
		// A never-seen resident can go negative as well.
		if _, err := e.store.Deduct(ctx, DeductRequest{VillageID: 2, Holder: Resident(4), Track: TrackParty, Amount: 5,
			Actor: staff, IdempotencyKey: key()}); err != nil {
			t.Fatal(err)
		}
		_, err = e.store.Redeem(ctx, RedeemRequest{VillageID: 2, Holder: r, Amount: 1, Actor: staff, IdempotencyKey: key()})
		wantCode(t, err, apperr.CodePointsShort)
		_, err = e.store.Adjust(ctx, AdjustRequest{VillageID: 2, Holder: r, Track: TrackCivic, Amount: -1, Actor: staff, Reason: "更正", IdempotencyKey: key()})
		wantCode(t, err, apperr.CodePointsShort)
		mustAward(t, e, 2, r, TrackCivic, 20)
		if b := mustBalance(t, e, 2, r); b.Available != 2 {
			t.Fatalf("balance %+v", b)
		}
		mustVerify(t, e, 1)
		mustVerify(t, e, 2)
	})
}

func TestIdempotency(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		req := AwardRequest{VillageID: 1, Holder: Resident(1), Track: TrackCivic, Amount: 5, Actor: staff, IdempotencyKey: "retry-me"}
		first, err := e.store.Award(ctx, req)
		if err != nil || first.Replayed {
			t.Fatal(first, err)
		}
		e.clock.Advance(time.Minute)
		again, err := e.store.Award(ctx, req)
		if err != nil || !again.Replayed || len(again.Postings) != 1 || again.Postings[0].ID != first.Postings[0].ID ||
			!again.Postings[0].CreatedAt.Equal(first.Postings[0].CreatedAt) {
			t.Fatalf("replay %+v %v", again, err)
		}
		changed := req
		changed.Amount = 6
		_, err = e.store.Award(ctx, changed)
		wantCode(t, err, apperr.CodeIdempotency)
		// The key is scoped by actor and village: others may use it.
		other := req
		other.Actor = StaffActor(8)
		if res, err := e.store.Award(ctx, other); err != nil || res.Replayed {
			t.Fatal(res, err)
		}
		other.Actor, other.VillageID = staff, 2
		if res, err := e.store.Award(ctx, other); err != nil || res.Replayed {
			t.Fatal(res, err)
		}
		// A refused request stores nothing, so the same key may succeed
		// once the balance allows it.
		redeem := RedeemRequest{VillageID: 1, Holder: Resident(1), Amount: 12, Actor: staff, IdempotencyKey: "shop-1"}
		_, err = e.store.Redeem(ctx, redeem)
		wantCode(t, err, apperr.CodePointsShort)
		mustAward(t, e, 1, Resident(1), TrackCivic, 5)
		if res, err := e.store.Redeem(ctx, redeem); err != nil || res.Replayed || res.Postings[0].Amount != 12 {
			t.Fatal(res, err)
		}
		if b := mustBalance(t, e, 1, Resident(1)); b.Available != 3 {
			t.Fatalf("balance %+v", b)
		}
	})
}

func TestManualAdjustment(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := Resident(2)
		res, err := e.store.Adjust(ctx, AdjustRequest{VillageID: 1, Holder: r, Track: TrackCivic, Amount: 15,
			Actor: staff, Reason: "补录 2 月漏记的积分", IdempotencyKey: key()})
		if err != nil {
			t.Fatal(err)
		}
		if p := res.Postings[0]; p.Type != TypeManualAdjustment || p.FromKind != KindAdjustments || p.Reason != "补录 2 月漏记的积分" {
			t.Fatalf("%+v", p)
		}
		res, err = e.store.Adjust(ctx, AdjustRequest{VillageID: 1, Holder: r, Track: TrackCivic, Amount: -5,
			Actor: staff, Reason: "重复录入", IdempotencyKey: key()})
		if err != nil || res.Postings[0].From() != (AccountKey{KindResident, 2, TrackCivic}) || res.Postings[0].Amount != 5 {
			t.Fatal(res, err)
		}
		if b := mustBalance(t, e, 1, r); b.Available != 10 {
			t.Fatalf("%+v", b)
		}
	})
}

func TestReversal(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := Resident(5)
		reverse := func(id int64, reason string) (*Result, error) {
			return e.store.Reverse(ctx, ReverseRequest{VillageID: 1, PostingID: id, Actor: staff, Reason: reason, IdempotencyKey: key()})
		}
		award := mustAward(t, e, 1, r, TrackCivic, 20).Postings[0]
		_, err := reverse(award.ID, "  ")
		if f := apperr.From(err); f.Code != apperr.CodeInvalid || f.Field != "reason" {
			t.Fatalf("reversal without reason: %v", err)
		}
		res, err := reverse(award.ID, "评分录错了人")
		if err != nil {
			t.Fatal(err)
		}
		rev := res.Postings[0]
		if rev.Type != TypeReversal || rev.ReversesID != award.ID || rev.From() != award.To() || rev.To() != award.From() || rev.Source != award.Source {
			t.Fatalf("%+v", rev)
		}
		_, err = reverse(award.ID, "再冲一次")
		wantCode(t, err, apperr.CodeAlreadyReversed)
		_, err = reverse(rev.ID, "冲正的冲正")
		wantCode(t, err, apperr.CodeConflict)
		_, err = e.store.Reverse(ctx, ReverseRequest{VillageID: 2, PostingID: award.ID, Actor: staff, Reason: "别村", IdempotencyKey: key()})
		wantCode(t, err, apperr.CodeNotFound)

		// An award already spent cannot be reversed: no balance below zero.
		spent := mustAward(t, e, 1, r, TrackCivic, 10).Postings[0]
		redeem, err := e.store.Redeem(ctx, RedeemRequest{VillageID: 1, Holder: r, Amount: 8, Actor: staff, IdempotencyKey: key()})
		if err != nil {
			t.Fatal(err)
		}
		before := dumpState(t, e.db, 1)
		_, err = reverse(spent.ID, "录错")
		wantCode(t, err, apperr.CodePointsShort)
		if dumpState(t, e.db, 1) != before {
			t.Fatal("refused reversal changed state")
		}
		// A reversed redemption refunds; a reversed deduction gives back.
		if _, err := reverse(redeem.Postings[0].ID, "商品缺货退回"); err != nil {
			t.Fatal(err)
		}
		ded, err := e.store.Deduct(ctx, DeductRequest{VillageID: 1, Holder: r, Track: TrackCivic, Amount: 3, Actor: staff, IdempotencyKey: key()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reverse(ded.Postings[0].ID, "申诉成立"); err != nil {
			t.Fatal(err)
		}
		if b := mustBalance(t, e, 1, r); b.Available != 10 {
			t.Fatalf("%+v", b)
		}
		mustVerify(t, e, 1)
	})
}

func TestHoldLifecycle(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := Resident(8)
		mustAward(t, e, 1, r, TrackCivic, 10)
		mustAward(t, e, 1, r, TrackVolunteer, 15)
		mustAward(t, e, 1, r, TrackParty, 50)
		hold := func(amount int64) (*Result, error) {
			return e.store.PlaceHold(ctx, HoldRequest{VillageID: 1, Holder: r, Amount: amount, Source: Source{"redemption", 1},
				Actor: ResidentActor(8), IdempotencyKey: key()})
		}
		_, err := hold(26)
		wantCode(t, err, apperr.CodePointsShort)
		if msg := apperr.From(err).Message; msg != "积分不足：可用 25 分，需要 26 分" {
			t.Fatalf("message %q", msg)
		}
		res, err := hold(20)
		if err != nil {
			t.Fatal(err)
		}
		h := res.Hold
		if h.Status != HoldOpen || len(res.Postings) != 2 || h.Legs[0] != (TrackAmount{TrackCivic, 10}) || h.Legs[1] != (TrackAmount{TrackVolunteer, 10}) ||
			!h.ExpiresAt.Equal(t0.Add(DefaultHoldTTL)) {
			t.Fatalf("hold %+v", res)
		}
		b := mustBalance(t, e, 1, r)
		if b.Spendable != 5 || b.Held != 20 || b.Available != 55 {
			t.Fatalf("balance with hold %+v", b)
		}
		if open, err := e.store.OpenHolds(ctx, 1, r); err != nil || len(open) != 1 || open[0].ID != h.ID {
			t.Fatalf("open holds %+v %v", open, err)
		}
		capture, err := e.store.Capture(ctx, CaptureRequest{VillageID: 1, HoldID: h.ID, Actor: staff, IdempotencyKey: key()})
		if err != nil || capture.Hold.Status != HoldCaptured || len(capture.Postings) != 2 || capture.Postings[0].ToKind != KindRedeemed {
			t.Fatal(capture, err)
		}
		_, err = e.store.Release(ctx, ReleaseRequest{VillageID: 1, HoldID: h.ID, Actor: staff, IdempotencyKey: key()})
		wantCode(t, err, apperr.CodeConflict)
		if b := mustBalance(t, e, 1, r); b.Spendable != 5 || b.Held != 0 {
			t.Fatalf("after capture %+v", b)
		}

		// Release gives the points back to the same tracks.
		res, err = hold(5)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Release(ctx, ReleaseRequest{VillageID: 1, HoldID: res.Hold.ID, Actor: staff, Reason: "顾客取消", IdempotencyKey: key()}); err != nil {
			t.Fatal(err)
		}
		if b := mustBalance(t, e, 1, r); b.Spendable != 5 || b.Held != 0 {
			t.Fatalf("after release %+v", b)
		}

		// An expired hold cannot be captured; ExpireHolds releases it once.
		res, err = e.store.PlaceHold(ctx, HoldRequest{VillageID: 1, Holder: r, Amount: 5, ExpiresAt: t0.Add(time.Hour), Actor: staff, IdempotencyKey: key()})
		if err != nil {
			t.Fatal(err)
		}
		now := e.clock.Advance(2 * time.Hour)
		_, err = e.store.Capture(ctx, CaptureRequest{VillageID: 1, HoldID: res.Hold.ID, Actor: staff, IdempotencyKey: key()})
		wantCode(t, err, apperr.CodeConflict)
		for want := 1; want >= 0; want-- {
			n, err := e.store.ExpireHolds(ctx, now)
			if err != nil || n != want {
				t.Fatalf("ExpireHolds released %d (%v), want %d", n, err, want)
			}
		}
		got, err := e.store.Hold(ctx, 1, res.Hold.ID)
		if err != nil || got.Status != HoldExpired || !got.ClosedAt.Equal(now) {
			t.Fatal(got, err)
		}
		if b := mustBalance(t, e, 1, r); b.Spendable != 5 || b.Held != 0 {
			t.Fatalf("after expiry %+v", b)
		}
		_, err = e.store.Capture(ctx, CaptureRequest{VillageID: 1, HoldID: 999, Actor: staff, IdempotencyKey: key()})
		wantCode(t, err, apperr.CodeNotFound)
		mustVerify(t, e, 1)
	})
}

func TestHouseholdMode(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		mustSettings(t, e, 4, func(s *Settings) { s.HolderMode = HolderHousehold })
		_, err := e.store.Award(ctx, AwardRequest{VillageID: 4, Holder: Resident(1), Track: TrackCivic, Amount: 5, Actor: staff, IdempotencyKey: key()})
		wantCode(t, err, apperr.CodeInvalid)
		mustAward(t, e, 4, Household(30), TrackCivic, 5)
		res, err := e.store.PlaceHold(ctx, HoldRequest{VillageID: 4, Holder: Household(30), Amount: 3, Actor: staff, IdempotencyKey: key()})
		if err != nil || res.Postings[0].ToKind != KindHouseholdHeld {
			t.Fatal(res, err)
		}
		if b := mustBalance(t, e, 4, Household(30)); b.Available != 2 || b.Held != 3 {
			t.Fatalf("%+v", b)
		}
		err = e.store.SaveSettings(ctx, 4, DefaultSettings(), staff)
		wantCode(t, err, apperr.CodeConflict)
		mustVerify(t, e, 4)
	})
}

func TestPointsExpiry(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := Resident(6)
		mustSettings(t, e, 1, func(s *Settings) { s.Expiry = Expiry{Policy: ExpiryMonths, Months: 1} })
		mustAward(t, e, 1, r, TrackCivic, 10) // 1 March: lapses 2 April 00:00
		e.clock.Advance(10 * 24 * time.Hour)
		mustAward(t, e, 1, r, TrackCivic, 20) // 11 March: lapses 12 April
		mustAward(t, e, 1, r, TrackParty, 7)
		if _, err := e.store.Redeem(ctx, RedeemRequest{VillageID: 1, Holder: r, Amount: 4, Actor: staff, IdempotencyKey: key()}); err != nil {
			t.Fatal(err)
		}
		loc := e.store.Location()
		april2, april12 := time.Date(2024, 4, 2, 0, 0, 0, 0, loc), time.Date(2024, 4, 12, 0, 0, 0, 0, loc)
		b := mustBalance(t, e, 1, r)
		want := []ExpiringPoints{{TrackCivic, april2, 6}, {TrackCivic, april12, 20}, {TrackParty, april12, 7}}
		if len(b.Expiring) != 3 {
			t.Fatalf("expiring %+v", b.Expiring)
		}
		for i, w := range want {
			if got := b.Expiring[i]; got.Track != w.Track || !got.ExpiresAt.Equal(w.ExpiresAt) || got.Amount != w.Amount {
				t.Fatalf("expiring[%d] = %+v, want %+v", i, got, w)
			}
		}
		rep, err := e.store.ExpirePoints(ctx, 1, april2.Add(-time.Second))
		if err != nil || rep.Accounts != 0 {
			t.Fatal(rep, err)
		}
		for range 2 {
			rep, err = e.store.ExpirePoints(ctx, 1, april2.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
		}
		if b := mustBalance(t, e, 1, r); b.Tracks[0].Available != 20 || len(b.Expiring) != 2 {
			t.Fatalf("after first expiry %+v", b)
		}
		if n := countRows(t, e.db, "SELECT COUNT(*) FROM ledger_postings WHERE type = ?", TypeExpiry); n != 1 {
			t.Fatalf("%d expiry postings after two runs", n)
		}
		rep, err = e.store.ExpirePoints(ctx, 1, april12)
		if err != nil || rep.Accounts != 2 || rep.Points != 27 {
			t.Fatal(rep, err)
		}
		if b := mustBalance(t, e, 1, r); b.Available != 0 || len(b.Expiring) != 0 {
			t.Fatalf("after all expired %+v", b)
		}
		mustVerify(t, e, 1)
	})
}
