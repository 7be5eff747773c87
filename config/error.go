package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Error reports one invalid configuration entry: the full key (for
// example "session.cookie.same_site"), the value found and what is allowed.
// Err, when set, is the underlying parse error.
//
// Value is the value as written in the file or the environment. A value
// that may hold a password or key is redacted (a URL's password becomes
// "xxxxx") or, when it cannot be, replaced by a note that it is not shown
// (Hidden is then true).
type Error struct {
	Key     string
	Value   string
	Allowed string
	Err     error
	// Problem says what is wrong, when Allowed alone does not: it is shown
	// before Allowed.
	Problem string
	// Hidden reports that Value is a note standing for a value not shown
	// (it may be a secret): it is shown without quotes.
	Hidden bool
}

// Error reads like
//
//	config: session.cookie.same_site = "laxx": allowed: lax, strict, none
//	config: kvcache.backends.r.url = the URL (not shown: it may hold a password): its port is not a number (...); allowed: a URL like ...
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	b.WriteString(e.Key)
	b.WriteString(" = ")
	if e.Hidden {
		b.WriteString(e.Value)
	} else {
		b.WriteString(strconv.Quote(e.Value))
	}
	if e.Problem != "" {
		b.WriteString(": ")
		b.WriteString(e.Problem)
		if e.Allowed != "" {
			b.WriteString("; allowed: ")
			b.WriteString(e.Allowed)
		}
		return b.String()
	}
	switch {
	case e.Allowed != "":
		b.WriteString(": allowed: ")
		b.WriteString(e.Allowed)
	case e.Err != nil:
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying parse error, if any.
func (e *Error) Unwrap() error { return e.Err }

// newError is an Error for a value found in the configuration, shown as
// written unless the key may hold a secret (see show).
func newError(key string, v any, allowed string, err error) *Error {
	shown, hidden := show(key, v)
	return &Error{Key: key, Value: shown, Allowed: allowed, Err: err, Hidden: hidden}
}

// Problems collects what a section's validation finds wrong, each as an
// *Error that shows the value as the file or the environment wrote it
// (secrets left out). Use it like
//
//	p := cf.Problems("kvcache")
//	if c.TTL < 0 {
//		p.Bad("containers.x.ttl", c.TTL, "0 (no expiry) or more")
//	}
//	return p.Err()
type Problems struct {
	f      *File
	prefix string // "kvcache." ("" at the top level)
	errs   *[]error
}

// Problems starts collecting the problems of section (keys given to Bad
// are relative to it; "" for top-level keys). f may be nil (a
// configuration built in code): values are then shown as given.
func (f *File) Problems(section string) *Problems {
	return &Problems{f: f, prefix: dotted(section), errs: new([]error)}
}

// Sub is p for the keys under key (e.g. "backends.r"): its problems are
// p's.
func (p *Problems) Sub(key string) *Problems {
	return &Problems{f: p.f, prefix: p.prefix + dotted(key), errs: p.errs}
}

// Bad reports key (relative to p's section) with its value: allowed says
// what the key takes.
func (p *Problems) Bad(key string, value any, allowed string) {
	p.BadBecause(key, value, "", allowed)
}

// BadBecause is Bad with what is wrong ("" for none) besides what is
// allowed.
func (p *Problems) BadBecause(key string, value any, problem, allowed string) {
	full := p.prefix + key
	shown, hidden, ok := p.f.Written(full)
	if !ok {
		shown, hidden = show(full, fmt.Sprint(value))
	}
	*p.errs = append(*p.errs, &Error{Key: full, Value: shown, Hidden: hidden, Problem: problem, Allowed: allowed})
}

// Err is every problem reported, as *Error values joined with errors.Join
// (nil when none).
func (p *Problems) Err() error { return errors.Join(*p.errs...) }

// Written returns the value of key as written in the file or the
// environment, for error messages (secrets left out: see Error); ok is
// false when key is unset or a section, or f is nil.
func (f *File) Written(key string) (shown string, hidden, ok bool) {
	if f == nil {
		return "", false, false
	}
	v := f.k.Get(key)
	if v == nil {
		return "", false, false
	}
	if _, isMap := v.(map[string]any); isMap {
		return "", false, false
	}
	shown, hidden = show(key, v)
	return shown, hidden, true
}

// dotted is s + ".", or "" when s is empty.
func dotted(s string) string {
	if s == "" {
		return ""
	}
	return s + "."
}
