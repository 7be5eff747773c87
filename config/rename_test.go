package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessionfx/session/config"
)

// deprecations returns the deprecation warnings logged, by old key.
func deprecations(logs *observer.ObservedLogs) map[string][]string {
	out := map[string][]string{}
	for _, e := range logs.FilterMessageSnippet(" is deprecated: write ").All() {
		key, _ := e.ContextMap()["key"].(string)
		out[key] = append(out[key], e.Message)
	}
	return out
}

func TestRenameKey(t *testing.T) {
	for _, tc := range []struct{ name, file, content string }{
		{"ini", "c.ini", "[session]\nbackend = gorm\n"},
		{"yaml", "c.yaml", "session:\n  backend: gorm\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			p := write(t, tc.file, tc.content)
			f := loadLog(t, p, zap.New(core))
			s, err := session(t, f)
			if err != nil || s.Store != "gorm" {
				t.Fatalf("session.backend = gorm: store %q, %v", s.Store, err)
			}
			if f.Exists("session.backend") || len(f.UnknownKeys()) != 0 {
				t.Errorf("the old key is still there: %v", f.UnknownKeys())
			}
			d := deprecations(logs)
			if logs.Len() != 1 || len(d["session.backend"]) != 1 {
				t.Fatalf("want one deprecation warning, got %v", logs.All())
			}
			e := logs.All()[0]
			if want := "config: session.backend is deprecated: write session.store (in " + p + ")"; e.Message != want || e.Level != zapcore.WarnLevel {
				t.Errorf("warning %q at %v; want %q at warn", e.Message, e.Level, want)
			}
			if e.ContextMap()["new_key"] != "session.store" || e.ContextMap()["file"] != p {
				t.Errorf("fields %v", e.ContextMap())
			}
			// A message about the key names it by its new name, the value as written.
			p2 := f.Problems("session")
			p2.Bad("store", s.Store, "a store")
			if err := p2.Err(); err == nil || err.Error() != `config: session.store = "gorm": allowed: a store` {
				t.Errorf("problem: %v", err)
			}
		})
	}
}

func TestRenameNewWins(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	f := loadLog(t, write(t, "c.ini", "[session]\nbackend = gorm\nstore = cookie\n"), zap.New(core))
	s, err := session(t, f)
	if err != nil || s.Store != "cookie" {
		t.Fatalf("store %q, %v; want cookie (the new key wins)", s.Store, err)
	}
	if d := deprecations(logs); len(d["session.backend"]) != 1 || !strings.HasPrefix(d["session.backend"][0], "config: session.backend is deprecated: write session.store; session.store is also set, and wins") {
		t.Errorf("warnings %v", logs.All())
	}
}

// A renamed section moves with everything in it; where both set a key,
// the new one wins, key by key.
func TestRenameSection(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	f := loadLog(t, write(t, "c.ini", `[session]
member = m
layered.front = near
layered.back = far
layered.local_ttl = 1s
[layered]
back = gorm
[cookie_store]
keys = k1
dev_mode = true
`), zap.New(core))
	var l tLayered
	if err := f.Unmarshal("layered", &l); err != nil || l != (tLayered{Front: "near", Back: "gorm", LocalTTL: time.Second}) {
		t.Errorf("layered: %+v, %v; want front and local_ttl moved, back = gorm kept", l, err)
	}
	var c tCookieStore
	if err := f.Unmarshal("cookie", &c); err != nil || !reflect.DeepEqual(c, tCookieStore{Keys: []string{"k1"}, DevMode: true}) {
		t.Errorf("cookie: %+v, %v", c, err)
	}
	if s, err := session(t, f); err != nil || s.Member != "m" {
		t.Errorf("session: %+v, %v", s, err)
	}
	if u := f.CheckSections(); len(u) != 0 || len(f.UnknownKeys()) != 0 {
		t.Errorf("unknown: %v %v", u, f.UnknownKeys())
	}
	d := deprecations(logs)
	if len(d) != 2 || len(d["session.layered"]) != 1 || len(d["cookie_store"]) != 1 || logs.Len() != 2 {
		t.Fatalf("want one warning per old section, got %v", logs.All())
	}
	if !strings.HasPrefix(d["session.layered"][0], "config: session.layered is deprecated: write layered; layered.back is also set, and wins") {
		t.Errorf("warning %q", d["session.layered"][0])
	}
	if !strings.HasPrefix(d["cookie_store"][0], "config: cookie_store is deprecated: write cookie (in ") {
		t.Errorf("warning %q", d["cookie_store"][0])
	}
}

// An unknown key under an old section is reported where it went.
func TestRenameUnknownKey(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	f := loadLog(t, write(t, "c.ini", "[session]\nlayered.frnt = near\n"), zap.New(core))
	var l tLayered
	if err := f.Unmarshal("layered", &l); err != nil {
		t.Fatal(err)
	}
	if e := logs.FilterMessageSnippet("unknown key layered.frnt is ignored; did you mean layered.front?").All(); len(e) != 1 {
		t.Errorf("warnings %v", logs.All())
	}
}

func TestRenameEnv(t *testing.T) {
	t.Setenv("SESSIONFX_SESSION__BACKEND", "layered")
	t.Setenv("SESSIONFX_SESSION__LAYERED__FRONT", "near")
	t.Setenv("SESSIONFX_SESSION__LAYERED__FRNT", "x")
	core, logs := observer.New(zapcore.WarnLevel)
	// The environment wins over the file, an old variable over a new key.
	f := loadLog(t, write(t, "c.ini", "[session]\nstore = gorm\n[layered]\nfront = far\nback = gorm\n"), zap.New(core))
	s, err := session(t, f)
	if err != nil || s.Store != "layered" {
		t.Errorf("store %q, %v; want layered (from SESSIONFX_SESSION__BACKEND)", s.Store, err)
	}
	var l tLayered
	if err := f.Unmarshal("layered", &l); err != nil || l.Front != "near" || l.Back != "gorm" {
		t.Errorf("layered %+v, %v", l, err)
	}
	d := deprecations(logs)
	if want := "config: session.backend is deprecated: write session.store (environment variable SESSIONFX_SESSION__BACKEND: write SESSIONFX_SESSION__STORE)"; len(d["session.backend"]) != 1 || d["session.backend"][0] != want {
		t.Errorf("warnings %v; want %q", d, want)
	}
	if want := "config: session.layered is deprecated: write layered (environment variable SESSIONFX_SESSION__LAYERED__FRNT, SESSIONFX_SESSION__LAYERED__FRONT: write SESSIONFX_LAYERED__FRNT, SESSIONFX_LAYERED__FRONT)"; len(d["session.layered"]) != 1 || d["session.layered"][0] != want {
		t.Errorf("warnings %v; want %q", d, want)
	}
	// A message about a moved key names the variable that set it.
	if e := logs.FilterMessageSnippet("unknown key layered.frnt (set by environment variable SESSIONFX_SESSION__LAYERED__FRNT)").All(); len(e) != 1 {
		t.Errorf("warnings %v", logs.All())
	}

	// Both in the environment: the new one wins.
	t.Setenv("SESSIONFX_SESSION__STORE", "cookie")
	core, logs = observer.New(zapcore.WarnLevel)
	f = loadLog(t, "", zap.New(core))
	if s, err := session(t, f); err != nil || s.Store != "cookie" {
		t.Errorf("store %q, %v; want cookie", s.Store, err)
	}
	if d := deprecations(logs); len(d["session.backend"]) != 1 || !strings.Contains(d["session.backend"][0], "session.store is also set, and wins") {
		t.Errorf("warnings %v", d)
	}
}

// A deprecation is not an error, in strict mode neither.
func TestRenameStrict(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	f, err := config.Load(write(t, "c.ini", "[session]\nstrict = true\nbackend = gorm\n[cookie_store]\nkeys = k\n"), zap.New(core), tOptions)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := session(t, f); err != nil || s.Store != "gorm" {
		t.Errorf("strict: %+v, %v", s, err)
	}
	if err := f.Check(); err != nil {
		t.Errorf("strict Check: %v", err)
	}
	if d := deprecations(logs); len(d) != 2 {
		t.Errorf("warnings %v", logs.All())
	}
}

// A value where the new section goes wins over the old section.
func TestRenameShapes(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	f := loadLog(t, write(t, "c.ini", "layered = x\n[session]\nlayered.front = near\n"), zap.New(core))
	if got := f.Koanf().Get("layered"); got != "x" {
		t.Errorf("layered = %v", got)
	}
	if d := deprecations(logs); len(d["session.layered"]) != 1 || !strings.Contains(d["session.layered"][0], "layered is also set, and wins") {
		t.Errorf("warnings %v", logs.All())
	}
	// Without any rename, nothing moves.
	f, err := config.Load(write(t, "c.ini", "[session]\nbackend = gorm\n"), nil, config.Options{Sections: tSections})
	if err != nil || f.Koanf().String("session.backend") != "gorm" || f.Exists("session.store") {
		t.Errorf("moved without a rename: %v", err)
	}
}
