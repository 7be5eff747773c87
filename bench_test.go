package session_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	session "github.com/sessionfx/session"
)

// benchSetup returns the middleware-wrapped handler on the memory backend
// and the id of a stored session holding name=ann.
func benchSetup(b *testing.B) (http.Handler, string) {
	_, st := newKV(b)
	m := newManager(b, st, nil)
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/untouched" {
			return
		}
		s, err := session.From(r.Context())
		if err != nil {
			b.Fatal(err)
		}
		switch r.URL.Path {
		case "/init":
			_ = s.Set("name", "ann")
		case "/read":
			if s.GetString("name") != "ann" {
				b.Fatal("read: session lost")
			}
		case "/write":
			_ = s.Set("n", s.GetInt("n")+1)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/init", nil))
	cs := rec.Result().Cookies()
	if len(cs) != 1 {
		b.Fatalf("setup: no session cookie")
	}
	return h, cs[0].Value
}

func benchRequests(b *testing.B, path string, withCookie bool) {
	h, id := benchSetup(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("GET", path, nil)
		if withCookie {
			req.AddCookie(&http.Cookie{Name: "session", Value: id})
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}

// BenchmarkUntouchedWithCookie: a request with a valid session cookie whose
// handler never uses the session (no store call).
func BenchmarkUntouchedWithCookie(b *testing.B) { benchRequests(b, "/untouched", true) }

// BenchmarkRead: valid cookie, the handler reads one key.
func BenchmarkRead(b *testing.B) { benchRequests(b, "/read", true) }

// BenchmarkWrite: valid cookie, the handler increments a counter.
func BenchmarkWrite(b *testing.B) { benchRequests(b, "/write", true) }

// BenchmarkNewSession: no cookie, the handler writes one key.
func BenchmarkNewSession(b *testing.B) { benchRequests(b, "/init", false) }

// BenchmarkBaseline: the same request (with the cookie) through no session
// middleware; a figure minus this one is the session layer's own cost.
func BenchmarkBaseline(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("GET", "/untouched", nil)
		req.AddCookie(&http.Cookie{Name: "session", Value: "0b6f5bd0-8b7f-4c1e-9a53-1f1a4f6f4b9a"})
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
