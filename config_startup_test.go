package session

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"go.uber.org/dig"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessionfx/session/backends"
)

// lockedBuffer is a zapcore.WriteSyncer for the fallback logger in tests.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Sync() error { return nil }

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// captureFallback sends the fallback logger's output (stderr) to a buffer.
func captureFallback(t *testing.T) *lockedBuffer {
	buf := &lockedBuffer{}
	old := fallbackLogOutput
	fallbackLogOutput = buf
	t.Cleanup(func() { fallbackLogOutput = old })
	return buf
}

// newModuleApp builds the module (without starting it) on an INI text,
// with extra options; it provides no *zap.Logger unless opts do.
func newModuleApp(t *testing.T, config string, opts ...fx.Option) *fx.App {
	t.Helper()
	p := cfgWrite(t, "c.ini", config)
	app := fx.New(fx.NopLogger, Module, UseConfigFile(p), fx.Invoke(func(*Manager) {}), fx.Options(opts...))
	t.Cleanup(func() {
		if app.Err() == nil {
			_ = app.Stop(context.Background())
		}
	})
	return app
}

// Without an app logger, warnings still reach stderr.
func TestFallbackLoggerWarnsOnStderr(t *testing.T) {
	buf := captureFallback(t)
	app := newModuleApp(t, "[session]\nidle_timout = 1h\n")
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, w := range []string{"WARN", "unknown key session.idle_timout", "did you mean session.idle_timeout?"} {
		if !strings.Contains(out, w) {
			t.Errorf("stderr %q lacks %q", out, w)
		}
	}
	if n := strings.Count(strings.TrimSpace(out), "\n"); n != 0 {
		t.Errorf("want one line on stderr, got %d:\n%s", n+1, out)
	}
}

// An app logger replaces the fallback: nothing goes to stderr.
func TestAppLoggerReplacesFallback(t *testing.T) {
	buf := captureFallback(t)
	core, logs := observer.New(zapcore.WarnLevel)
	app := newModuleApp(t, "[session]\nidle_timout = 1h\n", fx.Supply(zap.New(core)))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "" {
		t.Errorf("fallback wrote %q though the app provides a logger", buf.String())
	}
	if logs.FilterMessageSnippet("session.idle_timout").Len() != 1 {
		t.Errorf("app logger got %v", logs.All())
	}
}

func TestStrictModeFailsStartup(t *testing.T) {
	captureFallback(t)
	cause := func(app *fx.App) string {
		t.Helper()
		if app.Err() == nil {
			t.Fatal("strict mode started with an unknown key")
		}
		return dig.RootCause(app.Err()).Error()
	}
	got := cause(newModuleApp(t, "[session]\nstrict = true\nidle_timout = 1h\n"))
	for _, w := range []string{"session.idle_timout", `"1h"`, "unknown key", "did you mean session.idle_timeout?", "session.strict"} {
		if !strings.Contains(got, w) {
			t.Errorf("strict error %q lacks %q", got, w)
		}
	}
	got = cause(newModuleApp(t, "[session]\nstrict = true\n[sesion]\nmember = x\n"))
	if !strings.Contains(got, "config: sesion = ") || !strings.Contains(got, "did you mean session?") {
		t.Errorf("strict error for an unknown section: %q", got)
	}
	t.Setenv("SESSIONFX_SESSION__STRICT", "true")
	got = cause(newModuleApp(t, "[kvcache]\nbackends.default.type = memory\nbackends.default.typo = 1\n"))
	if !strings.Contains(got, "kvcache.backends.default.typo") || !strings.Contains(got, "did you mean kvcache.backends.default.type?") {
		t.Errorf("strict (from the environment) error: %q", got)
	}
	t.Setenv("SESSIONFX_SESSION__STRICT", "maybe")
	got = cause(newModuleApp(t, ""))
	if !strings.Contains(got, `session.strict = "maybe"`) {
		t.Errorf("invalid strict value: %q", got)
	}
}

func TestStrictModeAcceptsValidConfig(t *testing.T) {
	app := newModuleApp(t, "[session]\nstrict = true\nbackend = kvcache\n[kvcache]\nbackends.default.type = memory\n")
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
}

// A typo in an environment variable is reported with the variable's name.
func TestEnvTypoNamesTheVariable(t *testing.T) {
	t.Setenv("SESSIONFX_SESSION__IDLE_TIMOUT", "1h")
	core, logs := observer.New(zapcore.WarnLevel)
	cf, err := LoadConfigFile(cfgWrite(t, "c.ini", "[session]\nmember = s\n"), zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(cf); err != nil {
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
// "__" form; SESSIONFX_TEST_* variables are left alone.
func TestSingleUnderscoreEnvVarWarned(t *testing.T) {
	t.Setenv("SESSIONFX_SESSION_COOKIE_SECURE", "false")
	t.Setenv("SESSIONFX_KVCACHE_BACKENDS_DEFAULT_MAX_SIZE", "1MiB")
	t.Setenv("SESSIONFX_GORM_DSN", "postgres://u:secretpw@h/db")
	t.Setenv("SESSIONFX_MYSTORE_X", "1")
	t.Setenv("SESSIONFX_TEST_SOMETHING", "x")
	core, logs := observer.New(zapcore.WarnLevel)
	cf, err := LoadConfigFile("", zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"SESSIONFX_SESSION_COOKIE_SECURE":             "SESSIONFX_SESSION__COOKIE__SECURE (session.cookie.secure)",
		"SESSIONFX_KVCACHE_BACKENDS_DEFAULT_MAX_SIZE": "SESSIONFX_KVCACHE__BACKENDS__DEFAULT__MAX_SIZE (kvcache.backends.default.max_size)",
		"SESSIONFX_GORM_DSN":                          "SESSIONFX_GORM__DSN (gorm.dsn)",
		"SESSIONFX_MYSTORE_X":                         "e.g. SESSIONFX_SESSION__COOKIE__SECURE",
	}
	for name, hint := range want {
		e := logs.FilterMessageSnippet("environment variable " + name + " ").All()
		if len(e) != 1 || !strings.Contains(e[0].Message, hint) {
			t.Errorf("%s: warnings %v; want one with %q", name, e, hint)
		}
	}
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "secretpw") || strings.Contains(e.Message, "SESSIONFX_TEST_") {
			t.Errorf("warning %q", e.Message)
		}
	}
	if cf.Exists("session_cookie_secure") {
		t.Error("the single-underscore variable set a key")
	}
	t.Setenv("SESSIONFX_SESSION__STRICT", "true")
	_, err = LoadConfigFile("", zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), "SESSIONFX_SESSION__COOKIE__SECURE") || strings.Contains(err.Error(), "secretpw") {
		t.Errorf("strict: %v; want an error naming SESSIONFX_SESSION__COOKIE__SECURE", err)
	}
}

func TestYAMLTabHint(t *testing.T) {
	p := cfgWrite(t, "c.yaml", "session:\n\tbackend: kvcache\n")
	_, err := LoadConfigFile(p, nil)
	if err == nil || !strings.Contains(err.Error(), "line 2 is indented with a tab") || !strings.Contains(err.Error(), "spaces") {
		t.Fatalf("YAML with a tab: %v; want the tab hint", err)
	}
	p = cfgWrite(t, "c.yaml", "session:\n  backend: [kvcache\n")
	if _, err := LoadConfigFile(p, nil); err == nil || strings.Contains(err.Error(), "tab") {
		t.Fatalf("YAML without a tab: %v; want an error without the tab hint", err)
	}
}

// A plugin's own section is known, whether or not the plugin is the
// selected store; a misspelt one is still reported.
func TestPluginSectionIsKnown(t *testing.T) {
	plugin := fx.Provide(fx.Annotate(func() backends.Registration {
		return backends.Registration{Name: "mystore", New: func(env backends.Env) (backends.Store, error) {
			var cfg struct {
				Size int `koanf:"size"`
			}
			if err := env.Config("mystore", &cfg); err != nil {
				return nil, err
			}
			return backends.NullStore{}, nil
		}}
	}, fx.ResultTags(StoreGroup)))
	for _, backend := range []string{"mystore", "kvcache"} {
		buf := captureFallback(t)
		app := newModuleApp(t, "[session]\nbackend = "+backend+"\n[mystore]\nsize = 3\n[mystorre]\nsize = 1\n", plugin)
		if err := app.Err(); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if strings.Contains(out, "unknown key mystore ") {
			t.Errorf("backend = %s: [mystore] reported as unknown: %s", backend, out)
		}
		if !strings.Contains(out, "unknown key mystorre is ignored; did you mean mystore?") {
			t.Errorf("backend = %s: [mystorre] not reported: %s", backend, out)
		}
	}
	// The built-in stores' sections are known too.
	buf := captureFallback(t)
	if err := newModuleApp(t, "[gorm]\ndriver = sqlite\n[cookie_store]\ndev_mode = true\n").Err(); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "" {
		t.Errorf("built-in sections reported: %s", buf.String())
	}
}
