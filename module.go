package session

import (
	"context"
	"net/http"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/cookiestore"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/backends/layered"
	"github.com/sessionfx/session/ctxmember"
	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/rediskv"
)

// ConfigPath names the INI or YAML file the module reads. Supply it with
// WithConfigFile; without one the module runs on defaults (and environment
// overrides).
type ConfigPath string

// WithConfigFile tells the module which config file to read.
func WithConfigFile(path string) fx.Option { return fx.Supply(ConfigPath(path)) }

// WithErrorHandlerOption is the fx form of WithErrorHandler.
func WithErrorHandlerOption(h ErrorHandler) fx.Option { return fx.Supply(h) }

// HTTPMiddleware is the session middleware, as provided by the module.
type HTTPMiddleware func(http.Handler) http.Handler

// StoreGroup is the value group a store plugin joins with its
// backends.Registration: fx.Provide(fx.Annotate(func() backends.Registration {...},
// fx.ResultTags(`group:"session_stores"`))).
const StoreGroup = `group:"session_stores"`

// MemberGroup is the value group through which modules add ctxmember members.
const MemberGroup = `group:"ctxmember"`

// Module is the session module: it reads the config file, builds the
// kvcache and the configured store, and provides *Manager, HTTPMiddleware
// and the *ctxmember.Registry.
var Module = fx.Module("session",
	fx.Provide(
		provideConfigFile,
		provideSessionConfig,
		provideKVCacheConfig,
		provideStoreRegistry,
		provideStore,
		provideManager,
		provideRegistry,
		func(m *Manager) HTTPMiddleware { return m.Middleware },
		fx.Annotate(rediskv.Registration, fx.ResultTags(`group:"kvcache_types"`)),
	),
	kvcache.Module,
)

type configIn struct {
	fx.In
	Path   ConfigPath  `optional:"true"`
	Logger *zap.Logger `optional:"true"`
}

func logOrNop(l *zap.Logger) *zap.Logger {
	if l == nil {
		return zap.NewNop()
	}
	return l
}

// moduleLog is the module's logger: the app's *zap.Logger when it provides
// one, else a no-op logger.
type moduleLog struct{ *zap.Logger }

func provideConfigFile(in configIn) (*ConfigFile, moduleLog, error) {
	log := logOrNop(in.Logger)
	cf, err := LoadConfigFile(string(in.Path), log)
	if err != nil {
		return nil, moduleLog{log}, err
	}
	cf.CheckSections("session", "kvcache", "gorm", "cookie_store")
	return cf, moduleLog{log}, nil
}

func provideSessionConfig(cf *ConfigFile) (SessionConfig, error) { return LoadSessionConfig(cf) }

func provideKVCacheConfig(cf *ConfigFile) (kvcache.Config, error) { return LoadKVCacheConfig(cf) }

type storeRegistryIn struct {
	fx.In
	Plugins []backends.Registration `group:"session_stores"`
}

func provideStoreRegistry(in storeRegistryIn) (*backends.Registry, error) {
	regs := append(builtinStores(), in.Plugins...)
	return backends.NewRegistry(regs...)
}

type storeIn struct {
	fx.In
	LC       fx.Lifecycle
	Config   SessionConfig
	File     *ConfigFile
	Log      moduleLog
	KV       *kvcache.Cache
	Registry *backends.Registry
	Lookups  []Lookup `group:"session_lookups"`
}

// Lookup lets stores ask for dependencies the app provides through fx (for
// example its own *gorm.DB). It fills target and reports whether it did.
type Lookup func(target any) bool

func provideStore(in storeIn) (backends.Store, error) {
	env := backends.Env{
		Context:   context.Background(),
		Logger:    in.Log.With(zap.String("session_store", in.Config.Backend)),
		KV:        in.KV,
		Container: in.Config.Container,
		Config:    in.File.Unmarshal,
		Lookup: func(target any) bool {
			for _, l := range in.Lookups {
				if l(target) {
					return true
				}
			}
			return false
		},
	}
	st, err := in.Registry.Create(in.Config.Backend, env)
	if err != nil {
		return nil, &ConfigError{Key: "session.backend", Value: in.Config.Backend, Allowed: joinNames(in.Registry.Names()), Err: err}
	}
	in.LC.Append(fx.Hook{
		OnStart: func(ctx context.Context) error { return st.Setup(ctx) },
		OnStop:  func(context.Context) error { return st.Close() },
	})
	return st, nil
}

func joinNames(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

type managerIn struct {
	fx.In
	LC      fx.Lifecycle
	Config  SessionConfig
	Store   backends.Store
	Log     moduleLog
	OnError ErrorHandler `optional:"true"`
}

func provideManager(in managerIn) (*Manager, error) {
	opts := []Option{WithLogger(in.Log.Named("session"))}
	if in.OnError != nil {
		opts = append(opts, WithErrorHandler(in.OnError))
	}
	m, err := NewManager(in.Config, in.Store, opts...)
	if err != nil {
		return nil, err
	}
	in.LC.Append(fx.Hook{
		OnStart: func(context.Context) error {
			m.StartCleanup(in.Config.CleanupInterval)
			return nil
		},
		OnStop: func(context.Context) error {
			m.StopCleanup()
			return nil
		},
	})
	return m, nil
}

type registryIn struct {
	fx.In
	Manager *Manager
	Members []ctxmember.Member `group:"ctxmember"`
}

func provideRegistry(in registryIn) (*ctxmember.Registry, error) {
	r := in.Manager.Registry()
	for _, mem := range in.Members {
		if err := r.Register(mem); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func builtinStores() []backends.Registration {
	return []backends.Registration{
		backends.KVCacheRegistration(),
		backends.NullRegistration(),
		gormstore.Registration(),
		cookiestore.Registration(),
		layered.Registration(),
	}
}
