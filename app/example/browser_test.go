package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"go.uber.org/fx"

	session "github.com/sessionfx/session"
)

// The example's pages, driven in headless Chromium: two isolated browser
// contexts (two cookie jars, as two devices) log in as alice; the first
// counts visits, sees the welcome flash once, lists both sessions, revokes
// the second, reads its cookie's attributes from the browser's cookie store,
// and logs out. On the memory store, on SQLite, and over TLS with a Secure
// cookie.
//
// Chromium: SESSIONFX_TEST_CHROMIUM names the binary (the test then fails
// if it cannot start it); otherwise chromium, chromium-browser or
// google-chrome from PATH; without one the test is skipped. On failure a
// screenshot of the sessions page goes to SESSIONFX_TEST_ARTIFACTS
// (default testdata/artifacts/). SESSIONFX_UPDATE_SCREENSHOT=1 rewrites
// docs/sessions-page.png, the README's picture of the sessions page.

const (
	// browserDeadline bounds the life of each case's browser: a stuck
	// browser fails the case within two minutes (a stuck step, sooner).
	browserDeadline = 110 * time.Second
	// stepTimeout bounds each step (a navigation, a click and its page).
	stepTimeout = 30 * time.Second
)

// chromiumSkip is the message of the skip when no browser is found.
const chromiumSkip = "no Chromium found (chromium, chromium-browser or google-chrome in PATH); " +
	"set SESSIONFX_TEST_CHROMIUM to the browser's path to run the browser test"

// findChromium is the browser to drive: SESSIONFX_TEST_CHROMIUM (an error
// when it names no executable), else the first of the usual names in PATH,
// else "".
func findChromium() (string, error) {
	if p := os.Getenv("SESSIONFX_TEST_CHROMIUM"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("SESSIONFX_TEST_CHROMIUM=%q: %w", p, err)
		}
		return path, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", nil
}

// chromiumPath is findChromium for a test: it fails when the variable names
// no browser, and skips when there is none at all.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path, err := findChromium()
	if err != nil {
		t.Fatal(err)
	}
	if path == "" {
		t.Skip(chromiumSkip)
	}
	return path
}

// startBrowser starts headless Chromium and returns a context that has it:
// make one isolated browser context (own cookie jar) per simulated device
// with newDevice.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	deadline, cancelDeadline := context.WithTimeout(context.Background(), browserDeadline)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		// The TLS case's httptest certificate is self-signed.
		chromedp.IgnoreCertErrors,
		chromedp.WindowSize(1000, 700),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(deadline, opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelDeadline()
	})
	start := time.Now()
	if err := chromedp.Do(browserCtx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", path, err)
	}
	t.Logf("%s started in %v", path, time.Since(start).Round(time.Millisecond))
	return browserCtx
}

// device is one browser context (a separate cookie jar: another device) on
// one app.
type device struct {
	t    *testing.T
	name string
	ctx  context.Context
	base string
}

func newDevice(t *testing.T, browser context.Context, name, base string) *device {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // opens its tab
		t.Fatalf("%s: opening a tab in a new browser context: %v", name, err)
	}
	return &device{t: t, name: name, ctx: ctx, base: base}
}

// step runs actions with the step timeout; it fails the test on error.
func (d *device) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		d.t.Fatalf("%s: %s: %v", d.name, what, err)
	}
}

// submit clicks a form's button and waits for the page the answer leads to
// (after the 303); it fails unless that page answered 200.
func (d *device) submit(what string, sel chromedp.CSS) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(sel))
	if err != nil {
		d.t.Fatalf("%s: %s: %v", d.name, what, err)
	}
	if res.Status != 200 {
		d.t.Fatalf("%s: %s: the page after the form post answered %d", d.name, what, res.Status)
	}
}

// open navigates to path and returns where the browser ended up (after
// redirects); it fails unless the final page answered 200.
func (d *device) open(path string) string {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(d.base+path))
	if err != nil {
		d.t.Fatalf("%s: GET %s: %v", d.name, path, err)
	}
	if res.Status != 200 {
		d.t.Fatalf("%s: GET %s answered %d", d.name, path, res.Status)
	}
	if cc := res.Headers["Cache-Control"]; cc != "no-store" {
		d.t.Fatalf("%s: GET %s: Cache-Control %v; want no-store", d.name, path, cc)
	}
	return strings.TrimPrefix(res.URL, d.base)
}

// eval evaluates a JavaScript expression in the page (the test's own
// reading of the DOM; the pages have no script).
func eval[T any](d *device, expr string) T {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		d.t.Fatalf("%s: evaluating %s: %v", d.name, expr, err)
	}
	return v
}

func (d *device) text(sel string) string {
	return eval[string](d, fmt.Sprintf(`(document.querySelector(%q)?.textContent ?? "<absent>").trim()`, sel))
}

func (d *device) count(sel string) int {
	return eval[int](d, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

// sessionCookie is the app's session cookie as the browser stores it for
// the app's URL (nil when there is none).
func (d *device) sessionCookie(name string) *network.Cookie {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{d.base + "/"}})
	if err != nil {
		d.t.Fatalf("%s: reading the browser's cookies: %v", d.name, err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// screenshot saves a PNG of the page at path (relative to the app) to file.
func (d *device) screenshot(path, file string) error {
	ctx, cancel := context.WithTimeout(d.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(d.base+path)); err != nil {
		return err
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, png, 0o644)
}

// artifactDir is where failure screenshots are kept.
func artifactDir() string {
	if dir := os.Getenv("SESSIONFX_TEST_ARTIFACTS"); dir != "" {
		return dir
	}
	return filepath.Join("testdata", "artifacts")
}

// startOnHTTPTest starts the example app (fx, config file) and serves its
// handler on an httptest server, over TLS when tls is set.
func startOnHTTPTest(t *testing.T, config string, tls bool) (string, *session.Manager) {
	t.Helper()
	var srv *Server
	var m *session.Manager
	app := fx.New(fx.NopLogger, Options(config, "127.0.0.1:0"), fx.Populate(&srv, &m))
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Stop(context.Background()) })
	var ts *httptest.Server
	if tls {
		ts = httptest.NewTLSServer(srv.srv.Handler)
	} else {
		ts = httptest.NewServer(srv.srv.Handler)
	}
	t.Cleanup(ts.Close)
	return ts.URL, m
}

// withSecureCookie copies an INI config with cookie.secure = true.
func withSecureCookie(t *testing.T, name string) string {
	t.Helper()
	p := copyConfig(t, name)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "cookie.secure = false", "cookie.secure = true", 1)
	if text == string(b) {
		t.Fatalf("%s has no cookie.secure = false to turn on", name)
	}
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBrowserSessionsPages(t *testing.T) {
	chromiumPath(t) // skip early when there is no browser
	cases := []struct {
		name   string
		config func(t *testing.T) string
		tls    bool
	}{
		{"memory", func(t *testing.T) string { return copyConfig(t, "config.ini") }, false},
		{"sqlite", func(t *testing.T) string { return copyConfig(t, "config.gorm.ini") }, false},
		{"memory-tls", func(t *testing.T) string { return withSecureCookie(t, "config.ini") }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			base, m := startOnHTTPTest(t, tc.config(t), tc.tls)
			browser := startBrowser(t) // one per case: its own deadline
			browserSessionsScenario(t, browser, base, m, tc.tls, tc.name == "memory")
			t.Logf("%s: scenario took %v", tc.name, time.Since(start).Round(time.Millisecond))
		})
	}
}

func browserSessionsScenario(t *testing.T, browser context.Context, base string, m *session.Manager, tls, docScreenshot bool) {
	cookieName := m.Config().Cookie.Name
	laptop := newDevice(t, browser, "laptop", base)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")
		file, err := filepath.Abs(filepath.Join(artifactDir(), name+"-sessions-page.png"))
		if err == nil {
			err = laptop.screenshot("/sessions", file)
		}
		if err != nil {
			t.Logf("no screenshot of the sessions page: %v", err)
			return
		}
		t.Logf("screenshot of the sessions page at failure: %s", file)
	})

	// Logged out: the home page has the login form and a counter at 0.
	if where := laptop.open("/"); where != "/" {
		t.Fatalf("GET / ended at %q", where)
	}
	if laptop.count("form#login") != 1 || laptop.text("#visits") != "0" {
		t.Fatalf("a new visitor must see the login form and 0 visits")
	}
	if c := laptop.sessionCookie(cookieName); c != nil {
		t.Fatal("a page view alone must not set a session cookie")
	}

	// Log in: a redirect home, the welcome flash, then the flash is gone.
	laptop.step("typing the user name", chromedp.SendKeys(chromedp.CSS("#user-name"), "alice"))
	laptop.submit("logging in", "#login-button")
	if got := laptop.text("#flash"); got != "Welcome, alice" {
		t.Fatalf("after login the flash reads %q; want %q", got, "Welcome, alice")
	}
	if laptop.text("#user") != "alice" || laptop.count("form#login") != 0 || laptop.count("#sessions-link") != 1 {
		t.Fatal("after login the page must show alice, a sessions link and no login form")
	}
	for i := 1; i <= 3; i++ {
		laptop.submit("clicking +1", "#plus-one")
		if got := laptop.text("#visits"); got != fmt.Sprint(i) {
			t.Fatalf("after %d clicks on +1 the counter reads %q", i, got)
		}
		if laptop.count("#flash") != 0 {
			t.Fatal("the flash must be shown once only")
		}
	}
	laptop.step("reloading", chromedp.Reload())
	if laptop.count("#flash") != 0 || laptop.text("#visits") != "3" {
		t.Fatalf("after a reload: flash shown %d time(s), visits %q; want none and 3", laptop.count("#flash"), laptop.text("#visits"))
	}

	// The cookie, as the browser keeps it.
	ck := laptop.sessionCookie(cookieName)
	if ck == nil {
		t.Fatal("after login the browser has no session cookie")
	}
	if !ck.HTTPOnly || ck.SameSite != network.CookieSameSiteLax || ck.Path != "/" || ck.Secure != tls {
		t.Fatalf("session cookie: HttpOnly %v, SameSite %q, Path %q, Secure %v; want true, Lax, /, %v",
			ck.HTTPOnly, ck.SameSite, ck.Path, ck.Secure, tls)
	}
	if js := eval[string](laptop, "document.cookie"); strings.Contains(js, cookieName+"=") {
		t.Fatal("the page's script can read the session cookie")
	}
	if strings.Contains(eval[string](laptop, "document.documentElement.outerHTML"), ck.Value) {
		t.Fatal("the page shows the session id")
	}

	// A second device logs in as alice too: its own cookie jar, its own flash.
	phone := newDevice(t, browser, "phone", base)
	phone.open("/")
	if phone.count("form#login") != 1 {
		t.Fatal("the second browser context must start logged out (isolated cookie jar)")
	}
	phone.step("typing the user name", chromedp.SendKeys(chromedp.CSS("#user-name"), "alice"))
	phone.submit("logging in", "#login-button")
	if got := phone.text("#flash"); got != "Welcome, alice" || phone.text("#visits") != "0" {
		t.Fatalf("second device after login: flash %q, visits %q; want the welcome and 0", got, phone.text("#visits"))
	}
	if pc := phone.sessionCookie(cookieName); pc == nil || pc.Value == ck.Value {
		t.Fatal("the second device must have a session cookie of its own")
	}

	// The laptop lists both sessions, its own marked as this device.
	laptop.submit("following the sessions link", "#sessions-link")
	if n := laptop.count("#sessions tr.session"); n != 2 {
		t.Fatalf("the sessions page lists %d sessions; want 2", n)
	}
	if laptop.count("#sessions tr.session.current") != 1 || !strings.Contains(laptop.text("#sessions tr.session.current"), "this device") {
		t.Fatal("exactly one session must be marked as this device")
	}
	// Each row names the device from the user agent the browser sent.
	if n := eval[int](laptop, `[...document.querySelectorAll("#sessions tr.session")].filter(tr => tr.textContent.includes("Chrome (headless) on Linux")).length`); n != 2 {
		t.Fatalf("%d of the 2 rows name the device (Chrome (headless) on Linux)", n)
	}
	if docScreenshot && os.Getenv("SESSIONFX_UPDATE_SCREENSHOT") == "1" {
		file := filepath.Join("..", "..", "docs", "sessions-page.png")
		if err := laptop.screenshot("/sessions", file); err != nil {
			t.Fatalf("updating %s: %v", file, err)
		}
		t.Logf("wrote %s", file)
	}

	// Revoke the phone's session from the laptop.
	laptop.submit("revoking the other session", "#sessions tr.session:not(.current) button.revoke")
	if n := laptop.count("#sessions tr.session"); n != 1 || laptop.count("#sessions tr.session.current") != 1 {
		t.Fatalf("after revoking the other session the page lists %d session(s); want only this device", n)
	}
	if !strings.Contains(laptop.text("#flash"), "revoked") {
		t.Fatalf("after revoking: flash %q", laptop.text("#flash"))
	}
	// The phone's next request is logged out: its sessions page sends it home.
	if where := phone.open("/sessions"); where != "/" {
		t.Fatalf("the revoked device opening /sessions ended at %q; want / (logged out)", where)
	}
	if phone.count("form#login") != 1 || phone.count("#user") != 0 || phone.text("#visits") != "0" {
		t.Fatal("the revoked device must be logged out")
	}

	// Logout on the laptop: home, logged out, and no cookie left in the browser.
	laptop.open("/")
	laptop.submit("logging out", "#logout")
	if laptop.count("form#login") != 1 || laptop.count("#user") != 0 {
		t.Fatal("after logout the home page must show the login form")
	}
	if c := laptop.sessionCookie(cookieName); c != nil {
		t.Fatalf("after logout the browser still has the session cookie (expires %v)", c.Expires)
	}
	if where := laptop.open("/sessions"); where != "/" {
		t.Fatalf("after logout /sessions ended at %q; want /", where)
	}
}

// A set SESSIONFX_TEST_CHROMIUM that names no browser is a failure, not a
// skip; without it the usual names are looked up in PATH.
func TestFindChromium(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PATH", dir)
	t.Setenv("SESSIONFX_TEST_CHROMIUM", "")
	if path, err := findChromium(); path != "" || err != nil {
		t.Fatalf("no browser in PATH: got %q, %v; want a skip", path, err)
	}
	fake := filepath.Join(dir, "chromium-browser")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if path, err := findChromium(); path != fake || err != nil {
		t.Fatalf("chromium-browser in PATH: got %q, %v", path, err)
	}
	t.Setenv("SESSIONFX_TEST_CHROMIUM", filepath.Join(dir, "no-such-browser"))
	if _, err := findChromium(); err == nil || !strings.Contains(err.Error(), "SESSIONFX_TEST_CHROMIUM") {
		t.Fatalf("SESSIONFX_TEST_CHROMIUM naming no browser: got %v; want an error naming the variable", err)
	}
}
