// Package bench compares sessionfx with alexedwards/scs/v2 and
// gorilla/sessions, side by side, through httptest (no network in the timing
// loop). It is its own Go module so the main module never depends on the
// libraries it is compared with.
//
// Every library runs the same handler shapes (see Scenario) behind its own
// middleware, and every store is wrapped by a counter so each request's store
// operations can be reported next to ns/op, B/op and allocs/op.
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
)

// ErrSkip is returned by a target constructor whose service is not configured.
var ErrSkip = errors.New("backend not configured")

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
	Backend string // memory, redis, redis-cc, sqlite, postgres, cookie
	Note    string // what the backend really is (e.g. which store package)
	L       Lib
	Ops     *atomic.Int64 // store operations so far (reads + writes)
	Writes  *atomic.Int64 // store writes so far (subset of Ops)
	Close   func()
}

// Name is lib/backend, as used in benchmark names.
func (t *Target) Name() string { return t.Lib + "/" + t.Backend }

// Counter counts store operations.
type Counter struct {
	Ops    atomic.Int64
	Writes atomic.Int64
}

func (c *Counter) read()  { c.Ops.Add(1) }
func (c *Counter) write() { c.Ops.Add(1); c.Writes.Add(1) }

// RedisURL returns the Redis URL from the environment, or "".
func RedisURL() string { return os.Getenv(EnvRedis) }

// PostgresDSN returns the PostgreSQL DSN from the environment, or "".
func PostgresDSN() string { return os.Getenv(EnvPostgres) }

// UniqueName returns prefix followed by 8 random hex characters, for key
// prefixes, table and schema names that no other run shares.
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

// CookieName is the session cookie name every library uses.
const CookieName = "session"

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
	last := ""
	for _, c := range rec.Result().Cookies() {
		if c.Name == CookieName && c.Value != "" {
			last = CookieName + "=" + c.Value // the browser keeps the last one
		}
	}
	if last != "" {
		return last, nil
	}
	return "", fmt.Errorf("%s: seeding a session: no %q cookie in the response (headers %v)", t.Name(), CookieName, rec.Header())
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
	// IdleTimeout is set on every library that has one (0: each library's
	// default: sessionfx 30m, scs none).
	IdleTimeout time.Duration
}

// Builder builds one target.
type Builder struct {
	Lib, Backend string
	New          func(ctx context.Context, o Options) (*Target, error)
}

// Builders lists every library × backend.
func Builders() []Builder {
	var out []Builder
	out = append(out, sessionfxBuilders()...)
	out = append(out, scsBuilders()...)
	out = append(out, gorillaBuilders()...)
	return out
}
