package notify

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// layout says how a kind of message reads: the Data keys it needs, its
// inbox title and body, and the keywords of its WeChat subscribe template.
// The keywords follow the public templates the deployment picks (积分变动提醒,
// 申诉结果通知, 兑换成功通知, 兑换过期提醒, 履职提醒, 活动取消通知, 候补成功通知);
// a template with other keywords needs its entry here changed.
type layout struct {
	required []string
	title    string
	body     func(d map[string]string) string
	fields   []field
}

// field fills one template keyword from a Data key, or from the
// notification's time when from is "@time".
type field struct {
	keyword string
	from    string
}

var layouts = map[Kind]layout{
	PointsAwarded: {
		required: []string{"points", "reason"},
		title:    "积分到账",
		body: func(d map[string]string) string {
			return fmt.Sprintf("您因「%s」获得 %s 分%s。", d["reason"], d["points"], balance(d))
		},
		fields: []field{{"thing1", "reason"}, {"number2", "points"}, {"number3", "balance"}, {"time4", "@time"}},
	},
	PointsDeducted: {
		required: []string{"points", "reason"},
		title:    "积分扣减",
		body: func(d map[string]string) string {
			return fmt.Sprintf("您因「%s」被扣 %s 分%s。如有异议，可在小程序内申诉。", d["reason"], d["points"], balance(d))
		},
		fields: []field{{"thing1", "reason"}, {"number2", "points"}, {"number3", "balance"}, {"time4", "@time"}},
	},
	AppealDecided: {
		required: []string{"result"},
		title:    "申诉结果",
		body: func(d map[string]string) string {
			s := "您的申诉已处理：" + d["result"]
			if d["note"] != "" {
				s += "。说明：" + d["note"]
			}
			return s + "。"
		},
		fields: []field{{"phrase1", "result"}, {"thing2", "note"}, {"time3", "@time"}},
	},
	RedemptionReady: {
		required: []string{"item"},
		title:    "兑换商品已备好",
		body: func(d map[string]string) string {
			s := fmt.Sprintf("您兑换的「%s」已备好", d["item"])
			if d["place"] != "" {
				s += "，请到" + d["place"] + "领取"
			}
			if d["deadline"] != "" {
				s += "，领取期限 " + d["deadline"]
			}
			return s + "。"
		},
		fields: []field{{"thing1", "item"}, {"thing2", "place"}, {"time3", "@time"}},
	},
	RedemptionExpired: {
		required: []string{"item"},
		title:    "兑换已过期",
		body: func(d map[string]string) string {
			s := fmt.Sprintf("您兑换的「%s」超过领取期限，兑换已取消", d["item"])
			if d["points"] != "" {
				s += "，" + d["points"] + " 分已退回"
			}
			return s + "。"
		},
		fields: []field{{"thing1", "item"}, {"number2", "points"}, {"time3", "@time"}},
	},
	DutyReportDue: {
		required: []string{"period", "deadline"},
		title:    "履职纪实提醒",
		body: func(d map[string]string) string {
			return fmt.Sprintf("您在%s尚未提交履职纪实，请在 %s 前通过小程序提交。", d["period"], d["deadline"])
		},
		fields: []field{{"thing1", "period"}, {"thing2", "deadline"}, {"time3", "@time"}},
	},
	ActivityCancelled: {
		required: []string{"title", "time", "reason"},
		title:    "活动已取消",
		body: func(d map[string]string) string {
			return fmt.Sprintf("您报名的志愿活动「%s」（%s）已取消。原因：%s。", d["title"], d["time"], strings.TrimRight(d["reason"], "。."))
		},
		fields: []field{{"thing1", "title"}, {"time2", "time"}, {"thing3", "reason"}},
	},
	WaitlistPromoted: {
		required: []string{"title", "time"},
		title:    "候补成功",
		body: func(d map[string]string) string {
			s := fmt.Sprintf("您候补的志愿活动「%s」（%s）有了空位，您已报名成功", d["title"], d["time"])
			if d["place"] != "" {
				s += "，地点：" + d["place"]
			}
			return s + "。如不能参加，请在活动开始前取消报名。"
		},
		fields: []field{{"thing1", "title"}, {"time2", "time"}, {"thing3", "place"}},
	},
}

// MaxValue is the most characters a Data value may hold.
const MaxValue = 100

// Fit cuts free text (a reason, a title) to MaxValue characters, so a
// producer passing text it does not control cannot fail its Enqueue.
func Fit(s string) string { return cut(strings.TrimSpace(s), MaxValue) }

func balance(d map[string]string) string {
	if d["balance"] == "" {
		return ""
	}
	return "，当前余额 " + d["balance"] + " 分"
}

// check makes sure the required keys are there and no value is too long
// for the inbox.
func (l layout) check(d map[string]string) error {
	for _, k := range l.required {
		if strings.TrimSpace(d[k]) == "" {
			return fmt.Errorf("data %q is required", k)
		}
	}
	for k, v := range d {
		if utf8.RuneCountInString(v) > MaxValue {
			return fmt.Errorf("data %q is longer than %d characters", k, MaxValue)
		}
	}
	return nil
}

var chinaTime = time.FixedZone("CST", 8*3600)

// wechatData fills the template keywords, cutting values to what WeChat
// accepts (thing: 20 characters, phrase: 5, number: 32).
func (l layout) wechatData(d map[string]string, at time.Time) map[string]string {
	out := map[string]string{}
	for _, f := range l.fields {
		v := d[f.from]
		if f.from == "@time" {
			v = at.In(chinaTime).Format("2006-01-02 15:04")
		}
		if v == "" {
			continue
		}
		switch {
		case strings.HasPrefix(f.keyword, "thing"):
			v = cut(v, 20)
		case strings.HasPrefix(f.keyword, "phrase"):
			v = cut(v, 5)
		case strings.HasPrefix(f.keyword, "number"):
			v = cut(v, 32)
		}
		out[f.keyword] = v
	}
	return out
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
