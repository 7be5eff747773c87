package ctl

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// clean makes s safe to print on a terminal: a control character (escape
// sequences, newlines, tabs that would break the table) or an invalid byte
// becomes '?'. max > 0 cuts s to max characters, the last one "…".
func clean(s string, max int) string {
	rs := make([]rune, 0, len(s))
	for i, w := 0, 0; i < len(s); i += w {
		var r rune
		r, w = utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && w <= 1) || (!unicode.IsPrint(r) && r != ' ') {
			r = '?'
		}
		rs = append(rs, r)
	}
	if max > 0 && len(rs) > max {
		rs = append(rs[:max-1], '…')
	}
	return string(rs)
}

// oneLine joins the lines and runs of spaces of s into one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

var scrubbers = []struct {
	re   *regexp.Regexp
	with string
}{
	// libpq keyword/value DSNs: password=secret, password='se cret'
	{regexp.MustCompile(`(?i)\b(password|passwd|pwd)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s;&]+)`), "${1}${2}xxxxx"},
	// URLs with user info: redis://user:secret@host, postgres://...
	{regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@`), "${1}xxxxx@"},
	// go-sql-driver DSNs: user:secret@tcp(host)
	{regexp.MustCompile(`[^\s/@()]*:[^\s@]*@(tcp|unix|udp)\(`), "xxxxx@${1}("},
	// session ids (UUIDs) and storage hashes (SHA-256 hex)
	{regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`), "(id not shown)"},
	{regexp.MustCompile(`\b[0-9a-fA-F]{64}\b`), "(hash not shown)"},
}

// scrub is an error message from a store or a driver on one line, with
// anything that looks like a password, a session id or a storage hash
// left out.
func scrub(msg string) string {
	msg = clean(oneLine(msg), 0)
	for _, s := range scrubbers {
		msg = s.re.ReplaceAllString(msg, s.with)
	}
	return msg
}
