package session_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/kvcache"
)

// A job (no HTTP) that picks a session by id, changes it, and is saved when
// the function returns nil.
func ExampleManager_Run() {
	kv, _ := kvcache.New(kvcache.DefaultConfig(), nil)
	defer kv.Close()
	c, _ := kv.Container("session")
	m, _ := session.NewManager(session.DefaultConfig(), backends.NewKVStore(c))

	var id string
	_ = m.Run(context.Background(), func(ctx context.Context) error {
		s, err := session.From(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("new session has an id: %v\n", s.ID() != "")
		_ = s.Set("parrot", "dead")
		id = s.ID()
		return nil
	})
	_ = m.Run(context.Background(), func(ctx context.Context) error {
		_ = session.SetID(ctx, id) // before the first From
		s, err := session.From(ctx)
		if err != nil {
			return err
		}
		fmt.Println(s.GetString("parrot"))
		return nil
	})
	// Output:
	// new session has an id: false
	// dead
}

// The middleware loads the session only when a handler asks for it.
func ExampleManager_Middleware() {
	kv, _ := kvcache.New(kvcache.DefaultConfig(), nil)
	defer kv.Close()
	c, _ := kv.Container("session")
	m, _ := session.NewManager(session.DefaultConfig(), backends.NewKVStore(c))
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return // never touches the session: no store call, no cookie
		}
		s, err := session.From(r.Context())
		if err != nil {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		_ = s.Set("visits", s.GetInt("visits")+1)
	}))
	for _, path := range []string{"/healthz", "/visit"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		fmt.Printf("%s sets a cookie: %v\n", path, rec.Header().Get("Set-Cookie") != "")
	}
	// Output:
	// /healthz sets a cookie: false
	// /visit sets a cookie: true
}
