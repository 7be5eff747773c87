package routers_test

import (
	"net/http"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	session "github.com/sessionfx/session"
)

// chi: the middleware is a func(http.Handler) http.Handler, so r.Use takes
// it as it is; handlers are plain net/http handlers.
func chiRouter(mw session.HTTPMiddleware, st *stream) http.Handler {
	r := chi.NewRouter()
	r.Use(mw)
	r.Post("/set", func(w http.ResponseWriter, r *http.Request) {
		s, err := session.From(r.Context())
		if err != nil {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		if err := s.Set("name", r.URL.Query().Get("v")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	r.Get("/get", func(w http.ResponseWriter, r *http.Request) {
		s, err := session.From(r.Context())
		if err != nil {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(s.GetString("name")))
	})
	r.Get("/plain", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("plain"))
	})
	r.Get("/stream", func(w http.ResponseWriter, r *http.Request) {
		st.serve(r.Context(), w, func() { _ = http.NewResponseController(w).Flush() })
	})
	return r
}

func TestChi(t *testing.T) {
	m := newManager(t)
	st := newStream()
	checkRecipe(t, m, chiRouter(m.Middleware, st), st)
}

// TestChiFx is the same with the middleware from session.Module (defaults:
// in-memory kvcache, a Secure cookie, which this test's client sends back
// over http anyway), wired as in the README's quick start.
func TestChiFx(t *testing.T) {
	var (
		m *session.Manager
		h http.Handler
	)
	st := newStream()
	app := fxtest.New(t,
		session.Module,
		fx.Populate(&m),
		fx.Invoke(func(mw session.HTTPMiddleware) { h = chiRouter(mw, st) }),
	)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	checkRecipe(t, m, h, st)
}
