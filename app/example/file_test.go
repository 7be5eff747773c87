package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/fx"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
)

// startFileExample starts the example on config.file.ini.
func startFileExample(t *testing.T, cfg string) (*client, *fx.App, *session.Manager) {
	t.Helper()
	var srv *Server
	var m *session.Manager
	app := fx.New(fx.NopLogger, Options(cfg, "127.0.0.1:0"), fx.Populate(&srv, &m))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: "http://" + srv.Addr}, app, m
}

func TestFileBackendExample(t *testing.T) {
	cfg := copyConfig(t, "config.file.ini")
	c, app, m := startFileExample(t, cfg)
	if info := backends.InfoOf(m.Store()); info.Name != "kvcache" || !info.CrossProcess {
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
