package session_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/kvcache"
)

func FuzzValidID(f *testing.F) {
	for _, s := range []string{"", "0b6f5bd0-8b7f-4c1e-9a53-1f1a4f6f4b9a", "0b6f5bd0-8b7f-1c1e-9a53-1f1a4f6f4b9a", "{0b6f5bd0-8b7f-4c1e-9a53-1f1a4f6f4b9a}", "urn:uuid:0b6f5bd0-8b7f-4c1e-9a53-1f1a4f6f4b9a", "zzzzzzzz-zzzz-4zzz-zzzz-zzzzzzzzzzzz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if session.ValidID(id) && len(id) != 36 {
			t.Fatalf("ValidID accepted %q of length %d", id, len(id))
		}
	})
}

// FuzzCookieHeader sends arbitrary Cookie headers through the middleware to
// a handler that reads and writes the session: never a panic, never a 5xx.
func FuzzCookieHeader(f *testing.F) {
	for _, s := range []string{"", "session=", "session=0b6f5bd0-8b7f-4c1e-9a53-1f1a4f6f4b9a", "session=\x00\xff", "session=a; session=b", "session=\"quoted\"", "a=b; session=../../x"} {
		f.Add(s)
	}
	kv, err := kvcache.New(kvcache.DefaultConfig(), nil)
	if err != nil {
		f.Fatal(err)
	}
	c, _ := kv.Container("session")
	cfg := session.DefaultSessionConfig()
	m, err := session.NewManager(cfg, backends.NewKVStore(c))
	if err != nil {
		f.Fatal(err)
	}
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := session.From(r.Context())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_ = s.Set("n", s.GetInt("n")+1)
	}))
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "/", nil).WithContext(context.Background())
		req.Header.Set("Cookie", header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("cookie header %q: status %d %s", header, rec.Code, rec.Body.String())
		}
	})
}
