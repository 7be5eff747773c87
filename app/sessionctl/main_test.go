package main

// End-to-end tests of sessionctl: sessions are made by a real app stack
// (session.Module, stores.All, the same config file, requests through the
// middleware), then sessionctl runs on that config file and its output,
// exit codes and effect on the store (and on the app) are checked. SQLite
// always; PostgreSQL and Redis when SESSIONFX_TEST_POSTGRES_DSN and
// SESSIONFX_TEST_REDIS_URL are set.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/app/sessionctl/ctl"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/backends/layered"
	"github.com/sessionfx/session/internal/testenv"
	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/rediskv"
	"github.com/sessionfx/session/stores"
)

// ---- the app side: sessions made through the real stack ----

// testApp is the app: session.Module on the config file, its middleware
// around a small handler.
type testApp struct {
	t       *testing.T
	m       *session.Manager
	storage backends.Storage
	h       http.Handler
	ids     []string // every session id a client was given
	mu      sync.Mutex
}

func startApp(t *testing.T, configFile string, opts ...fx.Option) *testApp {
	t.Helper()
	a := &testApp{t: t}
	app := fxtest.New(t,
		fx.Supply(zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))),
		session.Module,
		stores.All,
		session.UseConfigFile(configFile),
		fx.Options(opts...),
		fx.Populate(&a.m, &a.storage),
	)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	a.h = a.m.Middleware(http.HandlerFunc(appHandler))
	return a
}

// appHandler: /login?user=NAME renews the id and logs NAME in; /visit
// counts; every path answers "user=NAME" (empty when not logged in).
func appHandler(w http.ResponseWriter, r *http.Request) {
	s, err := session.From(r.Context())
	if err != nil {
		http.Error(w, "session: "+err.Error(), http.StatusInternalServerError)
		return
	}
	switch r.URL.Path {
	case "/login":
		if err := s.RenewID(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		err = s.Set("user_id", r.URL.Query().Get("user"))
	case "/visit":
		err = s.Set("visits", s.GetInt("visits")+1)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "user=%s", s.GetString("user_id"))
}

// client is one browser: its user agent and its session cookie.
type client struct {
	a      *testApp
	ua     string
	cookie string
}

func (a *testApp) client(ua string) *client { return &client{a: a, ua: ua} }

// do sends one request (through the middleware, without a network, so the
// user agent may hold bytes a real client would refuse to send) and
// returns the body.
func (c *client) do(path string) string {
	c.a.t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("User-Agent", c.ua)
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "sid", Value: c.cookie})
	}
	rec := httptest.NewRecorder()
	c.a.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		c.a.t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	for _, ck := range rec.Result().Cookies() {
		if ck.Name != "sid" {
			continue
		}
		if ck.MaxAge < 0 || ck.Value == "" {
			c.cookie = ""
			continue
		}
		c.cookie = ck.Value
		c.a.mu.Lock()
		c.a.ids = append(c.a.ids, ck.Value)
		c.a.mu.Unlock()
	}
	return rec.Body.String()
}

func (c *client) login(user string) {
	c.a.t.Helper()
	if got := c.do("/login?user=" + url.QueryEscape(user)); got != "user="+user {
		c.a.t.Fatalf("login %s: %q", user, got)
	}
}

// user is who the app sees logged in on c's next request.
func (c *client) user() string {
	return strings.TrimPrefix(c.do("/whoami"), "user=")
}

// handle is the handle of c's session, as the app computes it.
func (c *client) handle() string {
	return c.a.m.HandleOf(c.a.m.StorageID(c.cookie))
}

// noSecrets fails when out shows a session id the app gave out, or its
// storage id or hash.
func (a *testApp) noSecrets(what, out string) {
	a.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range a.ids {
		for _, s := range []string{id, session.HashID(id), a.m.StorageID(id)} {
			if strings.Contains(out, s) {
				a.t.Fatalf("%s shows a session id or its hash:\n%s", what, out)
			}
		}
	}
}

// ---- the sessionctl side ----

type result struct {
	out, err string
	code     int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
}

// ctlRun runs sessionctl in this process.
func ctlRun(args []string, opts ...fx.Option) result {
	var out, errb bytes.Buffer
	code := ctl.Run(args, &out, &errb, opts...)
	return result{out.String(), errb.String(), code}
}

// sessionctl runs sessionctl on configFile and checks the exit code and
// that nothing it printed shows a session id or hash.
func (a *testApp) sessionctl(configFile string, want int, args ...string) result {
	a.t.Helper()
	r := ctlRun(append([]string{"-config", configFile}, args...))
	if r.code != want {
		a.t.Fatalf("sessionctl %s: want exit %d, got %s", strings.Join(args, " "), want, r)
	}
	a.noSecrets("sessionctl "+strings.Join(args, " "), r.out+r.err)
	a.t.Logf("sessionctl %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.out, r.err)
	return r
}

// errLine checks that r's stderr holds exactly one error line (warnings
// from the store's logger aside) and returns it.
func errLine(t *testing.T, r result) string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(r.err, "\n"), "\n") {
		if strings.HasPrefix(l, "sessionctl: ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || r.out != "" {
		t.Fatalf("want one error line on stderr and nothing on stdout, got %s", r)
	}
	return lines[0]
}

func decode[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.out), &v); err != nil {
		t.Fatalf("output is not the JSON of a %T: %v\n%s", v, err, r)
	}
	return v
}

// ---- configs ----

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app.ini")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sessionSection is the [session] section every test config shares.
func sessionSection(store, idle string, hashIDs bool) string {
	return fmt.Sprintf(`[session]
store = %s
container = sessions
user_key = user_id
record_ip = true
hash_ids = %t
lifetime = 1h
idle_timeout = %s
cleanup_interval = 0
cookie.name = sid
cookie.secure = false
`, store, hashIDs, idle)
}

// backend is a store sessionctl is tested on: config writes a config file
// for it (with that idle timeout) on fresh storage.
type backend struct {
	name   string
	config func(t *testing.T, idle string) string
}

var testBackends = []backend{
	{"sqlite", sqliteConfig},
	{"postgres", postgresConfig},
	{"redis", redisConfig},
	{"layered", layeredConfig},
	{"file", fileConfig},
}

func sqliteConfig(t *testing.T, idle string) string {
	return writeConfig(t, sessionSection("gorm", idle, true)+"[gorm]\ndriver = sqlite\ndsn = ${here}/sessions.sqlite3\ntable = sessions\n")
}

// layeredConfig: a memory front over a SQLite back. local_ttl is tiny:
// sessionctl ends a session in the back (and in its own front), and the
// app's front copy would otherwise serve it for up to local_ttl.
func layeredConfig(t *testing.T, idle string) string {
	return writeConfig(t, sessionSection("layered", idle, true)+"[layered]\nfront = local\nback = gorm\nlocal_ttl = 1ms\n"+
		"[gorm]\ndriver = sqlite\ndsn = ${here}/sessions.sqlite3\n[kvcache]\nbackends.local.type = memory\ncontainers.local.backend = local\n")
}

// fileConfig: the kvcache file engine, which app processes on one host
// share.
func fileConfig(t *testing.T, idle string) string {
	return writeConfig(t, sessionSection("kvcache", idle, false)+
		"[kvcache]\nbackends.f.type = file\nbackends.f.path = ${here}/kv.sqlite3\ncontainers.sessions.backend = f\n")
}

func postgresConfig(t *testing.T, idle string) string {
	dsn := testenv.Require(t, testenv.Postgres)
	table := randomName("sessionctl_")
	t.Cleanup(func() {
		db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{})
		if err != nil {
			return
		}
		_ = db.Migrator().DropTable(table)
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return writeConfig(t, sessionSection("gorm", idle, false)+"[gorm]\ndriver = postgres\ndsn = "+dsn+"\ntable = "+table+"\n")
}

func redisConfig(t *testing.T, idle string) string {
	url := testenv.Require(t, testenv.Redis)
	prefix := randomName("sessionctl-") + ":"
	t.Cleanup(func() {
		b, err := rediskv.New("cleanup", kvcache.BackendConfig{Type: "redis", URL: url}, nil)
		if err != nil {
			return
		}
		defer b.Close()
		_ = kvcache.NewContainer("cleanup", prefix, 0, b).Clear(context.Background())
	})
	return writeConfig(t, sessionSection("kvcache", idle, true)+
		"[kvcache]\nbackends.shared.type = redis\nbackends.shared.url = "+url+"\nbackends.shared.dial_timeout = 2s\n"+
		"containers.sessions.backend = shared\ncontainers.sessions.prefix = "+prefix+"\n")
}

// ---- the end-to-end scenario, on each store ----

func TestSessionctl(t *testing.T) {
	for _, b := range testBackends {
		t.Run(b.name, func(t *testing.T) {
			cfg := b.config(t, "10m")
			testScenario(t, cfg)
		})
	}
}

func testScenario(t *testing.T, cfg string) {
	a := startApp(t, cfg)

	// Before any session: an empty list.
	if got := decode[[]ctl.Session](t, a.sessionctl(cfg, 0, "-json", "list")); len(got) != 0 {
		t.Fatalf("list on an empty store: %v", got)
	}

	alice1 := a.client("Firefox/1.0 (alice's laptop)")
	alice1.login("alice")
	time.Sleep(5 * time.Millisecond) // distinct creation times: list is oldest first
	alice2 := a.client("Chrome/2.0 (alice's phone)")
	alice2.login("alice")
	alice2.do("/visit")
	bob := a.client("curl/8.0")
	bob.login("bob")
	anon := a.client("Anonymous/1.0")
	anon.do("/visit")

	// list, as a table: one row per session, the user agents, a count.
	r := a.sessionctl(cfg, 0, "list")
	for _, want := range []string{"HANDLE", "USER AGENT", alice1.handle(), alice2.handle(), bob.handle(), anon.handle(),
		"Firefox/1.0 (alice's laptop)", "curl/8.0", "192.0.2.1", "4 sessions"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("list does not show %q:\n%s", want, r.out)
		}
	}
	if n := strings.Count(r.out, "\n"); n != 6 { // header, 4 rows, count
		t.Errorf("list: %d lines, want 6:\n%s", n, r.out)
	}

	// list -json: stable fields, oldest first, what the app recorded.
	all := decode[[]ctl.Session](t, a.sessionctl(cfg, 0, "list", "-json"))
	if len(all) != 4 {
		t.Fatalf("list -json: %d sessions, want 4: %+v", len(all), all)
	}
	byHandle := map[string]ctl.Session{}
	for i, s := range all {
		byHandle[s.Handle] = s
		if i > 0 && s.Created.Before(all[i-1].Created) {
			t.Errorf("list -json is not oldest first: %+v", all)
		}
		if s.Expires == nil || !s.Expires.After(time.Now()) || s.LastSeen.Before(s.Created) || s.IP != "192.0.2.1" {
			t.Errorf("list -json: session %+v: want an expiry ahead, last_seen >= created, ip 192.0.2.1", s)
		}
	}
	if all[0].Handle != alice1.handle() {
		t.Errorf("list -json: first is %s, want alice's first session %s", all[0].Handle, alice1.handle())
	}
	if s := byHandle[alice2.handle()]; s.User != "alice" || s.UserAgent != "Chrome/2.0 (alice's phone)" || s.Keys != 2 {
		t.Errorf("alice's second session: %+v; want user alice, her user agent, 2 keys (user_id, visits)", s)
	}
	if s := byHandle[anon.handle()]; s.User != "" || s.Keys != 1 {
		t.Errorf("the anonymous session: %+v; want no user and 1 key", s)
	}
	var raw []map[string]any
	if err := json.Unmarshal([]byte(a.sessionctl(cfg, 0, "-json", "list").out), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"handle", "user", "created", "last_seen", "expires", "user_agent", "ip", "keys"} {
		if _, ok := raw[0][k]; !ok || len(raw[0]) != 8 {
			t.Errorf("list -json: fields %v; want exactly handle, user, created, last_seen, expires, user_agent, ip, keys", raw[0])
		}
	}

	// list -user.
	mine := decode[[]ctl.Session](t, a.sessionctl(cfg, 0, "-json", "list", "-user", "alice"))
	if len(mine) != 2 || mine[0].Handle != alice1.handle() || mine[1].Handle != alice2.handle() {
		t.Errorf("list -user alice: %+v; want her two sessions, oldest first", mine)
	}
	if r := a.sessionctl(cfg, 0, "list", "-user", "nobody"); !strings.Contains(r.out, "0 sessions of nobody") {
		t.Errorf("list -user nobody:\n%s", r.out)
	}

	// show, as text and JSON.
	r = a.sessionctl(cfg, 0, "show", bob.handle())
	for _, want := range []string{"handle      " + bob.handle(), "user        bob", "user agent  curl/8.0", "keys        1", "ip          192.0.2.1"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("show: no %q in\n%s", want, r.out)
		}
	}
	if s := decode[ctl.Session](t, a.sessionctl(cfg, 0, "show", bob.handle(), "-json")); s.Handle != bob.handle() || s.User != "bob" {
		t.Errorf("show -json: %+v", s)
	}

	// revoke HANDLE: that session no longer loads in the app; the other
	// of the same user does.
	revoked := alice1.handle()
	r = a.sessionctl(cfg, 0, "revoke", revoked)
	if r.out != "revoked session "+revoked+"\n" {
		t.Errorf("revoke: %q", r.out)
	}
	if u := alice1.user(); u != "" {
		t.Errorf("after revoke, the revoked session still loads with user %q", u)
	}
	if u := alice2.user(); u != "alice" {
		t.Errorf("after revoking alice's other session, this one has user %q", u)
	}
	// An ended session is not found: exit code 3.
	if line := errLine(t, a.sessionctl(cfg, 3, "show", revoked)); !strings.Contains(line, "no live session has that handle") {
		t.Errorf("show of a revoked handle: %s", line)
	}
	errLine(t, a.sessionctl(cfg, 3, "revoke", revoked))
	errLine(t, a.sessionctl(cfg, 3, "revoke", strings.Repeat("0", 32)))
	errLine(t, a.sessionctl(cfg, 3, "show", "not-a-handle"))

	// revoke-user: all of bob's; again: 0, still success.
	if r := a.sessionctl(cfg, 0, "revoke-user", "bob"); r.out != "revoked 1 session of bob\n" {
		t.Errorf("revoke-user bob: %q", r.out)
	}
	if u := bob.user(); u != "" {
		t.Errorf("after revoke-user, bob's session still loads with user %q", u)
	}
	if got := decode[map[string]any](t, a.sessionctl(cfg, 0, "revoke-user", "bob", "-json")); got["revoked"] != 0.0 || got["user"] != "bob" {
		t.Errorf("revoke-user bob again: %v; want 0 revoked", got)
	}

	// stats: alice's second session, the anonymous one, and the ones the
	// revoked clients' requests just made (anonymous, never stored: they
	// wrote nothing).
	st := decode[ctl.Stats](t, a.sessionctl(cfg, 0, "stats", "-json"))
	if st.Sessions != 2 || st.Anonymous != 1 || st.Users == nil || *st.Users != 1 || st.ByUser["alice"] != 1 || !st.CrossProcess || st.MemoryEngine != nil {
		t.Errorf("stats -json: %+v; want 2 sessions, 1 anonymous, 1 user (alice: 1), shared", st)
	}
	r = a.sessionctl(cfg, 0, "stats")
	for _, want := range []string{"sessions       2", "anonymous      1", "users          1", "memory engine  n/a", "(shared across processes)", "alice  1"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("stats: no %q in\n%s", want, r.out)
		}
	}

	// cleanup runs (what it removes is TestCleanup's).
	a.sessionctl(cfg, 0, "cleanup")
	if u := alice2.user(); u != "alice" {
		t.Errorf("cleanup ended a live session: user %q", u)
	}
}

// TestCleanup: cleanup deletes an expired session from the store and
// keeps a live one. The expiry of carol's session is moved into the past
// through the store (no sleeping on a short idle timeout). On the stores
// that expire sessions themselves (Redis, the file engine) cleanup has
// nothing to do and says so.
func TestCleanup(t *testing.T) {
	for _, b := range testBackends {
		t.Run(b.name, func(t *testing.T) {
			cfg := b.config(t, "10m")
			a := startApp(t, cfg)
			old := a.client("Old/1.0")
			old.login("carol")
			fresh := a.client("Fresh/1.0")
			fresh.login("dave")

			st := a.storage
			if ls, ok := backends.As[*layered.Store](st); ok {
				st = ls.Back()
			}
			gs, isGorm := backends.As[*gormstore.Store](st)
			if !isGorm {
				r := a.sessionctl(cfg, 0, "cleanup")
				if r.out != "deleted 0 expired sessions (the store removes expired sessions itself)\n" {
					t.Errorf("cleanup on %s: %q", b.name, r.out)
				}
				if n := len(decode[[]ctl.Session](t, a.sessionctl(cfg, 0, "-json", "list"))); n != 2 {
					t.Errorf("cleanup on %s: %d sessions left, want both", b.name, n)
				}
				return
			}
			ctx := context.Background()
			rows := func() int64 {
				var n int64
				if err := gs.Query(ctx).Count(&n).Error; err != nil {
					t.Fatal(err)
				}
				return n
			}
			if err := gs.Touch(ctx, a.m.StorageID(old.cookie), time.Now().Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
			if n := rows(); n != 2 {
				t.Fatalf("before cleanup: %d rows, want 2 (one expired)", n)
			}
			if r := a.sessionctl(cfg, 0, "cleanup"); r.out != "deleted 1 expired session\n" {
				t.Errorf("cleanup: %q", r.out)
			}
			if n := rows(); n != 1 {
				t.Errorf("after cleanup: %d rows, want 1", n)
			}
			if got := decode[map[string]any](t, a.sessionctl(cfg, 0, "-json", "cleanup")); got["deleted"] != 0.0 {
				t.Errorf("second cleanup: %v; want 0 deleted", got)
			}
			if u := old.user(); u != "" {
				t.Errorf("the expired session loads with user %q", u)
			}
			if u := fresh.user(); u != "dave" {
				t.Errorf("cleanup ended the live session: user %q", u)
			}
			list := decode[[]ctl.Session](t, a.sessionctl(cfg, 0, "-json", "list"))
			if len(list) != 1 || list[0].User != "dave" {
				t.Errorf("list after cleanup: %+v; want dave's session only", list)
			}
		})
	}
}

// TestHostileValues: a user agent or user name with control characters
// (terminal escapes, newlines) cannot forge table rows or drive the
// terminal; JSON keeps them exactly.
func TestHostileValues(t *testing.T) {
	cfg := sqliteConfig(t, "10m")
	a := startApp(t, cfg)
	const ua = "evil\x1b[2J\x1b]0;owned\x07\nHANDLE\tforged"
	c := a.client(ua)
	c.login("mallory\nroot")
	r := a.sessionctl(cfg, 0, "list")
	if strings.ContainsAny(r.out, "\x1b\x07") || strings.Count(r.out, "\n") != 3 {
		t.Errorf("list passes control characters through:\n%q", r.out)
	}
	if !strings.Contains(r.out, "mallory?root") || !strings.Contains(r.out, "evil?[2J?]0;owned??HANDLE?forged") {
		t.Errorf("list does not show the values with '?' for control characters:\n%q", r.out)
	}
	r = a.sessionctl(cfg, 0, "show", c.handle())
	if strings.ContainsAny(r.out, "\x1b\x07") || strings.Count(r.out, "\n") != 8 {
		t.Errorf("show passes control characters through:\n%q", r.out)
	}
	s := decode[ctl.Session](t, a.sessionctl(cfg, 0, "-json", "show", c.handle()))
	if s.UserAgent != ua || s.User != "mallory\nroot" {
		t.Errorf("show -json: %q %q; want the values as recorded", s.User, s.UserAgent)
	}
	if r := a.sessionctl(cfg, 0, "revoke-user", "mallory\nroot"); r.out != "revoked 1 session of mallory?root\n" {
		t.Errorf("revoke-user: %q", r.out)
	}
}

// typedSession keeps user_id in a column of its own, as apps do to query
// a user's sessions.
type typedSession struct {
	gormstore.Row
	UserID *string `session:"user_id" gorm:"index;size:128"`
}

// TestTypedModel: on a table with the app's typed user column, sessionctl
// reads the users from that column, with its default binary (a model made
// at run time) and through ctl.Run with the app's own model.
func TestTypedModel(t *testing.T) {
	cfg := sqliteConfig(t, "10m")
	a := startApp(t, cfg, gormstore.UseModel[typedSession]())
	c := a.client("Typed/1.0")
	c.login("erin")
	a.client("Other/1.0").login("fred")

	for name, opts := range map[string][]fx.Option{
		"default":     nil,
		"app's model": {gormstore.UseModel[typedSession]()},
	} {
		r := ctlRun([]string{"-config", cfg, "-json", "list", "-user", "erin"}, opts...)
		if r.code != 0 {
			t.Fatalf("%s: %+v", name, r)
		}
		a.noSecrets("list", r.out+r.err)
		got := decode[[]ctl.Session](t, r)
		if len(got) != 1 || got[0].User != "erin" || got[0].Handle != c.handle() {
			t.Errorf("%s: list -user erin on a typed table: %+v", name, got)
		}
		r = ctlRun([]string{"-config", cfg, "-json", "revoke-user", "nobody"}, opts...)
		if r.code != 0 {
			t.Errorf("%s: revoke-user nobody: %+v", name, r)
		}
	}
	// The binary itself, as an operator runs it on the example's config.
	if r := a.sessionctl(cfg, 0, "revoke-user", "fred"); r.out != "revoked 1 session of fred\n" {
		t.Errorf("default binary, revoke-user fred on a typed table: %q", r.out)
	}
	if u := c.user(); u != "erin" {
		t.Errorf("erin's session after revoking fred's: user %q", u)
	}
}

// ---- errors and exit codes ----

func TestUsageErrors(t *testing.T) {
	cfg := sqliteConfig(t, "10m")
	startApp(t, cfg) // creates the table
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"-config", cfg}, "no command given"},
		{[]string{"-config", cfg, "lsit"}, `unknown command "lsit"`},
		{[]string{"-config", cfg, "show"}, "show takes one argument: HANDLE"},
		{[]string{"-config", cfg, "revoke", "a", "b"}, "revoke takes one argument: HANDLE"},
		{[]string{"-config", cfg, "list", "extra"}, "list takes no argument"},
		{[]string{"-config", cfg, "revoke-user", ""}, "revoke-user: NAME is empty"},
		{[]string{"-config", cfg, "-nope", "list"}, "flag provided but not defined: -nope"},
		{[]string{"-config", cfg, "list", "-user"}, "flag needs an argument: -user"},
		{[]string{"-config", cfg, "stats", "-user", "x"}, "flag provided but not defined: -user"},
		{[]string{"-config", cfg, "-timeout", "0", "list"}, "-timeout must be positive"},
		{[]string{"-config", cfg, "-timeout", "soon", "list"}, `invalid value "soon" for flag -timeout`},
		{[]string{"-config", filepath.Join(t.TempDir(), "missing.ini"), "list"}, "bad config: config: cannot read config file"},
		{[]string{"-config", writeConfig(t, "[session]\nstore = gorm\nlifetime = forever\n"), "list"}, `bad config: config: session.lifetime = "forever"`},
		{[]string{"-config", writeConfig(t, "[session]\nstore = postgres\n"), "list"}, `bad config: config: session.store = "postgres"`},
		{[]string{"-config", writeConfig(t, "[session]\nstore = gorm\n[gorm]\ndriver = sqlite\ndsn = "+filepath.Join(filepath.Dir(cfg), "sessions.sqlite3")+"\n"), "list", "-user", "alice"}, "no [session] user_key"},
	} {
		r := ctlRun(tc.args)
		if r.code != 2 {
			t.Errorf("%q: want exit 2, got %s", tc.args, r)
			continue
		}
		if line := errLine(t, r); !strings.Contains(line, tc.want) {
			t.Errorf("%q: %s; want it to contain %q", tc.args, line, tc.want)
		}
	}

	// No -config and no ./config.ini.
	t.Chdir(t.TempDir())
	if r := ctlRun([]string{"list"}); r.code != 2 || !strings.Contains(r.err, "no config file") {
		t.Errorf("without -config: %s", r)
	}
	// ./config.ini is the default.
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "${here}", filepath.Dir(cfg))
	if err := os.WriteFile("config.ini", []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := ctlRun([]string{"list"}); r.code != 0 || !strings.Contains(r.out, "0 sessions") {
		t.Errorf("with ./config.ini: %s", r)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"list", "-h"}} {
		r := ctlRun(args)
		if r.code != 0 || r.out != ctl.Usage || r.err != "" {
			t.Errorf("%q: %s", args, r)
		}
	}
	for _, want := range []string{"list [-user NAME]", "show HANDLE", "revoke HANDLE", "revoke-user NAME", "cleanup", "stats",
		"-config FILE", "-json", "-timeout", "Exit codes:", "3  not found", "4  unsupported"} {
		if !strings.Contains(ctl.Usage, want) {
			t.Errorf("usage does not mention %q", want)
		}
	}
}

// TestUnsupportedStores: a store in the app's process memory and the
// cookie store are refused with exit code 4, for every command.
func TestUnsupportedStores(t *testing.T) {
	for _, tc := range []struct{ name, config, want string }{
		{"memory", "[session]\nstore = kvcache\ncontainer = s\n[kvcache]\nbackends.m.type = memory\ncontainers.s.backend = m\n",
			"(kvcache: container s on the memory engine) lives inside each app process"},
		{"sqlite in memory", "[session]\nstore = gorm\n[gorm]\ndsn = :memory:\n", "(gorm: sqlite, table sessions) lives inside each app process"},
		{"cookie", "[session]\nstore = cookie\n[cookie]\nkeys = q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n", "keeps each session in its client's cookie"},
	} {
		cfg := writeConfig(t, tc.config)
		for _, cmd := range [][]string{{"list"}, {"stats"}, {"cleanup"}, {"revoke-user", "x"}, {"show", strings.Repeat("a", 32)}} {
			r := ctlRun(append([]string{"-config", cfg}, cmd...))
			if r.code != 4 {
				t.Errorf("%s, %s: want exit 4, got %s", tc.name, cmd[0], r)
				continue
			}
			if line := errLine(t, r); !strings.Contains(line, tc.want) {
				t.Errorf("%s, %s: %s; want %q", tc.name, cmd[0], line, tc.want)
			}
		}
	}
}

// closedPort is a local TCP port nothing listens on.
func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// TestUnreachable: a store whose server is down fails with exit code 1 and
// one line, without the password of the URL or DSN.
func TestUnreachable(t *testing.T) {
	const pw = "hunter2pw"
	for _, tc := range []struct{ name, config, want string }{
		{"redis", fmt.Sprintf("[session]\nstore = kvcache\ncontainer = s\nuser_key = user_id\n[kvcache]\nbackends.r.type = redis\nbackends.r.url = redis://app:%s@127.0.0.1:%d/0\nbackends.r.dial_timeout = 500ms\ncontainers.s.backend = r\n", pw, closedPort(t)),
			"connection refused"},
		{"postgres", fmt.Sprintf("[session]\nstore = gorm\n[gorm]\ndriver = postgres\ndsn = host=127.0.0.1 port=%d user=app password=%s dbname=x sslmode=disable connect_timeout=2\n", closedPort(t), pw),
			"opening the session store: session store \"gorm\": gormstore: opening postgres database (gorm.dsn not shown: it may hold a password): failed to connect"},
	} {
		cfg := writeConfig(t, tc.config)
		for _, cmd := range [][]string{{"list"}, {"stats"}, {"revoke-user", "alice"}, {"show", strings.Repeat("a", 32)}} {
			r := ctlRun(append([]string{"-config", cfg, "-timeout", "10s"}, cmd...))
			if r.code != 1 {
				t.Errorf("%s, %s: want exit 1, got %s", tc.name, cmd[0], r)
				continue
			}
			if line := errLine(t, r); !strings.Contains(line, tc.want) {
				t.Errorf("%s, %s: %s; want %q", tc.name, cmd[0], line, tc.want)
			}
			if strings.Contains(r.out+r.err, pw) {
				t.Errorf("%s, %s: the password is shown: %s", tc.name, cmd[0], r)
			}
		}
	}
}

// TestMissingStorage: sessionctl creates no database and no table; it says
// that the app has not created them yet.
func TestMissingStorage(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, "[session]\nstore = gorm\n[gorm]\ndsn = "+dir+"/none.sqlite3\n")
	r := ctlRun([]string{"-config", cfg, "list"})
	if r.code != 1 || !strings.Contains(errLine(t, r), "does not exist (yet): the app creates it when it starts") {
		t.Errorf("missing SQLite file: %s", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "none.sqlite3")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sessionctl created the SQLite file (%v)", err)
	}
	cfg = sqliteConfig(t, "10m")
	startApp(t, cfg)
	// The app's database, another table.
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	other := writeConfig(t, strings.ReplaceAll(strings.Replace(string(text), "table = sessions", "table = other_sessions", 1), "${here}", filepath.Dir(cfg)))
	r = ctlRun([]string{"-config", other, "list"})
	if r.code != 1 || !strings.Contains(errLine(t, r), `the session table "other_sessions" does not exist (yet)`) {
		t.Errorf("missing table: %s", r)
	}
}

// TestBinary builds the command and runs it as a script would: exit codes
// from the real process, output on stdout, errors on stderr.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "sessionctl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg := sqliteConfig(t, "10m")
	a := startApp(t, cfg)
	c := a.client("Binary/1.0")
	c.login("frank")

	exe := func(want int, args ...string) result {
		t.Helper()
		cmd := exec.Command(bin, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		r := result{out.String(), errb.String(), code}
		if code != want {
			t.Fatalf("sessionctl %q: want exit %d, got %s", args, want, r)
		}
		a.noSecrets("sessionctl", r.out+r.err)
		return r
	}
	got := decode[[]ctl.Session](t, exe(0, "-config", cfg, "-json", "list"))
	if len(got) != 1 || got[0].User != "frank" || got[0].Handle != c.handle() {
		t.Errorf("list: %+v", got)
	}
	exe(2, "-config", cfg, "frobnicate")
	exe(3, "-config", cfg, "show", strings.Repeat("f", 32))
	exe(4, "-config", writeConfig(t, "[session]\nstore = kvcache\ncontainer = s\n[kvcache]\nbackends.m.type = memory\ncontainers.s.backend = m\n"), "list")
	exe(0, "-config", cfg, "revoke", c.handle())
	if u := c.user(); u != "" {
		t.Errorf("after revoke by the binary, the session loads with user %q", u)
	}
	if r := exe(0, "help"); r.out != ctl.Usage {
		t.Errorf("help: %q", r.out)
	}
}

// TestTimeout: a server that accepts connections and never answers makes
// sessionctl give up after -timeout, with exit code 1.
func TestTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	cfg := writeConfig(t, fmt.Sprintf("[session]\nstore = kvcache\ncontainer = s\n[kvcache]\nbackends.r.type = redis\nbackends.r.url = redis://%s/0\nbackends.r.dial_timeout = 10s\nbackends.r.command_timeout = 10s\ncontainers.s.backend = r\n", ln.Addr()))
	start := time.Now()
	r := ctlRun([]string{"-config", cfg, "-timeout", "500ms", "list"})
	if took := time.Since(start); r.code != 1 || took > 5*time.Second {
		t.Fatalf("want exit 1 within about 500ms, got %s after %s", r, took)
	}
	if line := errLine(t, r); !strings.Contains(line, "timed out") || !strings.Contains(line, "-timeout") {
		t.Errorf("timeout: %s", line)
	}
}
