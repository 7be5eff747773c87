package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sessionfx/session/config"
)

func TestFullINIAndYAMLAgree(t *testing.T) {
	wantSession := tSession{Member: "websession", Store: "kvcache", Container: "sessions",
		Lifetime: 12 * time.Hour, IdleTimeout: 45 * time.Minute, HashIDs: false,
		MaxCookieSize: 2048, MaxSessionSize: 128 << 10, CleanupInterval: 5 * time.Minute,
		Cookie: tCookie{Name: "sid", Path: "/app", Domain: "example.com", Secure: true,
			HTTPOnly: true, SameSite: "strict", Persist: false}}
	wantKV := tKV{
		Backends: map[string]tBackend{
			"default": {Type: "memory", MaxSize: 32 << 20},
			"shared": {Type: "redis", URL: "redis://127.0.0.1:6379/0#not-a-comment", ClientCache: true,
				ClientCacheTTL: time.Minute, DialTimeout: 3 * time.Second, CommandTimeout: 500 * time.Millisecond, PoolSize: 8},
		},
		Containers: map[string]tContainer{
			"sessions": {Backend: "shared", Prefix: "s:", TTL: 24 * time.Hour},
			"local":    {Backend: "default"},
		},
	}
	wantLayered := tLayered{Front: "local", Back: "gorm", LocalTTL: 2 * time.Second}
	abs, _ := filepath.Abs("testdata")
	wantGorm := tGorm{Driver: "sqlite", DSN: abs + "/sessions.sqlite3", Table: "sessions"}
	for _, name := range []string{"full.ini", "full.yaml"} {
		t.Run(name, func(t *testing.T) {
			f := load(t, filepath.Join("testdata", name))
			s, err := session(t, f)
			if err != nil || !reflect.DeepEqual(s, wantSession) {
				t.Errorf("session: %v\n got %+v\nwant %+v", err, s, wantSession)
			}
			k, err := kv(f)
			if err != nil || !reflect.DeepEqual(k, wantKV) {
				t.Errorf("kvcache: %v\n got %+v\nwant %+v", err, k, wantKV)
			}
			var l tLayered
			if err := f.Unmarshal("layered", &l); err != nil || l != wantLayered {
				t.Errorf("layered: %v, %+v", err, l)
			}
			var g tGorm
			if err := f.Unmarshal("gorm", &g); err != nil || g != wantGorm {
				t.Errorf("gorm: %v, %+v; want %+v (${here} expanded, inline comment stripped)", err, g, wantGorm)
			}
			if f.Here() != abs || f.Path() != filepath.Join(abs, name) {
				t.Errorf("Here() = %q, Path() = %q", f.Here(), f.Path())
			}
			if u := f.UnknownKeys(); len(u) != 0 {
				t.Errorf("unknown keys in %s: %v", name, u)
			}
			if u := f.CheckSections(); len(u) != 0 {
				t.Errorf("unknown sections in %s: %v", name, u)
			}
			if err := f.Check(); err != nil {
				t.Errorf("Check: %v", err)
			}
		})
	}
}

func TestPartialKeepsDefaults(t *testing.T) {
	f := load(t, write(t, "c.ini", "[session]\nlifetime = 0\nidle_timeout = 7d\ncookie.secure = no\n"))
	s, err := session(t, f)
	if err != nil {
		t.Fatal(err)
	}
	want := tDefaultSession()
	want.Lifetime, want.IdleTimeout, want.Cookie.Secure = 0, 7*24*time.Hour, false
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got %+v\nwant %+v", s, want)
	}
	// An absent section leaves out as it is.
	for _, content := range []string{"", "; nothing\n# here\n", "[session]\n"} {
		f := load(t, write(t, "c.ini", content))
		if s, err := session(t, f); err != nil || !reflect.DeepEqual(s, tDefaultSession()) {
			t.Errorf("%q: %v, %+v", content, err, s)
		}
	}
	if s, err := session(t, load(t, "")); err != nil || !reflect.DeepEqual(s, tDefaultSession()) {
		t.Errorf("no file: %v, %+v", err, s)
	}
}

func TestHere(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.yml")
	if err := os.WriteFile(p, []byte("gorm:\n  dsn: \"file:${here}/db.sqlite3?cache=${here}\"\nlist: [\"${here}/a\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := load(t, p)
	if got, want := f.Koanf().String("gorm.dsn"), "file:"+dir+"/db.sqlite3?cache="+dir; got != want {
		t.Errorf("gorm.dsn = %q, want %q", got, want)
	}
	if got := f.Koanf().Strings("list"); len(got) != 1 || got[0] != dir+"/a" {
		t.Errorf("list = %q, want [%s/a]", got, dir)
	}
	if f.Here() != dir {
		t.Errorf("Here() = %q, want %q", f.Here(), dir)
	}

	// Relative paths resolve to an absolute folder; without a file, the working directory.
	t.Setenv("SESSIONFX_GORM__DSN", "${here}/env.sqlite3")
	f = load(t, "")
	wd, _ := os.Getwd()
	if f.Here() != wd || f.Path() != "" {
		t.Errorf("no file: Here() = %q, Path() = %q; want %q, \"\"", f.Here(), f.Path(), wd)
	}
	if got := f.Koanf().String("gorm.dsn"); got != wd+"/env.sqlite3" {
		t.Errorf("env gorm.dsn = %q, want ${here} expanded to %s", got, wd)
	}
}

func TestEnvOverride(t *testing.T) {
	t.Setenv("SESSIONFX_SESSION__COOKIE__SECURE", "false")
	t.Setenv("SESSIONFX_SESSION__IDLE_TIMEOUT", "1h")
	t.Setenv("SESSIONFX_SESSION__MAX_COOKIE_SIZE", "1024")
	t.Setenv("SESSIONFX_KVCACHE__BACKENDS__DEFAULT__MAX_SIZE", "128MiB")
	t.Setenv("SESSIONFX_KVCACHE__CONTAINERS__ENVONLY__BACKEND", "shared")
	for _, name := range []string{"full.ini", "full.yaml"} {
		t.Run(name, func(t *testing.T) {
			f := load(t, filepath.Join("testdata", name))
			s, err := session(t, f)
			if err != nil {
				t.Fatal(err)
			}
			if s.Cookie.Secure || s.IdleTimeout != time.Hour || s.MaxCookieSize != 1024 || s.Member != "websession" {
				t.Errorf("env over file: got %+v", s)
			}
			k, err := kv(f)
			if err != nil {
				t.Fatal(err)
			}
			if k.Backends["default"].MaxSize != 128<<20 || k.Containers["envonly"] != (tContainer{Backend: "shared"}) || k.Containers["sessions"].Prefix != "s:" {
				t.Errorf("env over file: got %+v", k)
			}
		})
	}
	t.Run("no file", func(t *testing.T) {
		s, err := session(t, load(t, ""))
		if err != nil {
			t.Fatal(err)
		}
		if s.IdleTimeout != time.Hour || s.Cookie.Secure || s.Lifetime != 24*time.Hour {
			t.Errorf("env over defaults: got %+v", s)
		}
	})
	t.Run("invalid env value names the key", func(t *testing.T) {
		t.Setenv("SESSIONFX_SESSION__LIFETIME", "forever")
		_, err := session(t, load(t, ""))
		wantError(t, err, "session.lifetime", "forever", "a duration like 30m or 24h")
	})
}

func TestValueAndSectionRejected(t *testing.T) {
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
			_, err := config.Load(write(t, tc.file, tc.content), nil, tOptions)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *config.Error, got %v", err)
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
		_, err := config.Load("", nil, tOptions)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Key != "session.cookie" || !strings.Contains(err.Error(), "SESSIONFX_") {
			t.Fatalf("want an Error for session.cookie from the environment, got %v", err)
		}
	})
	t.Run("INIParser alone", func(t *testing.T) {
		_, err := config.INIParser{}.Unmarshal([]byte("[a]\nb = x\nb.c = y\n"))
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Key != "a.b" {
			t.Fatalf("want an Error for a.b, got %v", err)
		}
		m, err := config.INIParser{}.Unmarshal([]byte("top = 1\n[S]\nX.Y = 2\n"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"top": "1", "s": map[string]any{"x": map[string]any{"y": "2"}}}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("got %#v, want %#v", m, want)
		}
		if _, err := (config.INIParser{}).Marshal(m); err == nil {
			t.Error("Marshal should report it is not supported")
		}
	})
}

// TestDecodeErrors: a value that does not fit its field names the key,
// the value as written and what the field takes.
func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		key, value, allowed string
	}{
		{"duration", "c.ini", "[session]\nidle_timeout = 30 minutes\n", "session.idle_timeout", "30 minutes", "a duration like 30m or 24h"},
		{"duration without unit", "c.ini", "[session]\nlifetime = 3600\n", "session.lifetime", "3600", "a duration like 30m or 24h"},
		{"yaml duration without unit", "c.yaml", "session:\n  lifetime: 3600\n", "session.lifetime", "3600", "a duration like 30m or 24h"},
		{"empty duration", "c.ini", "[session]\nlifetime =\n", "session.lifetime", "", "a duration like 30m or 24h"},
		{"bool", "c.ini", "[session]\ncookie.secure = maybe\n", "session.cookie.secure", "maybe", "true or false"},
		{"empty bool", "c.ini", "[session]\nhash_ids =\n", "session.hash_ids", "", "true or false"},
		{"int", "c.yaml", "session:\n  max_cookie_size: big\n", "session.max_cookie_size", "big", "a whole number"},
		{"size", "c.ini", "[session]\nmax_session_size = lots\n", "session.max_session_size", "lots", "a size like 64MiB"},
		{"section given a value", "c.ini", "[session]\ncookie = yes\n", "session.cookie", "yes", "a section with keys domain, http_only, name, path, persist, same_site, secure"},
		{"value given a section", "c.ini", "[session]\nlifetime.x = 1\n", "session.lifetime", "section with keys x", "a duration like 30m or 24h"},
		{"memory size unit", "c.ini", "[kvcache]\nbackends.default.type = memory\nbackends.default.max_size = 12XB\n", "kvcache.backends.default.max_size", "12XB", "a size like 64MiB"},
		{"map entry given a value", "c.ini", "[kvcache]\nbackends.default = memory\n", "kvcache.backends.default", "memory", "a section with keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := load(t, write(t, tc.file, tc.content))
			var err error
			if strings.HasPrefix(tc.key, "kvcache.") {
				_, err = kv(f)
			} else {
				_, err = session(t, f)
			}
			wantError(t, err, tc.key, tc.value, tc.allowed)
		})
	}
}

func TestErrorMessage(t *testing.T) {
	e := &config.Error{Key: "session.cookie.same_site", Value: "laxx", Allowed: "lax, strict, none"}
	if got, want := e.Error(), `config: session.cookie.same_site = "laxx": allowed: lax, strict, none`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	inner := errors.New("boom")
	e = &config.Error{Key: "k", Value: "v", Err: inner}
	if !errors.Is(e, inner) || e.Error() != `config: k = "v": boom` {
		t.Errorf("Err not wrapped or shown: %q", e.Error())
	}
	e = &config.Error{Key: "k", Value: "(not shown)", Hidden: true, Problem: "it is wrong", Allowed: "right"}
	if got, want := e.Error(), `config: k = (not shown): it is wrong; allowed: right`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	// A decode error keeps the parser's reason reachable.
	_, err := session(t, load(t, write(t, "c.ini", "[session]\nlifetime = 1x\n")))
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Err == nil || !strings.Contains(ce.Err.Error(), "unknown unit") {
		t.Errorf("want the time.ParseDuration reason in Err, got %#v", ce)
	}
}

func TestSeveralErrorsReported(t *testing.T) {
	f := load(t, write(t, "c.ini", "[session]\nlifetime = x\nidle_timeout = y\ncookie.same_site = z\n"))
	_, err := session(t, f)
	for _, k := range []string{"session.lifetime", "session.idle_timeout"} {
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("error %v does not name %s", err, k)
		}
	}
}

func TestFileErrors(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "nope.ini")
		_, err := config.Load(p, nil, tOptions)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), p) {
			t.Errorf("want an fs.ErrNotExist naming %s, got %v", p, err)
		}
	})
	t.Run("unsupported extension", func(t *testing.T) {
		p := write(t, "c.toml", "a = 1\n")
		_, err := config.Load(p, nil, tOptions)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Value != ".toml" || !strings.Contains(err.Error(), ".ini, .cfg, .conf, .yaml, .yml") || !strings.Contains(err.Error(), p) {
			t.Errorf("want an Error naming the file, .toml and the allowed extensions, got %v", err)
		}
	})
	t.Run("ini syntax", func(t *testing.T) {
		p := write(t, "c.ini", "[session\nmember = x\n")
		if _, err := config.Load(p, nil, tOptions); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("want a parse error naming %s, got %v", p, err)
		}
	})
	t.Run("yaml syntax", func(t *testing.T) {
		p := write(t, "c.yml", "session: [\n")
		if _, err := config.Load(p, nil, tOptions); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("want a parse error naming %s, got %v", p, err)
		}
	})
	t.Run("unmarshal needs a pointer", func(t *testing.T) {
		f := load(t, "")
		if err := f.Unmarshal("session", tSession{}); err == nil {
			t.Error("want an error for a non-pointer")
		}
	})
}

func TestYAMLTabHint(t *testing.T) {
	p := write(t, "c.yaml", "session:\n\tstore: kvcache\n")
	_, err := config.Load(p, nil, tOptions)
	if err == nil || !strings.Contains(err.Error(), "line 2 is indented with a tab") || !strings.Contains(err.Error(), "spaces") {
		t.Fatalf("YAML with a tab: %v; want the tab hint", err)
	}
	p = write(t, "c.yaml", "session:\n  store: [kvcache\n")
	if _, err := config.Load(p, nil, tOptions); err == nil || strings.Contains(err.Error(), "tab") {
		t.Fatalf("YAML without a tab: %v; want an error without the tab hint", err)
	}
}

func TestINIInlineComments(t *testing.T) {
	f := load(t, write(t, "c.cfg", `[session]
container = sessions ; semicolon comment
store = kvcache    # hash comment
[gorm]
table = sessions;not-a-comment
dsn = "postgres://u:p#w@h/db" ; quoted value
`))
	s, err := session(t, f)
	if err != nil {
		t.Fatal(err)
	}
	if s.Container != "sessions" || s.Store != "kvcache" {
		t.Errorf("inline comments not stripped: container=%q store=%q", s.Container, s.Store)
	}
	if got := f.Koanf().String("gorm.dsn"); got != "postgres://u:p#w@h/db" {
		t.Errorf("gorm.dsn = %q", got)
	}
	// ";" without a space before it is part of the value.
	if got := f.Koanf().String("gorm.table"); got != "sessions;not-a-comment" {
		t.Errorf("gorm.table = %q, want the ; kept", got)
	}
}

func TestCaseAndSpellings(t *testing.T) {
	f := load(t, write(t, "c.ini", "[Session]\nHASH_IDS = off\nCookie.Persist = NO\ncookie.http_only = 0\ncookie.same_site = Strict\n"))
	s, err := session(t, f)
	if err != nil {
		t.Fatal(err)
	}
	if s.HashIDs || s.Cookie.Persist || s.Cookie.HTTPOnly || s.Cookie.SameSite != "Strict" {
		t.Errorf("got %+v", s)
	}
	if !f.Exists("session.hash_ids") || f.Exists("Session.HASH_IDS") {
		t.Error("keys are not lowercased")
	}
}

// TestStrictKey: session.strict is read at load, and a value that is not a
// boolean fails the load naming it.
func TestStrictKey(t *testing.T) {
	if f := load(t, write(t, "c.ini", "[session]\nstrict = yes\n")); !f.Strict() {
		t.Error("strict = yes: Strict() is false")
	}
	if f := load(t, ""); f.Strict() {
		t.Error("no file: Strict() is true")
	}
	t.Setenv("SESSIONFX_SESSION__STRICT", "maybe")
	_, err := config.Load("", nil, tOptions)
	wantError(t, err, "session.strict", "maybe", "true or false")
}
