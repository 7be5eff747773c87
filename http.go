package session

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sessionfx/session/ctxmember"
)

// Middleware opens a scope per request (unless an outer ctxmember
// middleware already did), puts the session cookie's value into the id
// member without touching the store, and — if the handler used the session
// — saves it and sets the cookie just before the response headers go out.
// A save that fails then is answered by the error handler instead of the
// handler's response. A panic in the handler ends the scope as a failure
// (the session's changes are discarded) and is re-raised.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sc := ctxmember.FromContext(r.Context()); sc != nil {
			// An outer scope (e.g. Registry.Middleware) owns the lifetime.
			m.serve(w, r.WithContext(withManager(r.Context(), m)), sc, next)
			return
		}
		rw := &responseWriter{ResponseWriter: w, m: m}
		sc, ctx := m.registry.NewScopeWith(r.Context(), rw)
		r = r.WithContext(ctx)
		defer func() {
			if p := recover(); p != nil {
				if err := sc.End(&ctxmember.PanicError{Value: p}); err != nil {
					m.log.Error("session: ending request scope", zap.Error(err))
				}
				panic(p)
			}
		}()
		m.serveWith(rw, r, sc, next)
		if err := sc.End(nil); err != nil {
			m.log.Error("session: ending request scope", zap.Error(err))
		}
	})
}

func (m *Manager) serve(w http.ResponseWriter, r *http.Request, sc *ctxmember.Scope, next http.Handler) {
	m.serveWith(&responseWriter{ResponseWriter: w, m: m}, r, sc, next)
}

func (m *Manager) serveWith(rw *responseWriter, r *http.Request, sc *ctxmember.Scope, next http.Handler) {
	if c := m.readCookie(r); c != "" {
		rw.clientHad = true
		if err := sc.Set(m.idMember, c); err != nil {
			m.log.Warn("session: cannot set id member from cookie", zap.Error(err))
		}
	}
	rw.r, rw.sc = r, sc
	next.ServeHTTP(rw, r)
	rw.beforeHeaders()
}

// ownerManager returns the manager that opened the scope (through its
// response writer, or Run), or the one recorded in ctx.
func ownerManager(ctx context.Context, sc *ctxmember.Scope) *Manager {
	switch o := sc.Owner().(type) {
	case *responseWriter:
		return o.m
	case *Manager:
		return o
	}
	m, _ := ctx.Value(managerKey{}).(*Manager)
	return m
}

// headersSent reports whether the scope's response headers went out.
func headersSent(sc *ctxmember.Scope) bool {
	rw, ok := sc.Owner().(*responseWriter)
	return ok && rw.sent.Load()
}

// readCookie returns the session cookie's value, or "" when absent,
// oversized or malformed (never an error: a bad cookie is ignored). It scans
// the Cookie header itself instead of parsing every cookie (net/http's
// Request.Cookie), so requests pay no allocation for it.
func (m *Manager) readCookie(r *http.Request) string {
	name := m.cfg.Cookie.Name
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || k != name {
				continue
			}
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if v == "" || len(v) > m.cfg.MaxCookieSize || !validCookieValue(v) {
				return ""
			}
			return v
		}
	}
	return ""
}

// validCookieValue reports whether v has only RFC 6265 cookie-octets.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

// responseWriter runs the session commit once, just before the headers go
// out (WriteHeader, Write, Flush, Hijack, or the handler returning).
type responseWriter struct {
	http.ResponseWriter
	m         *Manager
	r         *http.Request
	sc        *ctxmember.Scope
	clientHad bool

	once    sync.Once
	sent    atomic.Bool // beforeHeaders ran: headers are (about to be) out
	failed  bool        // the save failed and the error handler answered
	written bool
}

func (w *responseWriter) beforeHeaders() {
	w.once.Do(func() {
		defer w.sent.Store(true)
		v, ok := w.sc.Peek(w.m.cfg.Member)
		if !ok {
			return // untouched: no store call, no cookie, no Vary
		}
		s := v.(*Session)
		h := w.ResponseWriter.Header()
		h.Add("Vary", "Cookie")
		if err := w.m.commit(w.r.Context(), s); err != nil {
			w.m.logSaveError("session: save before response failed", err, zap.String("path", w.r.URL.Path))
			w.failed = true
			s.Revert()
			w.m.onError(w.ResponseWriter, w.r, err)
			return
		}
		w.m.writeCookie(h, s, w.clientHad)
	})
}

func (w *responseWriter) WriteHeader(code int) {
	w.beforeHeaders()
	if w.failed || w.written {
		return
	}
	w.written = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	w.beforeHeaders()
	if w.failed {
		return len(b), nil // the error handler's response stands
	}
	w.written = true
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() {
	w.beforeHeaders()
	if w.failed {
		return
	}
	w.written = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker (the session is committed first).
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.beforeHeaders()
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeCookie sets, renews or expires the session cookie as needed.
func (m *Manager) writeCookie(h http.Header, s *Session, clientHad bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cookieSent = true
	switch {
	case s.value != "" && s.value != s.sent:
		s.sent = s.value
		m.setCookie(h, s.value, m.maxAge(s))
	case s.value == "" && clientHad && s.clear:
		// Destroyed, or the client's id was unknown, expired or malformed:
		// clear it once so it stops costing a lookup on every request.
		s.sent = ""
		m.setCookie(h, "", -1)
	}
}

// maxAge is the cookie's Max-Age: the time left of the session's absolute
// lifetime when cookie.persist is on (0, a browser-session cookie, when
// persist is off or there is no lifetime). The idle timeout is enforced by
// the store, not by the cookie, so a touched session keeps its cookie.
func (m *Manager) maxAge(s *Session) int {
	if !m.cfg.Cookie.Persist || m.cfg.Lifetime <= 0 {
		return 0
	}
	created := m.now()
	if s.rec != nil && !s.rec.Created.IsZero() {
		created = s.rec.Created
	}
	left := created.Add(m.cfg.Lifetime).Sub(m.now())
	if left < time.Second {
		left = time.Second
	}
	return int(left / time.Second)
}

func (m *Manager) setCookie(h http.Header, value string, maxAge int) {
	c := &http.Cookie{
		Name:     m.cfg.Cookie.Name,
		Value:    value,
		Path:     m.cfg.Cookie.Path,
		Domain:   m.cfg.Cookie.Domain,
		Secure:   m.cfg.Cookie.Secure,
		HttpOnly: m.cfg.Cookie.HTTPOnly,
		SameSite: sameSite(m.cfg.Cookie.SameSite),
		MaxAge:   maxAge,
	}
	if maxAge < 0 {
		c.Expires = time.Unix(1, 0)
	}
	h.Add("Set-Cookie", c.String())
	// A response that sets a session cookie must never be cached.
	h.Set("Cache-Control", "no-store")
}

func sameSite(s string) http.SameSite {
	switch strings.ToLower(s) {
	case "strict":
		return http.SameSiteStrictMode
	case "none":
		return http.SameSiteNoneMode
	default:
		return http.SameSiteLaxMode
	}
}
