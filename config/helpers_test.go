package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sessionfx/session/config"
)

// The sections the tests load: the shapes of the module's own ([session],
// [kvcache]) and of its stores', declared here so that the package is
// tested on its own.

type tCookie struct {
	Name     string `koanf:"name"`
	Path     string `koanf:"path"`
	Domain   string `koanf:"domain"`
	Secure   bool   `koanf:"secure"`
	HTTPOnly bool   `koanf:"http_only"`
	SameSite string `koanf:"same_site"`
	Persist  bool   `koanf:"persist"`
}

type tSession struct {
	Member          string          `koanf:"member"`
	Store           string          `koanf:"store"`
	Container       string          `koanf:"container"`
	Lifetime        time.Duration   `koanf:"lifetime"`
	IdleTimeout     time.Duration   `koanf:"idle_timeout"`
	HashIDs         bool            `koanf:"hash_ids"`
	MaxCookieSize   int             `koanf:"max_cookie_size"`
	MaxSessionSize  config.ByteSize `koanf:"max_session_size"`
	CleanupInterval time.Duration   `koanf:"cleanup_interval"`
	Strict          bool            `koanf:"strict"`
	Cookie          tCookie         `koanf:"cookie"`
}

func tDefaultSession() tSession {
	return tSession{Member: "session", Store: "kvcache", Container: "session", Lifetime: 24 * time.Hour,
		IdleTimeout: 30 * time.Minute, HashIDs: true, MaxCookieSize: 4096, MaxSessionSize: 64 << 10,
		CleanupInterval: 10 * time.Minute,
		Cookie:          tCookie{Name: "session", Path: "/", Secure: true, HTTPOnly: true, SameSite: "lax", Persist: true}}
}

type tBackend struct {
	Type           string          `koanf:"type"`
	MaxSize        config.ByteSize `koanf:"max_size"`
	URL            string          `koanf:"url"`
	ClientCache    bool            `koanf:"client_cache"`
	ClientCacheTTL time.Duration   `koanf:"client_cache_ttl"`
	DialTimeout    time.Duration   `koanf:"dial_timeout"`
	CommandTimeout time.Duration   `koanf:"command_timeout"`
	PoolSize       int             `koanf:"pool_size"`
	Path           string          `koanf:"path"`
}

type tContainer struct {
	Backend string        `koanf:"backend"`
	Prefix  string        `koanf:"prefix"`
	TTL     time.Duration `koanf:"ttl"`
}

type tKV struct {
	Backends   map[string]tBackend   `koanf:"backends"`
	Containers map[string]tContainer `koanf:"containers"`
}

type tLayered struct {
	Front    string        `koanf:"front"`
	Back     string        `koanf:"back"`
	LocalTTL time.Duration `koanf:"local_ttl"`
}

type tGorm struct {
	Driver string `koanf:"driver"`
	DSN    string `koanf:"dsn"`
	Table  string `koanf:"table"`
}

type tCookieStore struct {
	Keys       []string `koanf:"keys"`
	DevMode    bool     `koanf:"dev_mode"`
	CookieName string   `koanf:"cookie_name"`
	MaxSize    int      `koanf:"max_size"`
}

var tSections = []config.Section{
	{Name: "session", Config: tSession{}},
	{Name: "kvcache", Config: tKV{}},
	{Name: "layered", Config: tLayered{}},
	{Name: "gorm", Config: tGorm{}},
	{Name: "cookie", Config: tCookieStore{}},
}

// tRenames is the module's table (session.configRenames).
var tRenames = []config.Rename{
	{Old: "session.backend", New: "session.store"},
	{Old: "cookie_store", New: "cookie"},
	{Old: "session.layered", New: "layered"},
}

var tOptions = config.Options{Sections: tSections, Renames: tRenames}

// write writes a config file named name into a fresh temp dir.
func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// load loads path with the test sections and renames.
func load(t *testing.T, path string) *config.File {
	t.Helper()
	return loadLog(t, path, zap.NewNop())
}

func loadLog(t *testing.T, path string, log *zap.Logger) *config.File {
	t.Helper()
	f, err := config.Load(path, log, tOptions)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return f
}

// session decodes [session] over the defaults.
func session(t *testing.T, f *config.File) (tSession, error) {
	t.Helper()
	s := tDefaultSession()
	return s, f.Unmarshal("session", &s)
}

// kv decodes [kvcache].
func kv(f *config.File) (tKV, error) {
	var c tKV
	return c, f.Unmarshal("kvcache", &c)
}

// wantError asserts err holds a *config.Error for key whose message names
// the key, the value (quoted) and the allowed text.
func wantError(t *testing.T, err error, key, value, allowed string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an Error for %s, got nil", key)
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want a *config.Error for %s, got %T: %v", key, err, err)
	}
	if ce.Key != key {
		t.Fatalf("Error key = %q, want %q (error: %v)", ce.Key, key, err)
	}
	msg := err.Error()
	for _, part := range []string{key, `"` + value + `"`, allowed} {
		if !strings.Contains(msg, part) {
			t.Errorf("error %q does not contain %q", msg, part)
		}
	}
}
