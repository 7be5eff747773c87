package routers_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/kvcache"
)

// newManager is a session manager on an in-memory kvcache container (as in
// the root package's manager_test.go), with Secure off for plain http.
func newManager(t *testing.T) *session.Manager {
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
	cfg := session.DefaultConfig()
	cfg.Cookie.Secure = false
	m, err := session.NewManager(cfg, backends.NewKVStore(c))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// stored counts the sessions in the manager's store.
func stored(t *testing.T, m *session.Manager) int {
	t.Helper()
	n := 0
	if err := m.Iterate(context.Background(), func(backends.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// stream is what each router's GET /stream handler does, given its way of
// flushing: it writes the session, flushes before writing anything (so
// the Flush itself must commit the session and put the cookie on the
// headers), writes "first\n", flushes, then waits until the client has
// read that line before writing "second\n". Without a working Flush the
// client sees nothing until the handler gives up waiting.
type stream struct {
	release chan struct{}
	done    atomic.Bool
}

func newStream() *stream { return &stream{release: make(chan struct{})} }

func (st *stream) serve(ctx context.Context, w io.Writer, flush func()) {
	defer st.done.Store(true)
	if s, err := session.From(ctx); err == nil {
		_ = s.Set("streamed", true)
	}
	flush() // headers only
	_, _ = io.WriteString(w, "first\n")
	flush()
	select {
	case <-st.release:
	case <-time.After(5 * time.Second):
	}
	_, _ = io.WriteString(w, "second\n")
}

// Each router under test serves these routes:
//
//	POST /set?v=X  sets "name" to X in the session, answers "ok"
//	GET  /get      answers the session's "name"
//	GET  /plain    answers "plain", never touching the session
//	GET  /stream   stream.serve
//
// checkRecipe runs the three-request story against it: request 1 sets a
// value and gets a cookie, request 2 sends the cookie back and reads the
// value, a route that never touches the session sets no cookie (with or
// without a session cookie in the request), and a streamed response is
// flushed, with the cookie on it.
func checkRecipe(t *testing.T, m *session.Manager, h http.Handler, st *stream) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	name := m.Config().Cookie.Name

	res, body := do(t, srv, "POST", "/set?v=alice", nil)
	if res.StatusCode != 200 || body != "ok" {
		t.Fatalf("POST /set: %d %q", res.StatusCode, body)
	}
	ck := cookieNamed(res, name)
	if ck == nil || ck.Value == "" {
		t.Fatalf("POST /set: no %q cookie; Set-Cookie = %q", name, res.Header.Values("Set-Cookie"))
	}
	if got := stored(t, m); got != 1 {
		t.Fatalf("after POST /set: %d stored sessions, want 1", got)
	}

	res, body = do(t, srv, "GET", "/get", ck)
	if res.StatusCode != 200 || body != "alice" {
		t.Fatalf("GET /get with the cookie: %d %q, want 200 \"alice\"", res.StatusCode, body)
	}

	for _, c := range []*http.Cookie{nil, ck} {
		res, body = do(t, srv, "GET", "/plain", c)
		if res.StatusCode != 200 || body != "plain" {
			t.Fatalf("GET /plain: %d %q", res.StatusCode, body)
		}
		if sc := res.Header.Values("Set-Cookie"); len(sc) != 0 {
			t.Fatalf("GET /plain (cookie sent: %v) set a cookie: %q", c != nil, sc)
		}
	}

	if st != nil {
		checkStream(t, srv, name, st)
	}
}

func checkStream(t *testing.T, srv *httptest.Server, name string, st *stream) {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+"/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.Client().Do(req) // returns once the headers are in
	if err != nil {
		close(st.release)
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	handlerDone := st.done.Load()
	close(st.release)
	if err != nil || line != "first\n" {
		t.Fatalf("GET /stream: first line %q, %v", line, err)
	}
	if handlerDone {
		t.Fatal("GET /stream: the first line arrived only after the handler returned: Flush did not flush")
	}
	if ck := cookieNamed(res, name); ck == nil || ck.Value == "" {
		t.Fatalf("GET /stream: no session cookie on the flushed response; Set-Cookie = %q", res.Header.Values("Set-Cookie"))
	}
	rest, _ := io.ReadAll(br)
	if string(rest) != "second\n" {
		t.Fatalf("GET /stream: rest %q", rest)
	}
}

func do(t *testing.T, srv *httptest.Server, method, path string, ck *http.Cookie) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ck != nil {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, strings.TrimSpace(string(b))
}

func cookieNamed(res *http.Response, name string) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
