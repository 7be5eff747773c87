package session_test

// Clients cannot cause a 500: what a client controls (the size of what it
// stores, the bytes of a key, a write with an id a login just renewed) is
// answered as a client error with a generic body and logged below ERROR,
// and the stored session stays as it was.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/cookiestore"
)

func TestOversizedSessionIsAClientError(t *testing.T) {
	_, st := newKV(t)
	core, logs := observer.New(zapcore.DebugLevel)
	m := newManager(t, st, func(c *session.Config) { c.MaxSessionSize = 1024 }, session.WithLogger(zap.New(core)))
	id := writeSession(t, m, map[string]any{"keep": "me"})
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := session.From(r.Context())
		_ = s.Set("big", strings.Repeat("x", 2000))
		_ = s.Set("keep", "overwritten")
		w.Write([]byte("handler response"))
	}))
	for range 3 { // at will, as often as the client likes
		req := httptest.NewRequest("PUT", "/kv/big", nil)
		req.AddCookie(&http.Cookie{Name: "session", Value: id})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("oversized session: status %d, want 413", rec.Code)
		}
		if body := rec.Body.String(); body != http.StatusText(http.StatusRequestEntityTooLarge)+"\n" {
			t.Fatalf("oversized session: body %q, want the generic status text", body)
		}
		if c := rec.Header().Get("Set-Cookie"); c != "" {
			t.Fatalf("oversized session set a cookie: %q", c)
		}
	}
	s, err := m.Load(context.Background(), id)
	if err != nil || s.GetString("keep") != "me" || s.Has("big") {
		t.Fatalf("stored session after refused saves: keep=%q big=%v err=%v; want it unchanged", s.GetString("keep"), s.Has("big"), err)
	}
	if n := logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 0 {
		t.Fatalf("%d ERROR log entries for a client's oversized session; want warn", n)
	}
	if n := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("save before response failed").Len(); n != 3 {
		t.Fatalf("%d warn entries for 3 oversized saves, want 3", n)
	}
}

func TestSetRejectsInvalidUTF8Key(t *testing.T) {
	_, st := newKV(t)
	m := newManager(t, st, nil)
	var setErr error
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := session.From(r.Context())
		setErr = s.Set("\xff", "v")
		if setErr == nil {
			t.Error("Set with an invalid UTF-8 key succeeded")
		}
		w.WriteHeader(http.StatusBadRequest)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("PUT", "/kv/%FF", nil))
	if !errors.Is(setErr, session.ErrUnsupportedValue) {
		t.Fatalf("Set(%q): %v; want an error wrapping ErrUnsupportedValue", "\xff", setErr)
	}
	if rec.Code != http.StatusBadRequest || rec.Header().Get("Set-Cookie") != "" {
		t.Fatalf("after a refused key: status %d, cookie %q; want the handler's 400 and no session", rec.Code, rec.Header().Get("Set-Cookie"))
	}
}

// A request that carries an id a login renewed before it was loaded gets a
// fresh session it may read but not write: 409 (the client retries with
// its new cookie), the login's cookie untouched, nothing stored.
func TestWriteWithRenewedIDIsAConflict(t *testing.T) {
	_, st := newKV(t)
	core, logs := observer.New(zapcore.DebugLevel)
	m := newManager(t, st, nil, session.WithLogger(zap.New(core)))
	old := writeSession(t, m, map[string]any{"a": int64(1)})
	if err := m.Run(context.Background(), func(ctx context.Context) error {
		if err := session.SetID(ctx, old); err != nil {
			return err
		}
		s, err := session.From(ctx)
		if err != nil {
			return err
		}
		return s.RenewID()
	}); err != nil {
		t.Fatal(err)
	}
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := session.From(r.Context())
		if s.Len() != 0 {
			t.Errorf("the renewed id loaded %d keys; want a fresh session", s.Len())
		}
		_ = s.Set("late", true)
		w.Write([]byte("handler response"))
	}))
	req := httptest.NewRequest("PUT", "/kv/late", nil)
	req.AddCookie(&http.Cookie{Name: "session", Value: old})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusConflict || rec.Body.String() != http.StatusText(http.StatusConflict)+"\n" || rec.Header().Get("Set-Cookie") != "" {
		t.Fatalf("write with a renewed id: %d %q, cookie %q; want 409, the generic text and no Set-Cookie", rec.Code, rec.Body.String(), rec.Header().Get("Set-Cookie"))
	}
	n := 0
	if err := m.Iterate(context.Background(), func(backends.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d sessions stored after the refused write; want 1 (the renewed one)", n)
	}
	if logs.FilterLevelExact(zapcore.ErrorLevel).Len() != 0 {
		t.Fatalf("a refused write with a renewed id was logged at ERROR")
	}
}

// The cookie store's "sealed cookie too large" is the client's doing too:
// 413 from the default error handler, not a 500.
func TestCookieTooLargeIsAClientError(t *testing.T) {
	cs, err := cookiestore.New(cookiestore.Config{DevMode: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := session.DefaultConfig()
	cfg.Store, cfg.Cookie.Secure = "cookie", false
	m, err := session.NewManager(cfg, cs)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := session.From(r.Context())
		_ = s.Set("big", strings.Repeat("x", 5000))
		w.Write([]byte("handler response"))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("PUT", "/kv/big", nil))
	if rec.Code != http.StatusRequestEntityTooLarge || rec.Body.String() != http.StatusText(http.StatusRequestEntityTooLarge)+"\n" {
		t.Fatalf("a session too large for its cookie: %d %q; want 413 and the generic text", rec.Code, rec.Body.String())
	}
}
