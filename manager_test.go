package session_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/kvcache"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// touchCounter counts Touch calls.
type touchCounter struct {
	*countingStore
	mu      sync.Mutex
	touches int
}

func (t *touchCounter) Touch(ctx context.Context, id string, exp time.Time) error {
	t.mu.Lock()
	t.touches++
	t.mu.Unlock()
	return t.countingStore.Touch(ctx, id, exp)
}

func newKV(t testing.TB) (*kvcache.Container, *backends.KVStore) {
	t.Helper()
	kv, err := kvcache.New(kvcache.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	c, err := kv.Container("session")
	if err != nil {
		t.Fatal(err)
	}
	return c, backends.NewKVStore(c)
}

func newManager(t testing.TB, st backends.Store, mut func(*session.Config), opts ...session.Option) *session.Manager {
	t.Helper()
	cfg := session.DefaultConfig()
	cfg.Cookie.Secure = false
	if mut != nil {
		mut(&cfg)
	}
	m, err := session.NewManager(cfg, st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// writeSession creates a session with the given values and returns its id.
func writeSession(t *testing.T, m *session.Manager, kv map[string]any) string {
	t.Helper()
	var id string
	err := m.Run(context.Background(), func(ctx context.Context) error {
		s, err := session.From(ctx)
		if err != nil {
			return err
		}
		for k, v := range kv {
			if err := s.Set(k, v); err != nil {
				return err
			}
		}
		id = s.ID()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestValuesRoundTrip(t *testing.T) {
	_, st := newKV(t)
	m := newManager(t, st, nil)
	when := time.Date(2026, 11, 22, 10, 30, 0, 123456789, time.FixedZone("CET", 3600))
	type prefs struct {
		Theme string `json:"theme"`
		Size  int    `json:"size"`
	}
	id := writeSession(t, m, map[string]any{
		"n": 5, "u8": uint8(7), "f": 2.5, "whole": 5.0, "s": "x", "b": true, "t": when,
		"raw": []byte{0, 1, 2}, "nested": map[string]any{"a": []any{1, "two", map[string]int{"three": 3}}},
		"prefs": prefs{Theme: "dark", Size: 3}, "nil": nil,
	})
	s, err := m.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if s.GetInt("n") != 5 || s.GetInt("u8") != 7 || s.GetFloat("f") != 2.5 || s.GetString("s") != "x" || !s.GetBool("b") {
		t.Fatalf("scalars did not round-trip: %v", s.Keys())
	}
	if v, _ := s.Get("n"); v != int64(5) {
		t.Fatalf("an int must come back as int64, got %T", v)
	}
	if v, _ := s.Get("whole"); v != 5.0 {
		t.Fatalf("5.0 must stay a float64, got %T %v", v, v)
	}
	if !s.GetTime("t").Equal(when) {
		t.Fatalf("time: got %v want %v", s.GetTime("t"), when)
	}
	if string(s.GetBytes("raw")) != "\x00\x01\x02" {
		t.Fatalf("bytes: %v", s.GetBytes("raw"))
	}
	inner := s.GetMap("nested")["a"].([]any)
	if inner[0] != int64(1) || inner[1] != "two" || inner[2].(map[string]any)["three"] != int64(3) {
		t.Fatalf("nested: %#v", inner)
	}
	p, err := session.Value[prefs](s, "prefs")
	if err != nil || p.Theme != "dark" || p.Size != 3 {
		t.Fatalf("struct via Value[T]: %+v %v", p, err)
	}
	if n, err := session.Value[int](s, "n"); err != nil || n != 5 {
		t.Fatalf("Value[int]: %v %v", n, err)
	}
	if _, err := session.Value[int](s, "s"); !errors.Is(err, session.ErrTypeMismatch) {
		t.Fatalf("Value[int] of a string: want ErrTypeMismatch, got %v", err)
	}
	if _, err := session.Value[int](s, "absent"); !errors.Is(err, session.ErrKeyNotFound) {
		t.Fatalf("Value of an absent key: want ErrKeyNotFound, got %v", err)
	}
	if v, ok := s.Get("nil"); !ok || v != nil {
		t.Fatalf("nil value: %v %v", v, ok)
	}
}

func TestSetRejectsUnencodable(t *testing.T) {
	_, st := newKV(t)
	m := newManager(t, st, nil)
	s := m.New()
	for _, v := range []any{make(chan int), func() {}, complex(1, 2)} {
		if err := s.Set("bad", v); !errors.Is(err, session.ErrUnsupportedValue) {
			t.Fatalf("Set(%T): want ErrUnsupportedValue, got %v", v, err)
		}
	}
	if s.ID() != "" || s.Changed() {
		t.Fatal("a failed Set must not give the session an id or a change")
	}
}

func TestNoIDUntilWritten(t *testing.T) {
	_, st := newKV(t)
	m := newManager(t, st, nil)
	s := m.New()
	if s.ID() != "" {
		t.Fatal("new session has an id")
	}
	_ = s.Set("a", 1)
	if !session.ValidID(s.ID()) {
		t.Fatalf("after first write the id must be a UUIDv4, got %q", s.ID())
	}
	if err := s.Delete("missing"); !errors.Is(err, session.ErrKeyNotFound) {
		t.Fatalf("Delete of an absent key: want ErrKeyNotFound, got %v", err)
	}
	if v, ok := s.Pop("a"); !ok || v != int64(1) || s.Has("a") {
		t.Fatalf("Pop: %v %v", v, ok)
	}
	s.Revert()
	if s.ID() != "" || s.Len() != 0 {
		t.Fatal("Revert of a never-stored session must leave it empty and id-less")
	}
}

func TestHashedIDsAtRest(t *testing.T) {
	c, st := newKV(t)
	m := newManager(t, st, nil)
	id := writeSession(t, m, map[string]any{"user": "ann"})
	ctx := context.Background()
	if ok, _ := c.Exists(ctx, id); ok {
		t.Fatal("the raw session id is a key in the store")
	}
	if ok, _ := c.Exists(ctx, session.HashID(id)); !ok {
		t.Fatal("the store does not hold the session under the hash of its id")
	}
	// Iterate yields storage ids; destroying through them must not hash again.
	var ids []string
	if err := m.Iterate(ctx, func(r backends.Record) error { ids = append(ids, r.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != session.HashID(id) || strings.Contains(ids[0], id) {
		t.Fatalf("Iterate must yield only hashed ids, got %v", ids)
	}
	if err := m.DestroyStored(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	s, err := m.Load(ctx, id)
	if err != nil || s.ID() != "" {
		t.Fatalf("session still loads after DestroyStored: %q %v", s.ID(), err)
	}
	// Renew with hashing: the old hash is gone, the new one holds the data.
	id = writeSession(t, m, map[string]any{"user": "bob"})
	var renewed string
	err = m.Run(ctx, func(ctx context.Context) error {
		if err := session.SetID(ctx, id); err != nil {
			return err
		}
		s, err := session.From(ctx)
		if err != nil {
			return err
		}
		if err := s.RenewID(); err != nil {
			return err
		}
		renewed = s.ID()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx, session.HashID(id)); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("renew left the old id loadable in the store: %v", err)
	}
	if s, err := m.Load(ctx, id); err != nil || s.ID() != "" || s.Len() != 0 {
		t.Fatalf("old id after renew: %q, %d keys, %v; want a fresh session", s.ID(), s.Len(), err)
	}
	if s, _ := m.Load(ctx, renewed); s.GetString("user") != "bob" {
		t.Fatal("renew lost the data")
	}
}

func TestCorruptStoredSessionGivesFreshSession(t *testing.T) {
	c, st := newKV(t)
	core, logs := observer.New(zap.ErrorLevel)
	m := newManager(t, st, nil, session.WithLogger(zap.New(core)))
	id := writeSession(t, m, map[string]any{"a": 1})
	ctx := context.Background()
	if err := c.Set(ctx, session.HashID(id), []byte("{not json"), time.Hour); err != nil {
		t.Fatal(err)
	}
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := session.From(r.Context())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write([]byte("id=" + s.ID()))
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: "session", Value: id})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.String() != "id=" {
		t.Fatalf("corrupt session: want a fresh session, got %d %q", rec.Code, rec.Body.String())
	}
	if !strings.Contains(rec.Header().Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("corrupt session: the cookie must be cleared, got %q", rec.Header().Get("Set-Cookie"))
	}
	if ok, _ := c.Exists(ctx, session.HashID(id)); ok {
		t.Fatal("the corrupt record must be deleted")
	}
	if logs.FilterMessageSnippet("corrupt").Len() != 1 {
		t.Fatalf("the corrupt record must be logged once, logs: %v", logs.All())
	}
	for _, e := range logs.All() {
		for _, f := range e.Context {
			if strings.Contains(f.String, id) {
				t.Fatalf("a log line contains the raw session id: %v", e)
			}
		}
	}
}

func TestIdleRefreshHalfLife(t *testing.T) {
	_, kvs := newKV(t)
	st := &touchCounter{countingStore: &countingStore{Store: kvs}}
	clk := &clock{t: time.Now()}
	m := newManager(t, st, func(c *session.Config) { c.IdleTimeout = 30 * time.Minute; c.Lifetime = 24 * time.Hour },
		session.WithClock(clk.Now))
	id := writeSession(t, m, map[string]any{"a": 1})
	saves := st.saves.Load()
	// 100 read-only requests spread over 14 minutes (under half the idle
	// window): no writes at all.
	for i := 0; i < 100; i++ {
		clk.Add(8 * time.Second)
		err := m.Run(context.Background(), func(ctx context.Context) error {
			_ = session.SetID(ctx, id)
			s, err := session.From(ctx)
			if err == nil && s.GetInt("a") != 1 {
				t.Errorf("read %d lost the data", i)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if st.touches != 0 || st.saves.Load() != saves {
		t.Fatalf("100 read-only requests within half the idle window wrote %d times (touch %d)", st.saves.Load()-saves, st.touches)
	}
	// Past half the window: exactly one refresh, then none for the next reads.
	clk.Add(2 * time.Minute)
	for i := 0; i < 10; i++ {
		_ = m.Run(context.Background(), func(ctx context.Context) error {
			_ = session.SetID(ctx, id)
			_, err := session.From(ctx)
			return err
		})
	}
	if st.touches != 1 {
		t.Fatalf("after half the idle window: want exactly 1 touch, got %d", st.touches)
	}
}

func TestExpiredSessionNeverReturned(t *testing.T) {
	_, st := newKV(t)
	clk := &clock{t: time.Now()}
	m := newManager(t, st, func(c *session.Config) { c.IdleTimeout = 0; c.Lifetime = time.Hour }, session.WithClock(clk.Now))
	id := writeSession(t, m, map[string]any{"a": 1})
	clk.Add(61 * time.Minute)
	s, err := m.Load(context.Background(), id)
	if err != nil || s.ID() != "" || s.Has("a") {
		t.Fatalf("a session past its lifetime was returned: %q %v", s.ID(), err)
	}
}

func TestRunDiscardsOnError(t *testing.T) {
	_, st := newKV(t)
	m := newManager(t, st, nil)
	id := writeSession(t, m, map[string]any{"a": "kept"})
	boom := errors.New("job failed")
	err := m.Run(context.Background(), func(ctx context.Context) error {
		_ = session.SetID(ctx, id)
		s, _ := session.From(ctx)
		_ = s.Set("a", "discarded")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Run must return the job's error, got %v", err)
	}
	if s, _ := m.Load(context.Background(), id); s.GetString("a") != "kept" {
		t.Fatalf("a failed job's change was saved: %q", s.GetString("a"))
	}
}

func TestSessionTooLarge(t *testing.T) {
	_, st := newKV(t)
	var got error
	m2 := newManager(t, st, func(c *session.Config) { c.MaxSessionSize = 1024 },
		session.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			http.Error(w, "too large", 500)
		}))
	h := m2.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := session.From(r.Context())
		_ = s.Set("big", strings.Repeat("x", 2000))
		w.Write([]byte("handler response"))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !errors.Is(got, session.ErrTooLarge) || rec.Code != 500 || strings.Contains(rec.Body.String(), "handler response") || rec.Header().Get("Set-Cookie") != "" {
		t.Fatalf("oversized session: err %v, status %d, body %q, cookie %q", got, rec.Code, rec.Body.String(), rec.Header().Get("Set-Cookie"))
	}
}

func TestLateChangeIsSavedAndLogged(t *testing.T) {
	_, st := newKV(t)
	core, logs := observer.New(zap.ErrorLevel)
	m := newManager(t, st, nil, session.WithLogger(zap.New(core)))
	id := writeSession(t, m, map[string]any{"a": 1})
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := session.From(r.Context())
		w.WriteHeader(200) // headers out
		_ = s.Set("late", "yes")
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: "session", Value: id})
	h.ServeHTTP(httptest.NewRecorder(), req)
	if s, _ := m.Load(context.Background(), id); s.GetString("late") != "yes" {
		t.Fatal("a change made after the headers were sent was lost")
	}
	if logs.FilterMessageSnippet("after the response headers").Len() != 1 {
		t.Fatalf("the late change must be logged as an error: %v", logs.All())
	}
}

func TestFlusherAndResponseController(t *testing.T) {
	_, st := newKV(t)
	m := newManager(t, st, nil)
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := session.From(r.Context())
		_ = s.Set("a", 1)
		if _, ok := w.(http.Flusher); !ok {
			t.Error("the wrapped writer lost http.Flusher")
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !rec.Flushed || !strings.Contains(rec.Header().Get("Set-Cookie"), "session=") {
		t.Fatalf("flush must commit the session first: flushed %v cookie %q", rec.Flushed, rec.Header().Get("Set-Cookie"))
	}
}

// cleanupCounter counts the periodic cleanup's calls to the store.
type cleanupCounter struct {
	*backends.KVStore
	calls atomic.Int64
}

func (c *cleanupCounter) DeleteOlderThan(ctx context.Context, age time.Duration) (int64, error) {
	c.calls.Add(1)
	return c.KVStore.DeleteOlderThan(ctx, age)
}

// Info declares a store that needs sweeping (as a SQL table does), so the
// periodic cleanup runs on it.
func (c *cleanupCounter) Info() backends.Info {
	i := c.KVStore.Info()
	i.ExpiresNatively = false
	return i
}

// TestNoGoroutineLeak runs the memory kvcache, the periodic cleanup and
// five requests in a synctest bubble. Every goroutine they start belongs to
// the bubble, and synctest.Test fails ("blocked goroutines remain") if one
// is still there when the function returns: StopCleanup and kv.Close must
// end them all. The fake clock makes the 10ms cleanup fire exactly 3 times
// in 35ms, so the loop being stopped is one that has run. (This test used
// to sleep 30ms of wall-clock time for that, without checking that the
// cleanup ran, and to check leaks with goleak around a real HTTP server,
// whose goroutines are net/http's, not ours.)
func TestNoGoroutineLeak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kv, err := kvcache.New(kvcache.DefaultConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := kv.Container("session")
		if err != nil {
			t.Fatal(err)
		}
		st := &cleanupCounter{KVStore: backends.NewKVStore(c)}
		cfg := session.DefaultConfig()
		cfg.CleanupInterval = 10 * time.Millisecond
		m, err := session.NewManager(cfg, st)
		if err != nil {
			t.Fatal(err)
		}
		m.StartCleanup(cfg.CleanupInterval)
		h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, err := session.From(r.Context())
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			_ = s.Set("n", s.GetInt("n")+1)
		}))
		var cookie *http.Cookie
		for i := range 5 {
			req := httptest.NewRequest("GET", "/", nil)
			if cookie != nil {
				req.AddCookie(cookie)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("request %d: status %d %s", i, rec.Code, rec.Body.String())
			}
			if cs := rec.Result().Cookies(); len(cs) > 0 {
				cookie = cs[0]
			}
		}
		s, err := m.Load(context.Background(), cookie.Value)
		if err != nil {
			t.Fatal(err)
		}
		if n := s.GetInt("n"); n != 5 {
			t.Fatalf("after 5 requests with the cookie: n = %d; want 5", n)
		}
		time.Sleep(35 * time.Millisecond)
		if n := st.calls.Load(); n != 3 {
			t.Errorf("periodic cleanup every 10ms ran %d times in 35ms; want 3", n)
		}
		m.StopCleanup()
		if err := kv.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPeriodicCleanupDeletesExpiredRows(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := gormstore.DefaultConfig()
	cfg.DSN = t.TempDir() + "/cleanup.sqlite3"
	st, err := gormstore.NewFromConfig(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, st, func(c *session.Config) { c.Lifetime = 2 * time.Second; c.IdleTimeout = 0 })
	count := func() (n int64) {
		st.Query(ctx).Count(&n)
		return n
	}
	writeSession(t, m, map[string]any{"a": 1})
	time.Sleep(1200 * time.Millisecond)
	late := writeSession(t, m, map[string]any{"b": 2})
	m.StartCleanup(50 * time.Millisecond)
	defer m.StopCleanup()
	deadline := time.Now().Add(3 * time.Second)
	for count() == 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := count(); n != 1 {
		t.Fatalf("periodic cleanup: want the expired row deleted and the live one kept (1 row), got %d", n)
	}
	if s, _ := m.Load(ctx, late); s.GetInt("b") != 2 {
		t.Fatal("periodic cleanup deleted a live session")
	}
}

func TestFirstUseAfterHeadersIsLogged(t *testing.T) {
	_, st := newKV(t)
	core, logs := observer.New(zap.ErrorLevel)
	m := newManager(t, st, nil, session.WithLogger(zap.New(core)))
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200) // headers out before the session is ever used
		s, _ := session.From(r.Context())
		_ = s.Set("late", "yes")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Header().Get("Set-Cookie") != "" {
		t.Fatal("no cookie can be set after the headers went out")
	}
	if logs.FilterMessageSnippet("never received the new session id").Len() != 1 {
		t.Fatalf("a new session created after the headers must be logged as an error: %v", logs.All())
	}
}
