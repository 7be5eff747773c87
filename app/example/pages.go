package main

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// The example's HTML pages: plain html/template, no script, no front-end
// build. Browsers get them (their Accept header prefers text/html); API
// clients keep the JSON answers of the same routes.

//go:embed templates/*.html
var templateFS embed.FS

// pageSet holds one template per page, each joined with the layout.
var pageSet = func() map[string]*template.Template {
	funcs := template.FuncMap{"device": deviceName, "when": when, "ago": ago, "iso": iso}
	layout := template.Must(template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	set := map[string]*template.Template{}
	for _, name := range []string{"home", "sessions", "error"} {
		set[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
	}
	return set
}()

// pageData is what every page shows in its layout.
type pageData struct {
	Title string
	User  string // "" when logged out
	Flash string // a message shown once (popped from the session)
}

type homePage struct {
	pageData
	Visits int
	Handle string
}

type sessionsPage struct {
	pageData
	Sessions []sessionInfo
	ShowIP   bool
}

type errorPage struct {
	pageData
	Message string
	Back    string
}

// flashKey is the session key of the one-time message the next page shows.
const flashKey = "flash"

// render writes a page. It renders into a buffer first, so a template error
// never sends half a page (and the session is saved once, before the
// headers go out, as with every response).
func (a *app) render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := pageSet[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		a.log.Error("rendering a page", zap.String("page", name), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	setPageHeaders(h)
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// setPageHeaders sets what every HTML answer carries: never cached, no
// script, no framing, no referrer to other sites.
func setPageHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "same-origin")
}

// errorHTML is the error page: a status title and a generic message.
func errorHTML(w http.ResponseWriter, code int, msg string) {
	back := "/"
	data := errorPage{pageData: pageData{Title: http.StatusText(code)}, Message: msg, Back: back}
	var buf bytes.Buffer
	if err := pageSet["error"].ExecuteTemplate(&buf, "layout", data); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Del("Location")
	h.Set("Content-Type", "text/html; charset=utf-8")
	setPageHeaders(h)
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// seeOther answers a browser's form post: 303 to a page, which the browser
// then loads with GET (so a reload never posts the form again).
func seeOther(w http.ResponseWriter, r *http.Request, path string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// prefersHTML reports whether the request's Accept header ranks text/html
// above application/json: what browsers send for navigations and form
// posts. API clients (Accept: application/json, */* or none) get JSON.
func prefersHTML(r *http.Request) bool {
	accept := strings.Join(r.Header.Values("Accept"), ",")
	html, _ := acceptQ(accept, "text", "html")
	json, _ := acceptQ(accept, "application", "json")
	return html > 0 && html > json
}

// asksJSON reports whether the Accept header names application/json itself
// (not only through */*) and does not prefer HTML: the clients POST /login
// and POST /logout answer with JSON rather than a redirect.
func asksJSON(r *http.Request) bool {
	accept := strings.Join(r.Header.Values("Accept"), ",")
	json, exact := acceptQ(accept, "application", "json")
	html, _ := acceptQ(accept, "text", "html")
	return exact && json > 0 && json >= html
}

// acceptQ returns the quality an Accept header gives typ/sub, from its most
// specific matching media range (RFC 9110, 12.5.1), and whether that range
// named typ/sub exactly. Malformed entries are skipped; no header, or no
// matching range, gives 0.
func acceptQ(accept, typ, sub string) (q float64, exact bool) {
	best := 0 // specificity of the range q comes from: 3 exact, 2 typ/*, 1 */*
	for entry := range strings.SplitSeq(accept, ",") {
		mediaRange, params, _ := strings.Cut(entry, ";")
		t, s, ok := strings.Cut(strings.ToLower(strings.TrimSpace(mediaRange)), "/")
		if !ok {
			continue
		}
		spec := 0
		switch {
		case t == typ && s == sub:
			spec = 3
		case t == typ && s == "*":
			spec = 2
		case t == "*" && s == "*":
			spec = 1
		default:
			continue
		}
		eq := 1.0
		valid := true
		for p := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if !strings.EqualFold(k, "q") {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				valid = false
			}
			eq = f
		}
		if !valid {
			continue
		}
		if spec > best || (spec == best && eq > q) {
			best, q = spec, eq
		}
	}
	return q, best == 3
}

// deviceName is a short, human name for a user agent ("Chrome on Linux").
// It is a display aid only: user agents are what clients say they are.
func deviceName(ua string) string {
	if ua == "" {
		return "Unknown device"
	}
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"},
		{"HeadlessChrome/", "Chrome (headless)"}, {"Chrome/", "Chrome"}, {"Chromium/", "Chromium"},
		{"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client/", "Go HTTP client"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			system = o.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return "Browser on " + system
	}
	return "Other client"
}

// when is an absolute time for the pages, in UTC.
func when(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// iso is t in RFC 3339, for <time datetime>.
func iso(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// ago is a coarse relative time ("just now", "5 minutes ago"), falling back
// to the absolute time after a day.
func ago(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	}
	return when(t)
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
