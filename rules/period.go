// Package rules is the pure scoring engine of 村规民约积分制: rule items
// with caps, cooldowns, validity, evidence and vetoes, the calendar periods
// that caps and rankings are counted in, and the decision whether an award
// may post. It imports no HTTP, SQL or Redis and takes the clock as a
// parameter, so every policy is a table test.
package rules

import (
	"fmt"
	"time"
)

// China is the time zone every period boundary is drawn in (China keeps
// no daylight saving time, so a fixed zone is exact).
var China = time.FixedZone("CST", 8*3600)

// Period is a calendar period for caps and rankings.
type Period string

// The periods.
const (
	Day     Period = "day"
	Week    Period = "week"
	Month   Period = "month"
	Quarter Period = "quarter"
	Year    Period = "year"
	AllTime Period = "all"
)

// Valid reports whether p is a known period.
func (p Period) Valid() bool {
	switch p {
	case Day, Week, Month, Quarter, Year, AllTime:
		return true
	}
	return false
}

// Start returns the first instant of the period containing t, in China
// time. Weeks start on Monday. AllTime starts at the zero time.
func (p Period) Start(t time.Time) time.Time {
	c := t.In(China)
	y, m, d := c.Date()
	switch p {
	case Day:
		return time.Date(y, m, d, 0, 0, 0, 0, China)
	case Week:
		back := (int(c.Weekday()) + 6) % 7 // days since Monday
		return time.Date(y, m, d-back, 0, 0, 0, 0, China)
	case Month:
		return time.Date(y, m, 1, 0, 0, 0, 0, China)
	case Quarter:
		return time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, China)
	case Year:
		return time.Date(y, 1, 1, 0, 0, 0, 0, China)
	}
	return time.Time{}
}

// End returns the first instant after the period containing t.
func (p Period) End(t time.Time) time.Time {
	s := p.Start(t)
	switch p {
	case Day:
		return s.AddDate(0, 0, 1)
	case Week:
		return s.AddDate(0, 0, 7)
	case Month:
		return s.AddDate(0, 1, 0)
	case Quarter:
		return s.AddDate(0, 3, 0)
	case Year:
		return s.AddDate(1, 0, 0)
	}
	return time.Date(9999, 12, 31, 0, 0, 0, 0, China)
}

// Key names the period containing t: 2026-11-23, 2026-W48, 2026-11,
// 2026-Q4, 2026 or all. Keys sort in time order within one period kind.
func (p Period) Key(t time.Time) string {
	c := t.In(China)
	switch p {
	case Day:
		return c.Format("2006-01-02")
	case Week:
		y, w := c.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	case Month:
		return c.Format("2006-01")
	case Quarter:
		return fmt.Sprintf("%d-Q%d", c.Year(), (int(c.Month())-1)/3+1)
	case Year:
		return c.Format("2006")
	}
	return "all"
}

// Label is the period's name as a notice prints it: 2026年11月.
func (p Period) Label(t time.Time) string {
	c := t.In(China)
	switch p {
	case Day:
		return c.Format("2006年1月2日")
	case Week:
		y, w := c.ISOWeek()
		return fmt.Sprintf("%d年第%d周", y, w)
	case Month:
		return c.Format("2006年1月")
	case Quarter:
		return fmt.Sprintf("%d年第%d季度", c.Year(), (int(c.Month())-1)/3+1)
	case Year:
		return c.Format("2006年")
	}
	return "累计"
}

// Name is the period's Chinese name for messages (本月, 本周…).
func (p Period) Name() string {
	return map[Period]string{Day: "今日", Week: "本周", Month: "本月", Quarter: "本季度", Year: "本年", AllTime: "累计"}[p]
}
