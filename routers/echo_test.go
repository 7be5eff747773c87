package routers_test

import (
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"

	session "github.com/sessionfx/session"
)

// echo: echo.WrapMiddleware adapts the middleware (it hands the wrapped
// writer on to the handler as c.Response()); handlers reach the session
// through c.Request().Context().
func echoRouter(mw session.HTTPMiddleware, st *stream) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(echo.WrapMiddleware(mw))
	e.POST("/set", func(c echo.Context) error {
		s, err := session.From(c.Request().Context())
		if err != nil {
			return echo.NewHTTPError(http.StatusServiceUnavailable, "session store unavailable")
		}
		if err := s.Set("name", c.QueryParam("v")); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		return c.String(http.StatusOK, "ok")
	})
	e.GET("/get", func(c echo.Context) error {
		s, err := session.From(c.Request().Context())
		if err != nil {
			return echo.NewHTTPError(http.StatusServiceUnavailable, "session store unavailable")
		}
		return c.String(http.StatusOK, s.GetString("name"))
	})
	e.GET("/plain", func(c echo.Context) error {
		return c.String(http.StatusOK, "plain")
	})
	e.GET("/stream", func(c echo.Context) error {
		st.serve(c.Request().Context(), c.Response(), c.Response().Flush)
		return nil
	})
	e.GET("/forbidden", func(c echo.Context) error {
		s, err := session.From(c.Request().Context())
		if err != nil {
			return err
		}
		_ = s.Set("name", "mallory")
		return echo.NewHTTPError(http.StatusForbidden, "no")
	})
	return e
}

func TestEcho(t *testing.T) {
	m := newManager(t)
	st := newStream()
	checkRecipe(t, m, echoRouter(m.Middleware, st), st)
}

// TestEchoHandlerError documents how a returned error fits in: echo's
// HTTPErrorHandler writes the error response after the whole chain,
// session middleware included, has returned, so the session was already
// saved (a returned error is not a panic: it does not discard the
// changes) and the error response carries the cookie.
func TestEchoHandlerError(t *testing.T) {
	m := newManager(t)
	srv := newServer(t, echoRouter(m.Middleware, nil))
	res, _ := do(t, srv, "GET", "/forbidden", nil)
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", res.StatusCode)
	}
	if cookieNamed(res, m.Config().Cookie.Name) == nil {
		t.Fatalf("no session cookie on the error response; Set-Cookie = %q", res.Header.Values("Set-Cookie"))
	}
	if n := stored(t, m); n != 1 {
		t.Fatalf("%d stored sessions, want 1 (the change is kept)", n)
	}
}
