package rules

// Grade is a duty assessment grade 考评等次.
type Grade string

// The grades, best first.
const (
	Excellent   Grade = "excellent"   // 优秀
	Qualified   Grade = "qualified"   // 合格
	BasicPass   Grade = "basic_pass"  // 基本合格
	Unqualified Grade = "unqualified" // 不合格
)

// Grades lists the grades best first.
var Grades = []Grade{Excellent, Qualified, BasicPass, Unqualified}

// Valid reports whether g is a known grade.
func (g Grade) Valid() bool {
	switch g {
	case Excellent, Qualified, BasicPass, Unqualified:
		return true
	}
	return false
}

// Label is the grade's Chinese name.
func (g Grade) Label() string {
	switch g {
	case Excellent:
		return "优秀"
	case Qualified:
		return "合格"
	case BasicPass:
		return "基本合格"
	case Unqualified:
		return "不合格"
	}
	return string(g)
}

// GradePoints is a village's rule from grade to party-track points.
type GradePoints map[Grade]int64

// DefaultGradePoints is used until a village sets its own rule.
var DefaultGradePoints = GradePoints{Excellent: 10, Qualified: 6, BasicPass: 3, Unqualified: 0}

// AssessmentPoints is the points an assessment earns: by grade when one
// is given, else the criterion scores summed and scaled by the post's base
// points (score total out of 100 × base points, rounded down). Negative
// results are 0: an assessment never deducts.
func AssessmentPoints(rule GradePoints, g Grade, scores []int64, basePoints int64) int64 {
	if g != "" {
		if rule == nil {
			rule = DefaultGradePoints
		}
		return max(rule[g], 0)
	}
	var sum int64
	for _, s := range scores {
		sum += s
	}
	return max(sum*basePoints/100, 0)
}
