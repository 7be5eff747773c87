package session_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libtnb/sqlite"
	"go.uber.org/dig"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"gorm.io/gorm"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/stores"
)

// startupErr builds and starts the module on config (an INI text) and
// returns the cause of the failure, as the example app prints it.
func startupErr(t *testing.T, config string, opts ...fx.Option) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notdb.sqlite3"), []byte(strings.Repeat("not a database, just text\n", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "c.ini")
	if err := os.WriteFile(p, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	app := fx.New(fx.NopLogger, fx.Supply(zap.NewNop()), session.Module, stores.All, session.UseConfigFile(p),
		fx.Invoke(func(*session.Manager) {}), fx.Options(opts...))
	err := app.Err()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err = app.Start(ctx); err == nil {
			_ = app.Stop(ctx)
			t.Fatalf("config started; want a start-up error:\n%s", config)
		}
	}
	return dig.RootCause(err).Error()
}

// Each mistake is reported with its own key and cause; session.backend is
// blamed only for a name that no store is registered under; no password
// is shown.
func TestStartupErrorsNameTheirCause(t *testing.T) {
	const pw = "hunter2pw"
	pgBase := "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable"
	havePG := os.Getenv("SESSIONFX_TEST_POSTGRES_DSN") != ""
	if havePG {
		pgBase = os.Getenv("SESSIONFX_TEST_POSTGRES_DSN")
	}
	for _, tc := range []struct {
		name, config string
		want         []string
		needPG       bool
	}{
		{"driver postgresql", "[session]\nstore = gorm\n[gorm]\ndriver = postgresql\n",
			[]string{`gorm.driver = "postgresql"`, "allowed: sqlite, postgres, mysql", "write postgres"}, false},
		{"driver oracle", "[session]\nstore = gorm\n[gorm]\ndriver = oracle\n",
			[]string{`gorm.driver = "oracle"`, "allowed: sqlite, postgres, mysql"}, false},
		{"no such role", "[session]\nstore = gorm\n[gorm]\ndriver = postgres\ndsn = " + pgBase + " user=nosuchrole password=" + pw + "\n",
			[]string{"gorm.dsn not shown", `role "nosuchrole" does not exist`}, true},
		{"wrong port", "[session]\nstore = gorm\n[gorm]\ndriver = postgres\ndsn = host=127.0.0.1 port=1 user=u password=" + pw + " dbname=x sslmode=disable connect_timeout=2\n",
			[]string{"gorm.dsn not shown", "127.0.0.1:1", "connection refused"}, false},
		{"invalid table", "[session]\nstore = gorm\n[gorm]\ndsn = :memory:\ntable = my-sessions\n",
			[]string{`gorm.table = "my-sessions"`, "want letters, digits"}, false},
		{"not a database", "[session]\nstore = gorm\n[gorm]\ndsn = ${here}/notdb.sqlite3\n",
			[]string{"gorm.dsn not shown", "file is not a database"}, false},
		{"cookie store without keys", "[session]\nstore = cookie\n[cookie]\n",
			[]string{"cookie.keys", "no key configured", "head -c32 /dev/urandom | base64"}, false},
		{"cookie store short key", "[session]\nstore = cookie\n[cookie]\nkeys = c2hvcnQ=\n",
			[]string{"cookie.keys[0]", "decodes to 5 bytes", "head -c32 /dev/urandom | base64"}, false},
		{"cookie store negative max_size", "[session]\nstore = cookie\n[cookie]\ndev_mode = true\nmax_size = -1\n",
			[]string{"cookie.max_size = -1", "want a positive number"}, false},
		{"memory negative max_size", "[session]\nstore = kvcache\n[kvcache]\nbackends.default.type = memory\nbackends.default.max_size = -1\n",
			[]string{`kvcache.backends.default.max_size = "-1"`, "a size like 64MiB"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needPG && !havePG {
				t.Skip("SESSIONFX_TEST_POSTGRES_DSN is unset")
			}
			got := startupErr(t, tc.config)
			t.Log(got)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("start-up error %q does not contain %q", got, w)
				}
			}
			if strings.Contains(got, "session.store") {
				t.Errorf("start-up error %q blames session.backend, which is valid", got)
			}
			if strings.Contains(got, pw) {
				t.Errorf("start-up error shows the password: %q", got)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("start-up error is not one line: %q", got)
			}
		})
	}
}

func TestStartupErrorUnknownStore(t *testing.T) {
	for _, tc := range []struct{ store, hint string }{
		{"redis", "Redis is store = kvcache"},
		{"grom", "did you mean gorm?"},
		{"postgres", "store = gorm (gormstore.Module), with gorm.driver"},
	} {
		got := startupErr(t, "[session]\nstore = "+tc.store+"\n")
		for _, w := range []string{`session.store = "` + tc.store + `"`, "allowed: cookie, gorm, kvcache, layered, null", tc.hint} {
			if !strings.Contains(got, w) {
				t.Errorf("store = %s: %q does not contain %q", tc.store, got, w)
			}
		}
	}
}

// A config that selects a store or an engine of this repository whose
// module the app lacks fails start-up with one line naming the module.
func TestStartupErrorNamesTheMissingModule(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ config, want string }{
		{"[session]\nstore = gorm\n", `config: session.store = "gorm": the gorm store's module is not in this app: add gormstore.Module (github.com/sessionfx/session/backends/gormstore), or stores.All`},
		{"[session]\nstore = cookie\n", "add cookiestore.Module (github.com/sessionfx/session/backends/cookiestore)"},
		{"[session]\nstore = layered\n", "add layered.Module (github.com/sessionfx/session/backends/layered)"},
		{"[kvcache]\nbackends.default.type = redis\nbackends.default.url = redis://127.0.0.1:1/0\n", `kvcache.backends.default.type = "redis": the redis engine's module is not in this app: add rediskv.Module (github.com/sessionfx/session/kvcache/rediskv)`},
		{"[kvcache]\nbackends.default.type = file\nbackends.default.path = ${here}/f.sqlite3\n", "add filekv.Module (github.com/sessionfx/session/kvcache/filekv)"},
	} {
		p := filepath.Join(dir, "c.ini")
		if err := os.WriteFile(p, []byte(tc.config), 0o600); err != nil {
			t.Fatal(err)
		}
		app := fx.New(fx.NopLogger, fx.Supply(zap.NewNop()), session.Module, session.UseConfigFile(p), fx.Invoke(func(*session.Manager) {}))
		err := app.Err()
		if err == nil {
			t.Errorf("%q: the app started without the store's module", tc.config)
			continue
		}
		got := dig.RootCause(err).Error()
		if !strings.Contains(got, tc.want) || strings.Contains(got, "\n") {
			t.Errorf("%q: start-up error %q; want one line containing %q", tc.config, got, tc.want)
		}
	}
}

// The gorm store migrates once, in OnStart, not also in its constructor.
func TestGormSetupRunsOnce(t *testing.T) {
	db, err := gorm.Open(sqlite.Open(filepath.Join(t.TempDir(), "s.sqlite3")), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var checks atomic.Int64 // Setup starts with HasTable, a query on sqlite_master
	if err := db.Callback().Row().After("gorm:row").Register("count_setup", func(tx *gorm.DB) {
		if strings.Contains(tx.Statement.SQL.String(), "sqlite_master") {
			checks.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "c.ini")
	if err := os.WriteFile(p, []byte("[session]\nstore = gorm\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	app := fx.New(fx.NopLogger, fx.Supply(zap.NewNop(), db), gormstore.UseAppDB(), session.Module, gormstore.Module, session.UseConfigFile(p),
		fx.Invoke(func(*session.Manager) {}))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if n := checks.Load(); n != 0 {
		t.Errorf("the store migrated %d times while being built; want 0 (Setup runs in OnStart)", n)
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer app.Stop(context.Background())
	if n := checks.Load(); n != 1 {
		t.Errorf("Setup ran %d times at start; want 1", n)
	}
	if !db.Migrator().HasTable("sessions") {
		t.Error("no sessions table after start")
	}
}

// backends.Env.Context is bounded: it has a deadline and is cancelled
// once the constructor has returned.
func TestStoreEnvContextIsBounded(t *testing.T) {
	var ctx context.Context
	p := filepath.Join(t.TempDir(), "c.ini")
	if err := os.WriteFile(p, []byte("[session]\nstore = probe\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	app := fx.New(fx.NopLogger, fx.Supply(zap.NewNop()), session.Module, session.UseConfigFile(p),
		session.AsStore(func() backends.Registration {
			return backends.Registration{Name: "probe", New: func(env backends.Env) (backends.Storage, error) {
				ctx = env.Context
				if err := env.Context.Err(); err != nil {
					t.Errorf("Env.Context already done in the constructor: %v", err)
				}
				return backends.NullStore{}, nil
			}}
		}),
		fx.Invoke(func(*session.Manager) {}))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	dl, ok := ctx.Deadline()
	if !ok || time.Until(dl) > session.StoreStartTimeout {
		t.Errorf("Env.Context deadline = %v, %v; want one within %s", dl, ok, session.StoreStartTimeout)
	}
	if ctx.Err() == nil {
		t.Error("Env.Context is still live after the constructor returned")
	}
}
