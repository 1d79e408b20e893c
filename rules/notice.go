package rules

import "time"

// VetoPeriods are the ranking periods a veto earned at t strikes: the
// month, quarter and year containing it. Rankings and titles are drawn per
// month, quarter and year, and a 一票否决 for an act must bar the subject
// from every one of them that the act falls in.
func VetoPeriods(t time.Time) []string {
	return []string{Month.Key(t), Quarter.Key(t), Year.Key(t)}
}

// NoticeCloses is when the public notice 公示 of the awards of the period
// of kind p containing t stops taking objections 异议: days after the
// period ends. The notice is open from the period's start, so villagers
// can object to an award as soon as it is listed.
func NoticeCloses(p Period, t time.Time, days int) time.Time {
	return p.End(t).Add(time.Duration(days) * 24 * time.Hour)
}

// AppealDeadline is the last instant a resident may appeal 申诉 a decision
// (a deduction, or a rejected self-report) made at decided, given the
// village's appeal window in days.
func AppealDeadline(decided time.Time, days int) time.Time {
	return decided.Add(time.Duration(days) * 24 * time.Hour)
}

// Overdue reports whether a queue entry submitted at submitted has waited
// longer than the review SLA at now; a zero SLA never makes one overdue.
func Overdue(submitted, now time.Time, sla time.Duration) bool {
	return sla > 0 && now.Sub(submitted) > sla
}
