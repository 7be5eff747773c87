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
	cfg.Store, cfg.Container = "", ""
	cfg.Cookie.Secure = false
	m, err := session.NewManager(cfg, st)
	if err != nil {
		t.Fatalf("NewManager without backend and container: %v", err)
	}
	if m.Config().Store != "kvcache" {
		t.Fatalf("Config().Store = %q, want the store's name", m.Config().Store)
	}
	id := writeSession(t, m, map[string]any{"a": int64(1)})
	if s, err := m.Load(context.Background(), id); err != nil || s.GetInt("a") != 1 {
		t.Fatalf("round trip: %v, %v", s, err)
	}
}

// decorated wraps a store as a logging or metrics decorator would: it
// forwards the core Store methods, nothing else.
type decorated struct{ backends.Store }

// unwrapping is decorated with an Unwrap method, which keeps the wrapped
// store's capabilities visible.
type unwrapping struct{ backends.Store }

func (u unwrapping) Unwrap() backends.Store { return u.Store }

// decoratedClient wraps a client-side store: it forwards Open, Seal and
// Close.
type decoratedClient struct{ backends.ClientStore }

// both claims to be server-side and client-side at once.
type both struct {
	backends.Store
	backends.ClientStore
}

func (b both) Close() error { return nil }

type closerOnly struct{}

func (closerOnly) Close() error { return nil }

// The manager runs the strategy of what it is given: a Store's or a
// ClientStore's, through decorators; it refuses storage that is neither or
// both, and the optional capabilities of a decorated store are reached
// through Unwrap.
func TestStoreDecorators(t *testing.T) {
	cfg := session.DefaultConfig()
	cfg.Cookie.Secure = false
	_, kv := newKV(t)
	cs := newCookieStore(t)
	for name, st := range map[string]backends.Storage{"neither": closerOnly{}, "both": both{kv, cs}} {
		if _, err := session.NewManager(cfg, st); err == nil || !strings.Contains(err.Error(), "backends.ClientStore") {
			t.Errorf("NewManager with %s a Store and a ClientStore: %v; want a loud error", name, err)
		}
	}

	// A server-side decorator without Unwrap hides the capabilities: the
	// manager still works, and says what it cannot do.
	hidden, err := session.NewManager(cfg, decorated{kv})
	if err != nil {
		t.Fatalf("NewManager with a decorator: %v", err)
	}
	if hidden.Store() != (decorated{kv}) {
		t.Errorf("Store() = %v; want what NewManager was given", hidden.Store())
	}
	id := writeSession(t, hidden, map[string]any{"a": int64(1)})
	if s, err := hidden.Load(context.Background(), id); err != nil || s.GetInt("a") != 1 {
		t.Fatalf("round trip through a decorator: %v, %v", s, err)
	}
	if err := hidden.Iterate(context.Background(), func(backends.Record) error { return nil }); !errors.Is(err, backends.ErrUnsupported) {
		t.Errorf("Iterate through a decorator without Unwrap = %v; want ErrUnsupported", err)
	}
	if _, err := hidden.Cleanup(context.Background()); !errors.Is(err, backends.ErrUnsupported) {
		t.Errorf("Cleanup through a decorator without Unwrap = %v; want ErrUnsupported", err)
	}
	// With Unwrap, they are reached (and Info names the store).
	cfg.Store, cfg.Container = "", ""
	m, err := session.NewManager(cfg, unwrapping{kv})
	if err != nil {
		t.Fatalf("NewManager with an Unwrap decorator: %v", err)
	}
	if m.Config().Store != "kvcache" {
		t.Errorf("Config().Store = %q; want the wrapped store's name", m.Config().Store)
	}
	id = writeSession(t, m, map[string]any{"a": int64(1)})
	n := 0
	if err := m.Iterate(context.Background(), func(r backends.Record) error {
		if r.ID == m.StorageID(id) {
			n++
		}
		return nil
	}); err != nil || n != 1 {
		t.Errorf("Iterate through an Unwrap decorator: %d, %v; want the session", n, err)
	}

	// A client-side decorator runs the client-side strategy.
	cfg.Store = "cookie"
	cm, err := session.NewManager(cfg, decoratedClient{cs})
	if err != nil {
		t.Fatalf("NewManager with a decorated cookie store: %v", err)
	}
	h := cm.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	// Nothing is stored server-side: nothing to list, destroy or sweep.
	if err := cm.Iterate(context.Background(), func(backends.Record) error { return nil }); !errors.Is(err, backends.ErrUnsupported) {
		t.Errorf("Iterate on the cookie store = %v; want ErrUnsupported", err)
	}
	if err := cm.DestroyStored(context.Background(), "x"); !errors.Is(err, backends.ErrUnsupported) {
		t.Errorf("DestroyStored on the cookie store = %v; want ErrUnsupported", err)
	}
	if _, err := cm.Cleanup(context.Background()); !errors.Is(err, backends.ErrUnsupported) {
		t.Errorf("Cleanup on the cookie store = %v; want ErrUnsupported", err)
	}
}

func newCookieStore(t *testing.T) *cookiestore.Store {
	t.Helper()
	key := make([]byte, cookiestore.KeySize)
	_, _ = rand.Read(key)
	cs, err := cookiestore.New(cookiestore.Config{Keys: cookiestore.Keys{base64.StdEncoding.EncodeToString(key)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}
