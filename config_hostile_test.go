package session

// Tests for hostile settings (issue 9 §5): tiny durations, passwords in
// malformed URLs and DSNs, and sizes that do not fit (NaN, Inf, ...).

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionfx/session/kvcache"
)

// TestConfigDurationFloors: a tiny positive duration that would turn a
// background task into a busy loop (or fail every command) is refused with
// the key, the value as written and what is allowed; 0 keeps its meaning.
func TestConfigDurationFloors(t *testing.T) {
	const redis = "[kvcache]\nbackends.default.type = redis\nbackends.default.url = redis://127.0.0.1:6379/0\n"
	for _, tc := range []struct {
		name, content       string
		key, value, allowed string // key "" = valid
		kvcache             bool
	}{
		{"cleanup 1ns", "[session]\ncleanup_interval = 1ns\n", "session.cleanup_interval", "1ns", "0 (off) or at least 1s", false},
		{"cleanup 999ms", "[session]\ncleanup_interval = 999ms\n", "session.cleanup_interval", "999ms", "0 (off) or at least 1s", false},
		{"cleanup 0.5s", "[session]\ncleanup_interval = 0.5s\n", "session.cleanup_interval", "0.5s", "0 (off) or at least 1s", false},
		{"cleanup 0 is off", "[session]\ncleanup_interval = 0\n", "", "", "", false},
		{"cleanup 1s", "[session]\ncleanup_interval = 1s\n", "", "", "", false},
		{"local_ttl 1us", "[session]\nlayered.local_ttl = 1us\n", "session.layered.local_ttl", "1us", "0 (the default, 5s) or at least 1ms", false},
		{"local_ttl 300ms", "[session]\nlayered.local_ttl = 300ms\n", "", "", "", false},
		{"client_cache_ttl 1ns", redis + "backends.default.client_cache_ttl = 1ns\n", "kvcache.backends.default.client_cache_ttl", "1ns", "0 (the default, 30s) or at least 1ms", true},
		{"dial_timeout 10us", redis + "backends.default.dial_timeout = 10us\n", "kvcache.backends.default.dial_timeout", "10us", "0 (the default, 2s) or at least 1ms", true},
		{"command_timeout 999us", redis + "backends.default.command_timeout = 999us\n", "kvcache.backends.default.command_timeout", "999us", "0 (the default, 2s) or at least 1ms", true},
		{"redis 1ms ok", redis + "backends.default.client_cache_ttl = 1ms\nbackends.default.dial_timeout = 1ms\nbackends.default.command_timeout = 1ms\n", "", "", "", true},
		{"container ttl 1ns", redis + "containers.session.ttl = 1ns\n", "kvcache.containers.session.ttl", "1ns", "0 (no expiry) or at least 1ms", true},
		{"container ttl 0", redis + "containers.session.ttl = 0\n", "", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cf := cfgLoad(t, cfgWrite(t, "c.ini", tc.content))
			var err error
			if tc.kvcache {
				_, err = LoadKVCacheConfig(cf)
			} else {
				_, err = LoadConfig(cf)
			}
			if tc.key == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			cfgWantConfigError(t, err, tc.key, tc.value, tc.allowed)
		})
	}
	t.Run("exact message", func(t *testing.T) {
		_, err := LoadConfig(cfgLoad(t, cfgWrite(t, "c.ini", "[session]\ncleanup_interval = 1ns\n")))
		if want := `config: session.cleanup_interval = "1ns": allowed: 0 (off) or at least 1s`; err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})
	t.Run("from the environment", func(t *testing.T) {
		t.Setenv("SESSIONFX_SESSION__CLEANUP_INTERVAL", "10ns")
		_, err := LoadConfig(cfgLoad(t, ""))
		cfgWantConfigError(t, err, "session.cleanup_interval", "10ns", "at least 1s")
	})
	t.Run("Validate leaves code-set intervals alone", func(t *testing.T) {
		// Tests set a short CleanupInterval on purpose; only values read
		// from a configuration are held to the floor.
		c := DefaultConfig()
		c.CleanupInterval = 10 * time.Millisecond
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		c.CleanupInterval = -time.Second
		var ce *ConfigError
		if err := c.Validate(); !errors.As(err, &ce) || ce.Key != "session.cleanup_interval" || ce.Value != "-1s" {
			t.Fatalf("want a ConfigError for session.cleanup_interval = -1s, got %v", err)
		}
	})
}

// TestConfigRedisURLNeverShowsPassword: a redis URL that is wrong in any
// way is reported naming the key and the problem, never the password.
func TestConfigRedisURLNeverShowsPassword(t *testing.T) {
	const pw = "s3cretPW"
	for _, tc := range []struct {
		name, url string
		problem   string // in the message
		shown     string // in the message ("" = the URL must not be shown)
		secrets   []string
	}{
		{"bad port", "redis://user:" + pw + "@host:bad/0", "port is not a number", "", nil},
		{"bad scheme", "http://user:" + pw + "@host:6379/0", "scheme is not redis", `"http://user:xxxxx@host:6379/0"`, nil},
		{"bad escape", "redis://u:p%zz@h", `"%" not followed by two hex digits`, "", []string{"p%zz", "%zz"}},
		{"missing host", "redis://user:" + pw + "@/0", "names no host", `"redis://user:xxxxx@/0"`, nil},
		{"missing host and port", "redis://user:" + pw + "@:6379/0", "names no host", `"redis://user:xxxxx@:6379/0"`, nil},
		{"unescaped slash in password", "redis://user:ab/" + pw + "@host:6379/0", "port is not a number", "", []string{"ab/"}},
		{"unescaped slash, numeric prefix", "redis://user:12/" + pw + "@host:6379/0", `"@" outside the user:password part`, "", nil},
		{"unescaped hash", "redis://:" + pw + "#x@host:6379/0", "port is not a number", "", nil},
		{"no slashes", "redis:user:" + pw + "@host:6379/0", `"@" outside the user:password part`, "", nil},
		{"control character", "redis://user:" + pw + "@host:6379/0\n", "control character", "", nil},
		{"bad db path", "redis://user:" + pw + "@host:6379/zero", "not a database number", `"redis://user:xxxxx@host:6379/zero"`, nil},
		{"bracket host", "redis://user:" + pw + "@[nothex]:6379/0", "not an IPv6 address", "", nil},
		{"space in host", "redis://user:" + pw + "@ho st:6379/0", "host name has a character", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, format := range []string{"ini", "yaml", "env"} {
				var cf *ConfigFile
				switch format {
				case "ini":
					if strings.ContainsAny(tc.url, "\n#") {
						continue // not expressible on one INI line
					}
					cf = cfgLoad(t, cfgWrite(t, "c.ini", "[kvcache]\nbackends.r.type = redis\nbackends.r.url = "+tc.url+"\ncontainers.session.backend = r\n"))
				case "yaml":
					cf = cfgLoad(t, cfgWrite(t, "c.yaml", "kvcache:\n  backends:\n    r: {type: redis, url: "+quoteYAML(tc.url)+"}\n  containers:\n    session: {backend: r}\n"))
				case "env":
					t.Setenv("SESSIONFX_KVCACHE__BACKENDS__R__TYPE", "redis")
					t.Setenv("SESSIONFX_KVCACHE__BACKENDS__R__URL", tc.url)
					t.Setenv("SESSIONFX_KVCACHE__CONTAINERS__SESSION__BACKEND", "r")
					cf = cfgLoad(t, "")
				}
				_, err := LoadKVCacheConfig(cf)
				if err == nil {
					t.Fatalf("%s: %q accepted", format, tc.url)
				}
				msg := err.Error()
				var ce *ConfigError
				if !errors.As(err, &ce) || ce.Key != "kvcache.backends.r.url" {
					t.Fatalf("%s: want a ConfigError for kvcache.backends.r.url, got %v", format, err)
				}
				for _, s := range append([]string{pw}, tc.secrets...) {
					if strings.Contains(msg, s) || strings.Contains(ce.Value, s) {
						t.Errorf("%s: error shows %q: %s", format, s, msg)
					}
				}
				if !strings.Contains(msg, "kvcache.backends.r.url") || !strings.Contains(msg, tc.problem) {
					t.Errorf("%s: error %q does not name the key and %q", format, msg, tc.problem)
				}
				if tc.shown != "" && !strings.Contains(msg, tc.shown) {
					t.Errorf("%s: error %q does not show the redacted URL %s", format, msg, tc.shown)
				}
				head, _, _ := strings.Cut(msg, "; allowed:")
				if tc.shown == "" && (!strings.Contains(msg, kvcache.HiddenURL) || strings.Contains(head, "://") || strings.Contains(head, "6379") || strings.Contains(head, "nothex") || strings.Contains(head, "ho st")) {
					t.Errorf("%s: error %q shows (part of) a URL that does not parse", format, msg)
				}
			}
		})
	}
	t.Run("exact message", func(t *testing.T) {
		cf := cfgLoad(t, cfgWrite(t, "c.ini", "[kvcache]\nbackends.default.type = redis\nbackends.default.url = redis://user:"+pw+"@host:bad/0\n"))
		_, err := LoadKVCacheConfig(cf)
		want := `config: kvcache.backends.default.url = the URL (not shown: it may hold a password): its port is not a number (%-escape ":", "/", "?", "#" and "@" in a password: %3A, %2F, %3F, %23, %40); allowed: a URL like redis://127.0.0.1:6379/0 or rediss://user:password@host:6380/0`
		if err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})
	t.Run("valid URLs still load", func(t *testing.T) {
		for _, u := range []string{"redis://127.0.0.1:6379/0", "rediss://user:p%40ss%2Fw@host:6380/1", "redis://:pw@host", "redis://host:6379", "redis://[::1]:6379/0"} {
			cf := cfgLoad(t, cfgWrite(t, "c.ini", "[kvcache]\nbackends.default.type = redis\nbackends.default.url = "+u+"\n"))
			if _, err := LoadKVCacheConfig(cf); err != nil {
				t.Errorf("%s: %v", u, err)
			}
		}
	})
}

func quoteYAML(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// TestConfigSecretsNotEchoedByGenericErrors: the generic errors (a key set
// twice, a value next to a section, a value of the wrong shape) do not
// show a DSN's or URL's password, nor a cookie key.
func TestConfigSecretsNotEchoedByGenericErrors(t *testing.T) {
	const pw = "s3cretPW"
	for _, tc := range []struct {
		name, file, content, key string
	}{
		{"gorm dsn URL set twice", "c.ini", "gorm.dsn = postgres://u:" + pw + "@h/db\n[gorm]\ndsn = postgres://u:" + pw + "@h/db2\n", "gorm.dsn"},
		{"gorm dsn keywords set twice", "c.ini", "gorm.dsn = host=h password=" + pw + "\n[gorm]\ndsn = host=h password=" + pw + "\n", "gorm.dsn"},
		{"mysql dsn set twice", "c.yaml", "gorm.dsn: u:" + pw + "@tcp(h:3306)/db\ngorm:\n  dsn: u:" + pw + "@tcp(h:3306)/db\n", "gorm.dsn"},
		{"redis url next to a section", "c.ini", "[kvcache]\nbackends.r.url = redis://u:" + pw + "@h/0\nbackends.r.url.x = 1\n", "kvcache.backends.r.url"},
		{"malformed url set twice", "c.ini", "kvcache.backends.r.url = redis://u:" + pw + "@h:x/0\n[kvcache]\nbackends.r.url = redis://u:" + pw + "@h:x/0\n", "kvcache.backends.r.url"},
		{"cookie keys set twice", "c.ini", "session.cookie_store.keys = " + pw + "\n[session.cookie_store]\nkeys = " + pw + "\n", "session.cookie_store.keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfigFile(cfgWrite(t, tc.file, tc.content), nil)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != tc.key {
				t.Fatalf("want a ConfigError for %s, got %v", tc.key, err)
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(ce.Value, pw) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
	t.Run("url of the wrong shape", func(t *testing.T) {
		cf := cfgLoad(t, cfgWrite(t, "c.yaml", "kvcache:\n  backends:\n    r: {type: redis, url: [\"redis://u:"+pw+"@h/0\"]}\n"))
		_, err := LoadKVCacheConfig(cf)
		if err == nil || strings.Contains(err.Error(), pw) {
			t.Errorf("want an error without the password, got %v", err)
		}
	})
}

// TestConfigSizesShownAsWritten: a size that does not fit is refused with
// the value as written (a NaN used to show as -8388608TiB), in INI, YAML
// and the environment; valid spellings load.
func TestConfigSizesShownAsWritten(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        kvcache.ByteSize // when valid
		bad         bool
	}{
		{"NaN", "NaN", 0, true},
		{"nan lower", "nan", 0, true},
		{"NaN with unit", "NaNKiB", 0, true},
		{"Inf", "Inf", 0, true},
		{"+Inf", "+Inf", 0, true},
		{"-Inf", "-Inf", 0, true},
		{"negative", "-1", 0, true},
		{"negative with unit", "-1KiB", 0, true},
		{"1e400", "1e400", 0, true},
		{"too big", "9EiB", 0, true},
		{"too big number", "1e19", 0, true},
		{"empty", "", 0, true},
		{"spaces", "   ", 0, true},
		{"less than a byte", "0.5", 0, true},
		{"unknown unit", "64 MiBs", 0, true},
		{"64 MiB with a space", "64 MiB", 64 << 20, false},
		{"64MiB", "64MiB", 64 << 20, false},
		{"fraction with unit", "1.5KiB", 1536, false},
		{"decimal units", "2MB", 2_000_000, false},
		{"plain bytes", "4096", 4096, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// max_session_size (session) and max_size on a redis backend
			// (which no later check looks at) both go through the decoder.
			sf := cfgLoad(t, cfgWrite(t, "c.ini", "[session]\nmax_session_size = "+tc.value+"\n"))
			sc, serr := LoadConfig(sf)
			kf := cfgLoad(t, cfgWrite(t, "c.ini", "[kvcache]\nbackends.default.type = redis\nbackends.default.url = redis://h/0\nbackends.default.max_size = "+tc.value+"\n"))
			kc, kerr := LoadKVCacheConfig(kf)
			written := strings.TrimSpace(tc.value)
			if tc.bad {
				cfgWantConfigError(t, serr, "session.max_session_size", written, "a size like 64MiB")
				cfgWantConfigError(t, kerr, "kvcache.backends.default.max_size", written, "a size like 64MiB")
				return
			}
			if serr != nil || kerr != nil {
				t.Fatalf("want valid, got %v / %v", serr, kerr)
			}
			if sc.MaxSessionSize != tc.want || kc.Backends["default"].MaxSize != tc.want {
				t.Errorf("got %d / %d, want %d", sc.MaxSessionSize, kc.Backends["default"].MaxSize, tc.want)
			}
		})
	}
	t.Run("exact message", func(t *testing.T) {
		cf := cfgLoad(t, cfgWrite(t, "c.ini", "[kvcache]\nbackends.default.type = memory\nbackends.default.max_size = NaN\n"))
		_, err := LoadKVCacheConfig(cf)
		if want := `config: kvcache.backends.default.max_size = "NaN": allowed: a size like 64MiB`; err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})
	t.Run("yaml numbers", func(t *testing.T) {
		for in, shown := range map[string]string{".nan": "NaN", ".inf": "+Inf", "-.inf": "-Inf", "-1": "-1", "1e30": "1e+30", "0.5": "0.5"} {
			cf := cfgLoad(t, cfgWrite(t, "c.yaml", "kvcache:\n  backends:\n    default: {type: redis, url: \"redis://h/0\", max_size: "+in+"}\n"))
			_, err := LoadKVCacheConfig(cf)
			cfgWantConfigError(t, err, "kvcache.backends.default.max_size", shown, "a size like 64MiB")
		}
		cf := cfgLoad(t, cfgWrite(t, "c.yaml", "kvcache:\n  backends:\n    default: {type: memory, max_size: 2048}\n"))
		if c, err := LoadKVCacheConfig(cf); err != nil || c.Backends["default"].MaxSize != 2048 {
			t.Errorf("max_size: 2048 -> %v, %v", c.Backends["default"].MaxSize, err)
		}
	})
	t.Run("environment", func(t *testing.T) {
		t.Setenv("SESSIONFX_SESSION__MAX_SESSION_SIZE", "NaN")
		_, err := LoadConfig(cfgLoad(t, ""))
		cfgWantConfigError(t, err, "session.max_session_size", "NaN", "a size like 64MiB")
	})
	t.Run("range checks show the value as written", func(t *testing.T) {
		cf := cfgLoad(t, cfgWrite(t, "c.ini", "[kvcache]\nbackends.default.type = memory\nbackends.default.max_size = 0.5KiB\n"))
		_, err := LoadKVCacheConfig(cf)
		cfgWantConfigError(t, err, "kvcache.backends.default.max_size", "0.5KiB", "at least 1KiB")
		cf = cfgLoad(t, cfgWrite(t, "c.ini", "[session]\nlifetime = 1h30m\nidle_timeout = 2h\n"))
		_, err = LoadConfig(cf)
		cfgWantConfigError(t, err, "session.lifetime", "1h30m", "lifetime >= idle_timeout")
	})
}

func TestConfigFileBackendNeedsPath(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.ini")
	if err := os.WriteFile(p, []byte("[kvcache]\nbackends.default.type = file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cf, err := LoadConfigFile(p, nil)
	if err == nil {
		_, err = LoadKVCacheConfig(cf)
	}
	if err == nil || !strings.Contains(err.Error(), "kvcache.backends.default.path") {
		t.Fatalf("a file backend without a path: %v; want an error naming kvcache.backends.default.path", err)
	}
}
