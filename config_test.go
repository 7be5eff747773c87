package session

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessionfx/session/kvcache"
)

// cfgWrite writes a config file named name into a fresh temp dir.
func cfgWrite(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func cfgLoad(t *testing.T, path string) *ConfigFile {
	t.Helper()
	cf, err := LoadConfigFile(path, zap.NewNop())
	if err != nil {
		t.Fatalf("LoadConfigFile(%s): %v", path, err)
	}
	return cf
}

// cfgWantConfigError asserts err holds a *ConfigError for key whose message
// names the key, the value and the allowed text.
func cfgWantConfigError(t *testing.T, err error, key, value, allowed string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want a ConfigError for %s, got nil", key)
	}
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want a *ConfigError for %s, got %T: %v", key, err, err)
	}
	if ce.Key != key {
		t.Fatalf("ConfigError key = %q, want %q (error: %v)", ce.Key, key, err)
	}
	msg := err.Error()
	for _, part := range []string{key, `"` + value + `"`, allowed} {
		if !strings.Contains(msg, part) {
			t.Errorf("error %q does not contain %q", msg, part)
		}
	}
}

func cfgFullSession() Config {
	return Config{
		Member: "websession", Backend: "kvcache", Container: "sessions",
		Lifetime: 12 * time.Hour, IdleTimeout: 45 * time.Minute, HashIDs: false,
		MaxCookieSize: 2048, MaxSessionSize: 128 << 10, CleanupInterval: 5 * time.Minute,
		Cookie: CookieConfig{Name: "sid", Path: "/app", Domain: "example.com", Secure: true,
			HTTPOnly: true, SameSite: "strict", Persist: false},
		Layered: LayeredConfig{Front: "local", Back: "gorm", LocalTTL: 2 * time.Second},
	}
}

func cfgFullKVCache() kvcache.Config {
	return kvcache.Config{
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
}

func TestConfigFullINIAndYAMLAgree(t *testing.T) {
	var sessions []Config
	var caches []kvcache.Config
	for _, name := range []string{"full.ini", "full.yaml"} {
		t.Run(name, func(t *testing.T) {
			cf := cfgLoad(t, filepath.Join("testdata", "config", name))
			sc, err := LoadConfig(cf)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(sc, cfgFullSession()) {
				t.Errorf("session config\n got %+v\nwant %+v", sc, cfgFullSession())
			}
			kc, err := LoadKVCacheConfig(cf)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(kc, cfgFullKVCache()) {
				t.Errorf("kvcache config\n got %+v\nwant %+v", kc, cfgFullKVCache())
			}
			abs, _ := filepath.Abs(filepath.Join("testdata", "config"))
			if got, want := cf.Koanf().String("gorm.dsn"), abs+"/sessions.sqlite3"; got != want {
				t.Errorf("gorm.dsn = %q, want %q (${here} expanded)", got, want)
			}
			if got := cf.Koanf().String("gorm.driver"); got != "sqlite" {
				t.Errorf("gorm.driver = %q, want sqlite (inline comment stripped)", got)
			}
			if cf.Here() != abs || cf.Path() != filepath.Join(abs, name) {
				t.Errorf("Here() = %q, Path() = %q", cf.Here(), cf.Path())
			}
			if u := cf.UnknownKeys(); len(u) != 0 {
				t.Errorf("unknown keys in %s: %v", name, u)
			}
			if u := cf.CheckSections("session", "kvcache", "gorm"); len(u) != 0 {
				t.Errorf("unknown sections in %s: %v", name, u)
			}
			sessions = append(sessions, sc)
			caches = append(caches, kc)
		})
	}
	if len(sessions) == 2 && (!reflect.DeepEqual(sessions[0], sessions[1]) || !reflect.DeepEqual(caches[0], caches[1])) {
		t.Errorf("INI and YAML differ:\n%+v\n%+v\n%+v\n%+v", sessions[0], sessions[1], caches[0], caches[1])
	}
}

func TestConfigDefaults(t *testing.T) {
	for _, tc := range []struct{ name, file, content string }{
		{"no file", "", ""},
		{"empty ini", "c.ini", ""},
		{"comments only ini", "c.conf", "; nothing\n# here\n"},
		{"empty yaml", "c.yaml", ""},
		{"empty session section", "c.ini", "[session]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = cfgWrite(t, tc.file, tc.content)
			}
			cf := cfgLoad(t, path)
			sc, err := LoadConfig(cf)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(sc, DefaultConfig()) {
				t.Errorf("got %+v, want defaults %+v", sc, DefaultConfig())
			}
			kc, err := LoadKVCacheConfig(cf)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(kc, kvcache.DefaultConfig()) {
				t.Errorf("got %+v, want kvcache defaults", kc)
			}
		})
	}
	if got := DefaultConfig().IDMember(); got != "session_id" {
		t.Errorf("IDMember() = %q, want session_id", got)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestConfigPartialKeepsDefaults(t *testing.T) {
	cf := cfgLoad(t, cfgWrite(t, "c.ini", "[session]\nlifetime = 0\nidle_timeout = 7d\ncookie.secure = no\n"))
	sc, err := LoadConfig(cf)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Lifetime, want.IdleTimeout, want.Cookie.Secure = 0, 7*24*time.Hour, false
	if !reflect.DeepEqual(sc, want) {
		t.Errorf("got %+v\nwant %+v", sc, want)
	}
}

func TestConfigKVCacheSectionWithoutBackends(t *testing.T) {
	cf := cfgLoad(t, cfgWrite(t, "c.yaml", "kvcache:\n  containers:\n    session: {ttl: 1h}\n"))
	kc, err := LoadKVCacheConfig(cf)
	if err != nil {
		t.Fatal(err)
	}
	want := kvcache.DefaultConfig()
	want.Containers = map[string]kvcache.ContainerConfig{"session": {TTL: time.Hour}}
	if !reflect.DeepEqual(kc, want) {
		t.Errorf("got %+v, want %+v", kc, want)
	}
}

func TestConfigHere(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.yml")
	if err := os.WriteFile(p, []byte("gorm:\n  dsn: \"file:${here}/db.sqlite3?cache=${here}\"\nlist: [\"${here}/a\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cf := cfgLoad(t, p)
	if got, want := cf.Koanf().String("gorm.dsn"), "file:"+dir+"/db.sqlite3?cache="+dir; got != want {
		t.Errorf("gorm.dsn = %q, want %q", got, want)
	}
	if got := cf.Koanf().Strings("list"); len(got) != 1 || got[0] != dir+"/a" {
		t.Errorf("list = %q, want [%s/a]", got, dir)
	}
	if cf.Here() != dir {
		t.Errorf("Here() = %q, want %q", cf.Here(), dir)
	}

	// Relative paths resolve to an absolute folder; without a file, the working directory.
	t.Setenv("SESSIONFX_GORM__DSN", "${here}/env.sqlite3")
	cf = cfgLoad(t, "")
	wd, _ := os.Getwd()
	if cf.Here() != wd || cf.Path() != "" {
		t.Errorf("no file: Here() = %q, Path() = %q; want %q, \"\"", cf.Here(), cf.Path(), wd)
	}
	if got := cf.Koanf().String("gorm.dsn"); got != wd+"/env.sqlite3" {
		t.Errorf("env gorm.dsn = %q, want ${here} expanded to %s", got, wd)
	}
}

func TestConfigEnvOverride(t *testing.T) {
	t.Setenv("SESSIONFX_SESSION__COOKIE__SECURE", "false")
	t.Setenv("SESSIONFX_SESSION__COOKIE__SAME_SITE", "Lax")
	t.Setenv("SESSIONFX_SESSION__IDLE_TIMEOUT", "1h")
	t.Setenv("SESSIONFX_SESSION__MAX_COOKIE_SIZE", "1024")
	t.Setenv("SESSIONFX_KVCACHE__BACKENDS__DEFAULT__MAX_SIZE", "128MiB")
	t.Setenv("SESSIONFX_KVCACHE__CONTAINERS__ENVONLY__BACKEND", "shared")
	for _, name := range []string{"full.ini", "full.yaml"} {
		t.Run(name, func(t *testing.T) {
			cf := cfgLoad(t, filepath.Join("testdata", "config", name))
			sc, err := LoadConfig(cf)
			if err != nil {
				t.Fatal(err)
			}
			want := cfgFullSession()
			want.Cookie.Secure, want.Cookie.SameSite = false, "lax"
			want.IdleTimeout, want.MaxCookieSize = time.Hour, 1024
			if !reflect.DeepEqual(sc, want) {
				t.Errorf("got %+v\nwant %+v", sc, want)
			}
			kc, err := LoadKVCacheConfig(cf)
			if err != nil {
				t.Fatal(err)
			}
			wantKC := cfgFullKVCache()
			b := wantKC.Backends["default"]
			b.MaxSize = 128 << 20
			wantKC.Backends["default"] = b
			wantKC.Containers["envonly"] = kvcache.ContainerConfig{Backend: "shared"}
			if !reflect.DeepEqual(kc, wantKC) {
				t.Errorf("got %+v\nwant %+v", kc, wantKC)
			}
		})
	}
	t.Run("no file", func(t *testing.T) {
		cf := cfgLoad(t, "")
		sc, err := LoadConfig(cf)
		if err != nil {
			t.Fatal(err)
		}
		if sc.IdleTimeout != time.Hour || sc.Cookie.Secure || sc.Lifetime != 24*time.Hour {
			t.Errorf("env over defaults: got %+v", sc)
		}
	})
	t.Run("invalid env value names the key", func(t *testing.T) {
		t.Setenv("SESSIONFX_SESSION__LIFETIME", "forever")
		_, err := LoadConfig(cfgLoad(t, ""))
		cfgWantConfigError(t, err, "session.lifetime", "forever", "a duration like 30m or 24h")
	})
}

func TestConfigValueAndSectionRejected(t *testing.T) {
	for _, tc := range []struct {
		name, file, content, key string
	}{
		{"ini same section", "c.ini", "[a]\nb = x\nb.c = y\n", "a.b"},
		{"ini across sections", "c.ini", "[session]\ncookie = x\n[session.cookie]\nname = y\n", "session.cookie"},
		{"ini default section", "c.ini", "session = x\n[session]\nmember = y\n", "session"},
		{"yaml dotted key", "c.yaml", "a:\n  b: x\n  b.c: y\n", "a.b"},
		{"yaml mixed", "c.yaml", "a.b: x\na:\n  b:\n    c: y\n", "a.b"},
		{"ini set twice", "c.ini", "[a]\nb.c = 1\n[a.b]\nc = 2\n", "a.b.c"},
		{"yaml set twice", "c.yaml", "a.b: 1\na:\n  b: 2\n", "a.b"},
		{"ini empty key part", "c.ini", "[a]\nb..c = 1\n", "a.b..c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfigFile(cfgWrite(t, tc.file, tc.content), nil)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("want *ConfigError, got %v", err)
			}
			if ce.Key != tc.key || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("key = %q, want %q (error: %v)", ce.Key, tc.key, err)
			}
			if !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	t.Run("env", func(t *testing.T) {
		t.Setenv("SESSIONFX_SESSION__COOKIE", "x")
		t.Setenv("SESSIONFX_SESSION__COOKIE__NAME", "y")
		_, err := LoadConfigFile("", nil)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != "session.cookie" || !strings.Contains(err.Error(), "SESSIONFX_") {
			t.Fatalf("want ConfigError for session.cookie from the environment, got %v", err)
		}
	})
	t.Run("INIParser alone", func(t *testing.T) {
		_, err := INIParser{}.Unmarshal([]byte("[a]\nb = x\nb.c = y\n"))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != "a.b" {
			t.Fatalf("want ConfigError for a.b, got %v", err)
		}
		m, err := INIParser{}.Unmarshal([]byte("top = 1\n[S]\nX.Y = 2\n"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"top": "1", "s": map[string]any{"x": map[string]any{"y": "2"}}}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("got %#v, want %#v", m, want)
		}
		if _, err := (INIParser{}).Marshal(m); err == nil {
			t.Error("Marshal should report it is not supported")
		}
	})
}

func TestConfigInvalidValues(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		key, value, allowed string
		kvcache             bool
	}{
		{"duration", "c.ini", "[session]\nidle_timeout = 30 minutes\n", "session.idle_timeout", "30 minutes", "a duration like 30m or 24h", false},
		{"duration without unit", "c.ini", "[session]\nlifetime = 3600\n", "session.lifetime", "3600", "a duration like 30m or 24h", false},
		{"yaml duration without unit", "c.yaml", "session:\n  lifetime: 3600\n", "session.lifetime", "3600", "a duration like 30m or 24h", false},
		{"empty duration", "c.ini", "[session]\nlifetime =\n", "session.lifetime", "", "a duration like 30m or 24h", false},
		{"negative duration", "c.ini", "[session]\nidle_timeout = -1m\n", "session.idle_timeout", "-1m", "a duration of 0 or more", false},
		{"negative cleanup interval", "c.ini", "[session]\ncleanup_interval = -1m\n", "session.cleanup_interval", "-1m", "0 (off) or at least 1s", false},
		{"bool", "c.ini", "[session]\ncookie.secure = maybe\n", "session.cookie.secure", "maybe", "true or false", false},
		{"empty bool", "c.ini", "[session]\nhash_ids =\n", "session.hash_ids", "", "true or false", false},
		{"int", "c.yaml", "session:\n  max_cookie_size: big\n", "session.max_cookie_size", "big", "a whole number", false},
		{"cookie size range", "c.ini", "[session]\nmax_cookie_size = 100\n", "session.max_cookie_size", "100", "from 256 to 8192", false},
		{"size", "c.ini", "[session]\nmax_session_size = lots\n", "session.max_session_size", "lots", "a size like 64MiB", false},
		{"same_site", "c.ini", "[session]\ncookie.same_site = laxx\n", "session.cookie.same_site", "laxx", "lax, strict, none", false},
		{"same_site none needs secure", "c.ini", "[session]\ncookie.same_site = none\ncookie.secure = false\n", "session.cookie.same_site", "none", "cookie.secure = false", false},
		{"lifetime below idle", "c.ini", "[session]\nlifetime = 10m\nidle_timeout = 30m\n", "session.lifetime", "10m", "lifetime >= idle_timeout", false},
		{"cookie name chars", "c.ini", "[session]\ncookie.name = my session\n", "session.cookie.name", "my session", "letters, digits", false},
		{"empty member", "c.yaml", "session:\n  member: \"\"\n", "session.member", "", "non-empty", false},
		{"section given a value", "c.ini", "[session]\nlayered = yes\n", "session.layered", "yes", "a section with keys back, front, local_ttl", false},
		{"value given a section", "c.ini", "[session]\nlifetime.x = 1\n", "session.lifetime", "section with keys x", "a duration like 30m or 24h", false},
		{"layered needs front", "c.ini", "[session]\nbackend = layered\nlayered.back = gorm\n", "session.layered.front", "", "a kvcache container name", false},
		{"memory size unit", "c.ini", "[kvcache]\nbackends.default.type = memory\nbackends.default.max_size = 12XB\n", "kvcache.backends.default.max_size", "12XB", "a size like 64MiB", true},
		{"memory too small", "c.yaml", "kvcache:\n  backends:\n    default: {type: memory, max_size: 100}\n", "kvcache.backends.default.max_size", "100", "at least 1KiB", true},
		{"backend without type", "c.ini", "[kvcache]\nbackends.x.url = redis://h:1/0\n", "kvcache.backends.x.type", "", "memory, redis", true},
		{"redis url", "c.ini", "[kvcache]\nbackends.r.type = redis\nbackends.r.url = http://127.0.0.1:6379\n", "kvcache.backends.r.url", "http://127.0.0.1:6379", "redis://", true},
		{"container backend", "c.ini", "[kvcache]\nbackends.default.type = memory\ncontainers.session.backend = nope\n", "kvcache.containers.session.backend", "nope", "one of the configured backends: default", true},
		{"map entry given a value", "c.ini", "[kvcache]\nbackends.default = memory\n", "kvcache.backends.default", "memory", "a section with keys", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cf := cfgLoad(t, cfgWrite(t, tc.file, tc.content))
			var err error
			if tc.kvcache {
				_, err = LoadKVCacheConfig(cf)
			} else {
				_, err = LoadConfig(cf)
			}
			cfgWantConfigError(t, err, tc.key, tc.value, tc.allowed)
		})
	}
}

func TestConfigErrorMessage(t *testing.T) {
	e := &ConfigError{Key: "session.cookie.same_site", Value: "laxx", Allowed: "lax, strict, none"}
	if got, want := e.Error(), `config: session.cookie.same_site = "laxx": allowed: lax, strict, none`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	inner := errors.New("boom")
	e = &ConfigError{Key: "k", Value: "v", Err: inner}
	if !errors.Is(e, inner) || e.Error() != `config: k = "v": boom` {
		t.Errorf("Err not wrapped or shown: %q", e.Error())
	}
	// A decode error keeps the parser's reason reachable.
	_, err := LoadConfig(cfgLoad(t, cfgWrite(t, "c.ini", "[session]\nlifetime = 1x\n")))
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Err == nil || !strings.Contains(ce.Err.Error(), "unknown unit") {
		t.Errorf("want the time.ParseDuration reason in Err, got %#v", ce)
	}
}

func TestConfigSeveralErrorsReported(t *testing.T) {
	cf := cfgLoad(t, cfgWrite(t, "c.ini", "[session]\nlifetime = x\nidle_timeout = y\ncookie.same_site = z\n"))
	_, err := LoadConfig(cf)
	for _, k := range []string{"session.lifetime", "session.idle_timeout"} {
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("error %v does not name %s", err, k)
		}
	}
}

func TestConfigUnknownKeysLogged(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	path := cfgWrite(t, "c.ini", `[session]
idle_timout = 1h
cookie.secur = false
cookie_name = x
zzzzzzzzzzzzzzzzzz = 1
[kvcache]
backends.default.type = memory
backends.default.typo = memory
[sesion]
member = x
`)
	cf, err := LoadConfigFile(path, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := LoadConfig(cf)
	if err != nil {
		t.Fatal(err)
	}
	if sc.IdleTimeout != 30*time.Minute || !sc.Cookie.Secure {
		t.Errorf("unknown keys changed the config: %+v", sc)
	}
	if _, err := LoadKVCacheConfig(cf); err != nil {
		t.Fatal(err)
	}
	if got := cf.CheckSections("session", "kvcache", "gorm"); !reflect.DeepEqual(got, []string{"sesion"}) {
		t.Errorf("CheckSections = %v, want [sesion]", got)
	}
	want := map[string]string{
		"session.idle_timout":           "session.idle_timeout",
		"session.cookie.secur":          "session.cookie.secure",
		"session.cookie_name":           "session.cookie.name",
		"session.zzzzzzzzzzzzzzzzzz":    "",
		"kvcache.backends.default.typo": "kvcache.backends.default.type",
		"sesion":                        "session",
	}
	got := map[string]string{}
	for _, e := range logs.All() {
		f := e.ContextMap()
		key, _ := f["key"].(string)
		near, _ := f["did_you_mean"].(string)
		got[key] = near
		if near != "" && !strings.Contains(e.Message, "did you mean "+near+"?") {
			t.Errorf("log message %q lacks the suggestion %s", e.Message, near)
		}
		if e.Level != zapcore.WarnLevel {
			t.Errorf("logged at %v, want warn", e.Level)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("logged unknown keys\n got %v\nwant %v", got, want)
	}
	wantKeys := []string{"kvcache.backends.default.typo", "sesion", "session.cookie.secur", "session.cookie_name", "session.idle_timout", "session.zzzzzzzzzzzzzzzzzz"}
	if !reflect.DeepEqual(cf.UnknownKeys(), wantKeys) {
		t.Errorf("UnknownKeys() = %v, want %v", cf.UnknownKeys(), wantKeys)
	}
}

func TestConfigFileErrors(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "nope.ini")
		_, err := LoadConfigFile(p, nil)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), p) {
			t.Errorf("want an fs.ErrNotExist naming %s, got %v", p, err)
		}
	})
	t.Run("unsupported extension", func(t *testing.T) {
		p := cfgWrite(t, "c.toml", "a = 1\n")
		_, err := LoadConfigFile(p, nil)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Value != ".toml" || !strings.Contains(err.Error(), ".ini, .cfg, .conf, .yaml, .yml") || !strings.Contains(err.Error(), p) {
			t.Errorf("want a ConfigError naming the file, .toml and the allowed extensions, got %v", err)
		}
	})
	t.Run("ini syntax", func(t *testing.T) {
		p := cfgWrite(t, "c.ini", "[session\nmember = x\n")
		if _, err := LoadConfigFile(p, nil); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("want a parse error naming %s, got %v", p, err)
		}
	})
	t.Run("yaml syntax", func(t *testing.T) {
		p := cfgWrite(t, "c.yml", "session: [\n")
		if _, err := LoadConfigFile(p, nil); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("want a parse error naming %s, got %v", p, err)
		}
	})
	t.Run("unmarshal needs a pointer", func(t *testing.T) {
		cf := cfgLoad(t, "")
		if err := cf.Unmarshal("session", Config{}); err == nil {
			t.Error("want an error for a non-pointer")
		}
	})
}

func TestConfigINIInlineComments(t *testing.T) {
	cf := cfgLoad(t, cfgWrite(t, "c.cfg", `[session]
container = sessions ; semicolon comment
backend = kvcache    # hash comment
[gorm]
table = sessions;not-a-comment
dsn = "postgres://u:p#w@h/db" ; quoted value
`))
	sc, err := LoadConfig(cf)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Container != "sessions" || sc.Backend != "kvcache" {
		t.Errorf("inline comments not stripped: container=%q backend=%q", sc.Container, sc.Backend)
	}
	if got := cf.Koanf().String("gorm.dsn"); got != "postgres://u:p#w@h/db" {
		t.Errorf("gorm.dsn = %q", got)
	}
	// ";" without a space before it is part of the value.
	if got := cf.Koanf().String("gorm.table"); got != "sessions;not-a-comment" {
		t.Errorf("gorm.table = %q, want the ; kept", got)
	}
}

func TestConfigCaseAndSpellings(t *testing.T) {
	cf := cfgLoad(t, cfgWrite(t, "c.ini", "[Session]\nHASH_IDS = off\nCookie.Persist = NO\ncookie.http_only = 0\ncookie.same_site = Strict\n"))
	sc, err := LoadConfig(cf)
	if err != nil {
		t.Fatal(err)
	}
	if sc.HashIDs || sc.Cookie.Persist || sc.Cookie.HTTPOnly || sc.Cookie.SameSite != "strict" {
		t.Errorf("got %+v", sc)
	}
}

func TestSessionConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		key    string
	}{
		{"ok", func(*Config) {}, ""},
		{"no limits", func(c *Config) { c.Lifetime, c.IdleTimeout = 0, 0 }, ""},
		{"idle only", func(c *Config) { c.Lifetime = 0; c.IdleTimeout = 48 * time.Hour }, ""},
		{"empty member", func(c *Config) { c.Member = "" }, "session.member"},
		{"empty backend", func(c *Config) { c.Backend = "" }, "session.backend"},
		{"kvcache needs container", func(c *Config) { c.Container = "" }, "session.container"},
		{"gorm needs no container", func(c *Config) { c.Backend, c.Container = "gorm", "" }, ""},
		{"negative idle", func(c *Config) { c.IdleTimeout = -time.Second }, "session.idle_timeout"},
		{"negative local ttl", func(c *Config) { c.Layered.LocalTTL = -1 }, "session.layered.local_ttl"},
		{"lifetime < idle", func(c *Config) { c.Lifetime = time.Minute }, "session.lifetime"},
		{"cookie too big", func(c *Config) { c.MaxCookieSize = 9000 }, "session.max_cookie_size"},
		{"session size 0", func(c *Config) { c.MaxSessionSize = 0 }, "session.max_session_size"},
		{"empty cookie name", func(c *Config) { c.Cookie.Name = "" }, "session.cookie.name"},
		{"cookie name ;", func(c *Config) { c.Cookie.Name = "a;b" }, "session.cookie.name"},
		{"cookie path", func(c *Config) { c.Cookie.Path = "app" }, "session.cookie.path"},
		{"cookie domain", func(c *Config) { c.Cookie.Domain = "a.com;x" }, "session.cookie.domain"},
		{"same_site case", func(c *Config) { c.Cookie.SameSite = "Lax" }, "session.cookie.same_site"},
		{"same_site none secure ok", func(c *Config) { c.Cookie.SameSite = "none" }, ""},
		{"same_site none insecure", func(c *Config) { c.Cookie.SameSite, c.Cookie.Secure = "none", false }, "session.cookie.same_site"},
		{"__Host- with domain", func(c *Config) { c.Cookie.Name, c.Cookie.Domain = "__Host-sid", "a.com" }, "session.cookie.name"},
		{"__Secure- insecure", func(c *Config) { c.Cookie.Name, c.Cookie.Secure = "__Secure-sid", false }, "session.cookie.secure"},
		{"layered ok", func(c *Config) { c.Backend, c.Layered.Front, c.Layered.Back = "layered", "local", "gorm" }, ""},
		{"layered same", func(c *Config) { c.Backend, c.Layered.Front, c.Layered.Back = "layered", "x", "x" }, "session.layered.back"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			err := c.Validate()
			if tc.key == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != tc.key {
				t.Fatalf("want ConfigError for %s, got %v", tc.key, err)
			}
		})
	}
}
