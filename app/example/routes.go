package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/gormstore"
)

// AppSession is the example's GORM model: the mixin plus a typed user_id
// column (the config's user_key), so listing one user's sessions is one
// indexed query. Other backends ignore it.
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
	// through /kv (it is what GET /sessions and revocation trust). The
	// configs name it as [session] user_key.
	userKey = "user_id"
)

// app holds what the handlers need.
type app struct {
	m   *session.Manager
	log *zap.Logger
}

// handler is the example's whole HTTP handler: bodies bounded, cross-site
// form posts refused, then the session middleware, then the routes.
func handler(mw session.HTTPMiddleware, m *session.Manager, log *zap.Logger) http.Handler {
	return limitBodies(crossOriginProtection(mw(routes(m, log))))
}

// crossOriginProtection refuses state-changing requests that a browser sends
// from another site (CSRF), by their Sec-Fetch-Site or Origin header; API
// clients, which send neither, pass. The SameSite=Lax cookie already keeps
// the session out of cross-site posts; this is the second line.
func crossOriginProtection(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail(w, r, http.StatusForbidden, "cross-site request refused")
	}))
	return cop.Handler(h)
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
	mux.HandleFunc("GET /{$}", a.withSession(a.home))
	mux.HandleFunc("GET /visits", a.withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		writeJSON(w, http.StatusOK, map[string]any{"visits": s.GetInt("visits")})
	}))
	mux.HandleFunc("POST /visits", a.withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		n := s.GetInt("visits") + 1
		if err := s.Set("visits", n); err != nil {
			a.log.Error("POST /visits: setting visits", zap.Error(err))
			fail(w, r, http.StatusInternalServerError, "internal error")
			return
		}
		if prefersHTML(r) {
			seeOther(w, r, "/")
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
	mux.HandleFunc("POST /login", a.withSession(a.login))
	mux.HandleFunc("POST /logout", a.withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		if err := s.Destroy(r.Context()); err != nil {
			a.log.Error("POST /logout: destroying the session", zap.Error(err))
			errorHandler(w, r, err)
			return
		}
		if asksJSON(r) {
			writeJSON(w, http.StatusOK, map[string]any{"logged_out": true})
			return
		}
		seeOther(w, r, "/")
	}))
	mux.HandleFunc("GET /sessions", a.withUser(a.listSessions))
	mux.HandleFunc("POST /sessions/revoke", a.withUser(a.revokeSessions))
	return mux
}

// home answers GET /: the visits counter, the flash message of the last
// action (shown once), and the login form or the links of a logged-in user.
func (a *app) home(w http.ResponseWriter, r *http.Request, s *session.Session) {
	// The page shows the session's handle, never its id: the cookie is
	// HttpOnly, and the id must not be readable by the page.
	handle := s.Handle()
	flash := s.PopString(flashKey)
	a.render(w, http.StatusOK, "home", homePage{
		pageData: pageData{Title: "Home", User: s.GetString(userKey), Flash: flash},
		Visits:   s.GetInt("visits"),
		Handle:   handle,
	})
}

// login answers POST /login (form user): a new session id, the user name
// under user_key, and for a browser a redirect to / with a welcome flash.
func (a *app) login(w http.ResponseWriter, r *http.Request, s *session.Session) {
	if !a.parseForm(w, r) {
		return
	}
	user := r.Form.Get("user")
	if user == "" || len(user) > maxUserLen || !utf8.ValidString(user) {
		fail(w, r, http.StatusBadRequest, "form field user is required (1 to 128 bytes of UTF-8)")
		return
	}
	// Another user's data must not carry over into this login.
	if prev := s.GetString(userKey); prev != "" && prev != user {
		s.Clear()
	}
	// A privilege change: new id, same data; the old id stops working.
	if err := s.RenewID(); err != nil {
		a.log.Error("POST /login: renewing the session id", zap.Error(err))
		fail(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	if err := s.Set(userKey, user); err != nil {
		a.log.Info("POST /login: user refused", zap.Error(err))
		fail(w, r, http.StatusBadRequest, "this user name cannot be stored")
		return
	}
	if asksJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"user": user})
		return
	}
	if err := s.Set(flashKey, "Welcome, "+user); err != nil {
		a.log.Info("POST /login: flash refused", zap.Error(err))
	}
	seeOther(w, r, "/")
}

// sessionInfo is what GET /sessions shows of one session: an opaque handle
// and harmless metadata, never the id or the storage id.
type sessionInfo struct {
	Handle    string     `json:"handle"`
	Current   bool       `json:"current"`
	Created   time.Time  `json:"created"`
	LastSeen  time.Time  `json:"last_seen"`
	Updated   time.Time  `json:"updated"` // = last_seen; kept for existing clients
	Expires   *time.Time `json:"expires,omitempty"`
	UserAgent string     `json:"user_agent,omitempty"`
	IP        string     `json:"ip,omitempty"`
	Keys      int        `json:"keys"`
}

// listSessions answers GET /sessions: the caller's own sessions, as the
// "your sessions" page for a browser, else as JSON.
func (a *app) listSessions(w http.ResponseWriter, r *http.Request, s *session.Session, user string) {
	out, ok := a.userSessions(w, r, s)
	if !ok {
		return
	}
	if !prefersHTML(r) {
		writeJSON(w, http.StatusOK, map[string]any{"user": user, "sessions": out})
		return
	}
	showIP := false
	for _, info := range out {
		showIP = showIP || info.IP != ""
	}
	a.render(w, http.StatusOK, "sessions", sessionsPage{
		pageData: pageData{Title: "Your sessions", User: user, Flash: s.PopString(flashKey)},
		Sessions: out,
		ShowIP:   showIP,
	})
}

// revokeSessions answers POST /sessions/revoke: form handle=… ends one of
// the caller's own sessions; all_others=1 ends all of them but the current.
// A browser is sent back to the sessions page (or home, when it ended its
// own session) with a flash saying what happened.
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
		fail(w, r, http.StatusBadRequest, "give either the form field handle or all_others=1")
		return
	}
	browser := prefersHTML(r)
	if allOthers {
		n, err := a.m.RevokeOthers(r.Context(), s)
		if err != nil {
			a.storeFailure(w, r, err)
			return
		}
		if browser {
			a.flash(s, fmt.Sprintf("Logged out %s elsewhere.", plural(n, "other session")))
			seeOther(w, r, "/sessions")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"revoked": n, "current_revoked": false})
		return
	}
	current, err := a.m.RevokeSession(r.Context(), s, handle)
	switch {
	case errors.Is(err, session.ErrNoSuchSession):
		// Unknown, expired, or another user's: the same answer for all three.
		if browser {
			a.flash(s, "That session had already ended.")
			seeOther(w, r, "/sessions")
			return
		}
		writeError(w, http.StatusNotFound, "no such session")
	case err != nil:
		a.storeFailure(w, r, err)
	case browser && current:
		seeOther(w, r, "/") // logged out: the response expires the cookie
	case browser:
		a.flash(s, "The session was revoked: that device is logged out.")
		seeOther(w, r, "/sessions")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"revoked": 1, "current_revoked": current})
	}
}

// flash sets the one-time message the next page shows.
func (a *app) flash(s *session.Session, msg string) {
	if err := s.Set(flashKey, msg); err != nil {
		a.log.Info("setting a flash message", zap.Error(err))
	}
}

// storeFailure answers a listing or revocation that failed: 501 when the
// store cannot list sessions (the cookie store keeps nothing on the server)
// or the config has no user_key, else 503; the details go to the log.
func (a *app) storeFailure(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, backends.ErrUnsupported):
		fail(w, r, http.StatusNotImplemented, "this session backend cannot list sessions")
		return
	case errors.Is(err, session.ErrNoUserKey):
		a.log.Error("the sessions pages need [session] user_key = user_id in the config", zap.Error(err))
		fail(w, r, http.StatusNotImplemented, "listing sessions is not enabled on this server")
		return
	}
	a.log.Error("listing or ending a user's sessions", zap.String("path", r.URL.Path), zap.Error(err))
	fail(w, r, http.StatusServiceUnavailable, "session store unavailable")
}

// userSessions lists the caller's live sessions, oldest first; it answers
// the request itself (501, 503) and returns false when that fails.
func (a *app) userSessions(w http.ResponseWriter, r *http.Request, s *session.Session) ([]sessionInfo, bool) {
	out, err := a.listUserSessions(r.Context(), s)
	if err != nil {
		a.storeFailure(w, r, err)
		return nil, false
	}
	return out, true
}

// listUserSessions is Manager.UserSessions (oldest first), as the example
// shows it.
func (a *app) listUserSessions(ctx context.Context, s *session.Session) ([]sessionInfo, error) {
	infos, err := a.m.UserSessions(ctx, s)
	if err != nil {
		return nil, err
	}
	out := make([]sessionInfo, 0, len(infos))
	for _, in := range infos {
		info := sessionInfo{
			Handle:    in.Handle,
			Current:   in.Current,
			Created:   in.Created,
			LastSeen:  in.LastSeen,
			Updated:   in.LastSeen,
			UserAgent: in.UserAgent,
			IP:        in.IP,
			Keys:      in.Keys,
		}
		if !in.Expires.IsZero() {
			exp := in.Expires
			info.Expires = &exp
		}
		out = append(out, info)
	}
	return out, nil
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

// withUser is withSession for logged-in users only: 401 otherwise, or for
// a browser a redirect to the home page (its session ended: revoked
// elsewhere, expired, or logged out).
func (a *app) withUser(h func(http.ResponseWriter, *http.Request, *session.Session, string)) http.HandlerFunc {
	return a.withSession(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		user := s.GetString(userKey)
		if user == "" {
			if prefersHTML(r) {
				seeOther(w, r, "/")
				return
			}
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
		fail(w, r, http.StatusRequestEntityTooLarge, "request body too large")
		return false
	}
	a.log.Info("malformed form", zap.String("path", r.URL.Path), zap.Error(err))
	fail(w, r, http.StatusBadRequest, "malformed form")
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
	fail(w, r, code, msg)
}

// fail answers an error with its generic message: an error page for a
// browser, else JSON {"error": msg}.
func fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if prefersHTML(r) {
		errorHTML(w, code, msg)
		return
	}
	writeError(w, code, msg)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Del("Location")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
