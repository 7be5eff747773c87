package routers

import (
	"bufio"
	"io"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Gin turns the session middleware (session.HTTPMiddleware, or any
// func(http.Handler) http.Handler that wraps the ResponseWriter) into a
// gin middleware for r.Use / group.Use.
//
// The session middleware commits the session and sets its cookie from
// inside its own ResponseWriter, just before the headers go out. A gin
// handler writes through c.Writer, so while the rest of the chain runs
// c.Writer is swapped for a gin.ResponseWriter that writes through the
// writer the session middleware passes down (and put back afterwards).
// Without the swap the handler writes around the session's writer and the
// cookie is never sent.
//
// This file is self-contained: copy it into your project.
func Gin(mw func(http.Handler) http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		origW, origR := c.Writer, c.Request
		mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.Writer, c.Request = &ginWriter{ResponseWriter: origW, w: w}, r
			defer func() { c.Writer, c.Request = origW, origR }()
			c.Next()
		})).ServeHTTP(origW, origR)
	}
}

// ginWriter is a gin.ResponseWriter whose writes go through w (the session
// middleware's writer, which itself writes to gin's writer). Status, Size,
// Written, CloseNotify and Pusher are gin's own; WriteHeader only records
// the status, as in gin, so the session is committed when the headers
// really go out, not at c.Status.
type ginWriter struct {
	gin.ResponseWriter
	w http.ResponseWriter
}

func (g *ginWriter) Header() http.Header { return g.w.Header() }

func (g *ginWriter) WriteHeaderNow() {
	if !g.Written() {
		g.w.WriteHeader(g.Status()) // commits the session, sets the cookie
		g.ResponseWriter.WriteHeaderNow()
	}
}

func (g *ginWriter) Write(b []byte) (int, error) { return g.w.Write(b) }

func (g *ginWriter) WriteString(s string) (int, error) { return io.WriteString(g.w, s) }

func (g *ginWriter) Flush() {
	_ = http.NewResponseController(g.w).Flush()
}

func (g *ginWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(g.w).Hijack()
}

// Unwrap lets http.ResponseController reach the writers below.
func (g *ginWriter) Unwrap() http.ResponseWriter { return g.w }
