package config

// Values in messages: what a key's value looks like in an error or a
// warning, with passwords, keys and tokens left out.

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// hiddenSecret stands for a value not shown because it may be a secret.
const hiddenSecret = "(not shown: it may be a secret)"

// HiddenURL stands, in messages, for a URL that is not shown because it
// may hold a password that RedactURL cannot locate.
const HiddenURL = "the URL (not shown: it may hold a password)"

// show is valueString for a message about key, with secrets left out: for
// a key named like a URL or DSN (url, dsn, uri, *_url, ...) the password
// is redacted, or the whole value hidden when it cannot be located; the
// value of a key named like a secret (password, secret, token, key, keys,
// ...) is hidden. hidden reports that the result is a note rather than the
// value.
func show(key string, v any) (shown string, hidden bool) {
	s := valueString(v)
	if _, isMap := v.(map[string]any); isMap || s == "" {
		return s, false
	}
	last := strings.ToLower(key[strings.LastIndexByte(key, '.')+1:])
	for _, w := range []string{"pass", "pwd", "secret", "token", "credential"} { // "pass": password, passwd, a misspelt pasword
		if strings.Contains(last, w) {
			return hiddenSecret, true
		}
	}
	if last == "key" || last == "keys" || strings.HasSuffix(last, "_key") || strings.HasSuffix(last, "_keys") {
		return hiddenSecret, true
	}
	for _, w := range []string{"url", "uri", "dsn", "addr", "address"} {
		if last == w || strings.HasSuffix(last, "_"+w) {
			if w == "url" || w == "uri" {
				r := RedactURL(s)
				return r, r == HiddenURL
			}
			return redactDSN(s)
		}
	}
	return s, false
}

// redactDSN hides the password of a URL, a go-sql-driver DSN
// (user:password@tcp(host)/db) or a libpq keyword/value string
// (password=...).
func redactDSN(s string) (string, bool) {
	if strings.Contains(s, "://") {
		r := RedactURL(s)
		return r, r == HiddenURL
	}
	if strings.Contains(s, "@") || strings.Contains(strings.ToLower(s), "password") {
		return hiddenSecret, true
	}
	return s, false
}

// valueString shows a value in a message.
func valueString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return "section with keys " + strings.Join(keys, ", ")
	}
	return fmt.Sprint(v)
}

// RedactURL returns raw for use in an error or log message: with its
// password replaced by "xxxxx" (as net/url's URL.Redacted does), and the
// values of password-like query parameters too. A URL that does not parse,
// or that has an "@" outside its user:password part (a password whose "/",
// "?" or "#" was not %-escaped ends the user part early), is not shown at
// all: RedactURL returns HiddenURL.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.User == nil && strings.Contains(raw, "@")) {
		return HiddenURL
	}
	if q := u.Query(); u.RawQuery != "" {
		changed := false
		for k := range q {
			if secretQueryParam(k) {
				q[k] = []string{"xxxxx"}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	if _, has := u.User.Password(); has {
		return u.Redacted()
	}
	return u.String()
}

func secretQueryParam(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"pass", "pwd", "secret", "token", "auth"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// ParseURLSafely is url.Parse for a URL that may hold a password: its
// error never contains raw or any part of it (net/url's errors quote the
// URL, and some quote the bad part, which may be a piece of the password).
// It also refuses an "@" outside the user:password part: that is a
// password with an unescaped "/", "?" or "#", which would otherwise end up
// in the host, path or query.
func ParseURLSafely(raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("the URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New(URLProblem(err))
	}
	if u.User == nil && strings.Contains(raw, "@") {
		return nil, errors.New(`it has an "@" outside the user:password part (%-escape "/", "?", "#" and "@" in a password: %2F, %3F, %23, %40)`)
	}
	return u, nil
}

// URLProblem describes an error of url.Parse without repeating the URL or
// any part of it.
func URLProblem(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var esc url.EscapeError
	var host url.InvalidHostError
	switch msg := err.Error(); {
	case errors.As(err, &esc):
		return `it has a "%" not followed by two hex digits (write a "%" in a password as %25)`
	case errors.As(err, &host):
		return "its host name has a character a host name cannot have"
	case strings.HasPrefix(msg, "invalid port"):
		return `its port is not a number (%-escape ":", "/", "?", "#" and "@" in a password: %3A, %2F, %3F, %23, %40)`
	case strings.HasPrefix(msg, "invalid host"):
		return "its host in [ ] is not an IPv6 address"
	case msg == "missing protocol scheme":
		return "it has no scheme (like redis://)"
	case msg == "net/url: invalid control character in URL":
		return "it has a control character (a newline, a tab, ...)"
	case msg == "net/url: invalid userinfo":
		return "its user:password part has a character that must be %-escaped"
	case msg == "first path segment in URL cannot contain colon",
		msg == "invalid IP-literal", msg == "missing ']' in host",
		msg == "empty url", msg == "invalid URI for request":
		return msg
	}
	return "it does not parse as a URL"
}
