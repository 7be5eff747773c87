package backends

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.uber.org/zap"

	"github.com/sessionfx/session/kvcache"
)

// Env is what a store constructor may use.
type Env struct {
	// Context bounds the constructor's start-up work (connecting to a
	// database, say): the module cancels it when the constructor returns,
	// and after session.StoreStartTimeout at the latest. Do not keep it:
	// Setup gets its own context (fx's OnStart context, bounded by
	// fx.StartTimeout).
	Context context.Context
	// Logger is the module's logger (never nil when built by the module).
	Logger *zap.Logger
	// KV is the module's kvcache; nil when there is none.
	KV *kvcache.Cache
	// Container is the [session] container setting (kvcache container name).
	Container string
	// Config unmarshals a configuration subtree such as "gorm" into out;
	// nil means "no configuration": use defaults.
	Config func(path string, out any) error
	// Lookup lets a store ask for an optional dependency the app provides,
	// e.g. an existing *gorm.DB: it fills target (a pointer) and reports
	// whether it could. nil means nothing is available.
	Lookup func(target any) bool
}

// Registration makes a store available by name. Plugin modules add theirs
// to the fx value group "session_stores".
type Registration struct {
	Name string
	New  func(env Env) (Store, error)
	// Sections lists the top-level configuration sections the store reads
	// besides the one named Name (e.g. "cookie_store" for "cookie"), so
	// that the module does not warn about them as unknown when another
	// store is selected. The sections a constructor reads through
	// Env.Config are known as well.
	Sections []string
}

// Registry creates stores by name.
type Registry struct {
	regs map[string]Registration
}

// NewRegistry builds a registry of the given registrations. Empty names,
// nil constructors and duplicate names are errors.
func NewRegistry(regs ...Registration) (*Registry, error) {
	r := &Registry{regs: make(map[string]Registration, len(regs))}
	for _, reg := range regs {
		if reg.Name == "" {
			return nil, errors.New("session store registration with an empty name")
		}
		if reg.New == nil {
			return nil, fmt.Errorf("session store registration %q has no constructor (New is nil)", reg.Name)
		}
		if _, dup := r.regs[reg.Name]; dup {
			return nil, fmt.Errorf("session store %q is registered twice", reg.Name)
		}
		r.regs[reg.Name] = reg
	}
	return r, nil
}

// Names returns the registered names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.regs))
	for n := range r.regs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Sections returns, sorted and without duplicates, the configuration
// sections of every registration: its Name and its Sections.
func (r *Registry) Sections() []string {
	seen := map[string]bool{}
	var out []string
	for _, reg := range r.regs {
		for _, s := range append([]string{reg.Name}, reg.Sections...) {
			if s = strings.ToLower(s); s != "" && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Create builds the store registered as name. An unregistered name yields
// an error wrapping ErrUnknownStore that lists the registered names.
func (r *Registry) Create(name string, env Env) (Store, error) {
	reg, ok := r.regs[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q (registered: %s)", ErrUnknownStore, name, strings.Join(r.Names(), ", "))
	}
	if env.Context == nil {
		env.Context = context.Background()
	}
	if env.Logger == nil {
		env.Logger = zap.NewNop()
	}
	s, err := reg.New(env)
	if err != nil {
		return nil, fmt.Errorf("session store %q: %w", name, err)
	}
	if s == nil {
		return nil, fmt.Errorf("session store %q: constructor returned a nil Store", name)
	}
	return s, nil
}

// DefaultContainer is the kvcache container used when Env.Container is empty.
const DefaultContainer = "session"

// KVCacheRegistration registers KVStore as "kvcache", on the container
// env.Container (default "session") of env.KV.
func KVCacheRegistration() Registration {
	return Registration{Name: "kvcache", New: func(env Env) (Store, error) {
		if env.KV == nil {
			return nil, errors.New("the kvcache store needs a kvcache.Cache, and none is configured (Env.KV is nil)")
		}
		name := env.Container
		if name == "" {
			name = DefaultContainer
		}
		c, err := env.KV.Container(name)
		if err != nil {
			return nil, fmt.Errorf("kvcache container %q: %w", name, err)
		}
		return NewKVStore(c), nil
	}}
}

// NullRegistration registers NullStore as "null".
func NullRegistration() Registration {
	return Registration{Name: "null", New: func(Env) (Store, error) { return NullStore{}, nil }}
}
