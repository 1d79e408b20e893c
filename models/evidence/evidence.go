// Package evidence stores the photos behind awards, deductions and
// self-reports: size- and type-checked by their bytes (JPEG, PNG, WebP),
// decoded and re-encoded so no EXIF (GPS location) survives, kept in a
// small Storage (local disk by default; an S3-compatible store implements
// the same three methods) and served only to those allowed to see them.
package evidence

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	_ "golang.org/x/image/webp" // registers the WebP decoder
	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
)

// Limits of an upload.
const (
	MaxBytes  = 8 << 20
	MaxPixels = 40_000_000 // decompression bombs stop here
)

// CodeUnsupportedImage refuses bytes that are not a JPEG, PNG or WebP.
const CodeUnsupportedImage apperr.Code = "UNSUPPORTED_IMAGE"

// Storage keeps evidence objects by key.
type Storage interface {
	Put(ctx context.Context, key string, data []byte, contentType string) error
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// Disk is a Storage in a local directory.
type Disk struct{ Dir string }

// Put writes the object atomically (temp file, then rename).
func (d Disk) Put(_ context.Context, key string, data []byte, _ string) error {
	p := filepath.Join(d.Dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// Open reads an object.
func (d Disk) Open(_ context.Context, key string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(d.Dir, filepath.FromSlash(key)))
}

// File is a stored photo.
type File struct {
	ID          int64     `json:"id"`
	VillageID   int64     `json:"village_id"`
	Uploader    string    `json:"-"`
	StorageKey  string    `json:"-"`
	ContentType string    `json:"content_type"`
	SizeBytes   int64     `json:"size_bytes"`
	Width       int       `json:"width"`
	Height      int       `json:"height"`
	Sha256      string    `json:"sha256"`
	CreatedAt   time.Time `json:"created_at"`
}

// TableName pins the table name.
func (File) TableName() string { return "evidence_files" }

// Store is the evidence files and their storage.
type Store struct {
	db      *gorm.DB
	storage Storage
}

// New returns a Store.
func New(db *gorm.DB, s Storage) *Store { return &Store{db: db, storage: s} }

// Clean checks that data is a JPEG, PNG or WebP by its magic bytes and
// size, decodes it and re-encodes it (PNG stays PNG, everything else
// becomes JPEG), which drops every metadata block including EXIF GPS.
func Clean(data []byte) (out []byte, contentType string, w, h int, err error) {
	if len(data) > MaxBytes {
		return nil, "", 0, 0, apperr.New(apperr.CodeTooLarge, "照片不能超过 8MB")
	}
	switch http.DetectContentType(data) {
	case "image/jpeg", "image/png", "image/webp":
	default:
		return nil, "", 0, 0, apperr.New(CodeUnsupportedImage, "只支持 JPEG、PNG 或 WebP 格式的照片")
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, "", 0, 0, apperr.New(CodeUnsupportedImage, "照片已损坏，无法识别")
	}
	if cfg.Width*cfg.Height > MaxPixels {
		return nil, "", 0, 0, apperr.New(apperr.CodeTooLarge, "照片像素过大")
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, "", 0, 0, apperr.New(CodeUnsupportedImage, "照片已损坏，无法识别")
	}
	var buf bytes.Buffer
	if format == "png" {
		err, contentType = png.Encode(&buf, img), "image/png"
	} else {
		err, contentType = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}), "image/jpeg"
	}
	if err != nil {
		return nil, "", 0, 0, fmt.Errorf("evidence: re-encode: %w", err)
	}
	return buf.Bytes(), contentType, cfg.Width, cfg.Height, nil
}

// Upload cleans and stores a photo for village, uploaded by uploader
// ("staff:7" or "resident:12").
func (s *Store) Upload(ctx context.Context, village int64, uploader string, data []byte) (File, error) {
	clean, ct, w, h, err := Clean(data)
	if err != nil {
		return File{}, err
	}
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	sum := sha256.Sum256(clean)
	now := time.Now().UTC()
	key := fmt.Sprintf("%d/%s/%s", village, now.Format("200601"), hex.EncodeToString(rnd[:]))
	// The object is written first: a crash leaves an orphan file, never a
	// row that points at nothing.
	if err := s.storage.Put(ctx, key, clean, ct); err != nil {
		return File{}, fmt.Errorf("evidence: store: %w", err)
	}
	f := File{VillageID: village, Uploader: uploader, StorageKey: key, ContentType: ct, SizeBytes: int64(len(clean)),
		Width: w, Height: h, Sha256: hex.EncodeToString(sum[:]), CreatedAt: now}
	if err := s.db.WithContext(ctx).Create(&f).Error; err != nil {
		return File{}, fmt.Errorf("evidence: record: %w", err)
	}
	return f, nil
}

// ErrNotFound is a photo that does not exist or may not be seen.
var ErrNotFound = apperr.NotFound("照片")

// Open returns a photo and its bytes when visible(file) allows it.
func (s *Store) Open(ctx context.Context, id int64, visible func(File) bool) (File, io.ReadCloser, error) {
	f, err := s.find(ctx, id)
	if err != nil {
		return File{}, nil, err
	}
	if !visible(f) {
		return File{}, nil, ErrNotFound
	}
	return s.read(ctx, f)
}

func (s *Store) find(ctx context.Context, id int64) (File, error) {
	var rows []File
	if err := s.db.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return File{}, fmt.Errorf("evidence: read: %w", err)
	}
	if len(rows) == 0 {
		return File{}, ErrNotFound
	}
	return rows[0], nil
}

func (s *Store) read(ctx context.Context, f File) (File, io.ReadCloser, error) {
	rc, err := s.storage.Open(ctx, f.StorageKey)
	if errors.Is(err, os.ErrNotExist) {
		return File{}, nil, ErrNotFound
	}
	if err != nil {
		return File{}, nil, err
	}
	return f, rc, nil
}
