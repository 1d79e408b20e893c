package notify

import (
	"maps"
	"strings"
	"testing"
	"time"
)

func TestEveryKindHasALayout(t *testing.T) {
	for _, k := range Kinds {
		if _, ok := layouts[k]; !ok {
			t.Errorf("kind %s has no layout", k)
		}
		if len(k) > 32 { // notifications.kind is VARCHAR(32)
			t.Errorf("kind %s is longer than its column", k)
		}
	}
	if len(Kinds) != len(layouts) {
		t.Errorf("%d kinds, %d layouts", len(Kinds), len(layouts))
	}
}

// TestVolunteerLayouts reads the volunteer messages as a villager would in
// the inbox and in WeChat.
func TestVolunteerLayouts(t *testing.T) {
	at := time.Date(2026, 5, 1, 2, 30, 0, 0, time.UTC)
	cases := []struct {
		kind    Kind
		data    map[string]string
		title   string
		body    string
		keyword map[string]string
	}{
		{ActivityCancelled, map[string]string{"title": "河道清理", "time": "2026年5月2日 09:00~12:00", "reason": "暴雨预警。"},
			"活动已取消", "您报名的志愿活动「河道清理」（2026年5月2日 09:00~12:00）已取消。原因：暴雨预警。",
			map[string]string{"thing1": "河道清理", "time2": "2026年5月2日 09:00~12:00", "thing3": "暴雨预警。"}},
		{ActivityCancelled, map[string]string{"title": "河道清理", "time": "2026年5月2日 09:00~12:00", "reason": strings.Repeat("雨", 30)},
			"活动已取消", "您报名的志愿活动「河道清理」（2026年5月2日 09:00~12:00）已取消。原因：" + strings.Repeat("雨", 30) + "。",
			map[string]string{"thing1": "河道清理", "time2": "2026年5月2日 09:00~12:00", "thing3": strings.Repeat("雨", 19) + "…"}},
		{WaitlistPromoted, map[string]string{"title": "河道清理", "time": "2026年5月2日 09:00~12:00", "place": "村口"},
			"候补成功", "您候补的志愿活动「河道清理」（2026年5月2日 09:00~12:00）有了空位，您已报名成功，地点：村口。如不能参加，请在活动开始前取消报名。",
			map[string]string{"thing1": "河道清理", "time2": "2026年5月2日 09:00~12:00", "thing3": "村口"}},
		{WaitlistPromoted, map[string]string{"title": "河道清理", "time": "2026年5月2日 09:00~12:00"},
			"候补成功", "您候补的志愿活动「河道清理」（2026年5月2日 09:00~12:00）有了空位，您已报名成功。如不能参加，请在活动开始前取消报名。",
			map[string]string{"thing1": "河道清理", "time2": "2026年5月2日 09:00~12:00"}},
	}
	for _, c := range cases {
		l := layouts[c.kind]
		if err := l.check(c.data); err != nil {
			t.Fatalf("%s: %v", c.kind, err)
		}
		if l.title != c.title || l.body(c.data) != c.body {
			t.Errorf("%s reads %q / %q", c.kind, l.title, l.body(c.data))
		}
		if got := l.wechatData(c.data, at); !maps.Equal(got, c.keyword) {
			t.Errorf("%s keywords %v, want %v", c.kind, got, c.keyword)
		}
	}
	if err := layouts[ActivityCancelled].check(map[string]string{"title": "河道清理", "time": "5月2日"}); err == nil {
		t.Error("a cancellation without a reason is accepted")
	}
	if got := Fit(" " + strings.Repeat("长", 150) + " "); len([]rune(got)) != MaxValue || !strings.HasSuffix(got, "…") {
		t.Errorf("Fit left %d characters", len([]rune(got)))
	}
}
