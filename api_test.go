package session_test

// The API around jobs and plain (non-fx) use: SetID validation, IsNew,
// NewManager needing only what it uses, and store decorators.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/cookiestore"
)

func TestSetIDRefusesMalformedIDs(t *testing.T) {
	_, st := newKV(t)
	m := newManager(t, st, nil)
	for _, id := range []string{"not-a-uuid", "123", strings.Repeat("a", 36), "6ba7b810-9dad-11d1-80b4-00c04fd430c8" /* v1 */} {
		err := m.Run(context.Background(), func(ctx context.Context) error { return session.SetID(ctx, id) })
		if !errors.Is(err, session.ErrInvalidID) {
			t.Errorf("SetID(%q) = %v; want an error wrapping ErrInvalidID", id, err)
		}
		if err != nil && strings.Contains(err.Error(), id) {
			t.Errorf("SetID error %q echoes the id", err)
		}
	}
}

func TestIsNewTellsJobsWhetherTheSessionExists(t *testing.T) {
	_, st := newKV(t)
	m := newManager(t, st, nil)
	existing := writeSession(t, m, map[string]any{"a": int64(1)})
	unknown := "0b6c7a5e-1d2f-4c3b-9a8e-7f6d5c4b3a21"
	for _, c := range []struct {
		id      string
		wantNew bool
	}{{"", true}, {unknown, true}, {existing, false}} {
		err := m.Run(context.Background(), func(ctx context.Context) error {
			if err := session.SetID(ctx, c.id); err != nil {
				return err
			}
			s, err := session.From(ctx)
			if err != nil {
				return err
			}
			if s.IsNew() != c.wantNew {
				t.Errorf("id %q: IsNew = %v, want %v", c.id, s.IsNew(), c.wantNew)
			}
			if !c.wantNew {
				if err := s.Destroy(ctx); err != nil {
					return err
				}
				if !s.IsNew() {
					t.Errorf("IsNew after Destroy = false, want true")
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("id %q: %v", c.id, err)
		}
	}
}

// Without fx the store is given: the config need not name it.
func TestNewManagerNeedsOnlyWhatItUses(t *testing.T) {
	_, st := newKV(t)
	cfg := session.DefaultConfig()
	cfg.Backend, cfg.Container = "", ""
	cfg.Cookie.Secure = false
	m, err := session.NewManager(cfg, st)
	if err != nil {
		t.Fatalf("NewManager without backend and container: %v", err)
	}
	if m.Config().Backend != "kvcache" {
		t.Fatalf("Config().Backend = %q, want the store's name", m.Config().Backend)
	}
	id := writeSession(t, m, map[string]any{"a": int64(1)})
	if s, err := m.Load(context.Background(), id); err != nil || s.GetInt("a") != 1 {
		t.Fatalf("round trip: %v, %v", s, err)
	}
}

// decorated wraps a store as a logging or metrics decorator would: it
// forwards the Store methods, nothing else.
type decorated struct{ backends.Store }

type unwrapping struct{ backends.Store }

func (u unwrapping) Unwrap() backends.Store { return u.Store }

func TestCookieStoreDecorators(t *testing.T) {
	key := make([]byte, cookiestore.KeySize)
	_, _ = rand.Read(key)
	cs, err := cookiestore.New(cookiestore.Config{Keys: cookiestore.Keys{base64.StdEncoding.EncodeToString(key)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := session.DefaultConfig()
	cfg.Backend, cfg.Cookie.Secure = "cookie", false
	if _, err := session.NewManager(cfg, decorated{cs}); err == nil || !strings.Contains(err.Error(), "ClientSide") {
		t.Fatalf("NewManager with a decorator that hides the cookie store's Open/Seal: %v; want a loud error", err)
	}
	m, err := session.NewManager(cfg, unwrapping{cs})
	if err != nil {
		t.Fatalf("NewManager with an Unwrap decorator: %v", err)
	}
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := session.From(r.Context())
		if r.Method == http.MethodPost {
			_ = s.Set("n", int64(7))
		}
		w.Write([]byte(s.GetString("x")))
		if r.Method == http.MethodGet && s.GetInt("n") != 7 {
			t.Errorf("the sealed cookie did not carry the session: n = %d", s.GetInt("n"))
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	c := rec.Result().Cookies()
	if len(c) != 1 || len(c[0].Value) < 100 {
		t.Fatalf("the decorated cookie store set %v; want one sealed cookie", c)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(c[0])
	h.ServeHTTP(httptest.NewRecorder(), req)
}
