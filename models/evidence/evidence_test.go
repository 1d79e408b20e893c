package evidence

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/villagepoints/jifen/apperr"
)

// mustJPEGWithEXIF is a small JPEG with an APP1 (EXIF) segment carrying a
// GPS-looking marker right after the SOI.
func mustJPEGWithEXIF(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 6))
	img.Set(1, 1, color.RGBA{200, 10, 10, 255})
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	exif := append([]byte{0xFF, 0xE1, 0x00, 0x12}, []byte("Exif\x00\x00GPSLAT3012")...)
	return append(append(append([]byte{}, b[:2]...), exif...), b[2:]...)
}

func TestClean(t *testing.T) {
	withExif := mustJPEGWithEXIF(t)
	if !bytes.Contains(withExif, []byte("GPSLAT")) {
		t.Fatal("fixture lacks its EXIF marker")
	}
	out, ct, w, h, err := Clean(withExif)
	if err != nil || ct != "image/jpeg" || w != 8 || h != 6 {
		t.Fatalf("clean jpeg: %s %dx%d %v", ct, w, h, err)
	}
	if bytes.Contains(out, []byte("GPSLAT")) || bytes.Contains(out, []byte("Exif")) {
		t.Fatal("EXIF survived re-encoding")
	}
	var pngBuf bytes.Buffer
	_ = png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 3, 3)))
	if _, ct, _, _, err := Clean(pngBuf.Bytes()); err != nil || ct != "image/png" {
		t.Fatalf("png: %s %v", ct, err)
	}
	cases := []struct {
		name string
		data []byte
		code apperr.Code
	}{
		{"a GIF", []byte("GIF89a\x01\x00\x01\x00"), CodeUnsupportedImage},
		{"a script named .jpg", []byte("<script>alert(1)</script>"), CodeUnsupportedImage},
		{"a truncated JPEG", withExif[:40], CodeUnsupportedImage},
		{"too large", append([]byte{0xFF, 0xD8, 0xFF}, make([]byte, MaxBytes)...), apperr.CodeTooLarge},
	}
	for _, c := range cases {
		if _, _, _, _, err := Clean(c.data); !apperr.Is(err, c.code) {
			t.Errorf("%s: got %v, want %s", c.name, err, c.code)
		}
	}
}
