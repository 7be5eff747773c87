package main

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"sort"

	"go.uber.org/zap"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
)

// AppSession is the example's GORM model: the mixin plus a typed user_id
// column, so GET /sessions can query one user's sessions. Other backends
// ignore it.
type AppSession struct {
	session.Row
	UserID *string `session:"user_id" gorm:"index;size:128"`
}

func routes(m *session.Manager, log *zap.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /{$}", withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(w, map[string]any{
			"ID": s.ID(), "Visits": s.GetInt("visits"), "User": s.GetString("user_id"), "Keys": s.Keys(),
		}); err != nil {
			log.Warn("render", zap.Error(err))
		}
	}))
	mux.HandleFunc("GET /visits", withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		writeJSON(w, http.StatusOK, map[string]any{"visits": s.GetInt("visits")})
	}))
	mux.HandleFunc("POST /visits", withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		n := s.GetInt("visits") + 1
		if err := s.Set("visits", n); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"visits": n})
	}))
	mux.HandleFunc("GET /kv/{key}", withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		v, ok := s.Get(r.PathValue("key"))
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "no such key"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"key": r.PathValue("key"), "value": v})
	}))
	mux.HandleFunc("PUT /kv/{key}", withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
		if err := s.Set(r.PathValue("key"), string(body)); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"key": r.PathValue("key"), "value": string(body)})
	}))
	mux.HandleFunc("DELETE /kv/{key}", withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		if err := s.Delete(r.PathValue("key")); err != nil {
			if errors.Is(err, session.ErrKeyNotFound) {
				writeJSON(w, http.StatusNotFound, map[string]any{"error": "no such key"})
				return
			}
			writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("POST /login", withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		user := r.FormValue("user")
		if user == "" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "form field user is required"})
			return
		}
		// A privilege change: new id, same data; the old id stops working.
		if err := s.RenewID(); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
			return
		}
		if err := s.Set("user_id", user); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
		if r.Header.Get("Accept") == "application/json" {
			writeJSON(w, http.StatusOK, map[string]any{"user": user})
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}))
	mux.HandleFunc("POST /logout", withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		if err := s.Destroy(r.Context()); err != nil {
			errorHandler(w, r, err)
			return
		}
		if r.Header.Get("Accept") == "application/json" {
			writeJSON(w, http.StatusOK, map[string]any{"logged_out": true})
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}))
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		if user == "" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "query parameter user is required"})
			return
		}
		recs, err := userSessions(r.Context(), m.Store(), user)
		if err != nil {
			if errors.Is(err, backends.ErrUnsupported) {
				writeJSON(w, http.StatusNotImplemented, map[string]any{"error": "this session backend cannot list sessions"})
				return
			}
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error()})
			return
		}
		out := make([]map[string]any, 0, len(recs))
		for _, rec := range recs {
			// The storage id is a hash of the session id when hash_ids is on:
			// listing it reveals no live session.
			out = append(out, map[string]any{"id": rec.ID, "created": rec.Created, "updated": rec.Updated, "expires": rec.Expires, "data": rec.Data})
		}
		sort.Slice(out, func(i, j int) bool { return out[i]["id"].(string) < out[j]["id"].(string) })
		writeJSON(w, http.StatusOK, map[string]any{"user": user, "sessions": out})
	})
	return mux
}

// userSessions lists a user's sessions: by a query on stores that can
// (GORM), else by iterating.
func userSessions(ctx context.Context, st backends.Store, user string) ([]backends.Record, error) {
	type querier interface {
		FindWhere(ctx context.Context, query any, args ...any) ([]backends.Record, error)
	}
	if q, ok := st.(querier); ok {
		return q.FindWhere(ctx, "user_id = ?", user)
	}
	var out []backends.Record
	err := st.Iterate(ctx, func(rec backends.Record) error {
		if rec.Data["user_id"] == user {
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// withSession loads the request's session (first use) and answers 503 when
// the store is down.
func withSession(h func(http.ResponseWriter, *http.Request, *session.Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := session.From(r.Context())
		if err != nil {
			errorHandler(w, r, err)
			return
		}
		h(w, r, s)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>sessionfx example</title></head>
<body>
<h1>sessionfx example</h1>
<p>Session id: <code>{{if .ID}}{{.ID}}{{else}}(none yet: the session gets an id on its first write){{end}}</code></p>
<p>Visits: {{.Visits}} <form method="post" action="/visits" style="display:inline"><button>+1</button></form></p>
<p>User: {{if .User}}{{.User}}{{else}}(not logged in){{end}}</p>
<form method="post" action="/login"><input name="user" placeholder="user name"><button>Log in</button></form>
<form method="post" action="/logout"><button>Log out</button></form>
<p>Keys: {{range .Keys}}<code>{{.}}</code> {{end}}</p>
</body></html>
`))
