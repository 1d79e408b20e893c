package notify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/kv/kvtest"
	"github.com/villagepoints/jifen/models/notify"
	"github.com/villagepoints/jifen/models/sqldb"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
	"github.com/villagepoints/jifen/models/wechat"
	"github.com/villagepoints/jifen/models/wechat/wechattest"
)

var ctx = context.Background()

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func award(resident int64, points string) notify.Message {
	return notify.Message{ResidentID: resident, Kind: notify.PointsAwarded, Data: map[string]string{"points": points, "reason": "打扫村道", "balance": "120"}}
}

func mustEnqueue(t testing.TB, db *gorm.DB, m notify.Message) int64 {
	t.Helper()
	var id int64
	err := sqldb.InTx(ctx, db, func(tx *gorm.DB) error {
		var err error
		id, err = notify.Enqueue(ctx, tx, m)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustDelivery(t testing.TB, db *gorm.DB, notificationID int64) notify.DeliveryRecord {
	t.Helper()
	var d notify.DeliveryRecord
	if err := db.Where("notification_id = ?", notificationID).First(&d).Error; err != nil {
		t.Fatal(err)
	}
	return d
}

func mustCount(t testing.TB, db *gorm.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := db.Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// clock is a test clock the dispatchers share.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newClock starts ahead of the wall clock, which Enqueue stamps messages
// with, so everything enqueued during a test is due.
func newClock() *clock { return &clock{now: time.Now().UTC().Add(10 * time.Minute)} }

type permanentErr struct{}

func (permanentErr) Error() string   { return "user refused" }
func (permanentErr) Permanent() bool { return true }

func TestEnqueueIsPartOfTheProducersTransaction(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		boom := errors.New("the producer failed")
		err := sqldb.InTx(ctx, db, func(tx *gorm.DB) error {
			if _, err := notify.Enqueue(ctx, tx, award(1, "5")); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || mustCount(t, db, "notifications") != 0 || mustCount(t, db, "notification_deliveries") != 0 {
			t.Fatalf("a rolled-back producer left a message: %v", err)
		}
		id := mustEnqueue(t, db, award(1, "5"))
		if d := mustDelivery(t, db, id); d.Status != notify.StatusPending || d.Attempts != 0 {
			t.Fatalf("delivery = %+v", d)
		}

		m := award(1, "5")
		m.DedupKey = "posting:9"
		if id := mustEnqueue(t, db, m); id == 0 {
			t.Fatal("first dedup enqueue returned 0")
		}
		if id := mustEnqueue(t, db, m); id != 0 {
			t.Fatalf("second enqueue with the same key made notification %d", id)
		}
		m.Kind = notify.PointsDeducted
		if id := mustEnqueue(t, db, m); id == 0 {
			t.Fatal("the same key of another kind is another message")
		}
		if n := mustCount(t, db, "notification_deliveries"); n != 3 {
			t.Fatalf("%d deliveries, want 3", n)
		}

		bad := []notify.Message{
			{ResidentID: 1, Kind: "birthday", Data: map[string]string{}},
			{ResidentID: 1, Kind: notify.PointsAwarded, Data: map[string]string{"points": "5"}},
			{ResidentID: 0, Kind: notify.RedemptionReady, Data: map[string]string{"item": "洗车券"}},
			{ResidentID: 1, Kind: notify.RedemptionReady, Data: map[string]string{"item": strings.Repeat("长", 101)}},
		}
		for _, m := range bad {
			err := sqldb.InTx(ctx, db, func(tx *gorm.DB) error { _, err := notify.Enqueue(ctx, tx, m); return err })
			if err == nil {
				t.Errorf("enqueue of %+v accepted", m)
			}
		}
	})
}

func TestEnqueueAllSkipsUsedKeysAndQueuesOneDeliveryEach(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		keyed := func(resident int64, key string) notify.Message {
			m := award(resident, "5")
			m.DedupKey = key
			return m
		}
		used := mustEnqueue(t, db, keyed(1, "posting:2"))
		var batch []notify.Message
		for i := range 450 { // more than one multi-row insert
			batch = append(batch, keyed(int64(i%7+1), fmt.Sprintf("posting:%d", i)))
		}
		enqueueAll := func(ms []notify.Message) error {
			return sqldb.InTx(ctx, db, func(tx *gorm.DB) error { return notify.EnqueueAll(ctx, tx, notify.PointsAwarded, ms) })
		}
		for range 2 { // a redelivered batch adds nothing
			if err := enqueueAll(batch); err != nil {
				t.Fatal(err)
			}
		}
		if n := mustCount(t, db, "notifications"); n != 450 {
			t.Fatalf("%d notifications, want 450 (one per key)", n)
		}
		if n := mustCount(t, db, "notification_deliveries"); n != 450 {
			t.Fatalf("%d deliveries, want 450", n)
		}
		var orphans int64
		db.Raw(`SELECT COUNT(*) FROM notifications n WHERE NOT EXISTS
			(SELECT 1 FROM notification_deliveries d WHERE d.notification_id = n.id)`).Scan(&orphans)
		if orphans != 0 {
			t.Fatalf("%d notifications without a delivery", orphans)
		}
		var first notify.Notification
		if err := db.Where("kind = ? AND dedup_key = ?", notify.PointsAwarded, "posting:2").First(&first).Error; err != nil || first.ID != used {
			t.Fatalf("the key used before now names notification %d (%v), want %d", first.ID, err, used)
		}
		var sample notify.Notification
		if err := db.Where("dedup_key = ?", "posting:449").First(&sample).Error; err != nil {
			t.Fatal(err)
		}
		if sample.ResidentID != 449%7+1 || !strings.Contains(sample.Body, "5") {
			t.Fatalf("posting:449 reads %+v", sample)
		}

		for _, bad := range [][]notify.Message{
			{award(1, "5")}, // no key
			{keyed(1, "a"), {ResidentID: 1, Kind: notify.PointsDeducted, DedupKey: "b", Data: map[string]string{"points": "5", "reason": "x", "balance": "1"}}},
			{keyed(1, "c"), keyed(0, "d")}, // no resident
		} {
			if err := enqueueAll(bad); err == nil {
				t.Errorf("EnqueueAll accepted %+v", bad)
			}
		}
		if n := mustCount(t, db, "notifications"); n != 450 {
			t.Fatalf("a refused batch left messages: %d", n)
		}
	})
}

func TestInboxIsPerResident(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		inbox := notify.NewInbox(db)
		mine := mustEnqueue(t, db, award(1, "5"))
		mustEnqueue(t, db, notify.Message{ResidentID: 1, Kind: notify.RedemptionReady, Data: map[string]string{"item": "洗车券", "place": "村积分超市"}})
		theirs := mustEnqueue(t, db, award(2, "9"))

		items, total, err := inbox.List(ctx, 1, false, 0, 10)
		if err != nil || total != 2 || items[0].Kind != notify.RedemptionReady || items[1].ID != mine {
			t.Fatalf("inbox of 1 = %+v (%d), %v", items, total, err)
		}
		if items[1].Title != "积分到账" || items[1].Body != "您因「打扫村道」获得 5 分，当前余额 120 分。" || items[1].Data["points"] != "5" {
			t.Fatalf("item = %+v", items[1])
		}
		if _, err := inbox.MarkRead(ctx, 1, theirs); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("resident 1 marked resident 2's message: %v", err)
		}
		it, err := inbox.MarkRead(ctx, 1, mine)
		if err != nil || !it.Read {
			t.Fatalf("mark read: %+v, %v", it, err)
		}
		if _, total, _ := inbox.List(ctx, 1, true, 0, 10); total != 1 {
			t.Fatalf("%d unread, want 1", total)
		}
		if items, _, _ := inbox.List(ctx, 2, true, 0, 10); len(items) != 1 || items[0].Read {
			t.Fatalf("resident 2's message changed: %+v", items)
		}
	})
}

func TestLayouts(t *testing.T) {
	cases := []struct {
		m    notify.Message
		body string
	}{
		{notify.Message{Kind: notify.PointsDeducted, Data: map[string]string{"points": "3", "reason": "乱倒垃圾"}}, "您因「乱倒垃圾」被扣 3 分。如有异议，可在小程序内申诉。"},
		{notify.Message{Kind: notify.AppealDecided, Data: map[string]string{"result": "已撤销扣分", "note": "经核实为误报"}}, "您的申诉已处理：已撤销扣分。说明：经核实为误报。"},
		{notify.Message{Kind: notify.RedemptionReady, Data: map[string]string{"item": "大米 5 斤", "deadline": "6月30日"}}, "您兑换的「大米 5 斤」已备好，领取期限 6月30日。"},
		{notify.Message{Kind: notify.RedemptionExpired, Data: map[string]string{"item": "洗车券", "points": "20"}}, "您兑换的「洗车券」超过领取期限，兑换已取消，20 分已退回。"},
	}
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		for i, c := range cases {
			c.m.ResidentID = int64(i + 1)
			mustEnqueue(t, db, c.m)
			items, _, _ := notify.NewInbox(db).List(ctx, c.m.ResidentID, false, 0, 1)
			if len(items) != 1 || items[0].Body != c.body {
				t.Errorf("%s: body %q, want %q", c.m.Kind, items[0].Body, c.body)
			}
		}
	})
}

// TestDispatchAgainstFakeWeChat sends through the real adapter to the fake
// WeChat: a success, a user who refused (given up at once, reason kept),
// and a transient error (retried after the backoff, then sent).
func TestDispatchAgainstFakeWeChat(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := wechattest.Shared().NewApp(t)
		wx, err := wechat.New(wechat.Config{AppID: app.ID, Secret: app.Secret, APIBase: wechattest.Shared().URL, Redis: kvtest.MustEmbedded(t)})
		if err != nil {
			t.Fatal(err)
		}
		send := func(ctx context.Context, m notify.Outgoing) error {
			return wx.SendSubscribe(ctx, wechat.Subscribe{ToOpenID: m.OpenID, TemplateID: m.TemplateID, Page: m.Page, Data: m.Data})
		}
		openids := map[int64]string{1: "o-happy", 2: "o-refuses", 3: "o-later"}
		to := func(_ context.Context, r int64) (string, error) { return openids[r], nil }
		clk := newClock()
		d := notify.NewDispatcher(db, send, to, notify.DispatcherConfig{Templates: map[notify.Kind]string{notify.PointsAwarded: "TPL-AWARD"}, Now: clk.Now, Log: quiet})

		app.Refuse("o-refuses")
		happy := mustEnqueue(t, db, award(1, "5"))
		refused := mustEnqueue(t, db, award(2, "5"))
		if n, err := d.RunOnce(ctx); err != nil || n != 2 {
			t.Fatalf("round 1: %d, %v", n, err)
		}
		app.FailSends(-1)
		later := mustEnqueue(t, db, award(3, "7"))
		if _, err := d.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}

		if got := mustDelivery(t, db, happy); got.Status != notify.StatusSent || got.SentAt == nil {
			t.Errorf("happy = %+v", got)
		}
		if got := mustDelivery(t, db, refused); got.Status != notify.StatusFailed || !strings.Contains(got.LastError, "43101") {
			t.Errorf("refused = %+v", got)
		}
		got := mustDelivery(t, db, later)
		if got.Status != notify.StatusPending || got.Attempts != 1 || !strings.Contains(got.LastError, "errcode=-1") || !got.NextAttemptAt.After(clk.Now()) {
			t.Fatalf("transient = %+v", got)
		}
		// Not before its backoff ends.
		if n, _ := d.RunOnce(ctx); n != 0 {
			t.Fatalf("retried %d before the backoff", n)
		}
		clk.Add(notify.DefaultBackoff(1))
		if n, _ := d.RunOnce(ctx); n != 1 {
			t.Fatal("not retried after the backoff")
		}
		if got := mustDelivery(t, db, later); got.Status != notify.StatusSent || got.Attempts != 2 {
			t.Fatalf("after retry = %+v", got)
		}
		sent := app.Sent()
		if len(sent) != 2 || sent[0].ToUser != "o-happy" || sent[0].TemplateID != "TPL-AWARD" || sent[0].Page != notify.DefaultPage {
			t.Fatalf("sent = %+v", sent)
		}
		if d := sent[0].Data; d["thing1"]["value"] != "打扫村道" || d["number2"]["value"] != "5" || d["number3"]["value"] != "120" || d["time4"]["value"] == "" {
			t.Fatalf("template data = %+v", d)
		}
	})
}

func TestDispatchGivesUpAfterMaxAttemptsAndSurvivesARestart(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		clk := newClock()
		to := func(context.Context, int64) (string, error) { return "o1", nil }
		down := func(context.Context, notify.Outgoing) error { return errors.New("connection refused") }
		cfg := notify.DispatcherConfig{Templates: map[notify.Kind]string{notify.PointsAwarded: "T"}, MaxAttempts: 3, Now: clk.Now, Log: quiet,
			Backoff: func(n int) time.Duration { return time.Duration(n) * time.Minute }}

		doomed := mustEnqueue(t, db, award(1, "5"))
		a := notify.NewDispatcher(db, down, to, cfg)
		for i := range 3 {
			if n, err := a.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("attempt %d: %d, %v", i+1, n, err)
			}
			clk.Add(time.Duration(i+1) * time.Minute)
		}
		got := mustDelivery(t, db, doomed)
		if got.Status != notify.StatusFailed || got.Attempts != 3 || !strings.Contains(got.LastError, "重试 3 次后放弃") || !strings.Contains(got.LastError, "connection refused") {
			t.Fatalf("given up = %+v", got)
		}
		if n, _ := a.RunOnce(ctx); n != 0 {
			t.Fatal("a given-up message was sent again")
		}

		// A message that failed once on one process is sent by the next
		// process: the queue is the database, not memory.
		survivor := mustEnqueue(t, db, award(2, "5"))
		a.RunOnce(ctx)
		var sent atomic.Int32
		b := notify.NewDispatcher(db, func(context.Context, notify.Outgoing) error { sent.Add(1); return nil }, to, cfg)
		clk.Add(time.Minute)
		if n, err := b.RunOnce(ctx); err != nil || n != 1 || sent.Load() != 1 {
			t.Fatalf("after restart: %d, %v", n, err)
		}
		if got := mustDelivery(t, db, survivor); got.Status != notify.StatusSent || got.Attempts != 2 {
			t.Fatalf("survivor = %+v", got)
		}
	})
}

func TestDispatchLeaseAndSkips(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		clk := newClock()
		var sent atomic.Int32
		ok := func(context.Context, notify.Outgoing) error { sent.Add(1); return nil }
		to := func(_ context.Context, r int64) (string, error) {
			if r == 9 {
				return "", nil
			}
			return fmt.Sprintf("o%d", r), nil
		}
		cfg := notify.DispatcherConfig{Templates: map[notify.Kind]string{notify.PointsAwarded: "T"}, Now: clk.Now, Log: quiet, Lease: time.Minute}

		// A replica took this message and died mid-send: nobody touches it
		// until its lease ends, then another replica sends it.
		crashed := mustEnqueue(t, db, award(1, "5"))
		until := clk.Now().Add(time.Minute)
		db.Model(&notify.DeliveryRecord{}).Where("notification_id = ?", crashed).Updates(map[string]any{"lease_owner": "dead", "lease_until": until})
		d := notify.NewDispatcher(db, ok, to, cfg)
		if n, _ := d.RunOnce(ctx); n != 0 {
			t.Fatal("a leased message was taken")
		}
		clk.Add(time.Minute + time.Second)
		if n, _ := d.RunOnce(ctx); n != 1 || sent.Load() != 1 {
			t.Fatal("an expired lease was not taken over")
		}

		noBinding := mustEnqueue(t, db, award(9, "5"))
		noTemplate := mustEnqueue(t, db, notify.Message{ResidentID: 1, Kind: notify.RedemptionExpired, Data: map[string]string{"item": "洗车券"}})
		refused := mustEnqueue(t, db, award(2, "5"))
		d = notify.NewDispatcher(db, func(ctx context.Context, m notify.Outgoing) error {
			if m.OpenID == "o2" {
				return apperr.New(apperr.CodeForbidden, "refused").WithCause(permanentErr{})
			}
			return ok(ctx, m)
		}, to, cfg)
		d.RunOnce(ctx)
		for id, want := range map[int64]string{noBinding: notify.StatusSkipped, noTemplate: notify.StatusSkipped, refused: notify.StatusFailed} {
			if got := mustDelivery(t, db, id); got.Status != want || got.LastError == "" {
				t.Errorf("notification %d: %+v, want %s with a reason", id, got, want)
			}
		}
		// Without WeChat everything stays in the inbox only.
		inboxOnly := mustEnqueue(t, db, award(3, "5"))
		notify.NewDispatcher(db, nil, to, cfg).RunOnce(ctx)
		if got := mustDelivery(t, db, inboxOnly); got.Status != notify.StatusSkipped {
			t.Errorf("without WeChat: %+v", got)
		}
	})
}

func TestReplicasSendEachMessageOnce(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		for i := range 30 {
			mustEnqueue(t, db, award(int64(i+1), "1"))
		}
		var mu sync.Mutex
		count := map[string]int{}
		send := func(_ context.Context, m notify.Outgoing) error {
			mu.Lock()
			defer mu.Unlock()
			count[m.OpenID]++
			return nil
		}
		to := func(_ context.Context, r int64) (string, error) { return fmt.Sprintf("o%d", r), nil }
		cfg := notify.DispatcherConfig{Templates: map[notify.Kind]string{notify.PointsAwarded: "T"}, Batch: 7, Log: quiet}
		var wg sync.WaitGroup
		for range 3 {
			d := notify.NewDispatcher(db, send, to, cfg)
			wg.Go(func() {
				for {
					n, err := d.RunOnce(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					if n == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		if len(count) != 30 {
			t.Fatalf("%d residents notified, want 30", len(count))
		}
		for o, n := range count {
			if n != 1 {
				t.Errorf("%s got %d messages", o, n)
			}
		}
	})
}

func TestDefaultBackoff(t *testing.T) {
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		if got := notify.DefaultBackoff(i + 1); got != w {
			t.Errorf("backoff after %d failures = %v, want %v", i+1, got, w)
		}
	}
}
