package session

// This file is the [session] section (Config, its defaults and its
// validation) and the module's use of the config package: the sections it
// knows and the keys that moved.

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/sessionfx/session/config"
	"github.com/sessionfx/session/kvcache"
)

// ConfigFile is a loaded configuration (see config.File and
// LoadConfigFile).
type ConfigFile = config.File

// ConfigError reports one invalid configuration entry (see config.Error).
type ConfigError = config.Error

// INIParser is a koanf.Parser for INI text (see config.INIParser).
type INIParser = config.INIParser

// ConfigEnvPrefix starts every environment variable that overrides a
// configuration key. See LoadConfigFile.
const ConfigEnvPrefix = config.EnvPrefix

// configRenames are the keys that moved, each still read from its old
// place with a warning naming the new one. The convention: every store's
// settings live in the top-level section named after the store ([gorm],
// [cookie], [layered]), except the kvcache store's container, which stays
// in [session].
var configRenames = []config.Rename{
	{Old: "session.backend", New: "session.store"},
	{Old: "cookie_store", New: "cookie"},
	{Old: "session.layered", New: "layered"},
}

// configSections are the sections the module knows: [session], [kvcache]
// and the sections of the registered stores (backends.Registry.Sections:
// the section's name and a zero value of its struct, nil for none).
func configSections(stores map[string]any) []config.Section {
	secs := []config.Section{{Name: "session", Config: Config{}}, {Name: "kvcache", Config: kvcache.Config{}}}
	names := make([]string, 0, len(stores))
	for n := range stores {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		secs = append(secs, config.Section{Name: n, Config: stores[n]})
	}
	return secs
}

// LoadConfigFile reads an INI (.ini, .cfg, .conf) or YAML (.yaml, .yml)
// file and merges environment overrides (SESSIONFX_SESSION__IDLE_TIMEOUT=1h
// sets session.idle_timeout) on top of it: see config.Load. An empty path
// means no file. It knows the [session] and [kvcache] sections; the module
// adds the sections of its registered stores.
//
// Deprecated keys keep working, each with a warning naming its new place:
// session.backend is session.store, [cookie_store] is [cookie] and
// session.layered.* is [layered].
func LoadConfigFile(path string, log *zap.Logger) (*ConfigFile, error) {
	return loadConfigFile(path, log, nil)
}

// loadConfigFile is LoadConfigFile knowing the stores' sections too.
func loadConfigFile(path string, log *zap.Logger, stores map[string]any) (*ConfigFile, error) {
	return config.Load(path, log, config.Options{Sections: configSections(stores), Renames: configRenames})
}

// LoadKVCacheConfig is kvcache.LoadConfig: the [kvcache] section of cf,
// validated, the backends of the given engine types by the engines.
func LoadKVCacheConfig(cf *ConfigFile, types ...kvcache.TypeRegistration) (kvcache.Config, error) {
	return kvcache.LoadConfig(cf, types...)
}

// Config is the [session] section.
type Config struct {
	// Member is the context member name; its id member is Member + "_id".
	Member string `koanf:"member"`
	// Store selects the store: kvcache, null or the name of a registered
	// store (gorm, cookie, layered, a plugin's). Its settings are in the
	// section named after it ([gorm], ...).
	Store string `koanf:"store"`
	// Container is the kvcache container, when Store is kvcache.
	Container string `koanf:"container"`
	// Lifetime is the absolute limit of a session (0 = none).
	Lifetime time.Duration `koanf:"lifetime"`
	// IdleTimeout ends a session unused for that long (0 = none).
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// HashIDs stores sessions under a hash of their id, so a leaked store
	// does not leak usable ids.
	HashIDs bool `koanf:"hash_ids"`
	// MaxCookieSize bounds the incoming cookie value (256..8192 bytes):
	// a longer one is ignored before any store call, as if absent. It
	// does not bound the cookie the module sets (the cookie store has its
	// own cookie.max_size).
	MaxCookieSize int `koanf:"max_cookie_size"`
	// MaxSessionSize bounds the encoded session data.
	MaxSessionSize kvcache.ByteSize `koanf:"max_session_size"`
	// CleanupInterval is how often expired sessions are deleted (0 = never).
	CleanupInterval time.Duration `koanf:"cleanup_interval"`
	// UserKey is the session key under which the app keeps the logged-in
	// user (e.g. user_id). The "your sessions" API (Manager.UserSessions,
	// RevokeSession, RevokeOthers, RevokeUser) needs it; empty turns it off.
	UserKey string `koanf:"user_key"`
	// RecordIP keeps the client IP of the request that created a session
	// (the TCP peer's address, r.RemoteAddr) beside its data, for the
	// "your sessions" list. An IP is personal data: off by default.
	RecordIP bool `koanf:"record_ip"`
	// Strict makes unknown keys and sections fail start-up instead of
	// being logged (see config.Load).
	Strict bool         `koanf:"strict"`
	Cookie CookieConfig `koanf:"cookie"`
}

// CookieConfig is session.cookie.*.
type CookieConfig struct {
	Name     string `koanf:"name"`
	Path     string `koanf:"path"`
	Domain   string `koanf:"domain"`
	Secure   bool   `koanf:"secure"`
	HTTPOnly bool   `koanf:"http_only"`
	// SameSite is lax, strict or none (none requires Secure).
	SameSite string `koanf:"same_site"`
	// Persist gives the cookie a Max-Age that follows Lifetime; false makes
	// it a browser-session cookie.
	Persist bool `koanf:"persist"`
}

// DefaultConfig returns the defaults every key falls back to.
func DefaultConfig() Config {
	return Config{
		Member:          "session",
		Store:           "kvcache",
		Container:       "session",
		Lifetime:        24 * time.Hour,
		IdleTimeout:     30 * time.Minute,
		HashIDs:         true,
		MaxCookieSize:   4096,
		MaxSessionSize:  64 << 10,
		CleanupInterval: 10 * time.Minute,
		Cookie: CookieConfig{
			Name:     "session",
			Path:     "/",
			Secure:   true,
			HTTPOnly: true,
			SameSite: "lax",
			Persist:  true,
		},
	}
}

// IDMember is the name of the context member that holds the session id.
func (c Config) IDMember() string { return c.Member + "_id" }

// cfgCookieNameOK reports whether s is an RFC 6265 cookie-name token.
func cfgCookieNameOK(s string) bool {
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) {
			return false
		}
	}
	return s != ""
}

func cfgCookieValueOK(s string) bool {
	for _, r := range s {
		if r < ' ' || r >= 0x7f || r == ';' {
			return false
		}
	}
	return true
}

// Validate checks every field and returns all problems as *ConfigError
// values joined with errors.Join (nil when the configuration is usable).
//
// The floor on cleanup_interval read from a configuration (at least 1s) is
// checked by LoadConfig, not here: code (a test, say) may set a shorter
// CleanupInterval on purpose.
func (c Config) Validate() error { return c.validate(nil) }

// cfgMinCleanupInterval is the floor below which a positive
// cleanup_interval read from a configuration file or the environment is
// refused: a smaller value is never what was meant, and turns the cleanup
// into a busy loop (a 1ns interval runs a failing cleanup, and logs it,
// back to back).
const cfgMinCleanupInterval = time.Second

// validate is Validate; with cf (the configuration c was read from) errors
// show values as written there, and the floors apply.
func (c Config) validate(cf *ConfigFile) error {
	p := cf.Problems("session")
	if c.Member == "" || strings.ContainsAny(c.Member, " \t\r\n") {
		p.Bad("member", c.Member, "a non-empty name without spaces")
	}
	if c.Store == "" {
		p.Bad("store", c.Store, "kvcache, gorm, cookie, null, layered or a plugin's name")
	}
	if c.Store == "kvcache" && c.Container == "" {
		p.Bad("container", c.Container, "a kvcache container name (store = kvcache needs one)")
	}
	for _, d := range []struct {
		key     string
		v, min  time.Duration
		allowed string
	}{
		{"lifetime", c.Lifetime, 0, "a duration of 0 or more"},
		{"idle_timeout", c.IdleTimeout, 0, "a duration of 0 or more"},
		{"cleanup_interval", c.CleanupInterval, cfgMinCleanupInterval, "0 (off) or at least 1s"},
	} {
		if d.v < 0 || (cf != nil && d.v > 0 && d.v < d.min) {
			p.Bad(d.key, d.v, d.allowed)
		}
	}
	if c.Lifetime > 0 && c.IdleTimeout > 0 && c.Lifetime < c.IdleTimeout {
		p.Bad("lifetime", c.Lifetime, fmt.Sprintf("lifetime >= idle_timeout (%s), or 0 for no absolute limit", c.IdleTimeout))
	}
	if c.MaxCookieSize < 256 || c.MaxCookieSize > 8192 {
		p.Bad("max_cookie_size", c.MaxCookieSize, "a number of bytes from 256 to 8192")
	}
	if len(c.UserKey) > 128 || !utf8.ValidString(c.UserKey) || strings.TrimSpace(c.UserKey) != c.UserKey {
		p.Bad("user_key", c.UserKey, "a session key such as user_id (up to 128 bytes, no surrounding spaces), or empty to turn the \"your sessions\" API off")
	}
	if c.MaxSessionSize <= 0 {
		p.Bad("max_session_size", c.MaxSessionSize, "a size like 64KiB, more than 0")
	}
	ck := c.Cookie
	if !cfgCookieNameOK(ck.Name) {
		p.Bad("cookie.name", ck.Name, "a non-empty name of letters, digits and !#$%&'*+-.^_`|~")
	}
	if !strings.HasPrefix(ck.Path, "/") || !cfgCookieValueOK(ck.Path) {
		p.Bad("cookie.path", ck.Path, `a path starting with "/" without ";"`)
	}
	if strings.ContainsAny(ck.Domain, " /:") || !cfgCookieValueOK(ck.Domain) {
		p.Bad("cookie.domain", ck.Domain, "a host name like example.com, or empty for the request's host")
	}
	switch ck.SameSite {
	case "lax", "strict":
	case "none":
		if !ck.Secure {
			p.Bad("cookie.same_site", ck.SameSite, "lax or strict when cookie.secure = false (browsers reject same_site = none without secure)")
		}
	default:
		p.Bad("cookie.same_site", ck.SameSite, "lax, strict, none")
	}
	if strings.HasPrefix(ck.Name, "__Secure-") && !ck.Secure {
		p.Bad("cookie.secure", ck.Secure, "true (a cookie named __Secure-... must be secure)")
	}
	if strings.HasPrefix(ck.Name, "__Host-") && (!ck.Secure || ck.Path != "/" || ck.Domain != "") {
		p.Bad("cookie.name", ck.Name, "a __Host- cookie only with secure = true, path = / and no domain")
	}
	return p.Err()
}

// LoadConfig returns DefaultConfig overridden by the configuration's
// [session] section, validated. cf may be nil (defaults).
// cookie.same_site is lowercased before validation.
func LoadConfig(cf *ConfigFile) (Config, error) {
	c := DefaultConfig()
	if cf != nil {
		if err := cf.Unmarshal("session", &c); err != nil {
			return c, err
		}
	}
	c.Cookie.SameSite = strings.ToLower(strings.TrimSpace(c.Cookie.SameSite))
	return c, c.validate(cf)
}
