package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/cookiestore"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/backends/layered"
	"github.com/sessionfx/session/internal/testenv"
	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/rediskv"
)

// yoursApp is a small app on the "your sessions" API: /login?user=,
// /sessions (JSON), /revoke?h=, /others, /whoami, /touch.
func yoursApp(t *testing.T, m *session.Manager) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	with := func(h func(w http.ResponseWriter, r *http.Request, s *session.Session)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			s, err := session.From(r.Context())
			if err != nil {
				http.Error(w, "store", http.StatusServiceUnavailable)
				return
			}
			h(w, r, s)
		}
	}
	mux.HandleFunc("/login", with(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		if err := s.RenewID(); err != nil {
			t.Error(err)
		}
		_ = s.Set("user_id", r.URL.Query().Get("user"))
	}))
	mux.HandleFunc("/whoami", with(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		fmt.Fprint(w, s.GetString("user_id"))
	}))
	mux.HandleFunc("/touch", with(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		_ = s.Set("n", s.GetInt("n")+1)
	}))
	mux.HandleFunc("/sessions", with(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		list, err := m.UserSessions(r.Context(), s)
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		_ = json.NewEncoder(w).Encode(list)
	}))
	mux.HandleFunc("/revoke", with(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		cur, err := m.RevokeSession(r.Context(), s, r.URL.Query().Get("h"))
		if errors.Is(err, session.ErrNoSuchSession) {
			http.Error(w, "none", http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, cur)
	}))
	mux.HandleFunc("/others", with(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		n, err := m.RevokeOthers(r.Context(), s)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, n)
	}))
	srv := httptest.NewServer(m.Middleware(mux))
	t.Cleanup(srv.Close)
	return srv
}

// yoursClient is one browser: a cookie and a user agent.
type yoursClient struct {
	t      *testing.T
	base   string
	ua     string
	cookie string
}

func (c *yoursClient) do(path string) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	req.Header.Set("User-Agent", c.ua)
	if c.cookie != "" {
		req.Header.Set("Cookie", "session="+c.cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = fmt.Fprint(&b, "")
	buf := make([]byte, 64<<10)
	n, _ := resp.Body.Read(buf)
	for _, ck := range resp.Cookies() {
		if ck.Name == "session" {
			c.cookie = ck.Value
			if ck.MaxAge < 0 {
				c.cookie = ""
			}
		}
	}
	return resp.StatusCode, string(buf[:n])
}

func (c *yoursClient) list() []session.SessionInfo {
	c.t.Helper()
	code, body := c.do("/sessions")
	if code != 200 {
		c.t.Fatalf("GET /sessions: %d %s", code, body)
	}
	var out []session.SessionInfo
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		c.t.Fatal(err)
	}
	return out
}

var handleRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// runYours is the whole "your sessions" behaviour on one store.
func runYours(t *testing.T, st backends.Store) {
	m := newManager(t, st, func(c *session.Config) { c.UserKey = "user_id" })
	srv := yoursApp(t, m)
	ctx := context.Background()
	a1 := &yoursClient{t: t, base: srv.URL, ua: "Firefox/1 (laptop)"}
	a2 := &yoursClient{t: t, base: srv.URL, ua: "Safari/2 (phone)"}
	a3 := &yoursClient{t: t, base: srv.URL, ua: "curl/8"}
	b1 := &yoursClient{t: t, base: srv.URL, ua: "Edge/3"}
	anon := &yoursClient{t: t, base: srv.URL, ua: "bot"}
	for _, c := range []*yoursClient{a1, a2, a3} {
		c.do("/touch") // an anonymous session first: login renews it
		c.do("/login?user=alice")
	}
	b1.do("/login?user=bob")
	anon.do("/touch")

	list := a1.list()
	if len(list) != 3 {
		t.Fatalf("alice's first client lists %d sessions, want 3: %+v", len(list), list)
	}
	agents := map[string]session.SessionInfo{}
	for _, in := range list {
		agents[in.UserAgent] = in
		if !handleRE.MatchString(in.Handle) {
			t.Errorf("handle %q is not 32 hex characters", in.Handle)
		}
		if in.User != "alice" || in.Created.IsZero() || in.LastSeen.IsZero() || in.IP != "" {
			t.Errorf("session info %+v: want user alice, times set, no IP (record_ip is off)", in)
		}
		for _, c := range []*yoursClient{a1, a2, a3, b1, anon} {
			if c.cookie != "" && (strings.Contains(in.Handle, c.cookie) || in.Handle == session.HashID(c.cookie)[:32] || strings.Contains(session.HashID(c.cookie), in.Handle)) {
				t.Errorf("handle %q reveals a session id or its hash", in.Handle)
			}
		}
	}
	for ua, cur := range map[string]bool{"Firefox/1 (laptop)": true, "Safari/2 (phone)": false, "curl/8": false} {
		in, ok := agents[ua]
		if !ok || in.Current != cur {
			t.Errorf("session of %q: listed %v, current %v; want listed, current %v (the user agent of the request that created it is kept across the login)", ua, ok, in.Current, cur)
		}
	}
	// Bob's handle is not alice's to revoke, and alice's list never shows it.
	bobs, err := collect(ctx, m, "bob")
	if err != nil || len(bobs) != 1 {
		t.Fatalf("Sessions(bob) = %v, %v; want 1", bobs, err)
	}
	if code, _ := a1.do("/revoke?h=" + bobs[0].Handle); code != http.StatusNotFound {
		t.Errorf("alice revoking bob's session: %d, want 404", code)
	}
	if code, body := b1.do("/whoami"); body != "bob" {
		t.Errorf("bob after alice's attempt: %d %q, want still bob", code, body)
	}
	// Revoke the phone from the laptop: the phone's next request is logged out.
	if code, body := a1.do("/revoke?h=" + agents["Safari/2 (phone)"].Handle); code != 200 || body != "false" {
		t.Fatalf("revoke phone: %d %q", code, body)
	}
	if _, body := a2.do("/whoami"); body != "" {
		t.Errorf("revoked phone still logged in as %q", body)
	}
	if n := len(a1.list()); n != 2 {
		t.Errorf("after revoking one, alice lists %d, want 2", n)
	}
	// Log out everywhere else.
	if _, body := a1.do("/others"); body != "1" {
		t.Errorf("RevokeOthers ended %s sessions, want 1", body)
	}
	if _, body := a3.do("/whoami"); body != "" {
		t.Errorf("curl still logged in as %q after log out everywhere else", body)
	}
	list = a1.list()
	if len(list) != 1 || !list[0].Current {
		t.Fatalf("after RevokeOthers alice lists %+v, want only the current one", list)
	}
	// Revoking the current session logs this client out (the cookie expires).
	if code, body := a1.do("/revoke?h=" + list[0].Handle); code != 200 || body != "true" {
		t.Fatalf("revoke current: %d %q", code, body)
	}
	if a1.cookie != "" {
		t.Error("revoking the current session left its cookie")
	}
	if _, body := a1.do("/whoami"); body != "" {
		t.Errorf("after revoking itself, still %q", body)
	}
	// Admin calls: by handle, and a whole user.
	in, err := m.SessionByHandle(ctx, bobs[0].Handle)
	if err != nil || in.User != "bob" || in.UserAgent != "Edge/3" {
		t.Errorf("SessionByHandle(bob's) = %+v, %v", in, err)
	}
	if _, err := m.SessionByHandle(ctx, strings.Repeat("0", 32)); !errors.Is(err, session.ErrNoSuchSession) {
		t.Errorf("SessionByHandle(unknown) err = %v, want ErrNoSuchSession", err)
	}
	if err := m.RevokeHandle(ctx, "not-a-handle"); !errors.Is(err, session.ErrNoSuchSession) {
		t.Errorf("RevokeHandle(malformed) err = %v, want ErrNoSuchSession", err)
	}
	b2 := &yoursClient{t: t, base: srv.URL, ua: "Edge/4"}
	b2.do("/login?user=bob")
	if n, err := m.RevokeUser(ctx, "bob"); n != 2 || err != nil {
		t.Errorf("RevokeUser(bob) = %d, %v; want 2", n, err)
	}
	for _, c := range []*yoursClient{b1, b2} {
		if _, body := c.do("/whoami"); body != "" {
			t.Errorf("bob still logged in as %q after RevokeUser", body)
		}
	}
	all, err := collect(ctx, m, "")
	if err != nil || len(all) != 1 || all[0].User != "" || all[0].UserAgent != "bot" {
		t.Errorf("all sessions at the end = %+v, %v; want only the anonymous one", all, err)
	}
}

func collect(ctx context.Context, m *session.Manager, user string) ([]session.SessionInfo, error) {
	var out []session.SessionInfo
	err := m.Sessions(ctx, user, func(in session.SessionInfo) error {
		out = append(out, in)
		return nil
	})
	return out, err
}

// yoursModel keeps user_id in a typed, indexed column: FindUser queries it.
type yoursModel struct {
	gormstore.Row
	UserID *string `session:"user_id" gorm:"index;size:128"`
}

func yoursGorm(t testing.TB, driver, dsn string, typed bool) backends.Store {
	t.Helper()
	opts := []gormstore.Option{gormstore.WithTable("yours_" + strings.ReplaceAll(uuid.NewString()[:8], "-", ""))}
	if typed {
		opts = append(opts, gormstore.WithModel(&yoursModel{}))
	}
	st, err := gormstore.NewFromConfig(gormstore.Config{Driver: driver, DSN: dsn}, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = st.DB().Migrator().DropTable(st.Table())
		_ = st.Close()
	})
	return st
}

func yoursRedis(t testing.TB) backends.Store {
	url := testenv.Require(t, testenv.Redis)
	rb, err := rediskv.New("yours", kvcache.BackendConfig{Type: "redis", URL: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rb.Close() })
	return backends.NewKVStore(kvcache.NewContainer("sessions", "yours-"+uuid.NewString()[:8]+":", 0, rb))
}

func TestYourSessions(t *testing.T) {
	t.Run("memory", func(t *testing.T) { _, st := newKV(t); runYours(t, st) })
	t.Run("sqlite/typed-column", func(t *testing.T) {
		runYours(t, yoursGorm(t, "sqlite", t.TempDir()+"/s.sqlite3", true))
	})
	t.Run("sqlite/data-column", func(t *testing.T) {
		runYours(t, yoursGorm(t, "sqlite", t.TempDir()+"/s.sqlite3", false))
	})
	t.Run("postgres", func(t *testing.T) {
		runYours(t, yoursGorm(t, "postgres", testenv.Require(t, testenv.Postgres), true))
	})
	t.Run("mysql", func(t *testing.T) {
		runYours(t, yoursGorm(t, "mysql", testenv.Require(t, testenv.MySQL), true))
	})
	t.Run("redis", func(t *testing.T) { runYours(t, yoursRedis(t)) })
	// A layered store lists through its back: the typed column's query, or
	// Redis's index set (the front only caches).
	t.Run("layered/sqlite", func(t *testing.T) {
		front, _ := newKV(t)
		runYours(t, layered.New(front, yoursGorm(t, "sqlite", t.TempDir()+"/s.sqlite3", true), layered.WithLocalTTL(time.Hour)))
	})
	t.Run("layered/redis", func(t *testing.T) {
		front, _ := newKV(t)
		runYours(t, layered.New(front, yoursRedis(t), layered.WithLocalTTL(time.Hour)))
	})
}

// TestYourSessionsRecordsIPOnlyWhenAsked: the client IP is personal data.
func TestYourSessionsRecordsIPOnlyWhenAsked(t *testing.T) {
	for _, record := range []bool{false, true} {
		_, st := newKV(t)
		m := newManager(t, st, func(c *session.Config) { c.UserKey = "user_id"; c.RecordIP = record })
		srv := yoursApp(t, m)
		c := &yoursClient{t: t, base: srv.URL, ua: strings.Repeat("é", 200)} // 400 bytes
		c.do("/login?user=carol")
		list := c.list()
		if len(list) != 1 {
			t.Fatalf("list = %+v", list)
		}
		if want := map[bool]string{false: "", true: "127.0.0.1"}[record]; list[0].IP != want {
			t.Errorf("record_ip = %v: IP %q, want %q", record, list[0].IP, want)
		}
		if ua := list[0].UserAgent; len(ua) > 256 || !strings.HasPrefix(strings.Repeat("é", 200), ua) || len(ua) < 250 {
			t.Errorf("user agent of %d bytes kept as %d bytes %q: want cut to at most 256 bytes at a character boundary", 400, len(ua), ua)
		}
	}
}

// TestYourSessionsErrors: what the API says when it cannot answer.
func TestYourSessionsErrors(t *testing.T) {
	ctx := context.Background()
	_, st := newKV(t)
	m := newManager(t, st, nil) // no user_key
	err := m.Run(ctx, func(ctx context.Context) error {
		s, _ := session.From(ctx)
		_ = s.Set("user_id", "dave")
		_, err := m.UserSessions(ctx, s)
		return err
	})
	if !errors.Is(err, session.ErrNoUserKey) {
		t.Errorf("without user_key: %v, want ErrNoUserKey", err)
	}
	m = newManager(t, st, func(c *session.Config) { c.UserKey = "user_id" })
	err = m.Run(ctx, func(ctx context.Context) error {
		s, _ := session.From(ctx)
		_, err := m.UserSessions(ctx, s)
		return err
	})
	if !errors.Is(err, session.ErrNotLoggedIn) {
		t.Errorf("anonymous: %v, want ErrNotLoggedIn", err)
	}
	// The cookie store keeps nothing on the server: it cannot list.
	cs, err := cookiestore.New(cookiestore.Config{DevMode: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := session.NewManager(func() session.Config {
		c := session.DefaultConfig()
		c.Store, c.UserKey = "cookie", "user_id"
		return c
	}(), cs)
	if err != nil {
		t.Fatal(err)
	}
	err = mc.Run(ctx, func(ctx context.Context) error {
		s, _ := session.From(ctx)
		_ = s.Set("user_id", "erin")
		_, err := mc.UserSessions(ctx, s)
		return err
	})
	if !errors.Is(err, backends.ErrUnsupported) {
		t.Errorf("cookie store: %v, want ErrUnsupported", err)
	}
}

// TestYourSessionsLastSeen: last seen moves with saves and idle refreshes,
// and creation stays.
func TestYourSessionsLastSeen(t *testing.T) {
	_, st := newKV(t)
	m := newManager(t, st, func(c *session.Config) { c.UserKey = "user_id" })
	srv := yoursApp(t, m)
	c := &yoursClient{t: t, base: srv.URL, ua: "x"}
	c.do("/login?user=frank")
	first := c.list()[0]
	time.Sleep(20 * time.Millisecond)
	c.do("/touch")
	next := c.list()[0]
	if !next.Created.Equal(first.Created) || !next.LastSeen.After(first.LastSeen) {
		t.Errorf("after a write: created %v -> %v, last seen %v -> %v; want created kept, last seen later", first.Created, next.Created, first.LastSeen, next.LastSeen)
	}
}

// TestRevokeWhileInFlight: a session revoked while one of its requests is
// in flight stays ended: that request's write is dropped, not saved into a
// resurrected session, and the revoked client is logged out (20 trials,
// on the memory store and on Redis with its user index).
func TestRevokeWhileInFlight(t *testing.T) {
	run := func(t *testing.T, st backends.Store) {
		m := newManager(t, st, func(c *session.Config) { c.UserKey = "user_id" })
		hold, loaded := make(chan struct{}, 1), make(chan struct{}, 1)
		mux := http.NewServeMux()
		mux.Handle("/", yoursApp(t, m).Config.Handler) // the same routes, under one middleware below
		inner := http.NewServeMux()
		inner.HandleFunc("/slow-write", func(w http.ResponseWriter, r *http.Request) {
			s, err := session.From(r.Context())
			if err != nil {
				http.Error(w, "store", http.StatusServiceUnavailable)
				return
			}
			loaded <- struct{}{}
			<-hold
			_ = s.Set("late", true)
		})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow-write" {
				m.Middleware(inner).ServeHTTP(w, r)
				return
			}
			mux.ServeHTTP(w, r)
		}))
		defer srv.Close()
		for trial := 0; trial < 20; trial++ {
			user := fmt.Sprintf("u%d", trial)
			a := &yoursClient{t: t, base: srv.URL, ua: "A"}
			b := &yoursClient{t: t, base: srv.URL, ua: "B"}
			a.do("/login?user=" + user)
			b.do("/login?user=" + user)
			var bHandle string
			for _, in := range a.list() {
				if !in.Current {
					bHandle = in.Handle
				}
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				b.do("/slow-write")
			}()
			<-loaded
			if code, body := a.do("/revoke?h=" + bHandle); code != 200 || body != "false" {
				t.Fatalf("trial %d: revoke: %d %q", trial, code, body)
			}
			hold <- struct{}{}
			<-done
			if _, body := b.do("/whoami"); body != "" {
				t.Fatalf("trial %d: the revoked session came back as %q through its in-flight write", trial, body)
			}
			if list := a.list(); len(list) != 1 || !list[0].Current {
				t.Fatalf("trial %d: after the revoke A lists %+v, want only itself", trial, list)
			}
		}
	}
	t.Run("memory", func(t *testing.T) { _, st := newKV(t); run(t, st) })
	t.Run("redis", func(t *testing.T) { run(t, yoursRedis(t)) })
}

// TestYourSessionsLastSeenFollowsIdleRefresh: a session only read moves
// its "last seen" with the idle refresh (once half the idle window has
// passed), which writes no data: on the memory engine (a TTL change) and
// on SQLite (an UPDATE of the expiry).
func TestYourSessionsLastSeenFollowsIdleRefresh(t *testing.T) {
	for name, st := range map[string]func(t *testing.T) backends.Store{
		"memory": func(t *testing.T) backends.Store { _, st := newKV(t); return st },
		"sqlite": func(t *testing.T) backends.Store { return yoursGorm(t, "sqlite", t.TempDir()+"/s.sqlite3", true) },
	} {
		t.Run(name, func(t *testing.T) {
			clk := &clock{t: time.Now()}
			m := newManager(t, st(t), func(c *session.Config) {
				c.UserKey, c.IdleTimeout, c.Lifetime = "user_id", 30*time.Minute, 24*time.Hour
			}, session.WithClock(clk.Now))
			id := writeSession(t, m, map[string]any{"user_id": "gina"})
			seen := func() time.Time {
				list, err := collect(context.Background(), m, "gina")
				if err != nil || len(list) != 1 {
					t.Fatalf("list = %+v, %v", list, err)
				}
				return list[0].LastSeen
			}
			read := func() {
				if err := m.Run(context.Background(), func(ctx context.Context) error {
					_ = session.SetID(ctx, id)
					_, err := session.From(ctx)
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			t0 := seen()
			clk.Add(10 * time.Minute)
			read() // under half the window: no refresh, last seen stays
			if got := seen(); got.Sub(t0).Abs() > time.Second {
				t.Errorf("after a read at +10m: last seen %v, want %v (no write, no refresh)", got, t0)
			}
			clk.Add(10 * time.Minute)
			read() // +20m: past half the window, the idle deadline is refreshed
			if got, want := seen(), clk.Now(); got.Sub(want).Abs() > time.Second {
				t.Errorf("after the idle refresh at +20m: last seen %v, want %v", got, want)
			}
		})
	}
}

// TestYourSessionsTwoInstances: two app instances on one shared store. A
// user logged in on both sees both sessions from either, revokes the one
// on the other instance, and that instance's next request is logged out;
// 20 trials (Redis, through its user index; PostgreSQL, through the typed
// column).
func TestYourSessionsTwoInstances(t *testing.T) {
	run := func(t *testing.T, one, two backends.Store) {
		ma := newManager(t, one, func(c *session.Config) { c.UserKey = "user_id" })
		mb := newManager(t, two, func(c *session.Config) { c.UserKey = "user_id" })
		sa, sb := yoursApp(t, ma), yoursApp(t, mb)
		for trial := 0; trial < 20; trial++ {
			user := fmt.Sprintf("u%d-%s", trial, uuid.NewString()[:4])
			a := &yoursClient{t: t, base: sa.URL, ua: "on A"}
			b := &yoursClient{t: t, base: sb.URL, ua: "on B"}
			a.do("/login?user=" + user)
			b.do("/login?user=" + user)
			fromB := b.list()
			if len(fromB) != 2 {
				t.Fatalf("trial %d: instance B lists %d sessions, want 2", trial, len(fromB))
			}
			var aHandle string
			for _, in := range fromB {
				if in.UserAgent == "on A" && !in.Current {
					aHandle = in.Handle
				}
			}
			if code, body := b.do("/revoke?h=" + aHandle); code != 200 || body != "false" {
				t.Fatalf("trial %d: B revoking A's session: %d %q", trial, code, body)
			}
			if _, body := a.do("/whoami"); body != "" {
				t.Fatalf("trial %d: A still logged in as %q after B revoked it", trial, body)
			}
			if got := b.list(); len(got) != 1 || !got[0].Current {
				t.Fatalf("trial %d: after the revoke B lists %+v", trial, got)
			}
		}
	}
	t.Run("redis", func(t *testing.T) {
		url := testenv.Require(t, testenv.Redis)
		prefix := "yours2-" + uuid.NewString()[:8] + ":"
		store := func() backends.Store {
			rb, err := rediskv.New("yours", kvcache.BackendConfig{Type: "redis", URL: url}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = rb.Close() })
			return backends.NewKVStore(kvcache.NewContainer("sessions", prefix, 0, rb))
		}
		run(t, store(), store())
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testenv.Require(t, testenv.Postgres)
		one := yoursGorm(t, "postgres", dsn, true).(*gormstore.Store)
		two, err := gormstore.NewFromConfig(gormstore.Config{Driver: "postgres", DSN: dsn}, nil,
			gormstore.WithTable(one.Table()), gormstore.WithModel(&yoursModel{}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = two.Close() })
		run(t, one, two)
	})
}

// TestYourSessionsRedisDown: with its Redis server stopped (SIGSTOP: it
// neither answers nor drops the connection), "your sessions" answers a
// store error in time, which the app turns into 503, and nothing is lost:
// once the server runs again (SIGCONT) both sessions are listed and can
// be revoked. Then the server is killed outright: still 503, no panic.
func TestYourSessionsRedisDown(t *testing.T) {
	testenv.Require(t, testenv.Redis)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not in PATH: this test starts a private one")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	rb, err := rediskv.New("down", kvcache.BackendConfig{Type: "redis", URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port),
		CommandTimeout: 300 * time.Millisecond, DialTimeout: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rb.Close() })
	st := backends.NewKVStore(kvcache.NewContainer("sessions", "down:", 0, rb))
	m := newManager(t, st, func(c *session.Config) { c.UserKey = "user_id" })
	srv := yoursApp(t, m)
	a := &yoursClient{t: t, base: srv.URL, ua: "A"}
	b := &yoursClient{t: t, base: srv.URL, ua: "B"}
	deadline := time.Now().Add(10 * time.Second)
	for a.do("/login?user=hana"); a.cookie == ""; a.do("/login?user=hana") {
		if time.Now().After(deadline) {
			t.Fatal("the private redis-server did not come up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.do("/login?user=hana")
	if n := len(a.list()); n != 2 {
		t.Fatalf("before the outage: %d sessions, want 2", n)
	}
	_ = cmd.Process.Signal(syscall.SIGSTOP)
	start := time.Now()
	if code, _ := a.do("/sessions"); code != http.StatusServiceUnavailable {
		t.Errorf("GET /sessions with Redis stopped: %d, want 503", code)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the answer took %v with Redis stopped; want about the command timeout", took)
	}
	_, err = m.SessionByHandle(context.Background(), strings.Repeat("a", 32))
	if !errors.Is(err, session.ErrStore) {
		t.Errorf("admin lookup with Redis stopped: %v, want ErrStore", err)
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	var list []session.SessionInfo
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _ := a.do("/whoami"); code == 200 {
			list = a.list()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the app did not recover after Redis resumed")
		}
	}
	if len(list) != 2 {
		t.Fatalf("after the outage: %+v, want both sessions", list)
	}
	if n, err := m.RevokeUser(context.Background(), "hana"); n != 2 || err != nil {
		t.Errorf("RevokeUser after the outage = %d, %v", n, err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if code, _ := b.do("/sessions"); code != http.StatusServiceUnavailable {
		t.Errorf("GET /sessions with Redis killed: %d, want 503", code)
	}
}

// TestLoginInFlightWithUserIndex: a login while another request of the
// same client is in flight, with the user index on (Redis, memory): the
// in-flight write lands in the renewed session, the user lists exactly
// that one session, and the old id stays ended (20 trials).
func TestLoginInFlightWithUserIndex(t *testing.T) {
	run := func(t *testing.T, st backends.Store) {
		m := newManager(t, st, func(c *session.Config) { c.UserKey = "user_id" })
		hold, loaded := make(chan struct{}, 1), make(chan struct{}, 1)
		routes := yoursApp(t, m).Config.Handler
		inner := http.NewServeMux()
		inner.HandleFunc("/slow-write", func(w http.ResponseWriter, r *http.Request) {
			s, err := session.From(r.Context())
			if err != nil {
				http.Error(w, "store", http.StatusServiceUnavailable)
				return
			}
			loaded <- struct{}{}
			<-hold
			_ = s.Set("late", true)
		})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow-write" {
				m.Middleware(inner).ServeHTTP(w, r)
				return
			}
			routes.ServeHTTP(w, r)
		}))
		defer srv.Close()
		for trial := 0; trial < 20; trial++ {
			user := fmt.Sprintf("l%d-%s", trial, uuid.NewString()[:4])
			c := &yoursClient{t: t, base: srv.URL, ua: "C"}
			c.do("/touch") // an anonymous session
			old := c.cookie
			slow := &yoursClient{t: t, base: srv.URL, ua: "C", cookie: old}
			done := make(chan struct{})
			go func() { defer close(done); slow.do("/slow-write") }()
			<-loaded
			c.do("/login?user=" + user)
			hold <- struct{}{}
			<-done
			list, err := collect(context.Background(), m, user)
			if err != nil || len(list) != 1 || list[0].Handle != m.HandleOf(m.StorageID(c.cookie)) {
				t.Fatalf("trial %d: the user lists %+v, %v; want exactly the renewed session", trial, list, err)
			}
			var late bool
			if err := m.Run(context.Background(), func(ctx context.Context) error {
				_ = session.SetID(ctx, c.cookie)
				s, err := session.From(ctx)
				late = err == nil && s.GetBool("late") && s.GetString("user_id") == user
				return err
			}); err != nil || !late {
				t.Fatalf("trial %d: the renewed session lost the in-flight write or its user (%v)", trial, err)
			}
			if _, body := (&yoursClient{t: t, base: srv.URL, ua: "C", cookie: old}).do("/whoami"); body != "" {
				t.Fatalf("trial %d: the old id still loads, as %q", trial, body)
			}
		}
	}
	t.Run("memory", func(t *testing.T) { _, st := newKV(t); run(t, st) })
	t.Run("redis", func(t *testing.T) { run(t, yoursRedis(t)) })
}
