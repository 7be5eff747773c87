package kvcache

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sessionfx/session/config"
)

// Config is the [kvcache] section (see LoadConfig).
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
type ByteSize = config.ByteSize

// ParseByteSize parses a size such as "64MiB".
func ParseByteSize(s string) (ByteSize, error) { return config.ParseByteSize(s) }

// HiddenURL stands, in messages, for a URL that is not shown because it
// may hold a password that RedactURL cannot locate.
const HiddenURL = config.HiddenURL

// RedactURL returns raw for use in an error or log message, its password
// left out: see config.RedactURL.
func RedactURL(raw string) string { return config.RedactURL(raw) }

// ParseURLSafely is url.Parse for a URL that may hold a password: its
// error never shows the URL (see config.ParseURLSafely).
func ParseURLSafely(raw string) (*url.URL, error) { return config.ParseURLSafely(raw) }

// URLProblem describes an error of url.Parse without repeating the URL or
// any part of it.
func URLProblem(err error) string { return config.URLProblem(err) }

// minContainerTTL is the smallest positive container ttl: below it an
// entry expires before it can be read back.
const minContainerTTL = time.Millisecond

// LoadConfig returns the [kvcache] section of cf, validated. Without a
// kvcache section (cf nil included) it is DefaultConfig(); a section
// without backends gets the default backends.
//
// Each backend needs a type; memory (built in) needs max_size 0 (the
// default) or at least 1KiB; each container's backend must exist, and its
// ttl is 0 (none) or at least 1ms. The backends of the engine types given
// (rediskv.Registration, filekv.Registration, a plugin's) are checked by
// their engine's Validate: the redis engine, for one, refuses a url that
// is not redis:// or rediss:// (errors redact its password, or do not show
// a URL that does not parse). A type that is neither memory nor given is
// not checked here (New reports it when it is not registered either).
func LoadConfig(cf *config.File, types ...TypeRegistration) (Config, error) {
	if cf == nil || !cf.Exists("kvcache") {
		return DefaultConfig(), nil
	}
	var cfg Config
	if err := cf.Unmarshal("kvcache", &cfg); err != nil {
		return cfg, err
	}
	if len(cfg.Backends) == 0 {
		cfg.Backends = DefaultConfig().Backends
	}
	return cfg, cfg.validate(cf, types)
}

// Validate checks c as LoadConfig does (values shown as set in c), with
// the engine types given.
func (c Config) Validate(types ...TypeRegistration) error { return c.validate(nil, types) }

// validate is Validate; with cf (the configuration c was read from)
// errors show values as written there.
func (c Config) validate(cf *config.File, types []TypeRegistration) error {
	p := cf.Problems("kvcache")
	engines := map[string]TypeRegistration{}
	for _, t := range types {
		engines[t.Name] = t
	}
	names := slices.Sorted(maps.Keys(c.Backends))
	for _, n := range names {
		b := c.Backends[n]
		bp := p.Sub("backends." + n)
		switch b.Type {
		case "":
			bp.Bad("type", b.Type, "memory, redis, file or a registered plugin type")
		case "memory":
			if b.MaxSize != 0 && b.MaxSize < 1<<10 {
				bp.Bad("max_size", b.MaxSize, "a size of at least 1KiB, or 0 for the default (64MiB)")
			}
		default:
			if e := engines[b.Type]; e.Validate != nil {
				e.Validate(b, bp)
			}
		}
	}
	for _, n := range slices.Sorted(maps.Keys(c.Containers)) {
		cc := c.Containers[n]
		be := cc.Backend
		if be == "" {
			be = "default"
		}
		if _, ok := c.Backends[be]; !ok {
			p.Bad("containers."+n+".backend", cc.Backend, "one of the configured backends: "+strings.Join(names, ", "))
		}
		if cc.TTL < 0 || (cc.TTL > 0 && cc.TTL < minContainerTTL) {
			p.Bad("containers."+n+".ttl", cc.TTL, "0 (no expiry) or at least 1ms")
		}
	}
	return p.Err()
}
