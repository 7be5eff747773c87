package cookiestore

// The [cookie] section as the session module knows it: a known section
// whichever store is selected, and [cookie_store], its old name, still
// read with one warning.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
)

// sectionApp builds session.Module with Module on an INI text; it returns
// the app, the store the module built and the warnings logged.
func sectionApp(t *testing.T, ini string) (*fx.App, backends.Storage, *observer.ObservedLogs) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.ini")
	if err := os.WriteFile(p, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	var st backends.Storage
	app := fx.New(fx.NopLogger, fx.Supply(zap.New(core)), session.Module, Module, session.UseConfigFile(p),
		fx.Invoke(func(*session.Manager) {}), fx.Populate(&st))
	t.Cleanup(func() {
		if app.Err() == nil {
			_ = app.Stop(context.Background())
		}
	})
	return app, st, logs
}

func TestSectionDeclared(t *testing.T) {
	reg := Registration()
	if reg.Section != "cookie" {
		t.Errorf("Section = %q, want cookie", reg.Section)
	}
	if _, ok := reg.Config.(Config); !ok {
		t.Errorf("Config = %T, want cookiestore.Config", reg.Config)
	}
}

func TestSectionKnown(t *testing.T) {
	for _, store := range []string{"kvcache", "cookie"} {
		app, _, logs := sectionApp(t, "[session]\nstore = "+store+"\n[cookie]\ndev_mode = true\n")
		if err := app.Err(); err != nil {
			t.Fatal(err)
		}
		if e := logs.FilterMessageSnippet("config:").All(); len(e) != 0 { // (dev_mode warns, as it should)
			t.Errorf("store = %s: [cookie] reported: %v", store, e)
		}
	}
}

// [cookie_store] is read as [cookie], with one warning; [cookie] wins key
// by key.
func TestSectionDeprecatedName(t *testing.T) {
	k := testKey(1)
	app, st, logs := sectionApp(t, "[session]\nstore = cookie\ncookie.name = sid\n[cookie_store]\nkeys = "+k+"\ncookie_name = old\n")
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if s, ok := st.(*Store); !ok || s.CookieName() != "old" {
		t.Errorf("store %T %v; want the cookie store bound to cookie_name old", st, st)
	}
	e := logs.FilterMessageSnippet("config: cookie_store is deprecated: write cookie").All()
	if len(e) != 1 || logs.Len() != 1 {
		t.Errorf("warnings %v; want one deprecation", logs.All())
	}
	for _, e := range logs.All() {
		if strings.Contains(e.Message, k) {
			t.Errorf("warning shows the key: %q", e.Message)
		}
	}
	app, st, logs = sectionApp(t, "[session]\nstore = cookie\n[cookie_store]\nkeys = "+k+"\ncookie_name = old\n[cookie]\ncookie_name = new\n")
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if s := st.(*Store); s.CookieName() != "new" {
		t.Errorf("cookie_name = %q, want new ([cookie] wins)", s.CookieName())
	}
	if e := logs.FilterMessageSnippet("cookie.cookie_name is also set, and wins").All(); len(e) != 1 {
		t.Errorf("warnings %v", logs.All())
	}
}
