package kvcache

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the [kvcache] section.
type Config struct {
	Backends   map[string]BackendConfig   `koanf:"backends"`
	Containers map[string]ContainerConfig `koanf:"containers"`
}

// BackendConfig configures one named backend. Type selects the engine; the
// other fields apply to the engines that use them.
type BackendConfig struct {
	// Type is "memory", "redis", "file" (or a registered plugin type).
	Type string `koanf:"type"`
	// MaxSize is the memory backend's capacity in bytes (e.g. 64MiB).
	MaxSize ByteSize `koanf:"max_size"`
	// URL is the redis backend's address, e.g. redis://127.0.0.1:6379/0.
	URL string `koanf:"url"`
	// ClientCache enables the redis backend's server-assisted client-side cache.
	ClientCache bool `koanf:"client_cache"`
	// ClientCacheTTL caps how long a client-side cached entry is trusted.
	ClientCacheTTL time.Duration `koanf:"client_cache_ttl"`
	// DialTimeout and CommandTimeout bound redis network operations.
	DialTimeout    time.Duration `koanf:"dial_timeout"`
	CommandTimeout time.Duration `koanf:"command_timeout"`
	// PoolSize is the redis backend's connection pool size (0 = client default).
	PoolSize int `koanf:"pool_size"`
	// Cluster makes the redis backend treat its URL's address(es) as seeds
	// of a Redis Cluster (implied when the URL names several addresses with
	// ?addr=host:port). A URL with ?master_set=name names Sentinels instead.
	Cluster bool `koanf:"cluster"`
	// WaitReplicas (redis) makes every write wait (WAIT) until that many
	// replicas acknowledged it; fewer within WaitTimeout fails the write.
	WaitReplicas int `koanf:"wait_replicas"`
	// WaitTimeout bounds that wait (default 100ms when WaitReplicas > 0).
	WaitTimeout time.Duration `koanf:"wait_timeout"`
	// Path is the file backend's SQLite file, e.g. ${here}/_sessions.sqlite3
	// (the config loader expands ${here} to the config file's folder).
	Path string `koanf:"path"`
}

// ContainerConfig maps a container onto a backend.
type ContainerConfig struct {
	// Backend names the backend (default "default").
	Backend string `koanf:"backend"`
	// Prefix is prepended to every key (default "<container name>:").
	Prefix string `koanf:"prefix"`
	// TTL is the default time to live of values set without one (0 = none).
	TTL time.Duration `koanf:"ttl"`
}

// ByteSize is a size in bytes that parses "64MiB", "10MB", "512KiB", "1000".
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000}, {"tb", 1000 * 1000 * 1000 * 1000},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1},
}

// ParseByteSize parses a size such as "64MiB".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, fmt.Errorf("empty size: want a number with an optional unit (B, KiB, MiB, GiB, KB, MB, GB)")
	}
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	// NaN passes every comparison below, so it is refused by name; ±Inf
	// and out-of-range numbers (1e400) fail the range check or ParseFloat.
	if err != nil || math.IsNaN(n) || n < 0 || n*float64(mult) > float64(1<<62) {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional unit (B, KiB, MiB, GiB, KB, MB, GB)", s)
	}
	size := ByteSize(n * float64(mult))
	if size == 0 && n > 0 {
		// "0.5" (bytes) would silently become 0, which often means "the default".
		return 0, fmt.Errorf("invalid size %q: less than one byte", s)
	}
	return size, nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// String formats the size with the largest exact binary unit.
func (b ByteSize) String() string {
	n := int64(b)
	for _, u := range []struct {
		s string
		m int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.m == 0 {
			return strconv.FormatInt(n/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// HiddenURL stands, in messages, for a URL that is not shown because it
// may hold a password that RedactURL cannot locate.
const HiddenURL = "the URL (not shown: it may hold a password)"

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
