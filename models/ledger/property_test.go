package ledger

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
)

// chooser supplies a workload's decisions: a seeded generator for the
// property test, the fuzzer's bytes for FuzzLedger.
type chooser interface {
	intn(n int) int
	more() bool
}

type rngChooser struct {
	rng  *rand.Rand
	left int
}

func (c *rngChooser) intn(n int) int { return c.rng.IntN(n) }
func (c *rngChooser) more() bool     { c.left--; return c.left >= 0 }

type byteChooser struct {
	data []byte
	pos  int
}

func (c *byteChooser) intn(n int) int {
	if c.pos >= len(c.data) {
		return 0
	}
	b := c.data[c.pos]
	c.pos++
	return int(b) % n
}

func (c *byteChooser) more() bool { return c.pos < len(c.data) }

// modelHold is what the workload knows about a hold.
type modelHold struct {
	village   int64
	status    HoldStatus
	expiresAt time.Time
}

// replayable is a request that succeeded, with a way to send it again
// unchanged or changed.
type replayable struct {
	send func(changed bool) (*Result, error)
	ids  []int64
}

// workload drives random operations against two villages, one strict and
// one that allows negative rule deductions and expires points, and checks
// the ledger's invariants after every step.
type workload struct {
	t        testing.TB
	e        *env
	ch       chooser
	villages [2]int64
	postings map[int64][]Posting
	reversed map[int64]bool
	holds    map[int64]*modelHold
	done     []replayable
	ops      map[string]int
}

var villageSeq atomic.Int64

func newWorkload(t testing.TB, e *env, ch chooser) *workload {
	base := villageSeq.Add(2)
	w := &workload{
		t: t, e: e, ch: ch, villages: [2]int64{base*10 + 1, base*10 + 2},
		postings: map[int64][]Posting{}, reversed: map[int64]bool{}, holds: map[int64]*modelHold{}, ops: map[string]int{},
	}
	mustSettings(t, e, w.villages[1], func(s *Settings) {
		s.AllowNegativeDeduction = true
		s.Spendable = []Track{TrackVolunteer, TrackCivic}
		s.Expiry = Expiry{Policy: ExpiryMonths, Months: 1}
	})
	return w
}

func (w *workload) lenient(v int64) bool { return v == w.villages[1] }

func (w *workload) settings(v int64) Settings {
	s, err := w.e.store.Settings(context.Background(), v)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// run performs steps until the chooser is out of decisions (or max steps),
// then seals, verifies and compares Redis with SQL.
func (w *workload) run(maxSteps int) {
	for step := 0; step < maxSteps && w.ch.more(); step++ {
		w.step(step)
	}
	for _, v := range w.villages {
		mustSeal(w.t, w.e)
		rep := mustVerify(w.t, w.e, v)
		if rep.Unsealed != 0 {
			w.t.Fatalf("village %d: %d unsealed after sealing", v, rep.Unsealed)
		}
		mustDrain(w.t, w.e)
		mustRedisMatches(w.t, w.e, v)
	}
}

func (w *workload) step(step int) {
	t, e, ctx := w.t, w.e, context.Background()
	v := w.villages[w.ch.intn(2)]
	h := Resident(int64(w.ch.intn(3) + 1))
	track := Tracks[w.ch.intn(3)]
	amount := int64(w.ch.intn(40) + 1)
	before := dumpState(t, e.db, v)
	rows := holderRows(t, e.db, v)
	main := func(tr Track) int64 { return rows[AccountKey{h.main(), h.ID, tr}] }
	spendable := int64(0)
	for _, tr := range w.settings(v).Spendable {
		spendable += max(main(tr), 0)
	}

	var (
		res      *Result
		err      error
		name     string
		expectOK = true
		allowed  []apperr.Code
		send     func(changed bool) (*Result, error)
	)
	op := w.ch.intn(14)
	if op >= 12 {
		op = w.ch.intn(3) + 5 // holds are placed and settled more often than time passes
	}
	switch op {
	case 0, 1:
		name = "award"
		req := AwardRequest{VillageID: v, Holder: h, Track: track, Amount: amount,
			Type:   []PostingType{TypeRuleAward, TypeDutyAssessment, TypeVolunteerAttendance}[w.ch.intn(3)],
			Source: Source{"award", int64(step)}, Actor: staff, IdempotencyKey: key()}
		send = func(changed bool) (*Result, error) {
			r := req
			if changed {
				r.Amount++
			}
			return e.store.Award(ctx, r)
		}
	case 2:
		name = "deduct"
		req := DeductRequest{VillageID: v, Holder: h, Track: track, Amount: amount, Actor: staff, Reason: "违反村规", IdempotencyKey: key()}
		send = func(changed bool) (*Result, error) {
			r := req
			if changed {
				r.Reason = "改了"
			}
			return e.store.Deduct(ctx, r)
		}
		expectOK = w.lenient(v) || main(track) >= amount
		allowed = []apperr.Code{apperr.CodePointsShort}
	case 3:
		name = "adjust"
		if w.ch.intn(2) == 0 {
			amount = -amount
		}
		req := AdjustRequest{VillageID: v, Holder: h, Track: track, Amount: amount, Actor: staff, Reason: "人工更正", IdempotencyKey: key()}
		send = func(changed bool) (*Result, error) {
			r := req
			if changed {
				r.Track = TrackParty
				if r.Track == req.Track {
					r.Track = TrackCivic
				}
			}
			return e.store.Adjust(ctx, r)
		}
		expectOK = amount > 0 || main(track) >= -amount
		allowed = []apperr.Code{apperr.CodePointsShort}
	case 4:
		name = "redeem"
		req := RedeemRequest{VillageID: v, Holder: h, Amount: amount, Actor: ResidentActor(h.ID), IdempotencyKey: key()}
		send = func(changed bool) (*Result, error) {
			r := req
			if changed {
				r.Amount++
			}
			return e.store.Redeem(ctx, r)
		}
		expectOK = spendable >= amount
		allowed = []apperr.Code{apperr.CodePointsShort}
	case 5:
		name = "hold"
		amount = amount/2 + 1
		expires := e.clock.Now().Add(time.Duration(w.ch.intn(48)+1) * time.Hour)
		req := HoldRequest{VillageID: v, Holder: h, Amount: amount, ExpiresAt: expires, Actor: ResidentActor(h.ID), IdempotencyKey: key()}
		send = func(changed bool) (*Result, error) {
			r := req
			if changed {
				r.Amount++
			}
			return e.store.PlaceHold(ctx, r)
		}
		expectOK = spendable >= amount
		allowed = []apperr.Code{apperr.CodePointsShort}
	case 6, 7:
		id, hold := w.pickHold(v)
		if hold == nil {
			return
		}
		allowed = []apperr.Code{apperr.CodeConflict}
		if op == 6 {
			name = "capture"
			expectOK = hold.status == HoldOpen && e.clock.Now().Before(hold.expiresAt)
			req := CaptureRequest{VillageID: v, HoldID: id, Actor: staff, IdempotencyKey: key()}
			send = func(changed bool) (*Result, error) {
				r := req
				if changed {
					r.HoldID++
				}
				return e.store.Capture(ctx, r)
			}
		} else {
			name = "release"
			expectOK = hold.status == HoldOpen
			req := ReleaseRequest{VillageID: v, HoldID: id, Actor: staff, Reason: "取消", IdempotencyKey: key()}
			send = func(changed bool) (*Result, error) {
				r := req
				if changed {
					r.Reason = "改了"
				}
				return e.store.Release(ctx, r)
			}
		}
	case 8:
		ps := w.postings[v]
		if len(ps) == 0 {
			return
		}
		orig := ps[w.ch.intn(len(ps))]
		name = "reverse"
		req := ReverseRequest{VillageID: v, PostingID: orig.ID, Actor: staff, Reason: "录入错误", IdempotencyKey: key()}
		send = func(changed bool) (*Result, error) {
			r := req
			if changed {
				r.Reason = "改了"
			}
			return e.store.Reverse(ctx, r)
		}
		rev, rerr := reversalOf(orig, staff, "x")
		switch {
		case rerr != nil:
			expectOK, allowed = false, []apperr.Code{apperr.CodeConflict}
		case w.reversed[orig.ID]:
			expectOK, allowed = false, []apperr.Code{apperr.CodeAlreadyReversed}
		case !rev.FromKind.System():
			expectOK, allowed = rows[rev.From()] >= rev.Amount, []apperr.Code{apperr.CodePointsShort}
		}
	case 9:
		if len(w.done) == 0 {
			return
		}
		name = "replay"
		d := w.done[w.ch.intn(len(w.done))]
		res, err = d.send(false)
		if err != nil || !res.Replayed || !slices.Equal(postingIDs(res.Postings), d.ids) {
			t.Fatalf("step %d: replay got %+v %v, want postings %v", step, res, err, d.ids)
		}
		_, err = d.send(true)
		wantCode(t, err, apperr.CodeIdempotency)
		if after := dumpState(t, e.db, v); after != before {
			t.Fatalf("step %d: a replay changed state", step)
		}
		w.ops[name]++
		w.check(step, v)
		return
	case 10:
		name = "time"
		now := e.clock.Advance([]time.Duration{time.Minute, time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour, 20 * 24 * time.Hour}[w.ch.intn(6)])
		want := 0
		for _, mh := range w.holds {
			if mh.status == HoldOpen && !now.Before(mh.expiresAt) {
				mh.status = HoldExpired
				want++
			}
		}
		// ExpireHolds covers every village; a fuzzer's earlier inputs may
		// leave holds of their own, so this workload's are checked one by one.
		n, err := e.store.ExpireHolds(ctx, now)
		if err != nil || n < want {
			t.Fatalf("step %d: ExpireHolds released %d (%v), want at least %d", step, n, err, want)
		}
		for id, mh := range w.holds {
			got, err := e.store.Hold(ctx, mh.village, id)
			if err != nil || got.Status != mh.status {
				t.Fatalf("step %d: hold %d is %s (%v), want %s", step, id, got.Status, err, mh.status)
			}
		}
		if _, err := e.store.ExpirePoints(ctx, w.villages[1], now); err != nil {
			t.Fatalf("step %d: ExpirePoints: %v", step, err)
		}
		w.ops[name]++
		w.check(step, v)
		return
	case 11:
		name = "background"
		if w.ch.intn(2) == 0 {
			mustSeal(t, e)
		} else {
			mustDrain(t, e)
			mustRedisMatches(t, e, v)
		}
		w.ops[name]++
		w.check(step, v)
		return
	}

	res, err = send(false)
	if (err == nil) != expectOK {
		t.Fatalf("step %d: %s on %s in village %d: got %v, expected success %v (rows %v)", step, name, h, v, err, expectOK, fmtBalances(rows))
	}
	if err != nil {
		if !slices.ContainsFunc(allowed, func(c apperr.Code) bool { return apperr.Is(err, c) }) {
			t.Fatalf("step %d: %s refused with %v, want one of %v", step, name, err, allowed)
		}
		if after := dumpState(t, e.db, v); after != before {
			t.Fatalf("step %d: refused %s changed state:\n%s---\n%s", step, name, before, after)
		}
		w.ops[name+" refused"]++
		w.check(step, v)
		return
	}
	w.ops[name]++
	// The postings account for the whole change in holder balances, and
	// nothing but a lenient rule deduction takes a holder below zero.
	want := Balances{}
	for k, b := range rows {
		want[k] = b
	}
	for k, d := range holderDeltas(res.Postings) {
		want[k] += d
	}
	after := holderRows(t, e.db, v)
	if fmtBalances(after) != fmtBalances(want) {
		t.Fatalf("step %d: %s: balances\n got %s\nwant %s", step, name, fmtBalances(after), fmtBalances(want))
	}
	for _, p := range res.Postings {
		if !p.FromKind.System() && after[p.From()] < 0 && !(name == "deduct" && w.lenient(v)) && rows[p.From()] >= 0 {
			t.Fatalf("step %d: %s took %s to %d", step, name, p.From(), after[p.From()])
		}
	}
	w.postings[v] = append(w.postings[v], res.Postings...)
	if name == "reverse" {
		w.reversed[res.Postings[0].ReversesID] = true
	}
	if res.Hold != nil {
		w.holds[res.Hold.ID] = &modelHold{village: v, status: res.Hold.Status, expiresAt: res.Hold.ExpiresAt}
	}
	w.done = append(w.done, replayable{send: send, ids: postingIDs(res.Postings)})
	w.check(step, v)
}

// pickHold picks a hold of the village: mostly an open one, sometimes any.
func (w *workload) pickHold(v int64) (int64, *modelHold) {
	openOnly := w.ch.intn(4) > 0
	var ids []int64
	for id, h := range w.holds {
		if h.village == v && (!openOnly || h.status == HoldOpen) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	slices.Sort(ids)
	id := ids[w.ch.intn(len(ids))]
	return id, w.holds[id]
}

// check verifies the invariants of the village a step touched: Verify
// (chain so far, every cached balance equals its postings, open holds equal
// held accounts, zero sum) and no negative balance where none is allowed.
func (w *workload) check(step int, villages ...int64) {
	for _, v := range villages {
		rep, err := w.e.store.Verify(context.Background(), v)
		if err != nil || !rep.OK {
			w.t.Fatalf("step %d: village %d: %+v %v", step, v, rep, err)
		}
		b, err := w.e.store.Balances(context.Background(), v)
		if err != nil || b.Sum() != 0 {
			w.t.Fatalf("step %d: village %d balances sum to %d (%v)", step, v, b.Sum(), err)
		}
		for k, bal := range holderRows(w.t, w.e.db, v) {
			if bal < 0 && (k.Kind.Held() || !w.lenient(v)) {
				w.t.Fatalf("step %d: village %d: %s is %d", step, v, k, bal)
			}
		}
	}
}

// TestRandomWorkload runs a fixed-seed random mix of every operation and
// checks the invariants after each step.
func TestRandomWorkload(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		w := newWorkload(t, e, &rngChooser{rng: rand.New(rand.NewPCG(2024, 3)), left: 240})
		w.run(240)
		t.Logf("operations: %v", w.ops)
		for _, op := range []string{"award", "deduct", "deduct refused", "redeem", "redeem refused", "hold", "capture", "release", "reverse", "replay", "time"} {
			if w.ops[op] == 0 {
				t.Errorf("the workload never did %q", op)
			}
		}
	})
}

// FuzzLedger drives the same workload from fuzzer bytes. The seed corpus
// runs as a normal test; `go test -fuzz FuzzLedger ./models/ledger` explores
// further. Each input gets fresh villages in databases opened once.
func FuzzLedger(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 0, 0, 0, 0, 20, 1, 2, 0, 4, 4, 1, 1, 0, 5, 9, 0, 0, 0, 6, 1, 0, 0, 0, 8},
		[]byte("award, then spend it all, hold, capture, release, reverse and replay"),
		{1, 2, 2, 30, 2, 1, 1, 1, 39, 2, 1, 0, 2, 5, 5, 5, 5, 10, 10, 10, 10, 3, 7, 7, 7, 7, 8, 8, 9, 9},
		{255, 128, 64, 32, 16, 8, 4, 2, 1, 0, 11, 11, 10, 10, 9, 9, 8, 8, 7, 7, 6, 6, 5, 5, 4, 4, 3, 3},
	} {
		f.Add(seed)
	}
	var envs []*env
	for _, name := range sqltest.Names() {
		envs = append(envs, mustEnv(f, sqltest.MustOpen(f, name)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, e := range envs {
			newWorkload(t, e, &byteChooser{data: data}).run(60)
		}
	})
}
