// Package printout draws printable A4 pages (ranking notices 公示,
// volunteer certificates 志愿服务证明) as PNG, with the embedded GB 2312
// subset of WenQuanYi Micro Hei (see fonts/README.md) and, when the
// deployment names one, a fuller font for rarer characters.
package printout

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

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

//go:embed fonts/wqy-gb2312.ttf
var embeddedFont []byte

// A4 at 150 dpi.
const (
	PageW = 1240
	PageH = 1754
)

// The colours of official notices.
var (
	Red   = color.RGBA{0xC8, 0x10, 0x2E, 0xFF}
	Black = color.RGBA{0x1A, 0x1A, 0x1A, 0xFF}
	Grey  = color.RGBA{0x66, 0x66, 0x66, 0xFF}
	Rule  = color.RGBA{0xDD, 0xDD, 0xDD, 0xFF}
	Band  = color.RGBA{0xFB, 0xF3, 0xF3, 0xFF}
)

// fontSet is the fonts a page draws with, best first; a character the
// first lacks is drawn with the next that has it.
type fontSet struct {
	fonts []*sfnt.Font
	mu    sync.Mutex
	faces map[float64][]font.Face
}

var fontSets sync.Map // path → *fontSet

// loadFonts returns the embedded font, preceded by the font file at path
// when one is given and readable (a .ttf/.otf, or the first face of a
// .ttc).
func loadFonts(path string) (*fontSet, error) {
	if fs, ok := fontSets.Load(path); ok {
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
		return nil, fmt.Errorf("printout: embedded font: %w", err)
	}
	fs.fonts = append(fs.fonts, f)
	got, _ := fontSets.LoadOrStore(path, fs)
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

// Page is one white A4 page being drawn.
type Page struct {
	img *image.RGBA
	fs  *fontSet
}

// NewPage starts a page; fontPath names an optional fuller font tried
// before the embedded one.
func NewPage(fontPath string) (*Page, error) {
	fs, err := loadFonts(fontPath)
	if err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, PageW, PageH))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	return &Page{img: img, fs: fs}, nil
}

// Width measures text at size.
func (c *Page) Width(text string, size float64) int {
	faces := c.fs.facesOf(size)
	var w fixed.Int26_6
	for _, r := range text {
		adv, _ := c.fs.faceFor(faces, r).GlyphAdvance(r)
		w += adv
	}
	return w.Ceil()
}

// Text draws text with its baseline at y; align is 'l', 'c' or 'r' around x.
func (c *Page) Text(x, y int, text string, size float64, col color.Color, align byte) {
	switch align {
	case 'c':
		x -= c.Width(text, size) / 2
	case 'r':
		x -= c.Width(text, size)
	}
	faces := c.fs.facesOf(size)
	d := &font.Drawer{Dst: c.img, Src: image.NewUniform(col), Dot: fixed.P(x, y)}
	for _, r := range text {
		d.Face = c.fs.faceFor(faces, r)
		d.DrawString(string(r))
	}
}

// Wrap splits text into lines no wider than w.
func (c *Page) Wrap(text string, size float64, w int) []string {
	var lines []string
	var cur strings.Builder
	for _, r := range text {
		if c.Width(cur.String()+string(r), size) > w && cur.Len() > 0 {
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

// Rect fills a rectangle.
func (c *Page) Rect(x0, y0, x1, y1 int, col color.Color) {
	draw.Draw(c.img, image.Rect(x0, y0, x1, y1), image.NewUniform(col), image.Point{}, draw.Src)
}

// Frame draws the red double border of a bulletin-board notice.
func (c *Page) Frame() {
	for _, inset := range []struct{ at, w int }{{40, 8}, {58, 2}} {
		a, w := inset.at, inset.w
		c.Rect(a, a, PageW-a, a+w, Red)
		c.Rect(a, PageH-a-w, PageW-a, PageH-a, Red)
		c.Rect(a, a, a+w, PageH-a, Red)
		c.Rect(PageW-a-w, a, PageW-a, PageH-a, Red)
	}
}

// Table draws rows of three columns from y between x0 and x1, under a
// head on an accent band, and returns the y below it.
func (c *Page) Table(x0, x1, y int, head [3]string, rows [][3]string, accent color.Color) int {
	const rowH = 40
	c.Rect(x0, y, x1, y+rowH+4, accent)
	cols := []int{x0 + (x1-x0)*14/100, x0 + (x1-x0)*50/100, x0 + (x1-x0)*86/100}
	for i, h := range head {
		c.Text(cols[i], y+31, h, 24, color.White, 'c')
	}
	y += rowH + 4
	for i, r := range rows {
		if i%2 == 1 {
			c.Rect(x0, y, x1, y+rowH, Band)
		}
		c.Rect(x0, y+rowH-1, x1, y+rowH, Rule)
		for j, v := range r {
			c.Text(cols[j], y+29, v, 24, Black, 'c')
		}
		y += rowH
	}
	return y
}

// PNG encodes the page.
func (c *Page) PNG() ([]byte, error) {
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, c.img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
