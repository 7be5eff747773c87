package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// What a browser sends for a navigation or a form post.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

const firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"

// browse is c.send as a browser: its Accept header and user agent (or the
// given Accept, "" for none), a urlencoded form when form is not nil.
func (c *client) browse(method, path, accept string, form url.Values, extra ...string) (int, string, *http.Response) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set("User-Agent", firefoxUA)
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "session", Value: c.cookie})
	}
	res, err := http.DefaultTransport.RoundTrip(req) // no redirects followed
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, ck := range res.Cookies() {
		if ck.Name == "session" {
			if ck.MaxAge < 0 {
				c.cookie = ""
			} else {
				c.cookie = ck.Value
			}
		}
	}
	return res.StatusCode, string(b), res
}

// wantPage checks an HTML answer: status, never cached, no script allowed,
// and the page contains every want.
func wantPage(t *testing.T, what string, code int, body string, res *http.Response, wantCode int, want ...string) {
	t.Helper()
	if code != wantCode || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%s: %d %s; want %d text/html\n%s", what, code, res.Header.Get("Content-Type"), wantCode, body)
	}
	if res.Header.Get("Cache-Control") != "no-store" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("%s: Cache-Control %q, CSP %q", what, res.Header.Get("Cache-Control"), res.Header.Get("Content-Security-Policy"))
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Fatalf("%s: the page lacks %q:\n%s", what, w, body)
		}
	}
}

func wantRedirect(t *testing.T, what string, code int, res *http.Response, to string) {
	t.Helper()
	if code != http.StatusSeeOther || res.Header.Get("Location") != to {
		t.Fatalf("%s: %d Location %q; want 303 to %s", what, code, res.Header.Get("Location"), to)
	}
}

func TestPagesAndJSONNegotiation(t *testing.T) {
	for _, cfg := range []string{"config.ini", "config.gorm.ini"} {
		t.Run(cfg, func(t *testing.T) {
			c, app, m := startExample(t, copyConfig(t, cfg))
			defer app.Stop(context.Background())

			code, body, res := c.browse("GET", "/", browserAccept, nil)
			wantPage(t, "GET / logged out", code, body, res, 200, `id="login"`, `<span id="visits" class="counter">0</span>`)
			// Not logged in: the sessions page sends a browser home, an API
			// client gets 401.
			code, _, res = c.browse("GET", "/sessions", browserAccept, nil)
			wantRedirect(t, "GET /sessions logged out", code, res, "/")
			if code, body, _ := c.browse("GET", "/sessions", "", nil); code != 401 || body != "{\"error\":\"login required\"}\n" {
				t.Fatalf("GET /sessions logged out, no Accept: %d %q", code, body)
			}

			// +1 from a form: back to the page; from curl (no Accept or */*): JSON.
			code, _, res = c.browse("POST", "/visits", browserAccept, url.Values{})
			wantRedirect(t, "POST /visits from a browser", code, res, "/")
			for _, accept := range []string{"", "*/*", "application/json"} {
				if _, body, _ := c.browse("POST", "/visits", accept, nil); !strings.HasPrefix(body, `{"visits":`) {
					t.Fatalf("POST /visits with Accept %q: %q; want JSON", accept, body)
				}
			}

			// A bad login from a form: an error page with the generic text.
			code, body, res = c.browse("POST", "/login", browserAccept, url.Values{"user": {""}})
			wantPage(t, "empty login from a browser", code, body, res, 400, "form field user is required")
			// Log in (the name is escaped on every page), see the flash once.
			user := `<b>al"ice</b>`
			code, _, res = c.browse("POST", "/login", browserAccept, url.Values{"user": {user}})
			wantRedirect(t, "login from a browser", code, res, "/")
			code, body, res = c.browse("GET", "/", browserAccept, nil)
			wantPage(t, "GET / after login", code, body, res, 200, `Welcome, &lt;b&gt;al&#34;ice&lt;/b&gt;`, `<span id="visits" class="counter">4</span>`, `href="/sessions"`)
			if strings.Contains(body, user) {
				t.Fatal("the user name is not escaped")
			}
			if _, body, _ = c.browse("GET", "/", browserAccept, nil); strings.Contains(body, "Welcome") {
				t.Fatal("the flash must be shown once")
			}

			// Two more sessions of the same user (an API client, and
			// another browser), then the sessions page.
			api := &client{t: t, base: c.base}
			api.do("POST", "/login", url.Values{"user": {user}})
			other := &client{t: t, base: c.base}
			other.browse("POST", "/login", browserAccept, url.Values{"user": {user}})
			code, body, res = c.browse("GET", "/sessions", browserAccept, nil)
			wantPage(t, "GET /sessions", code, body, res, 200, "Your sessions", "signed in on 3 devices",
				"Firefox on Linux", "Go HTTP client", "this device", "Log out everywhere else", `name="handle"`)
			if n := strings.Count(body, `<tr class="session`); n != 3 {
				t.Fatalf("the sessions page lists %d sessions; want 3", n)
			}
			l, _ := api.sessions(m, c.cookie, other.cookie)
			if len(l.Sessions) != 3 {
				t.Fatalf("JSON listing: %+v", l)
			}
			for _, accept := range []string{"", "*/*", "application/json", "application/json, text/html;q=0.5"} {
				if code, body, _ := c.browse("GET", "/sessions", accept, nil); code != 200 || !strings.HasPrefix(body, `{"sessions":`) {
					t.Fatalf("GET /sessions with Accept %q: %d %q; want JSON", accept, code, body)
				}
			}

			// Revoke from the page: an unknown handle, the API client's
			// session, then all others; each time back to the page, with a flash.
			code, _, res = c.browse("POST", "/sessions/revoke", browserAccept, url.Values{"handle": {strings.Repeat("0", 32)}})
			wantRedirect(t, "revoking an unknown handle", code, res, "/sessions")
			if _, body, _ := c.browse("GET", "/sessions", browserAccept, nil); !strings.Contains(body, "That session had already ended.") {
				t.Fatalf("no flash after revoking an unknown handle:\n%s", body)
			}
			apiHandle := ""
			for _, s := range l.Sessions {
				if s.Current {
					apiHandle = s.Handle
				}
			}
			code, _, res = c.browse("POST", "/sessions/revoke", browserAccept, url.Values{"handle": {apiHandle}})
			wantRedirect(t, "revoking the API client's session", code, res, "/sessions")
			if code, _, _ := api.do("GET", "/sessions", nil); code != 401 {
				t.Fatalf("the revoked API session: GET /sessions gave %d; want 401", code)
			}
			code, body, res = c.browse("POST", "/sessions/revoke", browserAccept, url.Values{})
			wantPage(t, "revoke with neither field", code, body, res, 400, "give either the form field handle or all_others=1")
			code, _, res = c.browse("POST", "/sessions/revoke", browserAccept, url.Values{"all_others": {"1"}})
			wantRedirect(t, "log out everywhere else", code, res, "/sessions")
			code, body, res = c.browse("GET", "/sessions", browserAccept, nil)
			wantPage(t, "GET /sessions after all_others", code, body, res, 200, "Logged out 1 other session elsewhere.", "signed in on 1 device.")
			if strings.Contains(body, "Log out everywhere else") {
				t.Fatal("with one session left the page must not offer to log out the others")
			}
			code, _, res = other.browse("GET", "/sessions", browserAccept, nil)
			wantRedirect(t, "the other browser after all_others", code, res, "/")

			// A cross-site form post is refused, and changes nothing.
			code, body, _ = c.browse("POST", "/logout", browserAccept, url.Values{}, "Sec-Fetch-Site", "cross-site")
			if code != 403 || !strings.Contains(body, "cross-site request refused") {
				t.Fatalf("cross-site POST /logout: %d; want 403", code)
			}
			if code, _, _ := c.browse("GET", "/sessions", "", nil); code != 200 {
				t.Fatalf("a cross-site logout must not log out: GET /sessions gave %d", code)
			}
			// Log out from the page: home, cookie expired.
			code, _, res = c.browse("POST", "/logout", browserAccept, url.Values{}, "Sec-Fetch-Site", "same-origin")
			wantRedirect(t, "logout from a browser", code, res, "/")
			if c.cookie != "" {
				t.Fatal("logout must expire the cookie")
			}
		})
	}
}

// Login and logout keep their answers: JSON when the client asks for it,
// else the redirect they always gave.
func TestLoginLogoutAnswers(t *testing.T) {
	c, app, _ := startExample(t, copyConfig(t, "config.ini"))
	defer app.Stop(context.Background())
	for _, tc := range []struct {
		accept string
		json   bool
	}{
		{"application/json", true},
		{"application/json, text/plain, */*", true}, // axios
		{"", false},
		{"*/*", false},
		{browserAccept, false},
	} {
		code, body, res := c.browse("POST", "/login", tc.accept, url.Values{"user": {"ann"}})
		if tc.json != (code == 200 && body == "{\"user\":\"ann\"}\n") || !tc.json && (code != 303 || res.Header.Get("Location") != "/") {
			t.Fatalf("POST /login with Accept %q: %d %q", tc.accept, code, body)
		}
		code, body, res = c.browse("POST", "/logout", tc.accept, nil)
		if tc.json != (code == 200 && body == "{\"logged_out\":true}\n") || !tc.json && (code != 303 || res.Header.Get("Location") != "/") {
			t.Fatalf("POST /logout with Accept %q: %d %q", tc.accept, code, body)
		}
	}
}

func TestCookieStoreSessionsPage(t *testing.T) {
	c, app, _ := startExample(t, copyConfig(t, "config.cookie.ini"))
	defer app.Stop(context.Background())
	c.browse("POST", "/login", browserAccept, url.Values{"user": {"ann"}})
	code, body, res := c.browse("GET", "/sessions", browserAccept, nil)
	wantPage(t, "GET /sessions on the cookie store", code, body, res, 501, "this session backend cannot list sessions")
	// The session itself works: home shows the user and the flash.
	code, body, res = c.browse("GET", "/", browserAccept, nil)
	wantPage(t, "GET / on the cookie store", code, body, res, 200, "Welcome, ann", `id="user">ann<`)
}

func TestAcceptNegotiation(t *testing.T) {
	for _, tc := range []struct {
		accept            string
		html, json, exact bool
	}{
		{"", false, false, false},
		{"*/*", false, false, false},
		{"application/json", false, true, true},
		{browserAccept, true, false, false},
		{"text/html", true, false, false},
		{"text/*", true, false, false},
		{"text/html;q=0.5, application/json", false, true, true},
		{"text/html, application/json;q=0.5", true, false, true},
		{"text/html;q=0, */*", false, false, false},
		{"TEXT/HTML", true, false, false},
		{"text/html;q=oops, application/json", false, true, true},
		{"application/json;q=2, text/html", true, false, false},
		{"application/*", false, false, false},
		{",,;;/", false, false, false},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		if got := prefersHTML(r); got != tc.html {
			t.Errorf("prefersHTML(%q) = %v", tc.accept, got)
		}
		if got := asksJSON(r); got != tc.json {
			t.Errorf("asksJSON(%q) = %v", tc.accept, got)
		}
		if _, exact := acceptQ(tc.accept, "application", "json"); exact != tc.exact {
			t.Errorf("acceptQ(%q) exact = %v", tc.accept, exact)
		}
	}
}

func TestDeviceName(t *testing.T) {
	for ua, want := range map[string]string{
		"":        "Unknown device",
		firefoxUA: "Firefox on Linux",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36":                           "Chrome (headless) on Linux",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 Edg/140.0":               "Edge on Windows",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1": "Safari on iPhone",
		"curl/8.5.0":         "curl",
		"Go-http-client/1.1": "Go HTTP client",
		"something else":     "Other client",
	} {
		if got := deviceName(ua); got != want {
			t.Errorf("deviceName(%q) = %q; want %q", ua, got, want)
		}
	}
}
