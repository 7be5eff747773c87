package session_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/kvcache"
)

// countingStore counts every call that reaches the store, and can be told
// to fail.
type countingStore struct {
	backends.Store
	calls atomic.Int64
	loads atomic.Int64
	saves atomic.Int64
	fail  atomic.Bool
}

var errDown = errors.New("store is down")

func (c *countingStore) hit() error {
	c.calls.Add(1)
	if c.fail.Load() {
		return errDown
	}
	return nil
}

func (c *countingStore) Load(ctx context.Context, id string) (*backends.Record, error) {
	c.loads.Add(1)
	if err := c.hit(); err != nil {
		return nil, err
	}
	return c.Store.Load(ctx, id)
}

func (c *countingStore) Save(ctx context.Context, id string, ch backends.Changes, o backends.SaveOptions) (*backends.Record, error) {
	c.saves.Add(1)
	if err := c.hit(); err != nil {
		return nil, err
	}
	return c.Store.Save(ctx, id, ch, o)
}

func (c *countingStore) Delete(ctx context.Context, id string) error {
	if err := c.hit(); err != nil {
		return err
	}
	return c.Store.Delete(ctx, id)
}

func (c *countingStore) Exists(ctx context.Context, id string) (bool, error) {
	if err := c.hit(); err != nil {
		return false, err
	}
	return c.Store.(backends.Exister).Exists(ctx, id)
}

// Info is the wrapped store's: a decorator forwards what it keeps.
func (c *countingStore) Info() backends.Info { return backends.InfoOf(c.Store) }

func (c *countingStore) Touch(ctx context.Context, id string, exp time.Time) error {
	if err := c.hit(); err != nil {
		return err
	}
	return c.Store.Touch(ctx, id, exp)
}

type testApp struct {
	srv   *httptest.Server
	store *countingStore
	mgr   *session.Manager
}

// startApp wires session.Module from a testdata config with a "counting"
// store plugin (a kvcache store behind a call counter), and serves h.
func startApp(t *testing.T, configFile string, h http.HandlerFunc) *testApp {
	t.Helper()
	ta := &testApp{}
	app := fxtest.New(t,
		fx.Supply(zap.NewNop()),
		session.Module,
		session.UseConfigFile(configFile),
		session.AsStore(func() backends.Registration {
			return backends.Registration{Name: "counting", New: func(env backends.Env) (backends.Storage, error) {
				c, err := env.KV.Container(env.Container)
				if err != nil {
					return nil, err
				}
				ta.store = &countingStore{Store: backends.NewKVStore(c)}
				return ta.store, nil
			}}
		}),
		fx.Populate(&ta.mgr),
		fx.Invoke(func(mw session.HTTPMiddleware) {
			ta.srv = httptest.NewServer(mw(h))
		}),
	)
	app.RequireStart()
	t.Cleanup(func() {
		ta.srv.Close()
		app.RequireStop()
	})
	return ta
}

func do(t *testing.T, ta *testApp, method, path, cookie string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, ta.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "sid", Value: cookie})
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func sessionCookie(res *http.Response) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == "sid" {
			return c
		}
	}
	return nil
}

// panickedAfterSet counts the "panic" requests that changed the session
// before panicking.
var panickedAfterSet atomic.Int64

// handler: ?op=none|get|set&key=&val=
func testHandler(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch q.Get("op") {
	case "none":
		fmt.Fprint(w, "untouched")
		return
	case "panic":
		s, err := session.From(r.Context())
		if err == nil && s.Set("k", "from-panicking-request") == nil {
			panickedAfterSet.Add(1)
		}
		panic(http.ErrAbortHandler)
	}
	s, err := session.From(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	switch q.Get("op") {
	case "set":
		if err := s.Set(q.Get("key"), q.Get("val")); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
	case "incr":
		_ = s.Set("n", s.GetInt("n")+1)
	case "renew":
		_ = s.RenewID()
	case "destroy":
		if err := s.Destroy(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
	case "setid":
		err := session.SetID(r.Context(), "0b6f5bd0-8b7f-4c1e-9a53-1f1a4f6f4b9a")
		fmt.Fprintf(w, "%v|", errors.Is(err, session.ErrAlreadyLoaded))
	}
	fmt.Fprintf(w, "id=%s n=%d %s=%s", s.ID(), s.GetInt("n"), q.Get("key"), s.GetString(q.Get("key")))
}

var configs = []string{"testdata/module/app.ini", "testdata/module/app.yaml"}

func TestModuleLazy(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg, func(t *testing.T) {
			ta := startApp(t, cfg, testHandler)
			res, _ := do(t, ta, "GET", "/?op=set&key=a&val=1", "")
			c := sessionCookie(res)
			if c == nil || c.Value == "" {
				t.Fatalf("first write: want a session cookie, got %v", res.Header["Set-Cookie"])
			}
			before := ta.store.calls.Load()
			res, body := do(t, ta, "GET", "/?op=none", c.Value)
			if body != "untouched" || sessionCookie(res) != nil || res.Header.Get("Vary") != "" {
				t.Fatalf("untouched request: body %q, Set-Cookie %v, Vary %q", body, res.Header["Set-Cookie"], res.Header.Get("Vary"))
			}
			if got := ta.store.calls.Load() - before; got != 0 {
				t.Fatalf("untouched request with a cookie made %d store calls, want 0", got)
			}
			// A read-only use: one load, no save, no cookie.
			before = ta.store.calls.Load()
			res, body = do(t, ta, "GET", "/?op=get&key=a", c.Value)
			if !strings.Contains(body, "a=1") || sessionCookie(res) != nil {
				t.Fatalf("read: body %q cookies %v", body, res.Header["Set-Cookie"])
			}
			if got := ta.store.calls.Load() - before; got != 1 {
				t.Fatalf("read-only request made %d store calls, want 1 (the load)", got)
			}
			if res.Header.Get("Vary") != "Cookie" {
				t.Fatalf("accessed session: want Vary: Cookie, got %q", res.Header.Get("Vary"))
			}
		})
	}
}

func TestModuleFirstWriteCookie(t *testing.T) {
	ta := startApp(t, "testdata/module/app.ini", testHandler)
	res, body := do(t, ta, "GET", "/?op=get&key=a", "")
	if sessionCookie(res) != nil || !strings.HasPrefix(body, "id= ") {
		t.Fatalf("reading a new session must not give it an id or a cookie: %q %v", body, res.Header["Set-Cookie"])
	}
	if ta.store.calls.Load() != 0 {
		t.Fatalf("new session read made %d store calls", ta.store.calls.Load())
	}
	res, body = do(t, ta, "GET", "/?op=set&key=a&val=x", "")
	c := sessionCookie(res)
	if c == nil || !session.ValidID(c.Value) || !strings.Contains(body, "id="+c.Value) {
		t.Fatalf("first write: cookie %v body %q", c, body)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
		t.Fatalf("cookie attributes: %+v (testdata sets secure=false)", c)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Set-Cookie response must not be cacheable, Cache-Control %q", res.Header.Get("Cache-Control"))
	}
	_, body = do(t, ta, "GET", "/?op=get&key=a", c.Value)
	if !strings.Contains(body, "a=x") {
		t.Fatalf("next request does not see the write: %q", body)
	}
}

func TestModuleUnknownAndMalformedIDs(t *testing.T) {
	ta := startApp(t, "testdata/module/app.ini", testHandler)
	unknown := "7d444840-9dc0-41f1-8b4c-9f1e3a1f5c7e"
	res, body := do(t, ta, "GET", "/?op=set&key=a&val=1", unknown)
	c := sessionCookie(res)
	if c == nil || c.Value == unknown || strings.Contains(body, unknown) {
		t.Fatalf("unknown id was adopted: cookie %v body %q", c, body)
	}
	// Read-only with a stale id: cookie cleared once.
	res, _ = do(t, ta, "GET", "/?op=get&key=a", unknown)
	if c := sessionCookie(res); c == nil || c.MaxAge >= 0 {
		t.Fatalf("stale cookie must be cleared, got %v", res.Header["Set-Cookie"])
	}
	loads := ta.store.loads.Load()
	for _, bad := range []string{"../../etc/passwd", "not-a-uuid", strings.Repeat("a", 36), "7D444840-9DC0-11F1-8B4C-9F1E3A1F5C7E"} {
		res, _ := do(t, ta, "GET", "/?op=get&key=a", bad)
		if res.StatusCode != 200 {
			t.Fatalf("malformed id %q: status %d", bad, res.StatusCode)
		}
	}
	if got := ta.store.loads.Load() - loads; got != 0 {
		t.Fatalf("malformed ids reached the store %d times", got)
	}
	// Oversized cookie is ignored before any store call.
	res, _ = do(t, ta, "GET", "/?op=get&key=a", strings.Repeat("x", 5000))
	if res.StatusCode != 200 || ta.store.loads.Load() != loads {
		t.Fatalf("oversized cookie: status %d, loads %d", res.StatusCode, ta.store.loads.Load()-loads)
	}
}

func TestModuleRenewAndDestroy(t *testing.T) {
	ta := startApp(t, "testdata/module/app.ini", testHandler)
	res, _ := do(t, ta, "GET", "/?op=set&key=user&val=ann", "")
	old := sessionCookie(res).Value
	res, body := do(t, ta, "GET", "/?op=renew&key=user", old)
	c := sessionCookie(res)
	if c == nil || c.Value == old || !strings.Contains(body, "user=ann") {
		t.Fatalf("renew: cookie %v body %q", c, body)
	}
	_, body = do(t, ta, "GET", "/?op=get&key=user", old)
	if strings.Contains(body, "user=ann") {
		t.Fatalf("old id still works after renew: %q", body)
	}
	_, body = do(t, ta, "GET", "/?op=get&key=user", c.Value)
	if !strings.Contains(body, "user=ann") {
		t.Fatalf("renewed id lost the data: %q", body)
	}
	res, _ = do(t, ta, "GET", "/?op=destroy", c.Value)
	if d := sessionCookie(res); d == nil || d.MaxAge >= 0 {
		t.Fatalf("destroy must expire the cookie: %v", res.Header["Set-Cookie"])
	}
	if ok, _ := ta.store.Exists(context.Background(), session.HashID(c.Value)); ok {
		t.Fatal("destroy left the session in the store")
	}
}

func TestModuleConcurrentWritesMerge(t *testing.T) {
	ta := startApp(t, "testdata/module/app.ini", testHandler)
	res, _ := do(t, ta, "GET", "/?op=set&key=start&val=1", "")
	id := sessionCookie(res).Value
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if res, body := do(t, ta, "GET", fmt.Sprintf("/?op=set&key=k%d&val=v%d", i, i), id); res.StatusCode != 200 {
				t.Errorf("write %d: %d %s", i, res.StatusCode, body)
			}
		}(i)
	}
	wg.Wait()
	s, err := ta.mgr.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if got := s.GetString(fmt.Sprintf("k%d", i)); got != fmt.Sprintf("v%d", i) {
			t.Fatalf("key k%d lost: %q (keys %v)", i, got, s.Keys())
		}
	}
}

func TestModuleFailureDiscards(t *testing.T) {
	ta := startApp(t, "testdata/module/app.ini", testHandler)
	res, _ := do(t, ta, "GET", "/?op=set&key=k&val=before", "")
	id := sessionCookie(res).Value
	before, loads, saves := panickedAfterSet.Load(), ta.store.loads.Load(), ta.store.saves.Load()
	// POST: the client retries a GET whose connection the panic aborted.
	req, _ := http.NewRequest("POST", ta.srv.URL+"/?op=panic", nil)
	req.AddCookie(&http.Cookie{Name: "sid", Value: id})
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
	}
	// The panicking request ran: it loaded the session and changed it.
	if panickedAfterSet.Load() != before+1 || ta.store.loads.Load() != loads+1 {
		t.Fatalf("the panicking request did not load and change the session (runs %d, loads %d)",
			panickedAfterSet.Load()-before, ta.store.loads.Load()-loads)
	}
	if n := ta.store.saves.Load() - saves; n != 0 {
		t.Fatalf("the panicking request reached the store's Save %d times; want 0", n)
	}
	_, body := do(t, ta, "GET", "/?op=get&key=k", id)
	if !strings.Contains(body, "k=before") {
		t.Fatalf("a panicking request's change was saved: %q", body)
	}
}

func TestModuleSetIDAfterLoad(t *testing.T) {
	ta := startApp(t, "testdata/module/app.ini", testHandler)
	_, body := do(t, ta, "GET", "/?op=setid", "")
	if !strings.HasPrefix(body, "true|") {
		t.Fatalf("SetID after first access must fail with ErrAlreadyLoaded: %q", body)
	}
}

func TestModuleStoreErrors(t *testing.T) {
	ta := startApp(t, "testdata/module/app.ini", testHandler)
	res, _ := do(t, ta, "GET", "/?op=set&key=k&val=v", "")
	id := sessionCookie(res).Value
	ta.store.fail.Store(true)
	res, body := do(t, ta, "GET", "/?op=get&key=k", id)
	if res.StatusCode != 503 || !strings.Contains(body, "session store failed") {
		t.Fatalf("load failure must surface: %d %q", res.StatusCode, body)
	}
	res, body = do(t, ta, "GET", "/?op=none", id)
	if res.StatusCode != 200 || body != "untouched" {
		t.Fatalf("a request that never uses the session must work while the store is down: %d %q", res.StatusCode, body)
	}
	// Save failure before headers: error handler answers 503, no cookie.
	res, _ = do(t, ta, "GET", "/?op=set&key=k&val=w", "")
	if res.StatusCode != 503 || sessionCookie(res) != nil {
		t.Fatalf("save failure: status %d cookies %v", res.StatusCode, res.Header["Set-Cookie"])
	}
	ta.store.fail.Store(false)
	_, body = do(t, ta, "GET", "/?op=get&key=k", id)
	if !strings.Contains(body, "k=v") {
		t.Fatalf("data lost after outage: %q", body)
	}
}

func TestModuleConfigErrorFailsStart(t *testing.T) {
	app := fx.New(fx.NopLogger, fx.Supply(zap.NewNop()), session.Module, session.UseConfigFile("testdata/module/bad.ini"),
		fx.Invoke(func(*session.Manager) {}))
	err := app.Start(context.Background())
	if err == nil {
		t.Fatal("a config with an invalid value must fail start-up")
	}
	for _, want := range []string{"session.idle_timeout", "soon"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %q", err, want)
		}
	}
}

func TestModuleKVCacheProvided(t *testing.T) {
	var kv *kvcache.Cache
	app := fxtest.New(t, fx.Supply(zap.NewNop()), session.Module, session.UseConfigFile("testdata/module/app.yaml"), fx.Populate(&kv))
	app.RequireStart()
	defer app.RequireStop()
	if _, err := kv.Container("tokens"); err != nil {
		t.Fatalf("the module's kvcache must serve other containers too: %v", err)
	}
}
