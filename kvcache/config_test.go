package kvcache_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/sessionfx/session/kvcache"
)

func TestParseByteSizeRefusesWhatDoesNotFit(t *testing.T) {
	for _, s := range []string{"NaN", "nan", "NaNMiB", "-nan", "Inf", "+Inf", "-Inf", "infinity", "-1", "-1KiB", "1e400", "1e19", "9EiB", "", "  ", "0.5", "0.1B", "lots", "64 MiBs"} {
		if v, err := kvcache.ParseByteSize(s); err == nil {
			t.Errorf("ParseByteSize(%q) = %d (%s), want an error", s, int64(v), v)
		}
	}
	for s, want := range map[string]kvcache.ByteSize{
		"0": 0, "-0": 0, "4096": 4096, "64MiB": 64 << 20, "64 MiB": 64 << 20, "64mib": 64 << 20,
		"1.5KiB": 1536, "0.5KiB": 512, "2MB": 2_000_000, "10k": 10 << 10, "1TiB": 1 << 40, " 8 B ": 8,
	} {
		if v, err := kvcache.ParseByteSize(s); err != nil || v != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", s, int64(v), err, int64(want))
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://user:s3cret@host:6379/0":        "redis://user:xxxxx@host:6379/0",
		"redis://:s3cret@host:6379/0":            "redis://:xxxxx@host:6379/0",
		"rediss://u:p%40ss@host/1":               "rediss://u:xxxxx@host/1",
		"redis://host:6379/0":                    "redis://host:6379/0",
		"redis://user@host:6379/0":               "redis://user@host:6379/0",
		"postgres://h/db?password=s3cret&x=1":    "postgres://h/db?password=xxxxx&x=1",
		"redis://user:s3cret@host:bad/0":         kvcache.HiddenURL, // does not parse
		"redis://u:p%zz@h":                       kvcache.HiddenURL,
		"redis://user:12/s3cret@host:6379/0":     kvcache.HiddenURL, // "@" in the path
		"redis:user:s3cret@host":                 kvcache.HiddenURL, // opaque
		"user:s3cret@tcp(127.0.0.1:3306)/db":     kvcache.HiddenURL,
		"redis://user:s3cret@host:6379/0\n":      kvcache.HiddenURL,
		"redis://host:6379/0?x=1#frag@s3cret":    kvcache.HiddenURL,
		"http://user:s3cret@[::1]:6379/0?db=2":   "http://user:xxxxx@[::1]:6379/0?db=2",
		"redis://user:s3cret@host:6379/0?auth=x": "redis://user:xxxxx@host:6379/0?auth=xxxxx",
	} {
		if got := kvcache.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseURLSafelyNeverEchoes(t *testing.T) {
	const pw = "s3cretPW"
	for _, raw := range []string{
		"redis://user:" + pw + "@host:bad/0",
		"redis://u:" + pw + "%zz@h",
		"redis://u:%zz" + pw + "@h",
		"redis://user:ab/" + pw + "@host:6379/0",
		"redis://user:12/" + pw + "@host:6379/0",
		"redis://:" + pw + "#x@host:6379/0",
		"redis://:" + pw + "?x@host:6379/0",
		"redis://user:" + pw + "@ho st:6379/0",
		"redis://user:" + pw + "@[" + pw + "]:6379/0",
		"redis://user:" + pw + "@[::1:6379/0",
		"redis:user:" + pw + "@host",
		":" + pw + "@host",
		"redis://user:" + pw + "@host\x7f:6379/0",
		"redis://user:" + pw + "@host:6379/0\n",
		"",
	} {
		_, err := kvcache.ParseURLSafely(raw)
		if err == nil {
			t.Errorf("ParseURLSafely(%q) succeeded, want an error", raw)
			continue
		}
		if strings.Contains(err.Error(), pw) || (raw != "" && strings.Contains(err.Error(), raw)) || strings.Contains(err.Error(), "%zz") {
			t.Errorf("ParseURLSafely(%q): error %q shows (part of) the URL", raw, err)
		}
		if _, perr := url.Parse(raw); perr != nil && strings.Contains(kvcache.URLProblem(perr), pw) {
			t.Errorf("URLProblem shows the password: %s", kvcache.URLProblem(perr))
		}
	}
	if u, err := kvcache.ParseURLSafely("rediss://u:p%40ss%2F@host:6380/1"); err != nil || u.Host != "host:6380" {
		t.Errorf("a valid URL: %v, %v", u, err)
	}
}
