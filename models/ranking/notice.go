package ranking

import (
	"fmt"
	"time"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/printout"
	"github.com/villagepoints/jifen/rules"
)

// The printable notice 公示 is a PNG of an A4 page at 150 dpi (package
// printout).

const (
	pageW = printout.PageW
	pageH = printout.PageH
)

func chinaDate(t time.Time) string { return t.In(rules.China).Format("2006年1月2日") }

// noticeWindow is the sentence naming the notice window.
func noticeWindow(p Publication) string {
	if p.PublishedAt == nil || p.NoticeEndsAt == nil {
		return "本排名尚未公示。"
	}
	last := p.NoticeEndsAt.Add(-time.Second)
	return fmt.Sprintf("公示期：%s至%s（%d天）。公示期内如有异议，请通过积分小程序或向村务监督委员会反映。",
		chinaDate(*p.PublishedAt), chinaDate(last), p.NoticeDays)
}

// footer draws the notice window, the version and digest, and the
// committee's signature with the date.
func footer(c *printout.Page, p Publication, now time.Time) {
	y := pageH - 330
	for _, line := range c.Wrap(noticeWindow(p), 24, pageW-260) {
		c.Text(130, y, line, 24, printout.Black, 'l')
		y += 38
	}
	c.Text(130, y+10, fmt.Sprintf("第%d版 · 截至账本第%d笔 · 校验码 %s", p.Version, p.AsOfSeq, p.Digest[:16]), 18, printout.Grey, 'l')
	date := now
	if p.PublishedAt != nil {
		date = *p.PublishedAt
	}
	c.Text(pageW-130, pageH-170, p.Committee, 30, printout.Black, 'r')
	c.Text(pageW-130, pageH-120, chinaDate(date), 26, printout.Black, 'r')
}

func rankRows(es []PubEntry, n int) [][3]string {
	var out [][3]string
	for i, e := range es {
		if i >= n {
			break
		}
		out = append(out, [3]string{fmt.Sprint(e.Rank), e.Name, e.PointsText})
	}
	return out
}

// NoticePerPage is how many names one page of a notice lists: two
// columns of 25, as many as fit above the footer at the printout's row
// height.
const NoticePerPage = 2 * noticeColumn

const noticeColumn = 25

// NoticePages is how many pages the whole of a version takes (at least 1).
func NoticePages(p Publication) int {
	return max(1, (len(p.Entries)+NoticePerPage-1)/NoticePerPage)
}

// RenderNotice draws a version as the A4 notice a committee pins on the
// board: village, period, rank, masked name and points (top up to
// NoticePerPage, in two columns past 25), the notice window, the committee
// and the date. p must be a villager view (names masked). fontPath names
// an optional fuller font. RenderNoticePage prints the whole ranking
// instead, page by page.
func RenderNotice(p Publication, top int, fontPath string, now time.Time) ([]byte, error) {
	top = min(max(top, 1), NoticePerPage, len(p.Entries))
	note := ""
	if len(p.Entries) > top {
		note = fmt.Sprintf("（共 %d 名，此处列出前 %d 名）", len(p.Entries), top)
	}
	return renderNotice(p, p.Entries[:top], note, fontPath, now)
}

// RenderNoticePage draws page (from 1) of the whole ranking, NoticePerPage
// names a page, each page a full notice (title, notice window, committee)
// marked 第N页 共M页, so a village of any size can be printed and pinned
// up together. A page past the last is refused.
func RenderNoticePage(p Publication, page int, fontPath string, now time.Time) ([]byte, error) {
	pages := NoticePages(p)
	if page < 1 || page > pages {
		return nil, apperr.Invalid("page", fmt.Sprintf("该排名共 %d 页", pages))
	}
	from := (page - 1) * NoticePerPage
	rows := p.Entries[from:min(from+NoticePerPage, len(p.Entries))]
	return renderNotice(p, rows, fmt.Sprintf("第%d页 共%d页", page, pages), fontPath, now)
}

// renderNotice draws a notice listing entries (at most NoticePerPage),
// with note under the table.
func renderNotice(p Publication, entries []PubEntry, note, fontPath string, now time.Time) ([]byte, error) {
	c, err := printout.NewPage(fontPath)
	if err != nil {
		return nil, err
	}
	c.Frame()
	c.Text(pageW/2, 190, p.VillageName+"积分排名公示", 64, printout.Red, 'c')
	basis := ""
	if p.Basis == BasisPerMember {
		basis = "（户均）"
	}
	c.Text(pageW/2, 260, fmt.Sprintf("%s · %s%s%s", p.PeriodLabel, p.Subject.Label(), TrackLabel(p.Track), basis), 32, printout.Black, 'c')
	rows := rankRows(entries, NoticePerPage)
	head := [3]string{"名次", "姓名", "积分"}
	if p.Basis == BasisPerMember {
		head[2] = "户均积分"
	}
	y, right := 320, pageW-170
	if len(rows) <= noticeColumn {
		c.Table(170, right, y, head, rows, printout.Red)
	} else {
		right = pageW - 110
		c.Table(110, pageW/2-15, y, head, rows[:noticeColumn], printout.Red)
		c.Table(pageW/2+15, right, y, head, rows[noticeColumn:], printout.Red)
	}
	if len(p.Entries) == 0 {
		c.Text(pageW/2, y+120, "本月暂无积分记录", 30, printout.Grey, 'c')
	}
	if note != "" {
		// Above the table's right edge: below it the footer needs the room.
		c.Text(right, y-12, note, 22, printout.Grey, 'r')
	}
	footer(c, p, now)
	return c.PNG()
}

// RenderRedBlack draws a 红黑榜: the top of the ranking on the red side
// and, on the black side, who had points deducted in the month (masked).
func RenderRedBlack(p Publication, top int, fontPath string, now time.Time) ([]byte, error) {
	c, err := printout.NewPage(fontPath)
	if err != nil {
		return nil, err
	}
	c.Frame()
	c.Text(pageW/2, 190, p.VillageName+"红黑榜", 64, printout.Red, 'c')
	c.Text(pageW/2, 260, fmt.Sprintf("%s · %s%s", p.PeriodLabel, p.Subject.Label(), TrackLabel(p.Track)), 32, printout.Black, 'c')
	top = min(max(top, 1), 25)
	y := 330
	c.Text(pageW/4+20, y, "红榜", 44, printout.Red, 'c')
	c.Text(pageW*3/4-20, y, "黑榜", 44, printout.Black, 'c')
	y += 30
	c.Table(110, pageW/2-15, y, [3]string{"名次", "姓名", "积分"}, rankRows(p.Entries, top), printout.Red)
	var blk [][3]string
	for i, e := range p.Black {
		if i >= top {
			break
		}
		blk = append(blk, [3]string{fmt.Sprint(i + 1), e.Name, "扣" + e.PointsText + "分"})
	}
	c.Table(pageW/2+15, pageW-110, y, [3]string{"序号", "姓名", "扣分"}, blk, printout.Black)
	if len(blk) == 0 {
		c.Text(pageW*3/4-20, y+110, "本月无扣分记录", 26, printout.Grey, 'c')
	}
	footer(c, p, now)
	return c.PNG()
}
