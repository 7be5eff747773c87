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
	app := newModuleApp(t, "[session]\nstrict = true\nstore = kvcache\n[kvcache]\nbackends.default.type = memory\n")
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
}

// A deprecated key starts the module, with one warning naming the new key,
// in strict mode too.
func TestDeprecatedKeyStartsModule(t *testing.T) {
	for _, strict := range []string{"", "strict = true\n"} {
		buf := captureFallback(t)
		var cfg Config
		app := newModuleApp(t, "[session]\n"+strict+"backend = null\n", fx.Populate(&cfg))
		if err := app.Err(); err != nil {
			t.Fatal(err)
		}
		if cfg.Store != "null" {
			t.Errorf("store %q, want null", cfg.Store)
		}
		out := strings.TrimSpace(buf.String())
		if !strings.Contains(out, "WARN") || !strings.Contains(out, "config: session.backend is deprecated: write session.store") || strings.Count(out, "\n") != 0 {
			t.Errorf("strict %q: stderr %q; want one deprecation warning", strict, out)
		}
	}
}

type mystoreConfig struct {
	Size int    `koanf:"size"`
	Path string `koanf:"path"`
}

// A plugin's own section is known, whether or not the plugin is the
// selected store; a misspelt one is still reported.
func TestPluginSectionIsKnown(t *testing.T) {
	reads := AsStore(func() backends.Registration {
		return backends.Registration{Name: "mystore", New: func(env backends.Env) (backends.Storage, error) {
			var cfg mystoreConfig
			if err := env.Config("mystore", &cfg); err != nil {
				return nil, err
			}
			return backends.NullStore{}, nil
		}}
	})
	declares := AsStore(func() backends.Registration {
		return backends.Registration{Name: "mystore", Section: "mystore", Config: mystoreConfig{},
			New: func(env backends.Env) (backends.Storage, error) {
				var cfg mystoreConfig
				if err := env.Config("mystore", &cfg); err != nil {
					return nil, err
				}
				return backends.NullStore{}, nil
			}}
	})
	for _, tc := range []struct {
		name, store string
		plugin      fx.Option
	}{
		{"read, selected", "mystore", reads},
		{"declared, selected", "mystore", declares},
		{"declared, not selected", "kvcache", declares},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf := captureFallback(t)
			app := newModuleApp(t, "[session]\nstore = "+tc.store+"\n[mystore]\nsize = 3\n[mystorre]\nsize = 1\n", tc.plugin)
			if err := app.Err(); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if strings.Contains(out, "unknown key mystore ") {
				t.Errorf("[mystore] reported as unknown: %s", out)
			}
			if !strings.Contains(out, "unknown key mystorre is ignored; did you mean mystore?") {
				t.Errorf("[mystorre] not reported: %s", out)
			}
		})
	}
	// A declared section's keys are checked even when the store is not
	// selected, and environment variables meant for it are matched.
	t.Setenv("SESSIONFX_MYSTORE_PATH", "/x")
	buf := captureFallback(t)
	if err := newModuleApp(t, "[mystore]\nsiz = 3\n", declares).Err(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, w := range []string{"unknown key mystore.siz is ignored; did you mean mystore.size?", "SESSIONFX_MYSTORE_PATH is ignored", "did you mean SESSIONFX_MYSTORE__PATH (mystore.path)?"} {
		if !strings.Contains(out, w) {
			t.Errorf("stderr %q lacks %q", out, w)
		}
	}
	if n := strings.Count(strings.TrimSpace(out), "\n"); n != 1 {
		t.Errorf("want two warnings, got:\n%s", out)
	}
}
