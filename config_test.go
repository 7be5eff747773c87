package session

// Tests of the [session] section and of the module's config table (its
// known sections and renames). The loader itself is tested in
// github.com/sessionfx/session/config, [kvcache] in kvcache, each store's
// section with the store.

import (
	"errors"
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

// cfgFullDir holds full.ini and full.yaml: every key, non-default values.
var cfgFullDir = filepath.Join("config", "testdata")

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
		Member: "websession", Store: "kvcache", Container: "sessions",
		Lifetime: 12 * time.Hour, IdleTimeout: 45 * time.Minute, HashIDs: false,
		MaxCookieSize: 2048, MaxSessionSize: 128 << 10, CleanupInterval: 5 * time.Minute,
		Cookie: CookieConfig{Name: "sid", Path: "/app", Domain: "example.com", Secure: true,
			HTTPOnly: true, SameSite: "strict", Persist: false},
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
			cf := cfgLoad(t, filepath.Join(cfgFullDir, name))
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
			abs, _ := filepath.Abs(cfgFullDir)
			if got, want := cf.Koanf().String("gorm.dsn"), abs+"/sessions.sqlite3"; got != want {
				t.Errorf("gorm.dsn = %q, want %q (${here} expanded)", got, want)
			}
			if got := cf.Koanf().String("layered.front"); got != "local" {
				t.Errorf("layered.front = %q", got)
			}
			if u := cf.UnknownKeys(); len(u) != 0 {
				t.Errorf("unknown keys in %s: %v", name, u)
			}
			// [session] and [kvcache] are known; the stores' sections are
			// the registered stores'.
			if u := cf.CheckSections("gorm", "layered"); len(u) != 0 {
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
	if sc, err := LoadConfig(nil); err != nil || !reflect.DeepEqual(sc, DefaultConfig()) {
		t.Errorf("LoadConfig(nil) = %+v, %v", sc, err)
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

func TestConfigEnvOverride(t *testing.T) {
	t.Setenv("SESSIONFX_SESSION__COOKIE__SECURE", "false")
	t.Setenv("SESSIONFX_SESSION__COOKIE__SAME_SITE", "Lax")
	t.Setenv("SESSIONFX_SESSION__IDLE_TIMEOUT", "1h")
	t.Setenv("SESSIONFX_SESSION__MAX_COOKIE_SIZE", "1024")
	t.Setenv("SESSIONFX_KVCACHE__BACKENDS__DEFAULT__MAX_SIZE", "128MiB")
	t.Setenv("SESSIONFX_KVCACHE__CONTAINERS__ENVONLY__BACKEND", "shared")
	for _, name := range []string{"full.ini", "full.yaml"} {
		t.Run(name, func(t *testing.T) {
			cf := cfgLoad(t, filepath.Join(cfgFullDir, name))
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

func TestConfigInvalidValues(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		key, value, allowed string
	}{
		{"duration", "c.ini", "[session]\nidle_timeout = 30 minutes\n", "session.idle_timeout", "30 minutes", "a duration like 30m or 24h"},
		{"duration without unit", "c.ini", "[session]\nlifetime = 3600\n", "session.lifetime", "3600", "a duration like 30m or 24h"},
		{"yaml duration without unit", "c.yaml", "session:\n  lifetime: 3600\n", "session.lifetime", "3600", "a duration like 30m or 24h"},
		{"empty duration", "c.ini", "[session]\nlifetime =\n", "session.lifetime", "", "a duration like 30m or 24h"},
		{"negative duration", "c.ini", "[session]\nidle_timeout = -1m\n", "session.idle_timeout", "-1m", "a duration of 0 or more"},
		{"negative cleanup interval", "c.ini", "[session]\ncleanup_interval = -1m\n", "session.cleanup_interval", "-1m", "0 (off) or at least 1s"},
		{"bool", "c.ini", "[session]\ncookie.secure = maybe\n", "session.cookie.secure", "maybe", "true or false"},
		{"empty bool", "c.ini", "[session]\nhash_ids =\n", "session.hash_ids", "", "true or false"},
		{"int", "c.yaml", "session:\n  max_cookie_size: big\n", "session.max_cookie_size", "big", "a whole number"},
		{"cookie size range", "c.ini", "[session]\nmax_cookie_size = 100\n", "session.max_cookie_size", "100", "from 256 to 8192"},
		{"size", "c.ini", "[session]\nmax_session_size = lots\n", "session.max_session_size", "lots", "a size like 64MiB"},
		{"same_site", "c.ini", "[session]\ncookie.same_site = laxx\n", "session.cookie.same_site", "laxx", "lax, strict, none"},
		{"same_site none needs secure", "c.ini", "[session]\ncookie.same_site = none\ncookie.secure = false\n", "session.cookie.same_site", "none", "cookie.secure = false"},
		{"lifetime below idle", "c.ini", "[session]\nlifetime = 10m\nidle_timeout = 30m\n", "session.lifetime", "10m", "lifetime >= idle_timeout"},
		{"cookie name chars", "c.ini", "[session]\ncookie.name = my session\n", "session.cookie.name", "my session", "letters, digits"},
		{"empty member", "c.yaml", "session:\n  member: \"\"\n", "session.member", "", "non-empty"},
		{"empty store", "c.ini", "[session]\nstore =\n", "session.store", "", "kvcache, gorm, cookie, null, layered or a plugin's name"},
		{"empty store, old key", "c.ini", "[session]\nbackend =\n", "session.store", "", "kvcache, gorm, cookie, null, layered or a plugin's name"},
		{"kvcache needs a container", "c.ini", "[session]\ncontainer =\n", "session.container", "", "store = kvcache needs one"},
		{"section given a value", "c.ini", "[session]\ncookie = yes\n", "session.cookie", "yes", "a section with keys domain, http_only, name, path, persist, same_site, secure"},
		{"value given a section", "c.ini", "[session]\nlifetime.x = 1\n", "session.lifetime", "section with keys x", "a duration like 30m or 24h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(cfgLoad(t, cfgWrite(t, tc.file, tc.content)))
			cfgWantConfigError(t, err, tc.key, tc.value, tc.allowed)
		})
	}
}

func TestConfigErrorMessage(t *testing.T) {
	// A decode error keeps the parser's reason reachable.
	_, err := LoadConfig(cfgLoad(t, cfgWrite(t, "c.ini", "[session]\nlifetime = 1x\n")))
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Err == nil || !strings.Contains(ce.Err.Error(), "unknown unit") {
		t.Errorf("want the time.ParseDuration reason in Err, got %#v", ce)
	}
	_, err = LoadConfig(cfgLoad(t, cfgWrite(t, "c.ini", "[session]\ncookie.same_site = laxx\n")))
	if want := `config: session.cookie.same_site = "laxx": allowed: lax, strict, none`; err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
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
	cf = cfgLoad(t, cfgWrite(t, "c.ini", "[session]\nmember =\ncookie.same_site = z\nmax_cookie_size = 1\n"))
	_, err = LoadConfig(cf)
	for _, k := range []string{"session.member", "session.cookie.same_site", "session.max_cookie_size"} {
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
	if got := cf.CheckSections("gorm"); !reflect.DeepEqual(got, []string{"sesion"}) {
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
		{"empty store", func(c *Config) { c.Store = "" }, "session.store"},
		{"kvcache needs container", func(c *Config) { c.Container = "" }, "session.container"},
		{"gorm needs no container", func(c *Config) { c.Store, c.Container = "gorm", "" }, ""},
		{"layered needs no container", func(c *Config) { c.Store, c.Container = "layered", "" }, ""},
		{"negative idle", func(c *Config) { c.IdleTimeout = -time.Second }, "session.idle_timeout"},
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

// cfgDeprecations returns the deprecation warnings logged, by old key.
func cfgDeprecations(logs *observer.ObservedLogs) map[string][]string {
	out := map[string][]string{}
	for _, e := range logs.FilterMessageSnippet(" is deprecated: write ").All() {
		key, _ := e.ContextMap()["key"].(string)
		out[key] = append(out[key], e.Message)
	}
	return out
}

// TestConfigDeprecatedKeys: the module's renames (session.backend,
// [cookie_store], session.layered.*) keep working from a file and from the
// environment, each with one warning naming the new key; the new key wins
// over the old; strict mode accepts them.
func TestConfigDeprecatedKeys(t *testing.T) {
	const old = `[session]
backend = layered
layered.front = local
layered.back = gorm
layered.local_ttl = 2s
[cookie_store]
dev_mode = true
`
	for _, strict := range []string{"", "strict = true\n"} {
		core, logs := observer.New(zapcore.WarnLevel)
		p := cfgWrite(t, "c.ini", strings.Replace(old, "[session]\n", "[session]\n"+strict, 1))
		cf, err := LoadConfigFile(p, zap.New(core))
		if err != nil {
			t.Fatal(err)
		}
		sc, err := LoadConfig(cf)
		if err != nil || sc.Store != "layered" {
			t.Fatalf("session.backend = layered: store %q, %v", sc.Store, err)
		}
		k := cf.Koanf()
		if k.String("layered.front") != "local" || k.String("layered.back") != "gorm" || k.String("layered.local_ttl") != "2s" || k.String("cookie.dev_mode") != "true" {
			t.Errorf("moved keys: %v", k.All())
		}
		if err := cf.Check("layered", "cookie"); err != nil || len(cf.UnknownKeys()) != 0 {
			t.Errorf("Check: %v, unknown %v", err, cf.UnknownKeys())
		}
		d := cfgDeprecations(logs)
		for old, nw := range map[string]string{"session.backend": "session.store", "session.layered": "layered", "cookie_store": "cookie"} {
			if len(d[old]) != 1 || !strings.HasPrefix(d[old][0], "config: "+old+" is deprecated: write "+nw+" (in "+p+")") {
				t.Errorf("strict %q: %s: warnings %v; want one naming %s", strict, old, d[old], nw)
			}
		}
		if logs.Len() != 3 {
			t.Errorf("want 3 warnings, got %v", logs.All())
		}
	}

	t.Run("new wins", func(t *testing.T) {
		core, logs := observer.New(zapcore.WarnLevel)
		cf, err := LoadConfigFile(cfgWrite(t, "c.yaml", "session:\n  backend: gorm\n  store: cookie\n  layered: {front: a, back: b}\nlayered:\n  front: c\n"), zap.New(core))
		if err != nil {
			t.Fatal(err)
		}
		if sc, err := LoadConfig(cf); err != nil || sc.Store != "cookie" {
			t.Errorf("store %q, %v; want cookie", sc.Store, err)
		}
		if cf.Koanf().String("layered.front") != "c" || cf.Koanf().String("layered.back") != "b" {
			t.Errorf("layered: %v", cf.Koanf().All())
		}
		d := cfgDeprecations(logs)
		if len(d["session.backend"]) != 1 || !strings.Contains(d["session.backend"][0], "session.store is also set, and wins") ||
			len(d["session.layered"]) != 1 || !strings.Contains(d["session.layered"][0], "layered.front is also set, and wins") {
			t.Errorf("warnings %v", d)
		}
	})

	t.Run("environment", func(t *testing.T) {
		t.Setenv("SESSIONFX_SESSION__BACKEND", "gorm")
		t.Setenv("SESSIONFX_COOKIE_STORE__DEV_MODE", "true")
		core, logs := observer.New(zapcore.WarnLevel)
		cf, err := LoadConfigFile("", zap.New(core))
		if err != nil {
			t.Fatal(err)
		}
		if sc, err := LoadConfig(cf); err != nil || sc.Store != "gorm" {
			t.Errorf("store %q, %v", sc.Store, err)
		}
		if cf.Koanf().String("cookie.dev_mode") != "true" {
			t.Errorf("cookie.dev_mode: %v", cf.Koanf().All())
		}
		d := cfgDeprecations(logs)
		if len(d["session.backend"]) != 1 || !strings.Contains(d["session.backend"][0], "environment variable SESSIONFX_SESSION__BACKEND: write SESSIONFX_SESSION__STORE") ||
			len(d["cookie_store"]) != 1 || !strings.Contains(d["cookie_store"][0], "write SESSIONFX_COOKIE__DEV_MODE") {
			t.Errorf("warnings %v", d)
		}
	})
}
