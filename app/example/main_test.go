package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/goleak"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends/gormstore"
)

type client struct {
	t      *testing.T
	base   string
	cookie string
}

func (c *client) do(method, path string, form url.Values) (int, string, *http.Response) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "session", Value: c.cookie})
	}
	res, err := http.DefaultTransport.RoundTrip(req) // no redirects followed
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, ck := range res.Cookies() {
		if ck.Name == "session" {
			if ck.MaxAge < 0 {
				c.cookie = ""
			} else {
				c.cookie = ck.Value
			}
		}
	}
	return res.StatusCode, string(b), res
}

func startExample(t *testing.T, config string, extra ...fx.Option) (*client, *fx.App, *session.Manager) {
	t.Helper()
	var srv *Server
	var m *session.Manager
	app := fx.New(fx.NopLogger, Options(config, "127.0.0.1:0"), fx.Populate(&srv, &m), fx.Options(extra...))
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: "http://" + srv.Addr}, app, m
}

func copyConfig(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoutes(t *testing.T) {
	for _, cfg := range []string{"config.ini", "config.yaml", "config.gorm.ini"} {
		t.Run(cfg, func(t *testing.T) {
			c, app, _ := startExample(t, copyConfig(t, cfg))
			defer app.Stop(context.Background())
			if code, body, res := c.do("GET", "/healthz", nil); code != 200 || body != "ok\n" || res.Header.Get("Set-Cookie") != "" {
				t.Fatalf("healthz: %d %q", code, body)
			}
			if _, body, _ := c.do("GET", "/visits", nil); body != "{\"visits\":0}\n" || c.cookie != "" {
				t.Fatalf("GET /visits on a new session: %q cookie %q", body, c.cookie)
			}
			c.do("POST", "/visits", nil)
			if _, body, _ := c.do("POST", "/visits", nil); body != "{\"visits\":2}\n" {
				t.Fatalf("POST /visits twice: %q", body)
			}
			if code, _, _ := c.do("GET", "/kv/color", nil); code != 404 {
				t.Fatalf("absent key: %d", code)
			}
			req, _ := http.NewRequest("PUT", c.base+"/kv/color", strings.NewReader("blue"))
			req.AddCookie(&http.Cookie{Name: "session", Value: c.cookie})
			res, err := http.DefaultClient.Do(req)
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("PUT /kv/color: %v %v", res, err)
			}
			res.Body.Close()
			if _, body, _ := c.do("GET", "/kv/color", nil); !strings.Contains(body, `"value":"blue"`) {
				t.Fatalf("GET /kv/color: %q", body)
			}
			if code, _, _ := c.do("DELETE", "/kv/color", nil); code != 204 {
				t.Fatalf("DELETE /kv/color: %d", code)
			}
			if code, _, _ := c.do("DELETE", "/kv/color", nil); code != 404 {
				t.Fatalf("DELETE of an absent key: %d", code)
			}
			before := c.cookie
			if code, body, _ := c.do("POST", "/login", url.Values{"user": {"ann"}}); code != 200 || c.cookie == before || c.cookie == "" {
				t.Fatalf("login must renew the id: %d %q", code, body)
			}
			old := &client{t: t, base: c.base, cookie: before}
			if _, body, _ := old.do("GET", "/visits", nil); body != "{\"visits\":0}\n" {
				t.Fatalf("the pre-login id still works: %q", body)
			}
			if _, body, _ := c.do("GET", "/visits", nil); body != "{\"visits\":2}\n" {
				t.Fatalf("login lost the data: %q", body)
			}
			code, body, _ := c.do("GET", "/sessions?user=ann", nil)
			var list struct{ Sessions []map[string]any }
			_ = json.Unmarshal([]byte(body), &list)
			if code != 200 || len(list.Sessions) != 1 {
				t.Fatalf("GET /sessions?user=ann: %d %q", code, body)
			}
			if strings.Contains(body, c.cookie) {
				t.Fatal("the session listing reveals a live session id")
			}
			if code, _, _ := c.do("POST", "/logout", nil); code != 200 || c.cookie != "" {
				t.Fatalf("logout: %d cookie %q", code, c.cookie)
			}
			if _, body, _ := c.do("GET", "/sessions?user=ann", nil); strings.Contains(body, "user_id") {
				t.Fatalf("logout left the session in the store: %q", body)
			}
			if code, _, _ := c.do("GET", "/", nil); code != 200 {
				t.Fatalf("GET /: %d", code)
			}
		})
	}
}

func TestGormSessionsSurviveRestart(t *testing.T) {
	cfg := copyConfig(t, "config.gorm.ini")
	c, app, _ := startExample(t, cfg)
	c.do("POST", "/visits", nil)
	c.do("POST", "/visits", nil)
	if err := app.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	c2, app2, _ := startExample(t, cfg)
	defer app2.Stop(context.Background())
	c2.cookie = c.cookie
	if _, body, _ := c2.do("GET", "/visits", nil); body != "{\"visits\":2}\n" {
		t.Fatalf("after a restart: %q", body)
	}
}

func TestGormCorruptRowAndDatabaseDown(t *testing.T) {
	cfg := copyConfig(t, "config.gorm.ini")
	c, app, m := startExample(t, cfg)
	defer app.Stop(context.Background())
	c.do("POST", "/visits", nil)
	st := m.Store().(*gormstore.Store)
	ctx := context.Background()
	if err := st.Query(ctx).Where("session_id = ?", session.HashID(c.cookie)).Update("data", "{broken").Error; err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		code, body, res := c.do("GET", "/visits", nil)
		if code != 200 || body != "{\"visits\":0}\n" {
			t.Fatalf("corrupt row, request %d: want a fresh session, got %d %q", i, code, body)
		}
		if i == 0 && !strings.Contains(res.Header.Get("Set-Cookie"), "Max-Age=0") {
			t.Fatalf("corrupt row: the cookie must be cleared, got %q", res.Header.Get("Set-Cookie"))
		}
	}
	var n int64
	st.Query(ctx).Count(&n)
	if n != 0 {
		t.Fatalf("the corrupt row must be deleted, %d rows left", n)
	}
	// Database down: requests that use the session get 503, others work.
	c.do("POST", "/visits", nil)
	sqlDB, _ := st.DB().DB()
	sqlDB.Close()
	if code, _, _ := c.do("GET", "/visits", nil); code != 503 {
		t.Fatalf("database down: want 503, got %d", code)
	}
	if code, _, _ := c.do("GET", "/healthz", nil); code != 200 {
		t.Fatalf("database down: /healthz must still answer 200, got %d", code)
	}
}

func TestShutdownLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		// database/sql and the sqlite driver keep no goroutines after Close;
		// http keep-alive connections of the test client are closed below.
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
	cfg := copyConfig(t, "config.gorm.ini")
	c, app, _ := startExample(t, cfg)
	for i := 0; i < 3; i++ {
		c.do("POST", "/visits", nil)
	}
	if err := app.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	// Nothing was lost on the way down.
	c2, app2, _ := startExample(t, cfg)
	c2.cookie = c.cookie
	if _, body, _ := c2.do("GET", "/visits", nil); body != "{\"visits\":3}\n" {
		t.Fatalf("after shutdown: %q", body)
	}
	if err := app2.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}

func TestCookieStoreEndToEnd(t *testing.T) {
	c, app, _ := startExample(t, copyConfig(t, "config.cookie.ini"))
	defer app.Stop(context.Background())
	c.do("POST", "/visits", nil)
	if _, body, _ := c.do("POST", "/visits", nil); body != "{\"visits\":2}\n" {
		t.Fatalf("cookie store visits: %q", body)
	}
	if strings.Contains(c.cookie, "visits") || len(c.cookie) < 60 {
		t.Fatalf("the cookie must be sealed, got %q", c.cookie)
	}
	tampered := []byte(c.cookie)
	tampered[len(tampered)/2] ^= 1
	bad := &client{t: t, base: c.base, cookie: string(tampered)}
	if code, body, _ := bad.do("GET", "/visits", nil); code != 200 || body != "{\"visits\":0}\n" {
		t.Fatalf("a tampered cookie must give a fresh session: %d %q", code, body)
	}
	if code, _, _ := c.do("POST", "/login", url.Values{"user": {"ann"}}); code != 200 {
		t.Fatalf("login: %d", code)
	}
	if _, body, _ := c.do("GET", "/kv/user_id", nil); !strings.Contains(body, "ann") {
		t.Fatalf("after login: %q", body)
	}
	if code, _, _ := c.do("GET", "/sessions?user=ann", nil); code != 501 {
		t.Fatalf("the cookie store cannot list sessions: want 501, got %d", code)
	}
	if c.do("POST", "/logout", nil); c.cookie != "" {
		t.Fatal("logout must expire the cookie")
	}
}
