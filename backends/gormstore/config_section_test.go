package gormstore_test

// The [gorm] section as the session module knows it through the store's
// registration: a known section whichever store is selected, its keys
// checked, and environment variables meant for it matched.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/dig"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/config"
)

// sectionApp builds session.Module with gormstore.Module on an INI text;
// it returns the app and the warnings logged.
func sectionApp(t *testing.T, ini string) (*fx.App, *observer.ObservedLogs) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.ini")
	if err := os.WriteFile(p, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	app := fx.New(fx.NopLogger, fx.Supply(zap.New(core)), session.Module, gormstore.Module, session.UseConfigFile(p),
		fx.Invoke(func(*session.Manager) {}))
	t.Cleanup(func() {
		if app.Err() == nil {
			_ = app.Stop(context.Background())
		}
	})
	return app, logs
}

func TestSectionDeclared(t *testing.T) {
	reg := gormstore.Registration()
	if reg.Section != "gorm" {
		t.Errorf("Section = %q, want gorm", reg.Section)
	}
	if _, ok := reg.Config.(gormstore.Config); !ok {
		t.Errorf("Config = %T, want gormstore.Config", reg.Config)
	}
}

// [gorm] is known when gorm is not the store; a typo in it is reported
// all the same, and in strict mode fails start-up.
func TestSectionKnownAndChecked(t *testing.T) {
	app, logs := sectionApp(t, "[session]\nstore = kvcache\n[gorm]\ndriver = sqlite\ntable = sessions\n")
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("[gorm] reported: %v", logs.All())
	}
	app, logs = sectionApp(t, "[session]\nstore = kvcache\n[gorm]\ndriver = sqlite\ntabel = sessions\n")
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if e := logs.FilterMessageSnippet("unknown key gorm.tabel is ignored; did you mean gorm.table?").All(); len(e) != 1 || logs.Len() != 1 {
		t.Errorf("warnings %v; want one for gorm.tabel", logs.All())
	}
	app, _ = sectionApp(t, "[session]\nstrict = true\nstore = kvcache\n[gorm]\ntabel = sessions\n")
	if err := app.Err(); err == nil || !strings.Contains(dig.RootCause(err).Error(), "gorm.tabel") {
		t.Errorf("strict: %v; want an error naming gorm.tabel", err)
	}
}

// An environment variable written with single underscores is matched to
// the [gorm] key it most likely means; its value (a DSN) is never shown.
func TestSectionEnvSuggestion(t *testing.T) {
	t.Setenv("SESSIONFX_GORM_DSN", "postgres://u:secretpw@h/db")
	app, logs := sectionApp(t, "")
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	e := logs.FilterMessageSnippet("environment variable SESSIONFX_GORM_DSN ").All()
	if len(e) != 1 || !strings.Contains(e[0].Message, "SESSIONFX_GORM__DSN (gorm.dsn)") {
		t.Errorf("warnings %v; want one suggesting SESSIONFX_GORM__DSN", logs.All())
	}
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "secretpw") {
			t.Errorf("warning shows the password: %q", e.Message)
		}
	}
	// Without fx: the section as the registration declares it.
	reg := gormstore.Registration()
	core, logs := observer.New(zapcore.WarnLevel)
	if _, err := config.Load("", zap.New(core), config.Options{Sections: []config.Section{{Name: reg.Section, Config: reg.Config}}}); err != nil {
		t.Fatal(err)
	}
	if e := logs.FilterMessageSnippet("SESSIONFX_GORM__DSN (gorm.dsn)").All(); len(e) != 1 {
		t.Errorf("warnings %v", logs.All())
	}
}
