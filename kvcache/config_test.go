package kvcache_test

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sessionfx/session/config"
	"github.com/sessionfx/session/kvcache"
)

func TestParseByteSizeRefusesWhatDoesNotFit(t *testing.T) {
	for _, s := range []string{"NaN", "nan", "NaNMiB", "-nan", "Inf", "+Inf", "-Inf", "infinity", "-1", "-1KiB", "1e400", "1e19", "9EiB", "", "  ", "0.5", "0.1B", "lots", "64 MiBs"} {
		if v, err := kvcache.ParseByteSize(s); err == nil {
			t.Errorf("ParseByteSize(%q) = %d (%s), want an error", s, int64(v), v)
		}
	}
	for s, want := range map[string]kvcache.ByteSize{
		"0": 0, "-0": 0, "4096": 4096, "64MiB": 64 << 20, "64 MiB": 64 << 20, "64mib": 64 << 20,
		"1.5KiB": 1536, "0.5KiB": 512, "2MB": 2_000_000, "10k": 10 << 10, "1TiB": 1 << 40, " 8 B ": 8,
	} {
		if v, err := kvcache.ParseByteSize(s); err != nil || v != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", s, int64(v), err, int64(want))
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://user:s3cret@host:6379/0":        "redis://user:xxxxx@host:6379/0",
		"redis://:s3cret@host:6379/0":            "redis://:xxxxx@host:6379/0",
		"rediss://u:p%40ss@host/1":               "rediss://u:xxxxx@host/1",
		"redis://host:6379/0":                    "redis://host:6379/0",
		"redis://user@host:6379/0":               "redis://user@host:6379/0",
		"postgres://h/db?password=s3cret&x=1":    "postgres://h/db?password=xxxxx&x=1",
		"redis://user:s3cret@host:bad/0":         kvcache.HiddenURL, // does not parse
		"redis://u:p%zz@h":                       kvcache.HiddenURL,
		"redis://user:12/s3cret@host:6379/0":     kvcache.HiddenURL, // "@" in the path
		"redis:user:s3cret@host":                 kvcache.HiddenURL, // opaque
		"user:s3cret@tcp(127.0.0.1:3306)/db":     kvcache.HiddenURL,
		"redis://user:s3cret@host:6379/0\n":      kvcache.HiddenURL,
		"redis://host:6379/0?x=1#frag@s3cret":    kvcache.HiddenURL,
		"http://user:s3cret@[::1]:6379/0?db=2":   "http://user:xxxxx@[::1]:6379/0?db=2",
		"redis://user:s3cret@host:6379/0?auth=x": "redis://user:xxxxx@host:6379/0?auth=xxxxx",
	} {
		if got := kvcache.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseURLSafelyNeverEchoes(t *testing.T) {
	const pw = "s3cretPW"
	for _, raw := range []string{
		"redis://user:" + pw + "@host:bad/0",
		"redis://u:" + pw + "%zz@h",
		"redis://u:%zz" + pw + "@h",
		"redis://user:ab/" + pw + "@host:6379/0",
		"redis://user:12/" + pw + "@host:6379/0",
		"redis://:" + pw + "#x@host:6379/0",
		"redis://:" + pw + "?x@host:6379/0",
		"redis://user:" + pw + "@ho st:6379/0",
		"redis://user:" + pw + "@[" + pw + "]:6379/0",
		"redis://user:" + pw + "@[::1:6379/0",
		"redis:user:" + pw + "@host",
		":" + pw + "@host",
		"redis://user:" + pw + "@host\x7f:6379/0",
		"redis://user:" + pw + "@host:6379/0\n",
		"",
	} {
		_, err := kvcache.ParseURLSafely(raw)
		if err == nil {
			t.Errorf("ParseURLSafely(%q) succeeded, want an error", raw)
			continue
		}
		if strings.Contains(err.Error(), pw) || (raw != "" && strings.Contains(err.Error(), raw)) || strings.Contains(err.Error(), "%zz") {
			t.Errorf("ParseURLSafely(%q): error %q shows (part of) the URL", raw, err)
		}
		if _, perr := url.Parse(raw); perr != nil && strings.Contains(kvcache.URLProblem(perr), pw) {
			t.Errorf("URLProblem shows the password: %s", kvcache.URLProblem(perr))
		}
	}
	if u, err := kvcache.ParseURLSafely("rediss://u:p%40ss%2F@host:6380/1"); err != nil || u.Host != "host:6380" {
		t.Errorf("a valid URL: %v, %v", u, err)
	}
}

// The [kvcache] section: LoadConfig and Validate.

func kvWrite(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func kvLoad(t *testing.T, path string) *config.File {
	t.Helper()
	f, err := config.Load(path, zap.NewNop(), config.Options{Sections: []config.Section{{Name: "kvcache", Config: kvcache.Config{}}}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// kvWantError asserts err holds a *config.Error for key whose message
// names the key, the value as written and the allowed text.
func kvWantError(t *testing.T, err error, key, value, allowed string) {
	t.Helper()
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want a *config.Error for %s, got %T: %v", key, err, err)
	}
	if ce.Key != key {
		t.Fatalf("Error key = %q, want %q (error: %v)", ce.Key, key, err)
	}
	for _, part := range []string{key, `"` + value + `"`, allowed} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not contain %q", err, part)
		}
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	if c, err := kvcache.LoadConfig(nil); err != nil || !reflect.DeepEqual(c, kvcache.DefaultConfig()) {
		t.Errorf("nil file: %+v, %v", c, err)
	}
	for _, tc := range []struct{ file, content string }{
		{"", ""}, {"c.ini", ""}, {"c.conf", "; nothing\n"}, {"c.yaml", ""}, {"c.ini", "[session]\n"},
	} {
		path := ""
		if tc.file != "" {
			path = kvWrite(t, tc.file, tc.content)
		}
		if c, err := kvcache.LoadConfig(kvLoad(t, path)); err != nil || !reflect.DeepEqual(c, kvcache.DefaultConfig()) {
			t.Errorf("%s %q: %+v, %v; want the defaults", tc.file, tc.content, c, err)
		}
	}
}

func TestLoadConfigSectionWithoutBackends(t *testing.T) {
	c, err := kvcache.LoadConfig(kvLoad(t, kvWrite(t, "c.yaml", "kvcache:\n  containers:\n    session: {ttl: 1h}\n")))
	if err != nil {
		t.Fatal(err)
	}
	want := kvcache.DefaultConfig()
	want.Containers = map[string]kvcache.ContainerConfig{"session": {TTL: time.Hour}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

func TestLoadConfigFull(t *testing.T) {
	want := kvcache.Config{
		Backends: map[string]kvcache.BackendConfig{
			"default": {Type: "memory", MaxSize: 32 << 20},
			"shared": {Type: "redis", URL: "redis://127.0.0.1:6379/0#not-a-comment", ClientCache: true,
				ClientCacheTTL: time.Minute, DialTimeout: 3 * time.Second, CommandTimeout: 500 * time.Millisecond, PoolSize: 8},
		},
		Containers: map[string]kvcache.ContainerConfig{
			"sessions": {Backend: "shared", Prefix: "s:", TTL: 24 * time.Hour},
			"local":    {Backend: "default"},
		},
	}
	for _, name := range []string{"full.ini", "full.yaml"} {
		c, err := kvcache.LoadConfig(kvLoad(t, filepath.Join("..", "config", "testdata", name)))
		if err != nil || !reflect.DeepEqual(c, want) {
			t.Errorf("%s: %v\n got %+v\nwant %+v", name, err, c, want)
		}
	}
	t.Setenv("SESSIONFX_KVCACHE__BACKENDS__DEFAULT__MAX_SIZE", "128MiB")
	t.Setenv("SESSIONFX_KVCACHE__CONTAINERS__ENVONLY__BACKEND", "shared")
	c, err := kvcache.LoadConfig(kvLoad(t, filepath.Join("..", "config", "testdata", "full.ini")))
	if err != nil || c.Backends["default"].MaxSize != 128<<20 || c.Containers["envonly"] != (kvcache.ContainerConfig{Backend: "shared"}) {
		t.Errorf("environment: %+v, %v", c, err)
	}
}

func TestLoadConfigInvalidValues(t *testing.T) {
	const memory = "[kvcache]\nbackends.default.type = memory\n"
	for _, tc := range []struct {
		name, file, content string
		key, value, allowed string // key "" = valid
	}{
		{"memory size unit", "c.ini", memory + "backends.default.max_size = 12XB\n", "kvcache.backends.default.max_size", "12XB", "a size like 64MiB"},
		{"memory too small", "c.yaml", "kvcache:\n  backends:\n    default: {type: memory, max_size: 100}\n", "kvcache.backends.default.max_size", "100", "at least 1KiB"},
		{"memory too small, as written", "c.ini", memory + "backends.default.max_size = 0.5KiB\n", "kvcache.backends.default.max_size", "0.5KiB", "at least 1KiB"},
		{"backend without type", "c.ini", "[kvcache]\nbackends.x.url = redis://h:1/0\n", "kvcache.backends.x.type", "", "memory, redis"},
		{"container backend", "c.ini", memory + "containers.session.backend = nope\n", "kvcache.containers.session.backend", "nope", "one of the configured backends: default"},
		{"map entry given a value", "c.ini", "[kvcache]\nbackends.default = memory\n", "kvcache.backends.default", "memory", "a section with keys"},
		{"container ttl 1ns", "c.ini", memory + "containers.session.ttl = 1ns\n", "kvcache.containers.session.ttl", "1ns", "0 (no expiry) or at least 1ms"},
		{"container ttl 0", "c.ini", memory + "containers.session.ttl = 0\n", "", "", ""},
		{"container ttl 1ms", "c.ini", memory + "containers.session.ttl = 1ms\n", "", "", ""},
		{"an engine's type, no engine given", "c.ini", "[kvcache]\nbackends.default.type = redis\nbackends.default.url = http://h\n", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kvcache.LoadConfig(kvLoad(t, kvWrite(t, tc.file, tc.content)))
			if tc.key == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			kvWantError(t, err, tc.key, tc.value, tc.allowed)
		})
	}
	t.Run("exact message", func(t *testing.T) {
		_, err := kvcache.LoadConfig(kvLoad(t, kvWrite(t, "c.ini", memory+"containers.session.ttl = 1ns\n")))
		if want := `config: kvcache.containers.session.ttl = "1ns": allowed: 0 (no expiry) or at least 1ms`; err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})
}

// An engine's Validate checks the backends of its type, with keys relative
// to the backend and values as written; other backends are not its own.
func TestLoadConfigEngineValidate(t *testing.T) {
	var seen []string
	eng := kvcache.TypeRegistration{Name: "fake", New: func(string, kvcache.BackendConfig, *zap.Logger) (kvcache.Backend, error) { return nil, nil },
		Validate: func(b kvcache.BackendConfig, p *config.Problems) {
			seen = append(seen, b.URL)
			if !strings.HasPrefix(b.URL, "fake://") {
				p.BadBecause("url", b.URL, "its scheme is not fake://", "fake://host")
			}
		}}
	f := kvLoad(t, kvWrite(t, "c.ini", "[kvcache]\nbackends.a.type = fake\nbackends.a.url = http://u:s3cret@h\nbackends.b.type = fake\nbackends.b.url = fake://h\nbackends.c.type = memory\nbackends.d.type = other\n"))
	_, err := kvcache.LoadConfig(f, eng)
	if want := `config: kvcache.backends.a.url = "http://u:xxxxx@h": its scheme is not fake://; allowed: fake://host`; err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if !reflect.DeepEqual(seen, []string{"http://u:s3cret@h", "fake://h"}) {
		t.Errorf("Validate saw %q", seen)
	}
	// Without the engine, its backends are not checked.
	if _, err := kvcache.LoadConfig(f); err != nil {
		t.Errorf("no engine: %v", err)
	}
	// Validate: the same checks on a Config built in code.
	c := kvcache.Config{Backends: map[string]kvcache.BackendConfig{"a": {Type: "fake", URL: "x"}, "m": {Type: "memory", MaxSize: 10}},
		Containers: map[string]kvcache.ContainerConfig{"s": {Backend: "nope", TTL: -1}}}
	err = c.Validate(eng)
	for _, w := range []string{`kvcache.backends.a.url = "x": its scheme`, `kvcache.backends.m.max_size = "10B"`, `kvcache.containers.s.backend = "nope"`, `kvcache.containers.s.ttl = "-1ns"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate: %v; want %q", err, w)
		}
	}
	if err := kvcache.DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
