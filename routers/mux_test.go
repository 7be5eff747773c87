package routers_test

import (
	"net/http"
	"testing"

	"github.com/gorilla/mux"

	session "github.com/sessionfx/session"
)

// gorilla/mux: r.Use takes mux.MiddlewareFunc, a named type, so the
// session.HTTPMiddleware from fx needs a conversion (a *Manager's
// m.Middleware method value needs none).
func muxRouter(mw session.HTTPMiddleware, st *stream) http.Handler {
	r := mux.NewRouter()
	r.Use(mux.MiddlewareFunc(mw))
	r.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
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
	}).Methods("POST")
	r.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		s, err := session.From(r.Context())
		if err != nil {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(s.GetString("name")))
	}).Methods("GET")
	r.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("plain"))
	}).Methods("GET")
	r.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		st.serve(r.Context(), w, func() { _ = http.NewResponseController(w).Flush() })
	}).Methods("GET")
	return r
}

func TestGorillaMux(t *testing.T) {
	m := newManager(t)
	st := newStream()
	checkRecipe(t, m, muxRouter(m.Middleware, st), st)
}

// The method value needs no conversion.
var _ = func(m *session.Manager) { mux.NewRouter().Use(m.Middleware) }
