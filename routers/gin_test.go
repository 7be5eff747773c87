package routers_test

import (
	"net/http"
	"testing"

	"github.com/gin-gonic/gin"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/routers"
)

func init() { gin.SetMode(gin.TestMode) }

// ginRoutes adds the common routes (see checkRecipe) and a few gin-only
// ones to r. Handlers reach the session through c.Request.Context() (or
// through c itself when the engine has ContextWithFallback on).
func ginRoutes(r gin.IRoutes, st *stream) {
	r.POST("/set", func(c *gin.Context) {
		s, err := session.From(c.Request.Context())
		if err != nil {
			c.String(http.StatusServiceUnavailable, "session store unavailable")
			return
		}
		if err := s.Set("name", c.Query("v")); err != nil {
			c.String(http.StatusBadRequest, err.Error())
			return
		}
		c.String(http.StatusOK, "ok")
	})
	r.GET("/get", func(c *gin.Context) {
		s, err := session.From(c.Request.Context())
		if err != nil {
			c.String(http.StatusServiceUnavailable, "session store unavailable")
			return
		}
		c.String(http.StatusOK, s.GetString("name"))
	})
	r.GET("/plain", func(c *gin.Context) {
		c.String(http.StatusOK, "plain")
	})
	r.GET("/stream", func(c *gin.Context) {
		st.serve(c.Request.Context(), c.Writer, c.Writer.Flush)
	})
	// c.Status only records the status in gin; the session must still be
	// committed when the headers really go out, after the Set below, here
	// through WriteHeaderNow (as c.AbortWithStatus and bodiless renders do).
	r.POST("/created", func(c *gin.Context) {
		c.Status(http.StatusCreated)
		s, err := session.From(c.Request.Context())
		if err != nil {
			c.String(http.StatusServiceUnavailable, "session store unavailable")
			return
		}
		_ = s.Set("name", "created")
		c.Writer.WriteHeaderNow()
	})
	// The session is committed before the hijack, so the cookie is in the
	// header map a hijacker writes itself.
	r.GET("/hijack", func(c *gin.Context) {
		s, err := session.From(c.Request.Context())
		if err != nil {
			c.String(http.StatusServiceUnavailable, "session store unavailable")
			return
		}
		_ = s.Set("name", "hijacked")
		conn, buf, err := c.Writer.Hijack()
		if err != nil {
			c.String(http.StatusInternalServerError, err.Error())
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n")
		_ = c.Writer.Header().Write(buf) // Set-Cookie was added by the Hijack
		_, _ = buf.WriteString("\r\nhijack")
		_ = buf.Flush()
	})
	r.GET("/panic", func(c *gin.Context) {
		if s, err := session.From(c.Request.Context()); err == nil {
			_ = s.Set("name", "lost")
		}
		panic("boom")
	})
	r.GET("/fallback", func(c *gin.Context) {
		s, err := session.From(c) // needs engine.ContextWithFallback
		if err != nil {
			c.String(http.StatusInternalServerError, err.Error())
			return
		}
		c.String(http.StatusOK, s.GetString("name"))
	})
}

// Recipe 1: wrap the whole engine (every route, 404s included, gets the
// session middleware; nothing gin-specific needed).
func TestGinWrapEngine(t *testing.T) {
	m := newManager(t)
	st := newStream()
	r := gin.New()
	ginRoutes(r, st)
	checkRecipe(t, m, m.Middleware(r), st)
}

// Recipe 2: the routers.Gin adapter, for r.Use / group.Use.
func TestGinAdapter(t *testing.T) {
	m := newManager(t)
	st := newStream()
	r := gin.New()
	r.Use(routers.Gin(m.Middleware))
	ginRoutes(r, st)
	checkRecipe(t, m, r, st)
}

// The adapter on a route group only: routes outside the group have no
// session (session.From fails there) and never set a cookie.
func TestGinAdapterGroup(t *testing.T) {
	m := newManager(t)
	st := newStream()
	r := gin.New()
	r.GET("/outside", func(c *gin.Context) {
		_, err := session.From(c.Request.Context())
		c.String(http.StatusOK, "%v", err != nil)
	})
	g := r.Group("/app", routers.Gin(m.Middleware))
	ginRoutes(g, st)
	srv := newServer(t, r)
	if _, body := do(t, srv, "GET", "/outside", nil); body != "true" {
		t.Fatalf("GET /outside: session.From did not fail outside the group (%q)", body)
	}
	res, _ := do(t, srv, "POST", "/app/set?v=bob", nil)
	ck := cookieNamed(res, m.Config().Cookie.Name)
	if ck == nil {
		t.Fatalf("POST /app/set: no cookie; Set-Cookie = %q", res.Header.Values("Set-Cookie"))
	}
	if _, body := do(t, srv, "GET", "/app/get", ck); body != "bob" {
		t.Fatalf("GET /app/get = %q, want bob", body)
	}
}

func TestGinAdapterStatusBeforeSet(t *testing.T) {
	m := newManager(t)
	r := gin.New()
	r.Use(routers.Gin(m.Middleware))
	ginRoutes(r, nil)
	srv := newServer(t, r)
	res, _ := do(t, srv, "POST", "/created", nil)
	ck := cookieNamed(res, m.Config().Cookie.Name)
	if res.StatusCode != http.StatusCreated || ck == nil {
		t.Fatalf("POST /created: %d, cookie %v; want 201 with a cookie", res.StatusCode, ck)
	}
	if _, body := do(t, srv, "GET", "/get", ck); body != "created" {
		t.Fatalf("GET /get = %q, want created", body)
	}
}

func TestGinAdapterHijack(t *testing.T) {
	m := newManager(t)
	r := gin.New()
	r.Use(routers.Gin(m.Middleware))
	ginRoutes(r, nil)
	srv := newServer(t, r)
	res, body := do(t, srv, "GET", "/hijack", nil)
	if body != "hijack" {
		t.Fatalf("GET /hijack: %d %q", res.StatusCode, body)
	}
	ck := cookieNamed(res, m.Config().Cookie.Name)
	if ck == nil {
		t.Fatalf("GET /hijack: no cookie in the hijacked response; header %v", res.Header)
	}
	if _, body := do(t, srv, "GET", "/get", ck); body != "hijacked" {
		t.Fatalf("GET /get = %q, want hijacked", body)
	}
}

// A panic discards the session's changes: gin.Recovery (outside the
// adapter) answers 500, with no cookie, and nothing is stored.
func TestGinAdapterPanic(t *testing.T) {
	m := newManager(t)
	r := gin.New()
	r.Use(gin.CustomRecoveryWithWriter(nopWriter{}, func(c *gin.Context, _ any) {
		c.AbortWithStatus(http.StatusInternalServerError)
	}))
	r.Use(routers.Gin(m.Middleware))
	ginRoutes(r, nil)
	srv := newServer(t, r)
	res, _ := do(t, srv, "GET", "/panic", nil)
	if res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("GET /panic: %d, want 500", res.StatusCode)
	}
	if sc := res.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Fatalf("GET /panic set a cookie: %q", sc)
	}
	if n := stored(t, m); n != 0 {
		t.Fatalf("%d stored sessions after a panic, want 0", n)
	}
}

type nopWriter struct{}

func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }

// session.From(c) works on the *gin.Context itself only with
// ContextWithFallback; otherwise use c.Request.Context().
func TestGinContextWithFallback(t *testing.T) {
	m := newManager(t)
	r := gin.New()
	r.ContextWithFallback = true
	r.Use(routers.Gin(m.Middleware))
	ginRoutes(r, nil)
	srv := newServer(t, r)
	res, _ := do(t, srv, "POST", "/set?v=carol", nil)
	ck := cookieNamed(res, m.Config().Cookie.Name)
	if ck == nil {
		t.Fatal("POST /set: no cookie")
	}
	if _, body := do(t, srv, "GET", "/fallback", ck); body != "carol" {
		t.Fatalf("GET /fallback = %q, want carol", body)
	}

	r2 := gin.New() // ContextWithFallback off (the default)
	r2.Use(routers.Gin(m.Middleware))
	ginRoutes(r2, nil)
	if res, _ := do(t, newServer(t, r2), "GET", "/fallback", ck); res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("GET /fallback without ContextWithFallback: %d, want 500 (no session in c)", res.StatusCode)
	}
}

// naiveGin is the natural 8-line adapter: it hands the request to the
// session middleware but leaves c.Writer as gin's own writer, so handlers
// write around the session's ResponseWriter. DO NOT USE.
func naiveGin(mw func(http.Handler) http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		mw(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			c.Request = r
			c.Next()
		})).ServeHTTP(c.Writer, c.Request)
	}
}

// TestGinNaiveAdapterSetsNoCookie proves the README's warning: with the
// naive adapter a handler that writes a body sends its headers before the
// session middleware gets to add the cookie. The session is still saved
// (after the response went out), so the store fills with sessions no
// client can ever name.
func TestGinNaiveAdapterSetsNoCookie(t *testing.T) {
	m := newManager(t)
	r := gin.New()
	r.Use(naiveGin(m.Middleware))
	ginRoutes(r, nil)
	srv := newServer(t, r)
	res, body := do(t, srv, "POST", "/set?v=alice", nil)
	if res.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("POST /set: %d %q", res.StatusCode, body)
	}
	if sc := res.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Fatalf("the naive adapter did set a cookie (%q): the README's warning is out of date", sc)
	}
	if n := stored(t, m); n != 1 {
		t.Fatalf("%d stored sessions, want 1 (saved, but orphaned)", n)
	}
}
