package session_test

// Multi-instance proof: two fx apps (two "instances" of one service) share
// one Redis or one PostgreSQL; and the Redis-down failure test on a
// redis-server of the test's own.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/rediskv"
	"github.com/sessionfx/session/stores"
)

const (
	miRedisEnv    = "SESSIONFX_TEST_REDIS_URL"
	miPostgresEnv = "SESSIONFX_TEST_POSTGRES_DSN"
)

func miRandom(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// miHandler: ?op=none|get|set|renew|destroy&key=&val=[&hold=name]. A session store failure is
// answered by session.DefaultErrorHandler (503 for errors wrapping
// session.ErrStore), anything else by 500 naming the error.
func miHandler(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("op") == "none" {
		fmt.Fprint(w, "untouched")
		return
	}
	s, err := session.From(r.Context())
	if err != nil {
		if errors.Is(err, session.ErrStore) {
			session.DefaultErrorHandler(w, r, err)
			return
		}
		http.Error(w, "not a store error: "+err.Error(), http.StatusInternalServerError)
		return
	}
	switch q.Get("op") {
	case "set":
		if err := s.Set(q.Get("key"), q.Get("val")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	case "renew":
		if err := s.RenewID(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	case "destroy":
		if err := s.Destroy(r.Context()); err != nil {
			session.DefaultErrorHandler(w, r, err)
			return
		}
	}
	if h, ok := miHolds.Load(q.Get("hold")); ok {
		// A slow request: it has loaded (and changed) the session; it
		// saves only when the test releases it.
		close(h.(*miHold).loaded)
		<-h.(*miHold).release
	}
	fmt.Fprintf(w, "keys=%s %s=%s", strings.Join(s.Keys(), ","), q.Get("key"), s.GetString(q.Get("key")))
}

// miHold holds a request (?hold=name) between its use of the session and
// its response, which is when the session is saved.
type miHold struct{ loaded, release chan struct{} }

var miHolds sync.Map // name -> *miHold

// miStart starts one instance: session.Module on configFile (with the
// environment overrides the test set), serving miHandler, with every store
// and engine (stores.All).
func miStart(t *testing.T, configFile string, opts ...fx.Option) string {
	t.Helper()
	var url string
	app := fxtest.New(t,
		fx.Options(opts...),
		fx.Supply(zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))),
		session.Module,
		stores.All,
		session.UseConfigFile(configFile),
		fx.Invoke(func(lc fx.Lifecycle, mw session.HTTPMiddleware) {
			srv := httptest.NewUnstartedServer(mw(http.HandlerFunc(miHandler)))
			lc.Append(fx.StartStopHook(func() { srv.Start(); url = srv.URL }, srv.Close))
		}),
	)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	return url
}

// miDo sends one request with the session cookie (when not empty) and
// returns the response, its body and the new session cookie value ("" when
// the response set none; "-" when it cleared it).
func miDo(t *testing.T, base, path, cookie string) (int, string, string) {
	t.Helper()
	code, body, set, err := lcGet(base, path, cookie)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return code, body, set
}

func miWant(t *testing.T, what string, code int, body string, wantCode int, wantBody string) {
	t.Helper()
	if code != wantCode || !strings.Contains(body, wantBody) {
		t.Fatalf("%s: %d %q; want %d and a body containing %q", what, code, body, wantCode, wantBody)
	}
}

// miRedisPrefix gives the sessions container a key prefix of its own and
// deletes its keys when the test ends.
func miRedisPrefix(t *testing.T, url string) {
	prefix := miRandom("sessionfx-multi-") + ":"
	t.Setenv("SESSIONFX_KVCACHE__BACKENDS__SHARED__URL", url)
	t.Setenv("SESSIONFX_KVCACHE__CONTAINERS__SESSIONS__PREFIX", prefix)
	t.Cleanup(func() {
		b, err := rediskv.New("cleanup", kvcache.BackendConfig{Type: "redis", URL: url}, nil)
		if err != nil {
			return
		}
		defer b.Close()
		_ = kvcache.NewContainer("cleanup", prefix, 0, b).Clear(context.Background())
	})
}

// TestMultiInstance runs the two-instance checks on a shared Redis (with
// and without client-side caching) and a shared PostgreSQL table.
func TestMultiInstance(t *testing.T) {
	t.Run("redis", func(t *testing.T) {
		url := os.Getenv(miRedisEnv)
		if url == "" {
			t.Skipf("%s is not set; set it (e.g. redis://127.0.0.1:6379/0) to run the two-instance test on Redis", miRedisEnv)
		}
		miRedisVariants(t, url, "testdata/multi/redis.ini")
	})
	t.Run("file", func(t *testing.T) {
		// Two instances on one kvcache file (each opens it: as two
		// processes would), no server needed.
		t.Setenv("SESSIONFX_KVCACHE__BACKENDS__SHARED__PATH", filepath.Join(t.TempDir(), "sessions.sqlite3"))
		miTwoInstances(t, "testdata/multi/file.ini", 0)
	})
	t.Run("postgres", func(t *testing.T) {
		miSQLTable(t, "postgres", miPostgresEnv, "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable")
		miTwoInstances(t, "testdata/multi/postgres.ini", 0)
	})
}

// miRedisVariants runs miTwoInstances on configFile over the Redis at url,
// with and without the client cache (whose reads may lag another
// instance's logout or login by up to lcClientCacheBound).
func miRedisVariants(t *testing.T, url, configFile string) {
	for _, cc := range []bool{false, true} {
		t.Run("client_cache="+strconv.FormatBool(cc), func(t *testing.T) {
			miRedisPrefix(t, url)
			t.Setenv("SESSIONFX_KVCACHE__BACKENDS__SHARED__CLIENT_CACHE", strconv.FormatBool(cc))
			stale := time.Duration(0)
			if cc {
				stale = lcClientCacheBound
			}
			miTwoInstances(t, configFile, stale)
		})
	}
}

// miSQLTable points the gorm store at a fresh table on the database named
// by the environment variable env (skipping when it is unset) and drops the
// table when the test ends.
func miSQLTable(t *testing.T, driver, env, example string) {
	t.Helper()
	dsn := os.Getenv(env)
	if dsn == "" {
		t.Skipf("%s is not set; set it (e.g. %q) to run this test on %s", env, example, driver)
	}
	table := miRandom("sessions_multi_")
	t.Setenv("SESSIONFX_GORM__DSN", dsn)
	t.Setenv("SESSIONFX_GORM__TABLE", table)
	t.Cleanup(func() {
		db, err := gormstore.Open(gormstore.Config{Driver: driver, DSN: dsn, Table: table}, nil)
		if err != nil {
			return
		}
		_ = db.Migrator().DropTable(table)
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
}

// miTwoInstances runs the checks on two instances; stale is how long one
// may serve a cached copy of a session the other ended (client cache).
func miTwoInstances(t *testing.T, configFile string, stale time.Duration) {
	one, two := miStart(t, configFile), miStart(t, configFile)

	t.Run("WrittenOnOneReadOnTwo", func(t *testing.T) {
		code, body, c := miDo(t, one, "/?op=set&key=a&val=1", "")
		miWant(t, "write on instance 1", code, body, 200, "a=1")
		if c == "" || c == "-" {
			t.Fatalf("write on instance 1 set no session cookie")
		}
		code, body, _ = miDo(t, two, "/?op=get&key=a", c)
		miWant(t, "read on instance 2", code, body, 200, "a=1")
		code, body, _ = miDo(t, two, "/?op=set&key=b&val=2", c)
		miWant(t, "write on instance 2", code, body, 200, "keys=a,b b=2")
		code, body, _ = miDo(t, one, "/?op=get&key=b", c)
		miWant(t, "read back on instance 1", code, body, 200, "keys=a,b b=2")
	})

	t.Run("RenewOnOneInvalidatesOldIDOnBoth", func(t *testing.T) {
		for trial := range lcTrials {
			_, _, old := miDo(t, one, "/?op=set&key=user&val=anon", "")
			// Both instances know the session (and may hold it in a cache).
			for _, inst := range []string{one, two} {
				code, body, _ := miDo(t, inst, "/?op=get&key=user", old)
				miWant(t, "read before the renew", code, body, 200, "user=anon")
			}
			code, body, renewed := miDo(t, two, "/?op=renew&key=user", old)
			miWant(t, "renew on instance 2", code, body, 200, "user=anon")
			if renewed == "" || renewed == "-" || renewed == old {
				t.Fatalf("renew on instance 2 set cookie %q; want a new id", renewed)
			}
			// Instance 1 may serve its cached copy until Redis's
			// invalidation reaches it (client cache only: stale > 0).
			lcEnded(t, fmt.Sprintf("trial %d: old id on instance 1 after the renew", trial), one, old, stale)
			lcEnded(t, fmt.Sprintf("trial %d: old id on instance 2 after the renew", trial), two, old, 0)
			for i, inst := range []string{one, two} {
				// Within the renew grace the cookie is left alone: the
				// client has (or is about to get) the login's new
				// cookie, which clearing it here could wipe.
				if code, body, c := miDo(t, inst, "/?op=get&key=user", old); code != 200 || c != "" {
					t.Fatalf("old id on instance %d after the renew: %d %q, cookie %q; want 200 and no Set-Cookie", i+1, code, body, c)
				}
				code, body, _ = miDo(t, inst, "/?op=get&key=user", renewed)
				miWant(t, fmt.Sprintf("new id on instance %d", i+1), code, body, 200, "user=anon")
			}
		}
	})

	t.Run("Lifecycle", func(t *testing.T) { lcRun(t, one, two, stale) })

	t.Run("ConcurrentWritesSplitAcrossInstancesAllSurvive", func(t *testing.T) {
		_, _, c := miDo(t, one, "/?op=set&key=start&val=0", "")
		const n = 50
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan string, n)
		for i := range n {
			inst := []string{one, two}[i%2]
			wg.Go(func() {
				<-start
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/?op=set&key=k%02d&val=%d", inst, i, i), nil)
				req.AddCookie(&http.Cookie{Name: "sid", Value: c})
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					errs <- fmt.Sprintf("write %d: %d %s", i, res.StatusCode, body)
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		var want []string // sorted, as Keys returns them
		for i := range n {
			want = append(want, fmt.Sprintf("k%02d", i))
		}
		want = append(want, "start")
		for i, inst := range []string{one, two} {
			code, body, _ := miDo(t, inst, "/?op=get&key=k49", c)
			miWant(t, fmt.Sprintf("read on instance %d after %d concurrent writes", i+1, n), code, body, 200, "keys="+strings.Join(want, ",")+" ")
		}
	})
}

// redisServer is a redis-server of the test's own on a fixed loopback port.
type redisServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func startRedisServer(t *testing.T, port int) *redisServer {
	t.Helper()
	rs := &redisServer{t: t, port: port}
	rs.start()
	t.Cleanup(rs.stop)
	return rs
}

func (rs *redisServer) start() {
	rs.t.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(rs.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", rs.t.TempDir())
	if err := cmd.Start(); err != nil {
		rs.t.Fatalf("starting redis-server on port %d: %v", rs.port, err)
	}
	rs.cmd = cmd
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", rs.addr(), 100*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			return
		}
		if time.Now().After(deadline) {
			rs.stop()
			rs.t.Fatalf("redis-server on port %d did not accept connections within 5s: %v", rs.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (rs *redisServer) stop() {
	if rs.cmd == nil {
		return
	}
	_ = rs.cmd.Process.Kill()
	_ = rs.cmd.Wait()
	rs.cmd = nil
}

func (rs *redisServer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(rs.port)) }

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestRedisDown stops the app's Redis: requests that never touch the
// session still succeed, those that do get 503, and once Redis is back the
// same app serves sessions again without a restart.
func TestRedisDown(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not on PATH; install it (e.g. apt-get install redis-server) to run the Redis-down test")
	}
	rs := startRedisServer(t, freePort(t))
	miRedisPrefix(t, "redis://"+rs.addr()+"/0")
	app := miStart(t, "testdata/multi/redis.ini")

	code, body, c := miDo(t, app, "/?op=set&key=a&val=1", "")
	miWant(t, "write while Redis is up", code, body, 200, "a=1")

	rs.stop()
	code, body, _ = miDo(t, app, "/?op=none", c)
	miWant(t, "request that never touches the session, Redis down", code, body, 200, "untouched")
	code, body, _ = miDo(t, app, "/?op=none", "")
	miWant(t, "request without a cookie that never touches the session, Redis down", code, body, 200, "untouched")
	// Loading a stored session fails: the handler gets an error wrapping
	// ErrStore (miHandler answers 500 for anything else).
	code, body, _ = miDo(t, app, "/?op=get&key=a", c)
	miWant(t, "read of a stored session, Redis down", code, body, http.StatusServiceUnavailable, "Service Unavailable")
	// A new session loads without the store, but its save fails before the
	// response: the middleware answers with DefaultErrorHandler.
	code, body, set := miDo(t, app, "/?op=set&key=b&val=2", "")
	miWant(t, "write of a new session, Redis down", code, body, http.StatusServiceUnavailable, "Service Unavailable")
	if set != "" {
		t.Fatalf("failed save set a session cookie %q", set)
	}

	rs.start() // same port, empty data (no persistence)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body, c = miDo(t, app, "/?op=set&key=b&val=2", "")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("app did not recover within 10s of Redis coming back: %d %q", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	miWant(t, "write after Redis came back", code, body, 200, "b=2")
	code, body, _ = miDo(t, app, "/?op=get&key=b", c)
	miWant(t, "read after Redis came back", code, body, 200, "b=2")
}

// TestMultiInstanceLayered runs two instances with backend = layered, each
// with its own memory front, over one Redis: another instance's writes may
// be served stale for at most layered.local_ttl (300ms in the config), never
// longer.
func TestMultiInstanceLayered(t *testing.T) {
	url := os.Getenv(miRedisEnv)
	if url == "" {
		t.Skipf("%s is not set; set it (e.g. redis://127.0.0.1:6379/0) to run the two-instance layered test", miRedisEnv)
	}
	const bound = 300 * time.Millisecond // layered.local_ttl in testdata/multi/layered.ini
	miRedisPrefix(t, url)
	one := miStart(t, "testdata/multi/layered.ini")
	two := miStart(t, "testdata/multi/layered.ini")
	afterBound := func(since time.Time) { time.Sleep(time.Until(since.Add(bound + 30*time.Millisecond))) }

	_, _, c := miDo(t, one, "/?op=set&key=a&val=1", "")
	code, body, _ := miDo(t, two, "/?op=get&key=a", c)
	miWant(t, "read on instance 2", code, body, 200, "a=1")
	code, body, _ = miDo(t, one, "/?op=set&key=a&val=2", c)
	written := time.Now()
	miWant(t, "second write on instance 1", code, body, 200, "a=2")
	code, body, _ = miDo(t, one, "/?op=get&key=a", c)
	miWant(t, "instance 1 reads its own write", code, body, 200, "a=2")
	code, body, _ = miDo(t, two, "/?op=get&key=a", c)
	if code != 200 || !(strings.Contains(body, "a=1") || strings.Contains(body, "a=2")) {
		t.Fatalf("instance 2 within the bound: %d %q; want a=1 (stale) or a=2", code, body)
	}
	afterBound(written)
	code, body, _ = miDo(t, two, "/?op=get&key=a", c)
	miWant(t, "instance 2 after local_ttl", code, body, 200, "a=2")

	// Renew (login) on instance 1: instance 2 stops honouring the old id
	// within the bound.
	code, body, renewed := miDo(t, one, "/?op=renew&key=a", c)
	renewedAt := time.Now()
	miWant(t, "renew on instance 1", code, body, 200, "a=2")
	afterBound(renewedAt)
	code, body, cleared := miDo(t, two, "/?op=get&key=a", c)
	miWant(t, "old id on instance 2 after local_ttl", code, body, 200, "keys= a=")
	if cleared != "" {
		t.Fatalf("old id on instance 2 after local_ttl: cookie %q, want no Set-Cookie (renew grace)", cleared)
	}
	code, body, _ = miDo(t, two, "/?op=get&key=a", renewed)
	miWant(t, "new id on instance 2", code, body, 200, "a=2")

	// Concurrent writes of distinct keys split across both instances all
	// reach the back (Redis merges them); after the bound both see them.
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		inst := []string{one, two}[i%2]
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/?op=set&key=k%02d&val=%d", inst, i, i), nil)
			req.AddCookie(&http.Cookie{Name: "sid", Value: renewed})
			if res, err := http.DefaultClient.Do(req); err != nil {
				t.Errorf("write %d: %v", i, err)
			} else {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					t.Errorf("write %d: status %d", i, res.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	done := time.Now()
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("k%02d", i))
	}
	want = append([]string{"a"}, want...)
	afterBound(done)
	for i, inst := range []string{one, two} {
		code, body, _ := miDo(t, inst, "/?op=get&key=a", renewed)
		miWant(t, fmt.Sprintf("instance %d after concurrent writes and local_ttl", i+1), code, body, 200, "keys="+strings.Join(want, ",")+" ")
	}
}

// TestMultiInstanceLayeredPostgres runs two instances with store = layered
// over one PostgreSQL table and local_ttl = 1h: only the table's pushed
// invalidations (LISTEN/NOTIFY) can make one instance see the other's
// writes, logouts and logins. 20 trials of each, then 20 writes in flight
// across both instances; every change must show within a second (the
// delays seen are logged).
func TestMultiInstanceLayeredPostgres(t *testing.T) {
	miSQLTable(t, "postgres", miPostgresEnv, "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable")
	one := miStart(t, "testdata/multi/layered-postgres.ini")
	two := miStart(t, "testdata/multi/layered-postgres.ini")
	const bound = time.Second
	var worst time.Duration
	// eventually polls inst with cookie until the body holds want.
	eventually := func(what, inst, cookie, want string) {
		t.Helper()
		start := time.Now()
		for {
			code, body, _ := miDo(t, inst, "/?op=get&key=a", cookie)
			if code == 200 && strings.Contains(body, want) {
				worst = max(worst, time.Since(start))
				return
			}
			if time.Since(start) > bound {
				t.Fatalf("%s: instance 2 still answers %d %q %s after the change; want %q", what, code, body, bound, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	for trial := range 20 {
		_, _, c := miDo(t, one, "/?op=set&key=a&val=1", "")
		code, body, _ := miDo(t, two, "/?op=get&key=a", c)
		miWant(t, fmt.Sprintf("trial %d: read on instance 2", trial), code, body, 200, "a=1")
		// A write on one: two's cached copy goes.
		code, body, _ = miDo(t, one, "/?op=set&key=a&val=2", c)
		miWant(t, "write on instance 1", code, body, 200, "a=2")
		eventually("write", two, c, "a=2")
		// A login (renew) on one: the old id no longer reads the session
		// on two once the renew grace has passed; the new one does.
		code, body, renewed := miDo(t, one, "/?op=renew&key=a", c)
		miWant(t, "renew on instance 1", code, body, 200, "a=2")
		code, body, _ = miDo(t, two, "/?op=get&key=a", renewed)
		miWant(t, "new id on instance 2", code, body, 200, "a=2")
		// A logout on one: two stops serving the session.
		code, body, _ = miDo(t, one, "/?op=destroy&key=a", renewed)
		miWant(t, "logout on instance 1", code, body, 200, "keys= a=")
		eventually("logout", two, renewed, "keys= a=")
	}

	// Writes in flight on both instances to one session all reach the
	// table, and both instances see all of them.
	_, _, c := miDo(t, one, "/?op=set&key=a&val=1", "")
	miDo(t, two, "/?op=get&key=a", c) // cached on two
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		inst := []string{one, two}[i%2]
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/?op=set&key=k%02d&val=%d", inst, i, i), nil)
			req.AddCookie(&http.Cookie{Name: "sid", Value: c})
			if res, err := http.DefaultClient.Do(req); err != nil {
				t.Errorf("write %d: %v", i, err)
			} else {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					t.Errorf("write %d: status %d", i, res.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	want := []string{"a"}
	for i := range n {
		want = append(want, fmt.Sprintf("k%02d", i))
	}
	eventually("writes in flight", one, c, "keys="+strings.Join(want, ",")+" ")
	eventually("writes in flight", two, c, "keys="+strings.Join(want, ",")+" ")
	t.Logf("slowest change to show on the other instance: %s", worst)
}
