// Package bench compares sessionfx with alexedwards/scs/v2 and
// gorilla/sessions, side by side, through httptest (no network in the timing
// loop). It is its own Go module so the main module never depends on the
// libraries it is compared with.
//
// Every library runs the same handler shapes (see Scenario) behind its own
// middleware, with the same settings (see Settings and Mode), and every store
// is wrapped by a counter of the library's own store interface, so each
// request's store reads and store writes are reported next to ns/op, B/op and
// allocs/op.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Env names the services the harness uses; unset ones skip their backends.
const (
	EnvRedis    = "SESSIONFX_TEST_REDIS_URL"    // e.g. redis://127.0.0.1:6379/0
	EnvPostgres = "SESSIONFX_TEST_POSTGRES_DSN" // e.g. host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable
	EnvMySQL    = "SESSIONFX_TEST_MYSQL_DSN"    // e.g. root@tcp(127.0.0.1:3306)/test?parseTime=true&loc=UTC
)

// ErrSkip is returned by a target constructor whose service is not configured.
var ErrSkip = errors.New("backend not configured")

// The settings both sides run with (see Mode for the idle timeout).
const (
	// CookieName is the session cookie name every library uses.
	CookieName = "session"
	// Lifetime is the absolute session lifetime on every side: sessionfx
	// lifetime, scs Lifetime, gorilla MaxAge.
	Lifetime = 24 * time.Hour
	// SCSHashTokenInStore: scs stores a SHA-256 of the token, as sessionfx
	// (hash_ids, on by default) stores a SHA-256 of the id. Both sides then
	// pay one hash per store call and neither keeps usable ids in the store.
	SCSHashTokenInStore = true
)

// Settings describes, in one line, the settings every side runs with.
const Settings = "cookie `session`, Path=/, Secure, HttpOnly, SameSite=Lax, persistent (Max-Age follows the 24h lifetime) on every side; " +
	"absolute lifetime 24h (sessionfx lifetime, scs Lifetime, gorilla MaxAge); " +
	"ids stored hashed (SHA-256) by sessionfx (hash_ids, its default) and scs (HashTokenInStore = true); " +
	"no background cleanup goroutine on any side; idle timeout per mode (idle=none: off on both; idle=30m: 30m on both; gorilla has none)"

// Mode is one settings mode of the scenario benchmarks.
type Mode struct {
	Name string        // as in benchmark names: idle=none, idle=30m
	Idle time.Duration // idle timeout on every library that has one (0: off)
}

// Modes are the two settings modes: both libraries without an idle timeout,
// and both with a 30-minute one (scs then commits on every request that
// loads a session; sessionfx refreshes once half of the window has passed).
var Modes = []Mode{
	{Name: "idle=none", Idle: 0},
	{Name: "idle=30m", Idle: 30 * time.Minute},
}

// Lib is one session library behind one backend, as the handlers see it.
type Lib interface {
	// Wrap installs the library's middleware (identity for gorilla).
	Wrap(h http.Handler) http.Handler
	// GetString reads key from the request's session.
	GetString(w http.ResponseWriter, r *http.Request, key string) string
	// Incr adds one to the int under key.
	Incr(w http.ResponseWriter, r *http.Request, key string)
	// Put sets key to value.
	Put(w http.ResponseWriter, r *http.Request, key, value string)
}

// Target is a library on a backend, ready to serve.
type Target struct {
	Lib     string // sessionfx, scs, gorilla
	Backend string // memory, redis, redis-cc, redis-goredis, sqlite, postgres, mysql, file, cookie
	Note    string // what the store really is (package, client) and what is counted
	L       Lib
	C       *Counter // store reads and writes so far
	Close   func()
}

// Name is lib/backend, as used in benchmark names.
func (t *Target) Name() string { return t.Lib + "/" + t.Backend }

// Counter counts calls of a library's store interface: reads (sessionfx
// backends.Store.Load, scs Store.Find, redistore's load, cookie decode) and
// writes (sessionfx Save/Delete/Touch, scs Commit/Delete, redistore's
// save/delete, cookie encode).
type Counter struct {
	Reads  atomic.Int64
	Writes atomic.Int64
}

func (c *Counter) read()  { c.Reads.Add(1) }
func (c *Counter) write() { c.Writes.Add(1) }

// RedisURL returns the Redis URL from the environment, or "".
func RedisURL() string { return os.Getenv(EnvRedis) }

// PostgresDSN returns the PostgreSQL DSN from the environment, or "".
func PostgresDSN() string { return os.Getenv(EnvPostgres) }

// MySQLDSN returns the MySQL/MariaDB DSN from the environment, or "".
func MySQLDSN() string { return os.Getenv(EnvMySQL) }

// UniqueName returns prefix followed by 8 random hex characters, for key
// prefixes, table, schema and database names that no other run shares.
func UniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Scenario is one request shape.
type Scenario struct {
	Name string
	Desc string
	// Cookie: "valid" (a stored session with user=alice, n=1), "none",
	// or "garbage" (10 KB of junk in the session cookie).
	Cookie string
	// Handler builds the handler for lib.
	Handler func(l Lib) http.Handler
}

func untouched(Lib) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})
}

func readOne(l Lib) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.GetString(w, r, "user") != "alice" {
			http.Error(w, "user not found in session", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
}

func incr(l Lib) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.Incr(w, r, "n")
		_, _ = w.Write([]byte("ok"))
	})
}

func writeOne(l Lib) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.Put(w, r, "user", "alice")
		_, _ = w.Write([]byte("ok"))
	})
}

// Scenarios are S1–S6 of the issue.
var Scenarios = []Scenario{
	{"S1", "valid cookie; handler never touches the session", "valid", untouched},
	{"S2", "valid cookie; handler reads one string key", "valid", readOne},
	{"S3", "valid cookie; handler increments an int counter", "valid", incr},
	{"S4", "no cookie; handler writes one key (new session)", "none", writeOne},
	{"S5", "no cookie; handler never touches the session", "none", untouched},
	{"S6", "10 KB garbage cookie; handler writes one key", "garbage", writeOne},
}

// ScenarioByName returns the scenario named name (S1–S6).
func ScenarioByName(name string) Scenario {
	for _, sc := range Scenarios {
		if sc.Name == name {
			return sc
		}
	}
	panic("bench: no scenario " + name)
}

// CookieScenarios are the scenarios of the cookie-store comparison.
var CookieScenarios = []string{"S2", "S3", "S4"}

// GarbageCookie is the S6 cookie header: 10 KB that is no valid id or token.
var GarbageCookie = CookieName + "=" + strings.Repeat("x9Z_-", 2048)

// Seed creates a session with user=alice and n=1 through t's own handlers and
// returns the Cookie header that carries it.
func Seed(t *Target) (string, error) {
	h := t.L.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.L.Put(w, r, "user", "alice")
		t.L.Incr(w, r, "n")
		_, _ = w.Write([]byte("ok"))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		return "", fmt.Errorf("%s: seeding a session: status %d: %s", t.Name(), rec.Code, rec.Body.String())
	}
	if c := SetCookie(rec); c != "" {
		return c, nil
	}
	return "", fmt.Errorf("%s: seeding a session: no %q cookie in the response (headers %v)", t.Name(), CookieName, rec.Header())
}

// SetCookie returns the Cookie header a browser would send after rec: the
// last non-empty session cookie rec sets, or "" when it sets none.
func SetCookie(rec *httptest.ResponseRecorder) string {
	last := ""
	for _, c := range rec.Result().Cookies() {
		if c.Name == CookieName && c.Value != "" {
			last = CookieName + "=" + c.Value
		}
	}
	return last
}

// SettleAfterSeed is how long a valid-cookie scenario waits after seeding its
// session before it is timed, on every library: the requests then meet a
// session at rest, as a real session mostly is, not one written a moment
// ago (sessionfx's Redis client-side cache reads a key it wrote within the
// last second from the server, so without the pause part of S2 would
// measure that path instead of the cache).
const SettleAfterSeed = 1100 * time.Millisecond

// Settle sleeps SettleAfterSeed when sc sends the seeded session's cookie.
func Settle(sc Scenario) {
	if sc.Cookie == "valid" {
		time.Sleep(SettleAfterSeed)
	}
}

// Request builds the base request of scenario sc for a seeded cookie.
func Request(sc Scenario, validCookie string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	switch sc.Cookie {
	case "valid":
		r.Header.Set("Cookie", validCookie)
	case "garbage":
		r.Header.Set("Cookie", GarbageCookie)
	}
	return r
}

// Serve runs one request: a shallow copy of base (gorilla/sessions stores its
// registry in the request it is given, so each request must be its own) into
// a fresh httptest.ResponseRecorder.
func Serve(h http.Handler, base *http.Request) *httptest.ResponseRecorder {
	r := new(http.Request)
	*r = *base
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// CheckResponse reports a non-200 answer.
func CheckResponse(rec *httptest.ResponseRecorder) error {
	if rec.Code != http.StatusOK {
		return fmt.Errorf("status %d: %s", rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	return nil
}

// Options tune the targets.
type Options struct {
	// IdleTimeout is set on every library that has one; 0 turns it off on
	// every side (sessionfx idle_timeout = 0, scs IdleTimeout = 0).
	IdleTimeout time.Duration
	// RedisURL overrides the environment's Redis URL (cmd/behave points the
	// Redis targets at a private server to count their commands).
	RedisURL string
}

func (o Options) redisURL() string {
	if o.RedisURL != "" {
		return o.RedisURL
	}
	return RedisURL()
}

// Builder builds one target. Every call builds a fresh one: a new store (new
// key prefix, table, schema or database) that the target's Close removes.
type Builder struct {
	Lib, Backend string
	// Idle is false for a library without an idle timeout (gorilla): it
	// is left out of the idle=30m mode.
	Idle bool
	// Cookie marks a client-side (cookie) store: compared in
	// BenchmarkCookieStores, not BenchmarkScenarios.
	Cookie bool
	New    func(ctx context.Context, o Options) (*Target, error)
}

// Name is lib/backend.
func (b Builder) Name() string { return b.Lib + "/" + b.Backend }

// Builders lists every library × backend.
func Builders() []Builder {
	var out []Builder
	out = append(out, sessionfxBuilders()...)
	out = append(out, scsBuilders()...)
	out = append(out, gorillaBuilders()...)
	return out
}

// ServerBuilders are the server-side stores, measured by BenchmarkScenarios.
func ServerBuilders() []Builder {
	var out []Builder
	for _, b := range Builders() {
		if !b.Cookie {
			out = append(out, b)
		}
	}
	return out
}

// CookieBuilders are the cookie stores, measured by BenchmarkCookieStores.
func CookieBuilders() []Builder {
	var out []Builder
	for _, b := range Builders() {
		if b.Cookie {
			out = append(out, b)
		}
	}
	return out
}

// ModeBuilders are the builders that take part in mode m (a library without
// an idle timeout has no idle=30m configuration).
func ModeBuilders(bs []Builder, m Mode) []Builder {
	var out []Builder
	for _, b := range bs {
		if m.Idle == 0 || b.Idle {
			out = append(out, b)
		}
	}
	return out
}
