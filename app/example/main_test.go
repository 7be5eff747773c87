package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/goleak"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/gormstore"
)

type client struct {
	t      *testing.T
	base   string
	cookie string
}

func (c *client) do(method, path string, form url.Values) (int, string, *http.Response) {
	c.t.Helper()
	if form != nil {
		return c.send(method, path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	}
	return c.send(method, path, "", nil)
}

// send is do with any body.
func (c *client) send(method, path, contentType string, body io.Reader) (int, string, *http.Response) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
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
			c, app, m := startExample(t, copyConfig(t, cfg))
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
			code, body, _ := c.do("GET", "/sessions", nil)
			var list struct{ Sessions []map[string]any }
			_ = json.Unmarshal([]byte(body), &list)
			if code != 200 || len(list.Sessions) != 1 {
				t.Fatalf("GET /sessions: %d %q", code, body)
			}
			if strings.Contains(body, c.cookie) || strings.Contains(body, session.HashID(c.cookie)) {
				t.Fatal("the session listing reveals a live session id")
			}
			if code, _, _ := c.do("POST", "/logout", nil); code != 200 || c.cookie != "" {
				t.Fatalf("logout: %d cookie %q", code, c.cookie)
			}
			if n := storedSessionsOf(t, m, "ann"); n != 0 {
				t.Fatalf("logout left %d session(s) of ann in the store", n)
			}
			if code, _, _ := c.do("GET", "/sessions", nil); code != 401 {
				t.Fatalf("GET /sessions after logout: want 401, got %d", code)
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
	if code, body, _ := c.do("GET", "/visits", nil); code != 503 || body != "{\"error\":\"session store unavailable\"}\n" {
		t.Fatalf("database down: want 503 with a generic body, got %d %q", code, body)
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
	if code, body, _ := c.do("GET", "/sessions", nil); code != 501 || body != "{\"error\":\"this session backend cannot list sessions\"}\n" {
		t.Fatalf("the cookie store cannot list sessions: want 501, got %d %q", code, body)
	}
	if code, _, _ := c.do("POST", "/sessions/revoke", url.Values{"all_others": {"1"}}); code != 501 {
		t.Fatalf("the cookie store cannot revoke sessions: want 501, got %d", code)
	}
	anon := &client{t: t, base: c.base}
	if code, _, _ := anon.do("GET", "/sessions", nil); code != 401 {
		t.Fatalf("GET /sessions without a login: want 401, got %d", code)
	}
	if c.do("POST", "/logout", nil); c.cookie != "" {
		t.Fatal("logout must expire the cookie")
	}
}

// storedSessionsOf counts the stored sessions whose user_id is user.
func storedSessionsOf(t *testing.T, m *session.Manager, user string) int {
	t.Helper()
	n := 0
	if err := m.Iterate(context.Background(), func(rec backends.Record) error {
		if rec.Data["user_id"] == user {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// withHashIDsOff writes a copy of an INI config with hash_ids = false under
// [session] (so stores keep the raw session ids).
func withHashIDsOff(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "[session]\n", "[session]\nhash_ids = false\n", 1)
	if text == string(b) {
		t.Fatalf("%s has no [session] section", name)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type listing struct {
	User     string `json:"user"`
	Sessions []struct {
		Handle    string     `json:"handle"`
		Current   bool       `json:"current"`
		Created   time.Time  `json:"created"`
		LastSeen  time.Time  `json:"last_seen"`
		Updated   time.Time  `json:"updated"`
		Expires   *time.Time `json:"expires"`
		UserAgent string     `json:"user_agent"`
		IP        *string    `json:"ip"`
		Keys      int        `json:"keys"`
	} `json:"sessions"`
}

// sessions is GET /sessions, decoded; it fails the test unless it is 200,
// and checks that no live session id, storage id or id hash appears in it.
func (c *client) sessions(m *session.Manager, ids ...string) (listing, string) {
	c.t.Helper()
	code, body, res := c.do("GET", "/sessions", nil)
	if code != 200 {
		c.t.Fatalf("GET /sessions: %d %q", code, body)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		c.t.Fatalf("GET /sessions must not be cached, Cache-Control %q", cc)
	}
	var l listing
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		c.t.Fatalf("GET /sessions: %v in %q", err, body)
	}
	for _, id := range append(ids, c.cookie) {
		if id == "" {
			continue
		}
		for _, secret := range []string{id, session.HashID(id), m.StorageID(id)} {
			if strings.Contains(strings.ToLower(body), strings.ToLower(secret)) {
				c.t.Fatalf("GET /sessions reveals a session id or its hash: %q", body)
			}
		}
	}
	return l, body
}

func (l listing) current(t *testing.T) string {
	t.Helper()
	cur := ""
	for _, s := range l.Sessions {
		if s.Current {
			if cur != "" {
				t.Fatalf("two current sessions in %+v", l)
			}
			cur = s.Handle
		}
		if len(s.Handle) != 32 || s.Created.IsZero() || s.LastSeen.Before(s.Created) || !s.Updated.Equal(s.LastSeen) || s.Expires == nil || s.Keys < 1 {
			t.Fatalf("incomplete listing item %+v", s)
		}
		// The test client's user agent, recorded at creation; no IP
		// without record_ip.
		if !strings.HasPrefix(s.UserAgent, "Go-http-client/") || s.IP != nil {
			t.Fatalf("listing item: user_agent %q, ip %v; want the client's and none", s.UserAgent, s.IP)
		}
	}
	if cur == "" {
		t.Fatalf("no current session in %+v", l)
	}
	return cur
}

func TestMySessions(t *testing.T) {
	configs := map[string]func(t *testing.T) string{
		"config.ini":                   func(t *testing.T) string { return copyConfig(t, "config.ini") },
		"config.yaml":                  func(t *testing.T) string { return copyConfig(t, "config.yaml") },
		"config.gorm.ini":              func(t *testing.T) string { return copyConfig(t, "config.gorm.ini") },
		"config.ini,hash_ids=off":      func(t *testing.T) string { return withHashIDsOff(t, "config.ini") },
		"config.gorm.ini,hash_ids=off": func(t *testing.T) string { return withHashIDsOff(t, "config.gorm.ini") },
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			c, app, m := startExample(t, cfg(t))
			defer app.Stop(context.Background())
			base := c.base
			alice1, alice2, bob := c, &client{t: t, base: base}, &client{t: t, base: base}
			anon := &client{t: t, base: base}

			if code, body, _ := anon.do("GET", "/sessions", nil); code != 401 || body != "{\"error\":\"login required\"}\n" {
				t.Fatalf("GET /sessions without a session: want 401 and a generic body, got %d %q", code, body)
			}
			anon.do("POST", "/visits", nil) // a session, but no login
			if code, _, _ := anon.do("GET", "/sessions", nil); code != 401 || anon.cookie == "" {
				t.Fatalf("GET /sessions on a session without user_id: want 401, got %d", code)
			}
			if code, _, _ := anon.do("POST", "/sessions/revoke", url.Values{"all_others": {"1"}}); code != 401 {
				t.Fatalf("revoke without a login: want 401, got %d", code)
			}
			for _, cl := range []*client{alice1, alice2} {
				if code, body, _ := cl.do("POST", "/login", url.Values{"user": {"alice"}}); code != 200 {
					t.Fatalf("alice login: %d %q", code, body)
				}
			}
			if code, body, _ := bob.do("POST", "/login", url.Values{"user": {"bob"}}); code != 200 {
				t.Fatalf("bob login: %d %q", code, body)
			}
			alice2.do("POST", "/visits", nil)
			ids := []string{alice1.cookie, alice2.cookie, bob.cookie, anon.cookie}
			if name == "config.ini,hash_ids=off" || name == "config.gorm.ini,hash_ids=off" {
				if m.StorageID(alice1.cookie) != alice1.cookie {
					t.Fatal("hash_ids = false was not applied")
				}
			}

			l1, _ := alice1.sessions(m, ids...)
			l2, _ := alice2.sessions(m, ids...)
			lb, _ := bob.sessions(m, ids...)
			if len(l1.Sessions) != 2 || len(l2.Sessions) != 2 || len(lb.Sessions) != 1 || l1.User != "alice" || lb.User != "bob" {
				t.Fatalf("alice must see her 2 sessions, bob his 1: %+v / %+v / %+v", l1, l2, lb)
			}
			cur1, cur2, curB := l1.current(t), l2.current(t), lb.current(t)
			if cur1 == cur2 || cur1 == curB || cur2 == curB {
				t.Fatalf("each client must see its own session as current: %s %s %s", cur1, cur2, curB)
			}
			for _, h := range []string{cur1, cur2, curB} {
				for _, id := range ids {
					for _, secret := range []string{id, session.HashID(id), m.StorageID(id)} {
						if strings.Contains(strings.ToLower(secret), h) {
							t.Fatal("a handle is (part of) a session id or its hash")
						}
					}
				}
			}

			// Bob cannot end alice's sessions; nor can bad requests.
			for _, form := range []url.Values{{"handle": {cur2}}, {"handle": {"nope"}}, {"handle": {session.HashID(alice2.cookie)}}} {
				if code, body, _ := bob.do("POST", "/sessions/revoke", form); code != 404 || body != "{\"error\":\"no such session\"}\n" {
					t.Fatalf("bob revoking %v: want 404, got %d %q", form, code, body)
				}
			}
			for _, form := range []url.Values{{}, {"handle": {cur1}, "all_others": {"1"}}, {"all_others": {"yes"}}} {
				if code, _, _ := bob.do("POST", "/sessions/revoke", form); code != 400 {
					t.Fatalf("revoke with %v: want 400, got %d", form, code)
				}
			}
			if _, body, _ := alice2.do("GET", "/visits", nil); body != "{\"visits\":1}\n" {
				t.Fatalf("alice's second session must survive bob's attempt: %q", body)
			}

			// all_others: alice2 is logged out, alice1 and bob stay.
			code, body, _ := alice1.do("POST", "/sessions/revoke", url.Values{"all_others": {"1"}})
			if code != 200 || body != "{\"current_revoked\":false,\"revoked\":1}\n" {
				t.Fatalf("alice revoking all others: %d %q", code, body)
			}
			if code, _, _ := alice2.do("GET", "/sessions", nil); code != 401 {
				t.Fatalf("alice's other session must be logged out: GET /sessions gave %d", code)
			}
			if _, body, _ := alice2.do("GET", "/visits", nil); body != "{\"visits\":0}\n" {
				t.Fatalf("alice's other session must be gone: %q", body)
			}
			if l, _ := alice1.sessions(m, ids...); len(l.Sessions) != 1 || l.current(t) != cur1 {
				t.Fatalf("alice's current session must survive all_others: %+v", l)
			}
			if l, _ := bob.sessions(m, ids...); len(l.Sessions) != 1 {
				t.Fatalf("bob's session must survive alice's all_others: %+v", l)
			}

			// By handle: another of alice's sessions, then her current one.
			alice3 := &client{t: t, base: base}
			alice3.do("POST", "/login", url.Values{"user": {"alice"}})
			l3, _ := alice3.sessions(m, append(ids, alice3.cookie)...)
			cur3 := l3.current(t)
			if code, body, _ := alice1.do("POST", "/sessions/revoke", url.Values{"handle": {cur3}}); code != 200 || body != "{\"current_revoked\":false,\"revoked\":1}\n" {
				t.Fatalf("alice revoking by handle: %d %q", code, body)
			}
			if code, _, _ := alice3.do("GET", "/sessions", nil); code != 401 {
				t.Fatalf("the revoked session must be logged out: %d", code)
			}
			if code, _, _ := alice1.do("POST", "/sessions/revoke", url.Values{"handle": {cur3}}); code != 404 {
				t.Fatalf("revoking an ended session again: want 404, got %d", code)
			}
			if code, body, _ := alice1.do("POST", "/sessions/revoke", url.Values{"handle": {cur1}}); code != 200 || body != "{\"current_revoked\":true,\"revoked\":1}\n" || alice1.cookie != "" {
				t.Fatalf("alice revoking her current session: %d %q cookie %q", code, body, alice1.cookie)
			}
			if n := storedSessionsOf(t, m, "alice"); n != 0 {
				t.Fatalf("%d session(s) of alice left in the store", n)
			}
			if l, _ := bob.sessions(m, ids...); len(l.Sessions) != 1 || l.current(t) != curB {
				t.Fatalf("bob's session must be untouched: %+v", l)
			}
		})
	}
}

func TestBodyLimitsAndGenericErrors(t *testing.T) {
	for _, cfg := range []string{"config.ini", "config.gorm.ini", "config.cookie.ini"} {
		t.Run(cfg, func(t *testing.T) {
			c, app, _ := startExample(t, copyConfig(t, cfg))
			defer app.Stop(context.Background())
			c.do("POST", "/visits", nil)
			big := strings.Repeat("a", 64<<10+1)
			code, body, _ := c.send("PUT", "/kv/x", "application/octet-stream", strings.NewReader(big))
			if code != 413 || body != "{\"error\":\"request body too large\"}\n" {
				t.Fatalf("PUT /kv/x with 64 KiB + 1: want 413, got %d %q", code, body)
			}
			if code, _, _ := c.do("GET", "/kv/x", nil); code != 404 {
				t.Fatalf("a refused body must not be stored: GET /kv/x gave %d", code)
			}
			// Within the body limit but over the session size limit: the
			// save fails, the answer is generic.
			code, body, _ = c.send("PUT", "/kv/x", "application/octet-stream", strings.NewReader(big[1:]))
			if code != 413 || body != "{\"error\":\"session too large\"}\n" {
				t.Fatalf("PUT /kv/x with 64 KiB: want 413 session too large, got %d %q", code, body)
			}
			if code, _, _ := c.do("GET", "/kv/x", nil); code != 404 {
				t.Fatalf("a session too large must not be stored: GET /kv/x gave %d", code)
			}
			if _, body, _ := c.do("GET", "/visits", nil); body != "{\"visits\":1}\n" {
				t.Fatalf("the session must be intact: %q", body)
			}
			// A big login form is refused too, not truncated.
			code, body, _ = c.send("POST", "/login", "application/x-www-form-urlencoded", strings.NewReader("user=bob&pad="+big))
			if code != 413 || body != "{\"error\":\"request body too large\"}\n" {
				t.Fatalf("oversized login form: want 413, got %d %q", code, body)
			}
			// Invalid UTF-8 cannot be stored: a generic 400.
			code, body, _ = c.send("PUT", "/kv/x", "application/octet-stream", strings.NewReader("\xff\xfe"))
			if code != 400 || body != "{\"error\":\"this value cannot be stored in the session\"}\n" {
				t.Fatalf("invalid UTF-8 value: want a generic 400, got %d %q", code, body)
			}
			// The login identity cannot be written through /kv.
			if code, _, _ := c.send("PUT", "/kv/user_id", "text/plain", strings.NewReader("alice")); code != 403 {
				t.Fatalf("PUT /kv/user_id: want 403, got %d", code)
			}
			if code, _, _ := c.do("DELETE", "/kv/user_id", nil); code != 403 {
				t.Fatalf("DELETE /kv/user_id: want 403, got %d", code)
			}
			if code, _, _ := c.do("GET", "/sessions", nil); code != 401 {
				t.Fatalf("still not logged in: want 401, got %d", code)
			}
			if code, _, _ := c.do("POST", "/login", url.Values{"user": {strings.Repeat("u", 129)}}); code != 400 {
				t.Fatalf("an overlong user name: want 400, got %d", code)
			}
			// The page never shows the session id.
			if code, body, _ := c.do("GET", "/", nil); code != 200 || c.cookie == "" || strings.Contains(body, c.cookie) {
				t.Fatalf("GET / must not show the session id: %d", code)
			}
		})
	}
}

func TestLoginAsAnotherUserDropsData(t *testing.T) {
	c, app, _ := startExample(t, copyConfig(t, "config.ini"))
	defer app.Stop(context.Background())
	c.do("POST", "/login", url.Values{"user": {"alice"}})
	c.send("PUT", "/kv/secret", "text/plain", strings.NewReader("alice's"))
	// Log in as bob with a multipart form (browsers may send either kind).
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("user", "bob")
	mw.Close()
	if code, body, _ := c.send("POST", "/login", mw.FormDataContentType(), &buf); code != 200 {
		t.Fatalf("multipart login: %d %q", code, body)
	}
	if code, _, _ := c.do("GET", "/kv/secret", nil); code != 404 {
		t.Fatalf("alice's data must not carry over into bob's login: %d", code)
	}
	if _, body, _ := c.do("GET", "/kv/user_id", nil); !strings.Contains(body, `"value":"bob"`) {
		t.Fatalf("after the second login: %q", body)
	}
}
