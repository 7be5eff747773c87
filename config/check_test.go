package config_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessionfx/session/config"
)

func TestUnknownKeysLogged(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	path := write(t, "c.ini", `[session]
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
	f := loadLog(t, path, zap.New(core))
	s, err := session(t, f)
	if err != nil {
		t.Fatal(err)
	}
	if s.IdleTimeout != 30*time.Minute || !s.Cookie.Secure {
		t.Errorf("unknown keys changed the config: %+v", s)
	}
	if _, err := kv(f); err != nil {
		t.Fatal(err)
	}
	if got := f.CheckSections("session", "kvcache", "gorm"); !reflect.DeepEqual(got, []string{"sesion"}) {
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
		fs := e.ContextMap()
		key, _ := fs["key"].(string)
		near, _ := fs["did_you_mean"].(string)
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
	if !reflect.DeepEqual(f.UnknownKeys(), wantKeys) {
		t.Errorf("UnknownKeys() = %v, want %v", f.UnknownKeys(), wantKeys)
	}
}

// TestCheck: Check reports the sections nothing knows and the unknown keys
// of a known section nothing read (a store that is not selected), once;
// in strict mode as errors.
func TestCheck(t *testing.T) {
	const content = "[session]\nmember = s\n[gorm]\ndriver = sqlite\ndsnn = x\n[mystore]\nsize = 1\n[mystorre]\nsize = 2\n"
	core, logs := observer.New(zapcore.WarnLevel)
	f := loadLog(t, write(t, "c.ini", content), zap.New(core))
	if _, err := session(t, f); err != nil {
		t.Fatal(err)
	}
	if err := f.Check("mystore"); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range logs.All() {
		key, _ := e.ContextMap()["key"].(string)
		near, _ := e.ContextMap()["did_you_mean"].(string)
		got[key] = near
	}
	if want := map[string]string{"gorm.dsnn": "gorm.dsn", "mystorre": "mystore"}; !reflect.DeepEqual(got, want) || logs.Len() != 2 {
		t.Errorf("warnings %v; want %v once each", logs.All(), want)
	}

	// A section that was read is not checked again.
	core, logs = observer.New(zapcore.WarnLevel)
	f = loadLog(t, write(t, "c.ini", content), zap.New(core))
	var g tGorm
	if err := f.Unmarshal("gorm", &g); err != nil {
		t.Fatal(err)
	}
	if err := f.Check("mystore"); err != nil {
		t.Fatal(err)
	}
	if n := logs.FilterMessageSnippet("gorm.dsnn").Len(); n != 1 {
		t.Errorf("gorm.dsnn reported %d times, want once: %v", n, logs.All())
	}

	// Strict: both are errors, and nothing is logged.
	core, logs = observer.New(zapcore.WarnLevel)
	f = loadLog(t, write(t, "c.ini", "[session]\nstrict = true\n"+strings.TrimPrefix(content, "[session]\n")), zap.New(core))
	err := f.Check("mystore")
	for _, w := range []string{"config: gorm.dsnn = \"x\": unknown key", "did you mean gorm.dsn?", `config: mystorre = "section with keys size": unknown section`, "did you mean mystore?", "session.strict = true refuses"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("strict Check: %v; want %q", err, w)
		}
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Errorf("strict Check: %T, want *config.Error values", err)
	}
	if logs.Len() != 0 {
		t.Errorf("strict mode logged %v", logs.All())
	}
}

func TestStrictUnknownKey(t *testing.T) {
	f := load(t, write(t, "c.ini", "[session]\nstrict = true\nidle_timout = 1h\n"))
	_, err := session(t, f)
	for _, w := range []string{"session.idle_timout", `"1h"`, "unknown key", "did you mean session.idle_timeout?", "session.strict"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("strict error %v lacks %q", err, w)
		}
	}
	t.Setenv("SESSIONFX_SESSION__STRICT", "true")
	f = load(t, write(t, "c.ini", "[kvcache]\nbackends.default.type = memory\nbackends.default.typo = 1\n"))
	_, err = kv(f)
	if err == nil || !strings.Contains(err.Error(), "kvcache.backends.default.typo") || !strings.Contains(err.Error(), "did you mean kvcache.backends.default.type?") {
		t.Errorf("strict (from the environment) error: %v", err)
	}
}

// A typo in an environment variable is reported with the variable's name.
func TestEnvTypoNamesTheVariable(t *testing.T) {
	t.Setenv("SESSIONFX_SESSION__IDLE_TIMOUT", "1h")
	core, logs := observer.New(zapcore.WarnLevel)
	f := loadLog(t, write(t, "c.ini", "[session]\nmember = s\n"), zap.New(core))
	if _, err := session(t, f); err != nil {
		t.Fatal(err)
	}
	e := logs.FilterMessageSnippet("session.idle_timout").All()
	if len(e) != 1 {
		t.Fatalf("logs: %v", logs.All())
	}
	msg := e[0].Message
	for _, w := range []string{"environment variable SESSIONFX_SESSION__IDLE_TIMOUT", "did you mean SESSIONFX_SESSION__IDLE_TIMEOUT"} {
		if !strings.Contains(msg, w) {
			t.Errorf("warning %q lacks %q", msg, w)
		}
	}
	if strings.Contains(msg, "c.ini") {
		t.Errorf("warning %q names the file, which does not set the key", msg)
	}
	if _, ok := e[0].ContextMap()["file"]; ok {
		t.Errorf("warning has a file field: %v", e[0].ContextMap())
	}
}

// Single-underscore variables set nothing: they are reported with the
// "__" form of the key of a known section they most likely mean;
// SESSIONFX_TEST_* variables are left alone.
func TestSingleUnderscoreEnvVarWarned(t *testing.T) {
	t.Setenv("SESSIONFX_SESSION_COOKIE_SECURE", "false")
	t.Setenv("SESSIONFX_KVCACHE_BACKENDS_DEFAULT_MAX_SIZE", "1MiB")
	t.Setenv("SESSIONFX_GORM_DSN", "postgres://u:secretpw@h/db")
	t.Setenv("SESSIONFX_COOKIE_DEV_MODE", "true")
	t.Setenv("SESSIONFX_SESSION_BACKEND", "gorm")
	t.Setenv("SESSIONFX_COOKIE_STORE_KEYS", "secretkey")
	t.Setenv("SESSIONFX_MYSTORE_X", "1")
	t.Setenv("SESSIONFX_TEST_SOMETHING", "x")
	core, logs := observer.New(zapcore.WarnLevel)
	f := loadLog(t, "", zap.New(core))
	want := map[string]string{
		"SESSIONFX_SESSION_COOKIE_SECURE":             "SESSIONFX_SESSION__COOKIE__SECURE (session.cookie.secure)",
		"SESSIONFX_KVCACHE_BACKENDS_DEFAULT_MAX_SIZE": "SESSIONFX_KVCACHE__BACKENDS__DEFAULT__MAX_SIZE (kvcache.backends.default.max_size)",
		"SESSIONFX_GORM_DSN":                          "SESSIONFX_GORM__DSN (gorm.dsn)",
		"SESSIONFX_COOKIE_DEV_MODE":                   "SESSIONFX_COOKIE__DEV_MODE (cookie.dev_mode)",
		"SESSIONFX_SESSION_BACKEND":                   "SESSIONFX_SESSION__STORE (session.store)", // a deprecated key: its new place
		"SESSIONFX_COOKIE_STORE_KEYS":                 "SESSIONFX_COOKIE__KEYS (cookie.keys)",
		"SESSIONFX_MYSTORE_X":                         "e.g. SESSIONFX_SESSION__COOKIE__SECURE",
	}
	for name, hint := range want {
		e := logs.FilterMessageSnippet("environment variable " + name + " ").All()
		if len(e) != 1 || !strings.Contains(e[0].Message, hint) {
			t.Errorf("%s: warnings %v; want one with %q", name, e, hint)
		}
	}
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "secret") || strings.Contains(e.Message, "SESSIONFX_TEST_") {
			t.Errorf("warning %q", e.Message)
		}
	}
	if f.Exists("session_cookie_secure") {
		t.Error("the single-underscore variable set a key")
	}
	// Without the section declared, no suggestion.
	core, logs = observer.New(zapcore.WarnLevel)
	if _, err := config.Load("", zap.New(core), config.Options{}); err != nil {
		t.Fatal(err)
	}
	if e := logs.FilterMessageSnippet("SESSIONFX_GORM_DSN ").All(); len(e) != 1 || strings.Contains(e[0].Message, "gorm.dsn") {
		t.Errorf("undeclared [gorm]: %v", e)
	}
	t.Setenv("SESSIONFX_SESSION__STRICT", "true")
	_, err := config.Load("", zap.NewNop(), tOptions)
	if err == nil || !strings.Contains(err.Error(), "SESSIONFX_SESSION__COOKIE__SECURE") || strings.Contains(err.Error(), "secret") {
		t.Errorf("strict: %v; want an error naming SESSIONFX_SESSION__COOKIE__SECURE", err)
	}
}

func TestNearest(t *testing.T) {
	for _, tc := range []struct {
		key  string
		cand []string
		want string
	}{
		{"sesion", []string{"session", "kvcache"}, "session"},
		{"kvcahce", []string{"session", "kvcache"}, "kvcache"},
		{"zzzzzzzz", []string{"session", "kvcache"}, ""},
		{"x", nil, ""},
		{"session.idle_timout", []string{"session.idle_timeout", "session.lifetime"}, "session.idle_timeout"},
	} {
		if got := config.Nearest(tc.key, tc.cand); got != tc.want {
			t.Errorf("Nearest(%q, %v) = %q, want %q", tc.key, tc.cand, got, tc.want)
		}
	}
}
