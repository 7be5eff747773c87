package backends

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	// Open builds another registered store by name, as the module would
	// (same Env, that store's own section): the layered store opens its
	// back store this way, so any registered store can be a back. nil
	// outside a registry.
	Open func(name string) (Store, error)

	opening []string // the stores being opened through Open, outermost first
}

// Registration makes a store available by name. A store package's fx
// option joins it to the module with session.AsStore; without fx, pass it
// to NewRegistry.
type Registration struct {
	// Name is what [session] store selects, e.g. "gorm".
	Name string
	// New builds the storage: a Store or a ClientStore.
	New func(env Env) (Storage, error)
	// Section is the top-level configuration section the store owns ("":
	// none). By convention it is Name: [gorm] for "gorm", [cookie] for
	// "cookie". The module knows it as a valid section whichever store is
	// selected.
	Section string
	// Config is a zero value of the struct Section decodes into (nil:
	// none): the module checks the section's keys against it and suggests
	// the key an environment variable most likely meant.
	Config any
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
	return slices.Sorted(maps.Keys(r.regs))
}

// Sections returns the configuration sections the registrations own,
// each with the zero value of its config struct (nil when the store
// declared none), keyed by lowercase section name.
func (r *Registry) Sections() map[string]any {
	out := map[string]any{}
	for _, reg := range r.regs {
		if s := strings.ToLower(reg.Section); s != "" {
			out[s] = reg.Config
		}
	}
	return out
}

// Create builds the store registered as name. An unregistered name yields
// an error wrapping ErrUnknownStore that lists the registered names.
func (r *Registry) Create(name string, env Env) (Storage, error) {
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
	chain := slices.Concat(env.opening, []string{name})
	if slices.Contains(env.opening, name) {
		return nil, fmt.Errorf("session store %q opens itself (%s)", name, strings.Join(chain, " -> "))
	}
	logger := env.Logger
	env.Open = func(other string) (Store, error) {
		e := env
		e.opening = chain
		e.Logger = logger.With(zap.String("session_store", other))
		st, err := r.Create(other, e)
		if err != nil {
			return nil, err
		}
		srv, ok := any(st).(Store)
		if !ok {
			_ = st.Close()
			return nil, fmt.Errorf("session store %q keeps sessions in the client's cookie: it cannot be opened as a server-side store", other)
		}
		return srv, nil
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
	return Registration{Name: "kvcache", New: func(env Env) (Storage, error) {
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
	return Registration{Name: "null", New: func(Env) (Storage, error) { return NullStore{}, nil }}
}
