package volunteer

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/printout"
	"github.com/villagepoints/jifen/rules"
)

// Certificate is a volunteer service certificate 志愿服务证明: a resident's
// confirmed service in a range of China calendar days, as printed. It
// carries the full name: it is printed for the resident themself, by the
// resident or by staff of their village.
type Certificate struct {
	ResidentID   int64
	ResidentName string
	VillageName  string
	// Committee issues the certificate: the village's committee.
	Committee string
	// FirstDay and LastDay are the range printed, both inclusive.
	FirstDay, LastDay time.Time
	Record            Record
	IssuedAt          time.Time
	// CheckCode is an HMAC of the resident, the range and every line of
	// the record: the committee verifies a paper by issuing the same
	// range again and comparing codes, and nobody without the server's
	// key can make a code for hours that are not on record.
	CheckCode string
}

const dayLayout = "2006-01-02"

// ParseDays reads a range of China calendar days given as YYYY-MM-DD, the
// last inclusive, and returns it as the instants [from, until). An empty
// side stays zero (open) unless required.
func ParseDays(first, last string, required bool) (from, until time.Time, err error) {
	if required && (first == "" || last == "") {
		return from, until, apperr.Invalid("from", "请选择起止日期（from 与 to，格式 2026-01-31）")
	}
	if first != "" {
		if from, err = time.ParseInLocation(dayLayout, first, rules.China); err != nil {
			return from, until, apperr.Invalid("from", "起始日期格式应为 2026-01-31")
		}
	}
	if last != "" {
		d, err := time.ParseInLocation(dayLayout, last, rules.China)
		if err != nil {
			return from, until, apperr.Invalid("to", "截止日期格式应为 2026-01-31")
		}
		until = d.AddDate(0, 0, 1)
	}
	if !from.IsZero() && !until.IsZero() && !from.Before(until) {
		return from, until, apperr.Invalid("to", "截止日期不能早于起始日期")
	}
	return from.UTC(), until.UTC(), nil
}

// Certificate gathers what a certificate prints for resident's service in
// [from, until). A range without confirmed service is refused: a
// certificate of no hours certifies nothing.
func (s *Service) Certificate(ctx context.Context, resident int64, from, until time.Time) (Certificate, error) {
	if from.IsZero() || until.IsZero() {
		return Certificate{}, apperr.Invalid("from", "请选择起止日期")
	}
	db := s.db.WithContext(ctx)
	var r struct {
		Name      string
		VillageID int64
	}
	res := db.Table("residents").Select("name, village_id").Where("id = ?", resident).Scan(&r)
	if res.Error != nil {
		return Certificate{}, apperr.Internal(res.Error)
	}
	if res.RowsAffected == 0 {
		return Certificate{}, apperr.NotFound("村民")
	}
	village, err := regionName(db, r.VillageID)
	if err != nil {
		return Certificate{}, err
	}
	rec, err := s.Record(ctx, resident, from, until)
	if err != nil {
		return Certificate{}, err
	}
	if len(rec.Activities) == 0 {
		return Certificate{}, apperr.New(CodeNoRecord, "所选时段内没有经组织者确认的志愿服务记录，无法开具证明")
	}
	c := Certificate{ResidentID: resident, ResidentName: r.Name, VillageName: village, Committee: committeeOf(village),
		FirstDay: from.In(rules.China), LastDay: until.In(rules.China).AddDate(0, 0, -1), Record: rec, IssuedAt: s.now()}
	c.CheckCode = checkCode(s.opts.CertificateKey, c)
	return c, nil
}

func regionName(db *gorm.DB, id int64) (string, error) {
	var names []string
	if err := db.Table("regions").Where("id = ?", id).Pluck("name", &names).Error; err != nil {
		return "", apperr.Internal(err)
	}
	if len(names) == 0 {
		return "", nil
	}
	return names[0], nil
}

// committeeOf names the committee of a village (村民委员会) or an urban
// community (社区居民委员会).
func committeeOf(village string) string {
	if strings.HasSuffix(village, "社区") {
		return village + "居民委员会"
	}
	return village + "村民委员会"
}

var codeEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

// checkCode signs what the certificate states; the issue date is left out
// so that issuing the same range again gives the same code.
func checkCode(key []byte, c Certificate) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "VC1|%d|%s|%s|%d|%d", c.ResidentID, c.FirstDay.Format(dayLayout), c.LastDay.Format(dayLayout), c.Record.Minutes, c.Record.Points)
	for _, e := range c.Record.Activities {
		fmt.Fprintf(m, "|%d:%d:%d", e.ActivityID, e.Minutes, e.Points)
	}
	s := codeEnc.EncodeToString(m.Sum(nil)[:10])
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// DurationText writes service minutes the way a certificate states them.
func DurationText(minutes int) string {
	h, m := minutes/60, minutes%60
	switch {
	case h == 0:
		return fmt.Sprintf("%d分钟", m)
	case m == 0:
		return fmt.Sprintf("%d小时", h)
	}
	return fmt.Sprintf("%d小时%d分钟", h, m)
}

func chinaDay(t time.Time) string { return t.In(rules.China).Format("2006年1月2日") }

// certificateRows is how many activity lines fit on the page; beyond
// that the certificate lists the first ones and says how many more there
// are (the total always covers all of them).
const certificateRows = 14

// RenderCertificate draws c as an A4 PNG: the title, the statement with
// the resident's full name, village, date range and total time, the
// activities (date, activity, time), the issuing committee with room for
// its seal, the issue date and the check code. fontPath names an optional
// fuller font (rare characters in names).
func RenderCertificate(c Certificate, fontPath string) ([]byte, error) {
	const (
		w      = printout.PageW
		h      = printout.PageH
		left   = 150
		right  = w - 150
		bodyPt = 30
	)
	p, err := printout.NewPage(fontPath)
	if err != nil {
		return nil, err
	}
	p.Frame()
	p.Text(w/2, 230, "志愿服务证明", 72, printout.Red, 'c')
	p.Text(w/2, 290, "证明编号 "+c.CheckCode, 20, printout.Grey, 'c')

	statement := fmt.Sprintf("兹证明%s（%s村民）于%s至%s期间，参加%s组织的志愿服务活动%d次，经活动组织者确认考勤，累计服务时长%s。",
		c.ResidentName, c.VillageName, chinaDay(c.FirstDay), chinaDay(c.LastDay), c.VillageName, len(c.Record.Activities), DurationText(c.Record.Minutes))
	y := 390
	// The first line is indented by two characters, as Chinese documents are.
	lines := hangPunctuation(p.Wrap("　　"+statement, bodyPt, right-left))
	for _, line := range lines {
		p.Text(left, y, line, bodyPt, printout.Black, 'l')
		y += 54
	}
	p.Text(left, y, "　　特此证明。", bodyPt, printout.Black, 'l')
	y += 90

	p.Rect(left, y-54, right, y+26, printout.Band)
	p.Text(w/2, y, "累计服务时长　"+DurationText(c.Record.Minutes), 40, printout.Red, 'c')
	y += 80

	rows := make([][3]string, 0, certificateRows)
	for i, e := range c.Record.Activities {
		if i == certificateRows {
			break
		}
		rows = append(rows, [3]string{e.StartsAt.In(rules.China).Format(dayLayout), fitText(p, e.Title, 24, (right-left)*34/100), DurationText(e.Minutes)})
	}
	y = p.Table(left, right, y, [3]string{"日期", "服务项目", "服务时长"}, rows, printout.Red)
	if more := len(c.Record.Activities) - len(rows); more > 0 {
		p.Text(w/2, y+40, fmt.Sprintf("（另有%d次活动未列出，累计时长已包含）", more), 22, printout.Grey, 'c')
		y += 40
	}

	// The signature follows the table, as on a paper certificate, but
	// never runs into the footnote.
	sig := min(y+150, h-330)
	p.Text(right, sig, c.Committee, 32, printout.Black, 'r')
	p.Text(right, sig+50, "（盖章）", 24, printout.Grey, 'r')
	p.Text(right, sig+100, chinaDay(c.IssuedAt), 28, printout.Black, 'r')
	p.Text(left, h-140, "本证明依据村级积分平台中经组织者确认的志愿服务考勤记录开具。核验：请村委会按同一起止日期重新开具，", 18, printout.Grey, 'l')
	p.Text(left, h-112, "证明编号一致即记录未变。", 18, printout.Grey, 'l')
	return p.PNG()
}

// hangPunctuation moves punctuation that would start a line to the end of
// the line before (避头点): a Chinese line never starts with "，" or "。",
// and hanging it in the margin is what typesetters do.
func hangPunctuation(lines []string) []string {
	for i := 1; i < len(lines); i++ {
		r := []rune(lines[i])
		n := 0
		for n < len(r) && strings.ContainsRune("，。、；：？！）》」』”", r[n]) {
			n++
		}
		if n > 0 {
			lines[i-1] += string(r[:n])
			lines[i] = string(r[n:])
		}
	}
	return lines
}

// fitText cuts text to width w at size, ending a cut with an ellipsis.
func fitText(p *printout.Page, text string, size float64, w int) string {
	if p.Width(text, size) <= w {
		return text
	}
	r := []rune(text)
	for len(r) > 0 && p.Width(string(r)+"…", size) > w {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

// RecordOf is Record for a range of days as a request gives them
// (YYYY-MM-DD, both inclusive, either side may be empty).
func (s *Service) RecordOf(ctx context.Context, resident int64, first, last string) (Record, error) {
	from, until, err := ParseDays(first, last, false)
	if err != nil {
		return Record{}, err
	}
	return s.Record(ctx, resident, from, until)
}

// CertificatePNG gathers and draws resident's certificate for a range of
// days as a request gives them (both required); fontPath as in
// RenderCertificate.
func (s *Service) CertificatePNG(ctx context.Context, resident int64, first, last, fontPath string) ([]byte, error) {
	from, until, err := ParseDays(first, last, true)
	if err != nil {
		return nil, err
	}
	c, err := s.Certificate(ctx, resident, from, until)
	if err != nil {
		return nil, err
	}
	return RenderCertificate(c, fontPath)
}
