// Package app wires the whole server: it reads the configuration, opens
// the database and Redis, runs migrations, builds every service and the
// HTTP router, and runs them until shutdown. It is the one place that knows
// how the pieces fit; tests build their own App the same way.
package app

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the server's configuration, read from the environment. Every
// variable is documented in README.md with its default.
type Config struct {
	HTTPAddr        string        // HTTP_ADDR
	DatabaseDSN     string        // DATABASE_DSN: MySQL DSN; empty = embedded SQLite
	DataDir         string        // DATA_DIR: embedded mode's files
	RedisURL        string        // REDIS_URL: empty = embedded Redis (only with SQLite)
	RedisPrefix     string        // REDIS_PREFIX
	SecretKey       []byte        // SECRET_KEY: master secret, 32+ bytes (hex or base64)
	LogLevel        string        // LOG_LEVEL: debug, info, warn, error
	LogFormat       string        // LOG_FORMAT: text or json
	MaxBodyBytes    int64         // MAX_BODY_BYTES
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT
	AccessTokenTTL  time.Duration // ACCESS_TOKEN_TTL
	RefreshTokenTTL time.Duration // REFRESH_TOKEN_TTL
	DBMaxOpenConns  int           // DB_MAX_OPEN_CONNS
	TrustedProxies  []string      // TRUSTED_PROXIES: comma-separated CIDRs whose X-Forwarded-For is believed
	// WeChat is the mini-program's configuration (WECHAT_*, MP_*,
	// INVITE_CODE_TTL, NOTIFY_MAX_ATTEMPTS, DEV_LOGIN); see wechat.go.
	WeChat WeChatConfig
	// Ranking is the leaderboards' configuration (RANKING_*); see ranking.go.
	Ranking RankingConfig
	// EvidenceDir is where evidence photos are stored (EVIDENCE_DIR,
	// default DATA_DIR/evidence); see awards.go.
	EvidenceDir string
	// StoreExpireEvery is how often the points store expires orders not
	// picked up in time (STORE_EXPIRE_EVERY); see store.go.
	StoreExpireEvery time.Duration
	// BcryptCost is lowered by tests only; not an environment variable.
	BcryptCost int
}

// Embedded reports whether the server runs with its built-in backends.
func (c Config) Embedded() bool { return c.DatabaseDSN == "" }

// SQLitePath is the embedded database file.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "jifen.db") }

// LoadConfig reads the configuration from getenv (os.Getenv in main).
func LoadConfig(getenv func(string) string) (Config, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		HTTPAddr:    get("HTTP_ADDR", "127.0.0.1:8080"),
		DatabaseDSN: get("DATABASE_DSN", ""),
		DataDir:     get("DATA_DIR", "./data"),
		RedisURL:    get("REDIS_URL", ""),
		RedisPrefix: get("REDIS_PREFIX", "jifen"),
		LogLevel:    get("LOG_LEVEL", "info"),
		LogFormat:   get("LOG_FORMAT", "text"),
	}
	var err error
	if c.MaxBodyBytes, err = strconv.ParseInt(get("MAX_BODY_BYTES", "10485760"), 10, 64); err != nil || c.MaxBodyBytes <= 0 {
		return c, fmt.Errorf("MAX_BODY_BYTES: want a positive number of bytes")
	}
	if c.DBMaxOpenConns, err = strconv.Atoi(get("DB_MAX_OPEN_CONNS", "32")); err != nil || c.DBMaxOpenConns <= 0 {
		return c, fmt.Errorf("DB_MAX_OPEN_CONNS: want a positive integer")
	}
	for _, d := range []struct {
		key, def string
		into     *time.Duration
	}{
		{"SHUTDOWN_TIMEOUT", "20s", &c.ShutdownTimeout},
		{"ACCESS_TOKEN_TTL", "15m", &c.AccessTokenTTL},
		{"REFRESH_TOKEN_TTL", "168h", &c.RefreshTokenTTL},
		{"STORE_EXPIRE_EVERY", "1m", &c.StoreExpireEvery},
	} {
		if *d.into, err = time.ParseDuration(get(d.key, d.def)); err != nil || *d.into <= 0 {
			return c, fmt.Errorf("%s: want a duration such as %s", d.key, d.def)
		}
	}
	if s := get("TRUSTED_PROXIES", ""); s != "" {
		for _, p := range strings.Split(s, ",") {
			c.TrustedProxies = append(c.TrustedProxies, strings.TrimSpace(p))
		}
	}
	if c.WeChat, err = loadWeChatConfig(get, c.Embedded()); err != nil {
		return c, err
	}
	if c.Ranking, err = loadRankingConfig(get); err != nil {
		return c, err
	}
	c.EvidenceDir = get("EVIDENCE_DIR", filepath.Join(c.DataDir, "evidence"))
	if !c.Embedded() && c.RedisURL == "" {
		return c, errors.New("REDIS_URL is required when DATABASE_DSN is set: replicas must share one Redis")
	}
	if s := getenv("SECRET_KEY"); s != "" {
		if c.SecretKey, err = decodeSecret(s); err != nil {
			return c, fmt.Errorf("SECRET_KEY: %w", err)
		}
	} else if !c.Embedded() {
		return c, errors.New("SECRET_KEY is required when DATABASE_DSN is set (32+ random bytes, hex or base64; e.g. `openssl rand -hex 32`)")
	}
	return c, nil
}

func decodeSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) >= 32 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) >= 32 {
		return b, nil
	}
	return nil, errors.New("want at least 32 bytes, hex or base64 encoded")
}

// embeddedSecret returns the embedded mode's master secret, made on first
// run and kept beside the database (never in the repository).
func embeddedSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, "secret.key")
	if b, err := os.ReadFile(path); err == nil {
		return decodeSecret(string(b))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(b)), 0o600); err != nil {
		return nil, err
	}
	return b, nil
}
