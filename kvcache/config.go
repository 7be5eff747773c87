package kvcache

import (
	"fmt"
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
	// Type is "memory" or "redis" (or a registered plugin type).
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
	if err != nil || n < 0 || n*float64(mult) > float64(1<<62) {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional unit (B, KiB, MiB, GiB, KB, MB, GB)", s)
	}
	return ByteSize(n * float64(mult)), nil
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
