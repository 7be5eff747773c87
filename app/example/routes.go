package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"mime/multipart"
	"net/http"
	"sort"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/gormstore"
)

// AppSession is the example's GORM model: the mixin plus a typed user_id
// column, so GET /sessions can query one user's sessions. Other backends
// ignore it.
type AppSession struct {
	gormstore.Row
	UserID *string `session:"user_id" gorm:"index;size:128"`
}

const (
	// maxBody bounds every request body (PUT /kv values, forms). Larger
	// bodies are refused with 413, never truncated.
	maxBody = 64 << 10
	// maxUserLen matches the user_id column (size:128).
	maxUserLen = 128
	// userKey is the session key the login sets; clients cannot write it
	// through /kv (it is what GET /sessions and revocation trust).
	userKey = "user_id"
	// handlePrefix separates the handle hash from every other use of
	// SHA-256 over a storage id (HashID is SHA-256 of the id itself).
	handlePrefix = "sessionfx-example-handle\x00"
)

// app holds what the handlers need.
type app struct {
	m   *session.Manager
	log *zap.Logger
}

// handler is the example's whole HTTP handler: bodies bounded, then the
// session middleware, then the routes.
func handler(mw session.HTTPMiddleware, m *session.Manager, log *zap.Logger) http.Handler {
	return limitBodies(mw(routes(m, log)))
}

// limitBodies makes reading more than maxBody bytes of a request body fail
// with *http.MaxBytesError (and the server close the connection after the
// response), so no handler can silently truncate a body.
func limitBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		h.ServeHTTP(w, r)
	})
}

func routes(m *session.Manager, log *zap.Logger) http.Handler {
	a := &app{m: m, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /{$}", a.withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		// The page shows the session's handle, never its id: the cookie is
		// HttpOnly, and the id must not be readable by page scripts.
		handle := ""
		if id := s.ID(); id != "" {
			handle = handleOf(a.m.StorageID(id))
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(w, map[string]any{
			"Handle": handle, "Visits": s.GetInt("visits"), "User": s.GetString(userKey), "Keys": s.Keys(),
		}); err != nil {
			a.log.Warn("render", zap.Error(err))
		}
	}))
	mux.HandleFunc("GET /visits", a.withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		writeJSON(w, http.StatusOK, map[string]any{"visits": s.GetInt("visits")})
	}))
	mux.HandleFunc("POST /visits", a.withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		n := s.GetInt("visits") + 1
		if err := s.Set("visits", n); err != nil {
			a.log.Error("POST /visits: setting visits", zap.Error(err))
			writeError(w, http.StatusInternalServerError, "internal error")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"visits": n})
	}))
	mux.HandleFunc("GET /kv/{key}", a.withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		v, ok := s.Get(r.PathValue("key"))
		if !ok {
			writeError(w, http.StatusNotFound, "no such key")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"key": r.PathValue("key"), "value": v})
	}))
	mux.HandleFunc("PUT /kv/{key}", a.withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		key := r.PathValue("key")
		if key == userKey {
			writeError(w, http.StatusForbidden, "this key is set by POST /login only")
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			if tooLarge(err) {
				writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
				return
			}
			a.log.Info("PUT /kv: reading body", zap.Error(err))
			writeError(w, http.StatusBadRequest, "could not read the request body")
			return
		}
		if err := s.Set(key, string(body)); err != nil {
			a.log.Info("PUT /kv: value refused", zap.Error(err))
			writeError(w, http.StatusBadRequest, "this value cannot be stored in the session")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"key": key, "value": string(body)})
	}))
	mux.HandleFunc("DELETE /kv/{key}", a.withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		if r.PathValue("key") == userKey {
			writeError(w, http.StatusForbidden, "use POST /logout")
			return
		}
		if err := s.Delete(r.PathValue("key")); err != nil {
			if errors.Is(err, session.ErrKeyNotFound) {
				writeError(w, http.StatusNotFound, "no such key")
				return
			}
			a.log.Error("DELETE /kv", zap.Error(err))
			writeError(w, http.StatusInternalServerError, "internal error")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("POST /login", a.withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		if !a.parseForm(w, r) {
			return
		}
		user := r.Form.Get("user")
		if user == "" || len(user) > maxUserLen || !utf8.ValidString(user) {
			writeError(w, http.StatusBadRequest, "form field user is required (1 to 128 bytes of UTF-8)")
			return
		}
		// Another user's data must not carry over into this login.
		if prev := s.GetString(userKey); prev != "" && prev != user {
			s.Clear()
		}
		// A privilege change: new id, same data; the old id stops working.
		if err := s.RenewID(); err != nil {
			a.log.Error("POST /login: renewing the session id", zap.Error(err))
			writeError(w, http.StatusInternalServerError, "internal error")
			return
		}
		if err := s.Set(userKey, user); err != nil {
			a.log.Info("POST /login: user refused", zap.Error(err))
			writeError(w, http.StatusBadRequest, "this user name cannot be stored")
			return
		}
		if r.Header.Get("Accept") == "application/json" {
			writeJSON(w, http.StatusOK, map[string]any{"user": user})
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}))
	mux.HandleFunc("POST /logout", a.withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		if err := s.Destroy(r.Context()); err != nil {
			a.log.Error("POST /logout: destroying the session", zap.Error(err))
			errorHandler(w, r, err)
			return
		}
		if r.Header.Get("Accept") == "application/json" {
			writeJSON(w, http.StatusOK, map[string]any{"logged_out": true})
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}))
	mux.HandleFunc("GET /sessions", a.withUser(a.listSessions))
	mux.HandleFunc("POST /sessions/revoke", a.withUser(a.revokeSessions))
	return mux
}

// sessionInfo is what GET /sessions shows of one session: an opaque handle
// and harmless metadata, never the id or the storage id.
type sessionInfo struct {
	Handle  string     `json:"handle"`
	Current bool       `json:"current"`
	Created time.Time  `json:"created"`
	Updated time.Time  `json:"updated"`
	Expires *time.Time `json:"expires,omitempty"`
	Keys    int        `json:"keys"`
}

// listSessions answers GET /sessions: the caller's own sessions.
func (a *app) listSessions(w http.ResponseWriter, r *http.Request, s *session.Session, user string) {
	recs, ok := a.userSessions(w, r, user)
	if !ok {
		return
	}
	cur := a.currentStorageID(s)
	out := make([]sessionInfo, 0, len(recs))
	for _, rec := range recs {
		info := sessionInfo{
			Handle:  handleOf(rec.ID),
			Current: cur != "" && rec.ID == cur,
			Created: rec.Created.UTC(),
			Updated: rec.Updated.UTC(),
			Keys:    len(rec.Data),
		}
		if !rec.Expires.IsZero() {
			exp := rec.Expires.UTC()
			info.Expires = &exp
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].Handle < out[j].Handle
	})
	writeJSON(w, http.StatusOK, map[string]any{"user": user, "sessions": out})
}

// revokeSessions answers POST /sessions/revoke: form handle=… ends one of
// the caller's own sessions; all_others=1 ends all of them but the current.
func (a *app) revokeSessions(w http.ResponseWriter, r *http.Request, s *session.Session, user string) {
	if !a.parseForm(w, r) {
		return
	}
	handle := r.Form.Get("handle")
	var allOthers bool
	switch r.Form.Get("all_others") {
	case "", "0", "false":
	case "1", "true":
		allOthers = true
	default:
		handle = "" // a malformed all_others is refused below, whatever the handle
	}
	if allOthers == (handle != "") {
		writeError(w, http.StatusBadRequest, "give either the form field handle or all_others=1")
		return
	}
	recs, ok := a.userSessions(w, r, user)
	if !ok {
		return
	}
	ctx := r.Context()
	cur := a.currentStorageID(s)
	if allOthers {
		n := 0
		for _, rec := range recs {
			if rec.ID == cur {
				continue
			}
			if err := a.m.DestroyStored(ctx, rec.ID); err != nil {
				a.log.Error("POST /sessions/revoke: ending a session", zap.Int("ended_before_failure", n), zap.Error(err))
				errorHandler(w, r, err)
				return
			}
			n++
		}
		writeJSON(w, http.StatusOK, map[string]any{"revoked": n, "current_revoked": false})
		return
	}
	for _, rec := range recs {
		if subtle.ConstantTimeCompare([]byte(handleOf(rec.ID)), []byte(handle)) != 1 {
			continue
		}
		var err error
		current := cur != "" && rec.ID == cur
		if current {
			err = s.Destroy(ctx) // like logout: the response expires the cookie
		} else {
			err = a.m.DestroyStored(ctx, rec.ID)
		}
		if err != nil {
			a.log.Error("POST /sessions/revoke: ending a session", zap.Error(err))
			errorHandler(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"revoked": 1, "current_revoked": current})
		return
	}
	// Unknown, expired, or another user's: the same answer for all three.
	writeError(w, http.StatusNotFound, "no such session")
}

// userSessions returns the live sessions of user: by a query on stores that
// have one (GORM: the typed user_id column), else by iterating every stored
// session. It answers the request itself (501, 503) and returns false when
// the store cannot list.
func (a *app) userSessions(w http.ResponseWriter, r *http.Request, user string) ([]backends.Record, bool) {
	recs, err := findUserSessions(r.Context(), a.m, user)
	if err != nil {
		if errors.Is(err, backends.ErrUnsupported) {
			writeError(w, http.StatusNotImplemented, "this session backend cannot list sessions")
			return nil, false
		}
		a.log.Error("listing a user's sessions", zap.String("path", r.URL.Path), zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, "session store unavailable")
		return nil, false
	}
	return recs, true
}

func findUserSessions(ctx context.Context, m *session.Manager, user string) ([]backends.Record, error) {
	type querier interface {
		FindWhere(ctx context.Context, query any, args ...any) ([]backends.Record, error)
	}
	var recs []backends.Record
	if q, ok := m.Store().(querier); ok {
		found, err := q.FindWhere(ctx, "user_id = ?", user)
		if err != nil {
			return nil, err
		}
		recs = found
	} else {
		err := m.Iterate(ctx, func(rec backends.Record) error {
			recs = append(recs, rec)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// Keep only this user's live sessions (the query already did; this is
	// the check for iterating stores, and a second one for the query).
	now := time.Now()
	lifetime := m.Config().Lifetime
	out := recs[:0]
	for _, rec := range recs {
		if u, _ := rec.Data[userKey].(string); u != user {
			continue
		}
		if rec.Expired(now) || (lifetime > 0 && !rec.Created.IsZero() && !now.Before(rec.Created.Add(lifetime))) {
			continue
		}
		out = append(out, rec)
	}
	return out, nil
}

// handleOf is the opaque handle of the session stored under storageID: hex
// of SHA-256 over a domain-separation prefix and the storage id, cut to
// 128 bits. It is the same on every app instance, reveals neither the
// session id nor its storage hash, and cannot be turned back into either.
func handleOf(storageID string) string {
	sum := sha256.Sum256([]byte(handlePrefix + storageID))
	return hex.EncodeToString(sum[:16])
}

// currentStorageID is the storage id of the request's own session ("" when
// it has none yet).
func (a *app) currentStorageID(s *session.Session) string {
	id := s.ID()
	if id == "" {
		return ""
	}
	return a.m.StorageID(id)
}

// withSession loads the request's session (first use) and answers 503 when
// the store is down. Responses that depend on a session are never cached.
func (a *app) withSession(h func(http.ResponseWriter, *http.Request, *session.Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s, err := session.From(r.Context())
		if err != nil {
			a.log.Error("loading the session", zap.String("path", r.URL.Path), zap.Error(err))
			errorHandler(w, r, err)
			return
		}
		h(w, r, s)
	}
}

// withUser is withSession for logged-in users only: 401 otherwise.
func (a *app) withUser(h func(http.ResponseWriter, *http.Request, *session.Session, string)) http.HandlerFunc {
	return a.withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		user := s.GetString(userKey)
		if user == "" {
			writeError(w, http.StatusUnauthorized, "login required")
			return
		}
		h(w, r, s, user)
	})
}

// parseForm parses a urlencoded or multipart form within maxBody; it answers
// 413 or 400 itself and returns false when the form cannot be read.
func (a *app) parseForm(w http.ResponseWriter, r *http.Request) bool {
	err := r.ParseForm() // urlencoded bodies (and the query)
	if err == nil {
		if err = r.ParseMultipartForm(maxBody); err == nil || errors.Is(err, http.ErrNotMultipart) {
			return true
		}
	}
	if tooLarge(err) {
		writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
		return false
	}
	a.log.Info("malformed form", zap.String("path", r.URL.Path), zap.Error(err))
	writeError(w, http.StatusBadRequest, "malformed form")
	return false
}

func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe) || errors.Is(err, multipart.ErrMessageTooLarge)
}

// errorHandler answers a session failure with a generic message; the
// details are logged by the caller (or by the manager, for saves).
func errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	// session.ErrorStatus classifies what a client can cause (413 for a
	// session too large, 409 for a write with an id a login renewed) apart
	// from store failures (503) and bugs (500).
	code := session.ErrorStatus(err)
	msg := map[int]string{
		http.StatusRequestEntityTooLarge: "session too large",
		http.StatusConflict:              "session renewed by a login; retry",
		http.StatusServiceUnavailable:    "session store unavailable",
	}[code]
	if msg == "" {
		msg = "internal error"
	}
	w.Header().Del("Content-Length")
	writeError(w, code, msg)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>sessionfx example</title></head>
<body>
<h1>sessionfx example</h1>
<p>Session: <code>{{if .Handle}}{{.Handle}}{{else}}(none yet: the session is stored on its first write){{end}}</code>
(its handle; the session id stays in the HttpOnly cookie)</p>
<p>Visits: {{.Visits}} <form method="post" action="/visits" style="display:inline"><button>+1</button></form></p>
<p>User: {{if .User}}{{.User}} (<a href="/sessions">my sessions</a>){{else}}(not logged in){{end}}</p>
<form method="post" action="/login"><input name="user" placeholder="user name"><button>Log in</button></form>
<form method="post" action="/logout"><button>Log out</button></form>
{{if .User}}<form method="post" action="/sessions/revoke"><input type="hidden" name="all_others" value="1"><button>Log out my other sessions</button></form>{{end}}
<p>Keys: {{range .Keys}}<code>{{.}}</code> {{end}}</p>
</body></html>
`))
