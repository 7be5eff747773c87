package ctl

import (
	"flag"
	"reflect"
	"strings"
	"testing"
)

// scrub leaves out of a store's error what may be a password, a session
// id or a storage hash, and keeps the rest (the cause an operator needs).
func TestScrub(t *testing.T) {
	const pw = "hunter2pw"
	for _, tc := range []struct{ in, want string }{
		{"failed to connect: host=db user=app password=" + pw + " dbname=x", "failed to connect: host=db user=app password=xxxxx dbname=x"},
		{"dsn password = '" + pw + " x' sslmode=disable", "dsn password = xxxxx sslmode=disable"},
		{"dial redis://app:" + pw + "@10.0.0.1:6379/0: refused", "dial redis://xxxxx@10.0.0.1:6379/0: refused"},
		{"open app:" + pw + "@tcp(db:3306)/sessions: refused", "open xxxxx@tcp(db:3306)/sessions: refused"},
		{"save 0b6c1c7e-4d5f-4a8b-9c2d-3e4f5a6b7c8d: conflict", "save (id not shown): conflict"},
		{"row " + strings.Repeat("ab", 32) + " is corrupt", "row (hash not shown) is corrupt"},
		{"line one\n\tline two\x1b[31m", "line one line two?[31m"},
		{"dial tcp 127.0.0.1:6379: connect: connection refused", "dial tcp 127.0.0.1:6379: connect: connection refused"},
	} {
		got := scrub(tc.in)
		if got != tc.want {
			t.Errorf("scrub(%q) = %q; want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, pw) {
			t.Errorf("scrub(%q) shows the password", tc.in)
		}
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"Mozilla/5.0 (X11; Linux x86_64)", 0, "Mozilla/5.0 (X11; Linux x86_64)"},
		{"a\tb\nc\x1b[2J\x7f\u202e", 0, "a?b?c?[2J??"},
		{"bad \xff byte", 0, "bad ? byte"},
		{"héllo wörld", 5, "héll…"},
		{"short", 5, "short"},
	} {
		if got := clean(tc.in, tc.max); got != tc.want {
			t.Errorf("clean(%q, %d) = %q; want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

// Flags may come before or after the command's arguments; after "--"
// everything is an argument (a user name starting with "-").
func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args, pos []string
		json      bool
	}{
		{[]string{"h1", "-json"}, []string{"h1"}, true},
		{[]string{"-json", "h1"}, []string{"h1"}, true},
		{[]string{"--", "-json"}, []string{"-json"}, false},
		{[]string{"a", "--", "-b", "c"}, []string{"a", "-b", "c"}, false},
		{nil, nil, false},
	} {
		var g globals
		fs := newFlagSet("t")
		g.register(fs)
		pos, err := parseInterleaved(fs, tc.args)
		if err != nil || !reflect.DeepEqual(pos, tc.pos) || g.json != tc.json {
			t.Errorf("%q: %q json=%v err=%v; want %q json=%v", tc.args, pos, g.json, err, tc.pos, tc.json)
		}
	}
	fs := newFlagSet("t")
	if _, err := parseInterleaved(fs, []string{"x", "-nope"}); err == nil || err == flag.ErrHelp {
		t.Errorf("an unknown flag after an argument: %v", err)
	}
}
