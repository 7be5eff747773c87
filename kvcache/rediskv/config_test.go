package rediskv

// The redis engine's check of [kvcache] backends of type redis
// (Registration().Validate, run by kvcache.LoadConfig): hostile settings
// (issue 9 §5) are refused naming the key, never showing a password.

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/sessionfx/session/config"
	"github.com/sessionfx/session/kvcache"
)

// cfgLoadKV loads content (a file named name, or only the environment
// when name is "") and reads its [kvcache] section with the redis engine.
func cfgLoadKV(t *testing.T, name, content string) error {
	t.Helper()
	path := ""
	if name != "" {
		path = filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, err := config.Load(path, zap.NewNop(), config.Options{Sections: []config.Section{{Name: "kvcache", Config: kvcache.Config{}}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = kvcache.LoadConfig(f, Registration())
	return err
}

func cfgWantError(t *testing.T, err error, key, value, allowed string) {
	t.Helper()
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != key {
		t.Fatalf("want a *config.Error for %s, got %v", key, err)
	}
	for _, part := range []string{key, `"` + value + `"`, allowed} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not contain %q", err, part)
		}
	}
}

// TestConfigDurationFloors: a tiny positive duration that would fail
// every command is refused with the key, the value as written and what is
// allowed; 0 keeps its meaning (the default).
func TestConfigDurationFloors(t *testing.T) {
	const redis = "[kvcache]\nbackends.default.type = redis\nbackends.default.url = redis://127.0.0.1:6379/0\n"
	for _, tc := range []struct {
		name, content       string
		key, value, allowed string // key "" = valid
	}{
		{"client_cache_ttl 1ns", redis + "backends.default.client_cache_ttl = 1ns\n", "kvcache.backends.default.client_cache_ttl", "1ns", "0 (the default, 30s) or at least 1ms"},
		{"dial_timeout 10us", redis + "backends.default.dial_timeout = 10us\n", "kvcache.backends.default.dial_timeout", "10us", "0 (the default, 2s) or at least 1ms"},
		{"command_timeout 999us", redis + "backends.default.command_timeout = 999us\n", "kvcache.backends.default.command_timeout", "999us", "0 (the default, 2s) or at least 1ms"},
		{"negative pool_size", redis + "backends.default.pool_size = -1\n", "kvcache.backends.default.pool_size", "-1", "0 or more"},
		{"redis 1ms ok", redis + "backends.default.client_cache_ttl = 1ms\nbackends.default.dial_timeout = 1ms\nbackends.default.command_timeout = 1ms\n", "", "", ""},
		{"redis 0 ok", redis + "backends.default.client_cache_ttl = 0\nbackends.default.dial_timeout = 0\n", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cfgLoadKV(t, "c.ini", tc.content)
			if tc.key == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			cfgWantError(t, err, tc.key, tc.value, tc.allowed)
		})
	}
	t.Run("not a redis backend", func(t *testing.T) {
		if err := cfgLoadKV(t, "c.ini", "[kvcache]\nbackends.default.type = memory\nbackends.default.dial_timeout = 1ns\n"); err != nil {
			t.Errorf("the redis checks ran on a memory backend: %v", err)
		}
	})
}

func TestConfigRedisURL(t *testing.T) {
	err := cfgLoadKV(t, "c.ini", "[kvcache]\nbackends.r.type = redis\nbackends.r.url = http://127.0.0.1:6379\n")
	cfgWantError(t, err, "kvcache.backends.r.url", "http://127.0.0.1:6379", "redis://")
	err = cfgLoadKV(t, "c.ini", "[kvcache]\nbackends.r.type = redis\n")
	cfgWantError(t, err, "kvcache.backends.r.url", "", "redis://")
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
				var err error
				switch format {
				case "ini":
					if strings.ContainsAny(tc.url, "\n#") {
						continue // not expressible on one INI line
					}
					err = cfgLoadKV(t, "c.ini", "[kvcache]\nbackends.r.type = redis\nbackends.r.url = "+tc.url+"\ncontainers.session.backend = r\n")
				case "yaml":
					err = cfgLoadKV(t, "c.yaml", "kvcache:\n  backends:\n    r: {type: redis, url: "+quoteYAML(tc.url)+"}\n  containers:\n    session: {backend: r}\n")
				case "env":
					t.Setenv("SESSIONFX_KVCACHE__BACKENDS__R__TYPE", "redis")
					t.Setenv("SESSIONFX_KVCACHE__BACKENDS__R__URL", tc.url)
					t.Setenv("SESSIONFX_KVCACHE__CONTAINERS__SESSION__BACKEND", "r")
					err = cfgLoadKV(t, "", "")
				}
				if err == nil {
					t.Fatalf("%s: %q accepted", format, tc.url)
				}
				msg := err.Error()
				var ce *config.Error
				if !errors.As(err, &ce) || ce.Key != "kvcache.backends.r.url" {
					t.Fatalf("%s: want a config.Error for kvcache.backends.r.url, got %v", format, err)
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
		err := cfgLoadKV(t, "c.ini", "[kvcache]\nbackends.default.type = redis\nbackends.default.url = redis://user:"+pw+"@host:bad/0\n")
		want := `config: kvcache.backends.default.url = the URL (not shown: it may hold a password): its port is not a number (%-escape ":", "/", "?", "#" and "@" in a password: %3A, %2F, %3F, %23, %40); allowed: a URL like redis://127.0.0.1:6379/0 or rediss://user:password@host:6380/0`
		if err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})
	t.Run("valid URLs still load", func(t *testing.T) {
		for _, u := range []string{"redis://127.0.0.1:6379/0", "rediss://user:p%40ss%2Fw@host:6380/1", "redis://:pw@host", "redis://host:6379", "redis://[::1]:6379/0"} {
			if err := cfgLoadKV(t, "c.ini", "[kvcache]\nbackends.default.type = redis\nbackends.default.url = "+u+"\n"); err != nil {
				t.Errorf("%s: %v", u, err)
			}
		}
	})
	t.Run("Validate on a Config built in code", func(t *testing.T) {
		c := kvcache.Config{Backends: map[string]kvcache.BackendConfig{"r": {Type: "redis", URL: "http://user:" + pw + "@host:6379/0"}}}
		err := c.Validate(Registration())
		if err == nil || strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), `"http://user:xxxxx@host:6379/0"`) {
			t.Errorf("Validate: %v", err)
		}
	})
}

func quoteYAML(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
