package kvcache

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sessionfx/session/config"
)

// TypeFactory builds a backend of one type from its configuration.
type TypeFactory func(name string, cfg BackendConfig, log *zap.Logger) (Backend, error)

// TypeRegistration makes a backend type available by name. The fx module
// collects them from the "kvcache_types" value group, so a plugin module can
// add a type.
type TypeRegistration struct {
	Name string
	New  TypeFactory
	// Validate, optional, checks the settings of one backend of this type
	// as read from the configuration (LoadConfig calls it for each such
	// backend, with the fields the engine does not use left alone): it
	// reports each problem to p, whose keys are relative to the backend
	// (p.Bad("url", b.URL, "a URL like redis://host:6379/0") reports
	// kvcache.backends.<name>.url, showing the value as written, secrets
	// left out). New must still refuse what it cannot use: code may build
	// a Config without LoadConfig.
	Validate func(b BackendConfig, p *config.Problems)
}

// engineModules are the engines of this repository that are not built in,
// with the fx option that registers each (kvcache knows their names only,
// to say which module a config that selects one is missing).
var engineModules = map[string]string{
	"redis": "rediskv.Module (github.com/sessionfx/session/kvcache/rediskv)",
	"file":  "filekv.Module (github.com/sessionfx/session/kvcache/filekv)",
}

// Option configures New.
type Option func(*options)

type options struct {
	types map[string]TypeFactory
	err   error // the first bad registration
}

// WithType registers a backend type (in addition to the built-in "memory").
// A name registered twice (including "memory"), an empty name or a nil
// factory makes New fail: the second registration never silently replaces
// the first.
func WithType(name string, f TypeFactory) Option {
	return func(o *options) {
		if o.err != nil {
			return
		}
		switch _, dup := o.types[name]; {
		case name == "":
			o.err = errors.New("kvcache: a backend type is registered with an empty name")
		case f == nil:
			o.err = fmt.Errorf("kvcache: backend type %q is registered with a nil factory", name)
		case dup && name == "memory":
			o.err = fmt.Errorf("kvcache: backend type %q is built in and cannot be registered again", name)
		case dup:
			o.err = fmt.Errorf("kvcache: backend type %q is registered twice (kvcache.WithType or the \"kvcache_types\" fx group); register each type once", name)
		default:
			o.types[name] = f
		}
	}
}

// Cache is the set of configured backends and containers.
type Cache struct {
	log        *zap.Logger
	mu         sync.Mutex
	backends   map[string]Backend
	containers map[string]*Container
	closed     bool
}

// DefaultConfig is used when no [kvcache] section is configured: one memory
// backend named "default" of 64MiB, and no containers (a container that is
// asked for but not configured maps onto "default").
func DefaultConfig() Config {
	return Config{Backends: map[string]BackendConfig{"default": {Type: "memory", MaxSize: 64 << 20}}}
}

// New builds every configured backend. Containers are created on first use;
// an unconfigured container maps onto the backend named "default" with the
// prefix "<name>:".
func New(cfg Config, log *zap.Logger, opts ...Option) (*Cache, error) {
	if log == nil {
		log = zap.NewNop()
	}
	o := options{types: map[string]TypeFactory{"memory": func(name string, bc BackendConfig, l *zap.Logger) (Backend, error) {
		return NewMemory(name, bc, l)
	}}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.err != nil {
		return nil, o.err
	}
	if len(cfg.Backends) == 0 {
		cfg.Backends = DefaultConfig().Backends
	}
	c := &Cache{log: log, backends: map[string]Backend{}, containers: map[string]*Container{}}
	for _, n := range sortedKeys(cfg.Backends) {
		bc := cfg.Backends[n]
		f, ok := o.types[bc.Type]
		if !ok {
			_ = c.Close()
			if mod, ok := engineModules[bc.Type]; ok {
				return nil, fmt.Errorf("%w: kvcache.backends.%s.type = %q: the %s engine's module is not in this app: add %s, or stores.All (github.com/sessionfx/session/stores) for every store and engine", ErrUnknownBackend, n, bc.Type, bc.Type, mod)
			}
			return nil, fmt.Errorf("%w: kvcache.backends.%s.type = %q (allowed: %s)", ErrUnknownBackend, n, bc.Type, strings.Join(sortedKeys(o.types), ", "))
		}
		b, err := f(n, bc, log.With(zap.String("kvcache_backend", n)))
		if err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("kvcache: backend %q (type %s): %w", n, bc.Type, err)
		}
		c.backends[n] = b
	}
	for n, cc := range cfg.Containers {
		if _, err := c.addContainer(n, cc); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	return c, nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func (c *Cache) addContainer(name string, cc ContainerConfig) (*Container, error) {
	if cc.Backend == "" {
		cc.Backend = "default"
	}
	b, ok := c.backends[cc.Backend]
	if !ok {
		return nil, fmt.Errorf("%w: kvcache.containers.%s.backend = %q (configured backends: %s)", ErrUnknownBackend, name, cc.Backend, strings.Join(sortedKeys(c.backends), ", "))
	}
	if cc.Prefix == "" {
		cc.Prefix = name + ":"
	}
	ct := &Container{name: name, prefix: cc.Prefix, ttl: cc.TTL, backend: b}
	c.containers[name] = ct
	return ct, nil
}

// Container returns the named container, creating an unconfigured one on the
// "default" backend.
func (c *Cache) Container(name string) (*Container, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("kvcache: cache is closed")
	}
	if ct, ok := c.containers[name]; ok {
		return ct, nil
	}
	return c.addContainer(name, ContainerConfig{})
}

// Backend returns the named backend.
func (c *Cache) Backend(name string) (Backend, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.backends[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownBackend, name)
	}
	return b, nil
}

// Close closes every backend.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for n, b := range c.backends {
		if err := b.Close(); err != nil {
			errs = append(errs, fmt.Errorf("kvcache: closing backend %q: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// Container is a named view onto a backend with its own key prefix and
// default TTL.
type Container struct {
	name    string
	prefix  string
	ttl     time.Duration
	backend Backend
}

// NewContainer wraps a backend directly (without a Cache), e.g. in tests.
func NewContainer(name, prefix string, ttl time.Duration, b Backend) *Container {
	return &Container{name: name, prefix: prefix, ttl: ttl, backend: b}
}

// Name returns the container's name.
func (c *Container) Name() string { return c.name }

// Prefix returns the container's key prefix.
func (c *Container) Prefix() string { return c.prefix }

// DefaultTTL returns the container's default time to live (0: none).
func (c *Container) DefaultTTL() time.Duration { return c.ttl }

// Backend returns the engine behind the container.
func (c *Container) Backend() Backend { return c.backend }

// CrossProcess reports whether the container's data is shared between processes.
func (c *Container) CrossProcess() bool { return c.backend.CrossProcess() }

func (c *Container) ttlOr(ttl time.Duration) time.Duration {
	if ttl == 0 {
		return c.ttl
	}
	if ttl < 0 {
		return 0
	}
	return ttl
}

// Get returns the value stored under key, or ErrNotFound.
func (c *Container) Get(ctx context.Context, key string) ([]byte, error) {
	v, _, err := c.backend.Get(ctx, c.prefix+key)
	return v, err
}

// GetWithTTL returns the value and its remaining time to live (0: none).
func (c *Container) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, error) {
	return c.backend.Get(ctx, c.prefix+key)
}

// Set stores value. ttl 0 uses the container's default TTL; a negative ttl
// means no expiry.
func (c *Container) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return c.backend.Set(ctx, c.prefix+key, value, c.ttlOr(ttl))
}

// Adder is implemented by backends that can store a key only when it is
// absent in one operation (Redis SET NX).
type Adder interface {
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
}

// SetNX stores value only when key is absent and reports whether it did.
// ttl as for Set. Backends without Adder do it with Update.
func (c *Container) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	ttl = c.ttlOr(ttl)
	if a, ok := c.backend.(Adder); ok {
		return a.SetNX(ctx, c.prefix+key, value, ttl)
	}
	err := c.backend.Update(ctx, c.prefix+key, func(old []byte, found bool) ([]byte, time.Duration, error) {
		if found {
			return nil, 0, errKeyExists // abort: leave the stored value alone
		}
		return value, ttl, nil
	})
	if errors.Is(err, errKeyExists) {
		return false, nil
	}
	return err == nil, err
}

var errKeyExists = errors.New("kvcache: key exists")

// Swapper is implemented by backends that can replace a value only if it is
// still the one the caller read, in one operation and without reading.
type Swapper interface {
	CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error)
}

// CompareAndSwap replaces key's value with value (nil deletes) only if it
// still equals old, and reports whether it did. ok is false with a nil
// error when the value moved; supported is false when the backend has no
// such operation (then nothing was done: use Update).
func (c *Container) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (ok, supported bool, err error) {
	sw, is := c.backend.(Swapper)
	if !is {
		return false, false, nil
	}
	ok, err = sw.CompareAndSwap(ctx, c.prefix+key, old, value, c.ttlOr(ttl))
	return ok, true, err
}

// Delete removes key; an absent key is not an error.
func (c *Container) Delete(ctx context.Context, key string) error {
	return c.backend.Delete(ctx, c.prefix+key)
}

// Exists reports whether key is present.
func (c *Container) Exists(ctx context.Context, key string) (bool, error) {
	return c.backend.Exists(ctx, c.prefix+key)
}

// Expire sets a new TTL on key (0 uses the default, negative removes expiry).
func (c *Container) Expire(ctx context.Context, key string, ttl time.Duration) error {
	return c.backend.Expire(ctx, c.prefix+key, c.ttlOr(ttl))
}

// Update atomically replaces key's value with fn's result. A ttl of 0
// returned by fn uses the container's default TTL; negative means none.
func (c *Container) Update(ctx context.Context, key string, fn UpdateFunc) error {
	return c.backend.Update(ctx, c.prefix+key, func(old []byte, found bool) ([]byte, time.Duration, error) {
		v, ttl, err := fn(old, found)
		return v, c.ttlOr(ttl), err
	})
}

// Keys calls fn for every key in the container (without the prefix).
func (c *Container) Keys(ctx context.Context, fn func(key string) error) error {
	return c.backend.Scan(ctx, c.prefix, func(k string) error {
		return fn(strings.TrimPrefix(k, c.prefix))
	})
}

// Clear deletes every key in the container.
func (c *Container) Clear(ctx context.Context) error {
	var keys []string
	if err := c.backend.Scan(ctx, c.prefix, func(k string) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := c.backend.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// indexKey is the full key of the container's index name: "~i:" before the
// container prefix, so a Scan of the container never yields it.
func (c *Container) indexKey(name string) string { return "~i:" + c.prefix + name }

// Indexed reports whether the container's engine keeps index sets
// (Indexer) and the container has a prefix to keep them apart.
func (c *Container) Indexed() bool {
	_, ok := c.backend.(Indexer)
	return ok && c.prefix != ""
}

// IndexAdd adds member to the container's index set name (see Indexer);
// ErrUnsupported when not Indexed.
func (c *Container) IndexAdd(ctx context.Context, name, member string, at time.Time, ttl time.Duration) error {
	ix, ok := c.backend.(Indexer)
	if !ok || c.prefix == "" {
		return fmt.Errorf("%w: container %q keeps no index sets", ErrUnsupported, c.name)
	}
	return ix.IndexAdd(ctx, c.indexKey(name), member, at, ttl)
}

// IndexMembers returns the members of the container's index set name.
func (c *Container) IndexMembers(ctx context.Context, name string) ([]IndexMember, error) {
	ix, ok := c.backend.(Indexer)
	if !ok || c.prefix == "" {
		return nil, fmt.Errorf("%w: container %q keeps no index sets", ErrUnsupported, c.name)
	}
	return ix.IndexMembers(ctx, c.indexKey(name))
}

// IndexRemove removes members added at or before cutoff from the set name.
func (c *Container) IndexRemove(ctx context.Context, name string, cutoff time.Time, members ...string) (int, error) {
	ix, ok := c.backend.(Indexer)
	if !ok || c.prefix == "" {
		return 0, fmt.Errorf("%w: container %q keeps no index sets", ErrUnsupported, c.name)
	}
	return ix.IndexRemove(ctx, c.indexKey(name), cutoff, members...)
}
