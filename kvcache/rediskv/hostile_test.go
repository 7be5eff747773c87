package rediskv

import (
	"strings"
	"testing"
	"time"

	"github.com/sessionfx/session/kvcache"
)

// TestNewNeverShowsPassword: every URL New refuses is reported without its
// password; one that does not parse is not shown at all.
func TestNewNeverShowsPassword(t *testing.T) {
	const pw = "s3cretPW"
	for _, tc := range []struct {
		name, url string
		want      string
		secrets   []string
	}{
		{"bad port", "redis://user:" + pw + "@host:bad/0", "port is not a number", nil},
		{"bad scheme", "http://user:" + pw + "@host:6379/0", `"http://user:xxxxx@host:6379/0": redis: invalid URL scheme: http`, nil},
		{"bad escape", "redis://u:p%zz@h", `"%" not followed by two hex digits`, []string{"p%zz", "%zz"}},
		{"missing host", "redis://user:" + pw + "@/0", `"redis://user:xxxxx@/0" names no host`, nil},
		{"unescaped slash", "redis://user:ab/" + pw + "@host:6379/0", "port is not a number", []string{"ab/"}},
		{"unescaped slash, numeric prefix", "redis://user:12/" + pw + "@host:6379/0", `"@" outside the user:password part`, nil},
		{"bad db", "redis://user:" + pw + "@host:6379/zero", `"redis://user:xxxxx@host:6379/zero": redis: invalid database number: "zero"`, nil},
		{"bad query value", "redis://user:" + pw + "@host:6379/0?dial_timeout=soon", `redis: invalid dial timeout: "soon"`, nil},
		{"two addresses, db 1", "redis://user:" + pw + "@host:6379/1?addr=other:6379", `"redis://user:xxxxx@host:6379/1?addr=other:6379" selects database 1: a Redis Cluster has only database 0`, nil},
		{"sentinel password", "redis://user:" + pw + "@host:6379/x?master_set=m&sentinel_password=" + pw, "sentinel_password=xxxxx", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New("bad", kvcache.BackendConfig{URL: tc.url}, nil)
			if err == nil {
				_ = b.Close()
				t.Fatalf("New(%q) succeeded, want an error", tc.url)
			}
			msg := err.Error()
			for _, s := range append([]string{pw}, tc.secrets...) {
				if strings.Contains(msg, s) {
					t.Errorf("error shows %q: %s", s, msg)
				}
			}
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, `backend "bad"`) {
				t.Errorf("error %q: want it to name the backend and contain %q", msg, tc.want)
			}
		})
	}
}

// TestNewDurationFloors: a positive duration below a millisecond is
// refused (every command or dial would time out); 0 still means default.
func TestNewDurationFloors(t *testing.T) {
	const u = "redis://127.0.0.1:1/0" // nothing listens: New still returns a backend
	for _, tc := range []struct {
		name string
		cfg  kvcache.BackendConfig
		want string
	}{
		{"client_cache_ttl", kvcache.BackendConfig{URL: u, ClientCache: true, ClientCacheTTL: time.Nanosecond}, "client_cache_ttl = 1ns: want 0 (the default, 30s) or at least 1ms"},
		{"dial_timeout", kvcache.BackendConfig{URL: u, DialTimeout: time.Microsecond}, "dial_timeout = 1µs: want 0 (the default, 2s) or at least 1ms"},
		{"command_timeout", kvcache.BackendConfig{URL: u, CommandTimeout: 999 * time.Microsecond}, "command_timeout = 999µs: want 0 (the default, 2s) or at least 1ms"},
		{"url dial_timeout", kvcache.BackendConfig{URL: u + "?dial_timeout=1ns"}, "url ?dial_timeout=1ns: want at least 1ms"},
		{"url write_timeout", kvcache.BackendConfig{URL: u + "?write_timeout=-1s"}, "url ?write_timeout=-1s: want at least 1ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New("tiny", tc.cfg, nil)
			if err == nil {
				_ = b.Close()
				t.Fatalf("New(%+v) succeeded, want an error", tc.cfg)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	for _, cfg := range []kvcache.BackendConfig{
		{URL: u, ClientCache: true, ClientCacheTTL: time.Millisecond, DialTimeout: time.Millisecond, CommandTimeout: time.Millisecond},
		{URL: u + "?dial_timeout=5ms&write_timeout=1s"},
		{URL: u},
	} {
		b, err := New("ok", cfg, nil)
		if err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
			continue
		}
		_ = b.Close()
	}
}
