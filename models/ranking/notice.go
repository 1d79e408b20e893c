package ranking

import (
	"bytes"
	_ "embed"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"

	"github.com/villagepoints/jifen/rules"
)

// The printable notice 公示 is a PNG of an A4 page at 150 dpi, drawn with
// the embedded GB 2312 subset of WenQuanYi Micro Hei (see fonts/README.md)
// and, when the deployment names one, a fuller font for rarer characters.

//go:embed fonts/wqy-gb2312.ttf
var embeddedFont []byte

// A4 at 150 dpi.
const (
	pageW = 1240
	pageH = 1754
)

var (
	red   = color.RGBA{0xC8, 0x10, 0x2E, 0xFF}
	black = color.RGBA{0x1A, 0x1A, 0x1A, 0xFF}
	grey  = color.RGBA{0x66, 0x66, 0x66, 0xFF}
	rule  = color.RGBA{0xDD, 0xDD, 0xDD, 0xFF}
	band  = color.RGBA{0xFB, 0xF3, 0xF3, 0xFF}
)

// fontSet is the fonts a notice draws with, best first; a character the
// first lacks is drawn with the next that has it.
type fontSet struct {
	fonts []*sfnt.Font
	mu    sync.Mutex
	faces map[float64][]font.Face
}

var (
	fontsOnce sync.Map // path → *fontSet
)

// loadFonts returns the embedded font, preceded by the font file at path
// when one is given and readable (a .ttf/.otf, or the first face of a
// .ttc).
func loadFonts(path string) (*fontSet, error) {
	if fs, ok := fontsOnce.Load(path); ok {
		return fs.(*fontSet), nil
	}
	fs := &fontSet{faces: map[float64][]font.Face{}}
	if path != "" {
		if b, err := os.ReadFile(path); err == nil {
			if f, err := parseFont(b); err == nil {
				fs.fonts = append(fs.fonts, f)
			}
		}
	}
	f, err := opentype.Parse(embeddedFont)
	if err != nil {
		return nil, fmt.Errorf("ranking: embedded font: %w", err)
	}
	fs.fonts = append(fs.fonts, f)
	got, _ := fontsOnce.LoadOrStore(path, fs)
	return got.(*fontSet), nil
}

func parseFont(b []byte) (*sfnt.Font, error) {
	if f, err := opentype.Parse(b); err == nil {
		return f, nil
	}
	c, err := opentype.ParseCollection(b)
	if err != nil {
		return nil, err
	}
	return c.Font(0)
}

func (fs *fontSet) facesOf(size float64) []font.Face {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.faces[size]; ok {
		return f
	}
	var out []font.Face
	for _, f := range fs.fonts {
		face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
		if err == nil {
			out = append(out, face)
		}
	}
	fs.faces[size] = out
	return out
}

// faceFor picks the first font that has r.
func (fs *fontSet) faceFor(faces []font.Face, r rune) font.Face {
	var buf sfnt.Buffer
	for i, f := range fs.fonts {
		if gi, err := f.GlyphIndex(&buf, r); err == nil && gi != 0 && i < len(faces) {
			return faces[i]
		}
	}
	return faces[len(faces)-1]
}

// canvas draws a notice.
type canvas struct {
	img *image.RGBA
	fs  *fontSet
}

func newCanvas(fs *fontSet) *canvas {
	img := image.NewRGBA(image.Rect(0, 0, pageW, pageH))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	return &canvas{img: img, fs: fs}
}

// width measures text at size.
func (c *canvas) width(text string, size float64) int {
	faces := c.fs.facesOf(size)
	var w fixed.Int26_6
	for _, r := range text {
		adv, _ := c.fs.faceFor(faces, r).GlyphAdvance(r)
		w += adv
	}
	return w.Ceil()
}

// text draws text with its baseline at y; align is 'l', 'c' or 'r' around x.
func (c *canvas) text(x, y int, text string, size float64, col color.Color, align byte) {
	switch align {
	case 'c':
		x -= c.width(text, size) / 2
	case 'r':
		x -= c.width(text, size)
	}
	faces := c.fs.facesOf(size)
	d := &font.Drawer{Dst: c.img, Src: image.NewUniform(col), Dot: fixed.P(x, y)}
	for _, r := range text {
		d.Face = c.fs.faceFor(faces, r)
		d.DrawString(string(r))
	}
}

// wrap splits text into lines no wider than w.
func (c *canvas) wrap(text string, size float64, w int) []string {
	var lines []string
	var cur strings.Builder
	for _, r := range text {
		if c.width(cur.String()+string(r), size) > w && cur.Len() > 0 {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		cur.WriteRune(r)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

func (c *canvas) rect(x0, y0, x1, y1 int, col color.Color) {
	draw.Draw(c.img, image.Rect(x0, y0, x1, y1), image.NewUniform(col), image.Point{}, draw.Src)
}

// frame draws the red double border of a bulletin-board notice.
func (c *canvas) frame() {
	for _, inset := range []struct{ at, w int }{{40, 8}, {58, 2}} {
		a, w := inset.at, inset.w
		c.rect(a, a, pageW-a, a+w, red)
		c.rect(a, pageH-a-w, pageW-a, pageH-a, red)
		c.rect(a, a, a+w, pageH-a, red)
		c.rect(pageW-a-w, a, pageW-a, pageH-a, red)
	}
}

func (c *canvas) png() ([]byte, error) {
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, c.img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

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

// table draws rank/name/points rows from y in a column between x0 and x1
// and returns the y below it.
func (c *canvas) table(x0, x1, y int, head [3]string, rows [][3]string, accent color.Color) int {
	const rowH = 40
	c.rect(x0, y, x1, y+rowH+4, accent)
	cols := []int{x0 + (x1-x0)*14/100, x0 + (x1-x0)*50/100, x0 + (x1-x0)*86/100}
	for i, h := range head {
		c.text(cols[i], y+31, h, 24, color.White, 'c')
	}
	y += rowH + 4
	for i, r := range rows {
		if i%2 == 1 {
			c.rect(x0, y, x1, y+rowH, band)
		}
		c.rect(x0, y+rowH-1, x1, y+rowH, rule)
		for j, v := range r {
			c.text(cols[j], y+29, v, 24, black, 'c')
		}
		y += rowH
	}
	return y
}

// footer draws the notice window, the version and digest, and the
// committee's signature with the date.
func (c *canvas) footer(p Publication, now time.Time) {
	y := pageH - 330
	for _, line := range c.wrap(noticeWindow(p), 24, pageW-260) {
		c.text(130, y, line, 24, black, 'l')
		y += 38
	}
	c.text(130, y+10, fmt.Sprintf("第%d版 · 截至账本第%d笔 · 校验码 %s", p.Version, p.AsOfSeq, p.Digest[:16]), 18, grey, 'l')
	date := now
	if p.PublishedAt != nil {
		date = *p.PublishedAt
	}
	c.text(pageW-130, pageH-170, p.Committee, 30, black, 'r')
	c.text(pageW-130, pageH-120, chinaDate(date), 26, black, 'r')
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

// RenderNotice draws a version as the A4 notice a committee pins on the
// board: village, period, rank, masked name and points (top up to 60, in
// two columns past 30), the notice window, the committee and the date. p
// must be a villager view (names masked). fontPath names an optional fuller
// font.
func RenderNotice(p Publication, top int, fontPath string, now time.Time) ([]byte, error) {
	fs, err := loadFonts(fontPath)
	if err != nil {
		return nil, err
	}
	c := newCanvas(fs)
	c.frame()
	c.text(pageW/2, 190, p.VillageName+"积分排名公示", 64, red, 'c')
	basis := ""
	if p.Basis == BasisPerMember {
		basis = "（户均）"
	}
	c.text(pageW/2, 260, fmt.Sprintf("%s · %s%s%s", p.PeriodLabel, p.Subject.Label(), TrackLabel(p.Track), basis), 32, black, 'c')
	top = min(max(top, 1), 60, len(p.Entries))
	rows := rankRows(p.Entries, top)
	head := [3]string{"名次", "姓名", "积分"}
	if p.Basis == BasisPerMember {
		head[2] = "户均积分"
	}
	y := 320
	if len(rows) <= 30 {
		c.table(170, pageW-170, y, head, rows, red)
	} else {
		c.table(110, pageW/2-15, y, head, rows[:30], red)
		c.table(pageW/2+15, pageW-110, y, head, rows[30:], red)
	}
	if len(p.Entries) == 0 {
		c.text(pageW/2, y+120, "本月暂无积分记录", 30, grey, 'c')
	} else if len(p.Entries) > top {
		c.text(pageW/2, pageH-380, fmt.Sprintf("（共 %d 名，此处列出前 %d 名）", len(p.Entries), top), 22, grey, 'c')
	}
	c.footer(p, now)
	return c.png()
}

// RenderRedBlack draws a 红黑榜: the top of the ranking on the red side
// and, on the black side, who had points deducted in the month (masked).
func RenderRedBlack(p Publication, top int, fontPath string, now time.Time) ([]byte, error) {
	fs, err := loadFonts(fontPath)
	if err != nil {
		return nil, err
	}
	c := newCanvas(fs)
	c.frame()
	c.text(pageW/2, 190, p.VillageName+"红黑榜", 64, red, 'c')
	c.text(pageW/2, 260, fmt.Sprintf("%s · %s%s", p.PeriodLabel, p.Subject.Label(), TrackLabel(p.Track)), 32, black, 'c')
	top = min(max(top, 1), 25)
	y := 330
	c.text(pageW/4+20, y, "红榜", 44, red, 'c')
	c.text(pageW*3/4-20, y, "黑榜", 44, black, 'c')
	y += 30
	c.table(110, pageW/2-15, y, [3]string{"名次", "姓名", "积分"}, rankRows(p.Entries, top), red)
	var blk [][3]string
	for i, e := range p.Black {
		if i >= top {
			break
		}
		blk = append(blk, [3]string{fmt.Sprint(i + 1), e.Name, "扣" + e.PointsText + "分"})
	}
	c.table(pageW/2+15, pageW-110, y, [3]string{"序号", "姓名", "扣分"}, blk, black)
	if len(blk) == 0 {
		c.text(pageW*3/4-20, y+110, "本月无扣分记录", 26, grey, 'c')
	}
	c.footer(p, now)
	return c.png()
}
