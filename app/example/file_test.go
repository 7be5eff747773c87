package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/fx"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/filekv"
)

// fileTypeOption registers the "file" kvcache type, for as long as
// session.Module does not register it itself.
func fileTypeOption() fx.Option {
	return fx.Provide(fx.Annotate(func() kvcache.TypeRegistration { return filekv.Registration() }, fx.ResultTags(`group:"kvcache_types"`)))
}

// startFileExample starts the example on config.file.ini. It adds the
// "file" type only when the session module does not know it (adding it
// twice would be refused), so the test passes before and after the module
// registers the type.
func startFileExample(t *testing.T, cfg string) (*client, *fx.App, *session.Manager) {
	t.Helper()
	start := func(extra ...fx.Option) (*client, *fx.App, *session.Manager, error) {
		var srv *Server
		var m *session.Manager
		app := fx.New(fx.NopLogger, Options(cfg, "127.0.0.1:0"), fx.Populate(&srv, &m), fx.Options(extra...))
		if err := app.Err(); err != nil {
			return nil, nil, nil, err
		}
		if err := app.Start(context.Background()); err != nil {
			return nil, nil, nil, err
		}
		return &client{t: t, base: "http://" + srv.Addr}, app, m, nil
	}
	c, app, m, err := start()
	if err != nil && (errors.Is(err, kvcache.ErrUnknownBackend) || strings.Contains(err.Error(), `type = "file"`)) {
		c, app, m, err = start(fileTypeOption())
	}
	if err != nil {
		t.Fatal(err)
	}
	return c, app, m
}

func TestFileBackendExample(t *testing.T) {
	cfg := copyConfig(t, "config.file.ini")
	c, app, m := startFileExample(t, cfg)
	if info := m.Store().Info(); info.Name != "kvcache" || !info.CrossProcess {
		t.Fatalf("store info = %+v; want kvcache, shared between processes", info)
	}
	if _, body, _ := c.do("GET", "/visits", nil); body != "{\"visits\":0}\n" || c.cookie != "" {
		t.Fatalf("GET /visits on a new session: %q cookie %q", body, c.cookie)
	}
	c.do("POST", "/visits", nil)
	if _, body, _ := c.do("POST", "/visits", nil); body != "{\"visits\":2}\n" {
		t.Fatalf("POST /visits twice: %q", body)
	}
	// ${here} is the config file's folder.
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "_sessions.sqlite3")); err != nil {
		t.Fatalf("the session file is not next to the config: %v", err)
	}
	if err := app.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Sessions survive a restart.
	c2, app2, _ := startFileExample(t, cfg)
	defer app2.Stop(context.Background())
	c2.cookie = c.cookie
	if _, body, _ := c2.do("GET", "/visits", nil); body != "{\"visits\":2}\n" {
		t.Fatalf("after a restart: %q", body)
	}
}
