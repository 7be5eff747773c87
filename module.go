package session

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/cookiestore"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/backends/layered"
	"github.com/sessionfx/session/ctxmember"
	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/filekv"
	"github.com/sessionfx/session/kvcache/rediskv"
)

// ConfigPath names the INI or YAML file the module reads. Supply it with
// UseConfigFile; without one the module runs on defaults (and environment
// overrides).
type ConfigPath string

// UseConfigFile tells the module which config file to read.
func UseConfigFile(path string) fx.Option { return fx.Supply(ConfigPath(path)) }

// UseErrorHandler is the fx form of WithErrorHandler.
func UseErrorHandler(h ErrorHandler) fx.Option { return fx.Supply(h) }

// HTTPMiddleware is the session middleware, as provided by the module.
type HTTPMiddleware func(http.Handler) http.Handler

// StoreGroup is the value group a store plugin joins with its
// backends.Registration: fx.Provide(fx.Annotate(func() backends.Registration {...},
// fx.ResultTags(`group:"session_stores"`))).
const StoreGroup = `group:"session_stores"`

// MemberGroup is the value group through which modules add ctxmember members.
const MemberGroup = `group:"ctxmember"`

// Module is the session module: it reads the config file, builds the
// kvcache and the configured store, and runs the store's setup and the
// periodic cleanup in the app's lifecycle.
//
// It takes from the graph, all optional: a *zap.Logger (without one,
// warnings and errors — unknown keys, a store outage, a failed save — go to
// stderr through a fallback logger at warn level), an ErrorHandler (the
// answer to a save that fails before the response; default
// DefaultErrorHandler), a ConfigPath (UseConfigFile), store plugins
// (backends.Registration in the "session_stores" group), kvcache engines
// (kvcache.TypeRegistration in "kvcache_types") and request members
// (ctxmember.Member in "ctxmember").
//
// It provides *Manager, HTTPMiddleware (the middleware to wrap your
// handler with), *ctxmember.Registry, *kvcache.Cache, backends.Store (the
// configured store), *backends.Registry, *ConfigFile, Config and
// kvcache.Config.
var Module = fx.Module("session",
	fx.Provide(
		provideConfigFile,
		provideSessionConfig,
		provideKVCacheConfig,
		provideKVCache,
		provideStoreRegistry,
		provideStore,
		provideManager,
		provideRegistry,
		func(m *Manager) HTTPMiddleware { return m.Middleware },
		fx.Annotate(rediskv.Registration, fx.ResultTags(`group:"kvcache_types"`)),
		fx.Annotate(filekv.Registration, fx.ResultTags(`group:"kvcache_types"`)),
	),
)

// StoreStartTimeout bounds the construction of the configured store
// (connecting to its database, say): backends.Env.Context is cancelled
// after it. The store's Setup runs in fx's OnStart, under fx's start
// timeout (fx.StartTimeout, 15s by default).
const StoreStartTimeout = 15 * time.Second

type configIn struct {
	fx.In
	Path   ConfigPath  `optional:"true"`
	Logger *zap.Logger `optional:"true"`
}

// fallbackLogOutput is where the fallback logger writes (tests replace it).
var fallbackLogOutput zapcore.WriteSyncer = zapcore.Lock(os.Stderr)

// fallbackLogger is the module's logger when the app provides none:
// warnings and errors, one readable line each, on stderr.
func fallbackLogger() *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeLevel = zapcore.CapitalLevelEncoder
	enc.CallerKey = ""
	enc.StacktraceKey = ""
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), fallbackLogOutput, zap.WarnLevel)).Named("sessionfx")
}

// provideConfigFile loads the config file with the module's logger: the
// app's *zap.Logger when it provides one, else fallbackLogger. The other
// constructors take that logger from the *ConfigFile, so no type of the
// module's own appears in the graph.
func provideConfigFile(in configIn) (*ConfigFile, error) {
	log := in.Logger
	if log == nil {
		log = fallbackLogger()
	}
	return LoadConfigFile(string(in.Path), log)
}

type kvcacheIn struct {
	fx.In
	LC     fx.Lifecycle
	Config kvcache.Config
	File   *ConfigFile
	Types  []kvcache.TypeRegistration `group:"kvcache_types"`
}

// provideKVCache is kvcache.Module's constructor on the module's logger,
// so that the cache's warnings (a Redis outage) reach the fallback logger
// too.
func provideKVCache(in kvcacheIn) (*kvcache.Cache, error) {
	return kvcache.NewFromFx(kvcache.FxParams{Config: in.Config, Logger: in.File.log, Types: in.Types, Lifecycle: in.LC})
}

func provideSessionConfig(cf *ConfigFile) (Config, error) { return LoadConfig(cf) }

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
	Config   Config
	File     *ConfigFile
	KV       *kvcache.Cache
	Registry *backends.Registry
	Lookups  []Lookup `group:"session_lookups"`
}

// Lookup lets stores ask for dependencies the app provides through fx (for
// example its own *gorm.DB). It fills target and reports whether it did.
type Lookup func(target any) bool

func provideStore(in storeIn) (backends.Store, error) {
	// The sections the store reads are known sections (a plugin's own
	// [mystore] included), whatever the registrations declare.
	var (
		mu   sync.Mutex
		read []string
	)
	ctx, cancel := context.WithTimeout(context.Background(), StoreStartTimeout)
	defer cancel() // Env.Context bounds construction only
	env := backends.Env{
		Context:   ctx,
		Logger:    in.File.log.With(zap.String("session_store", in.Config.Backend)),
		KV:        in.KV,
		Container: in.Config.Container,
		Config: func(path string, out any) error {
			mu.Lock()
			read = append(read, strings.SplitN(path, ".", 2)[0])
			mu.Unlock()
			return in.File.Unmarshal(path, out)
		},
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
		if errors.Is(err, backends.ErrUnknownStore) {
			return nil, unknownBackendError(in.File, in.Config.Backend, in.Registry.Names(), err)
		}
		// The store's own error names its key, value and cause.
		return nil, err
	}
	mu.Lock()
	known := append(append([]string{"session", "kvcache"}, in.Registry.Sections()...), read...)
	mu.Unlock()
	if _, err := in.File.checkSections(in.File.Strict(), known); err != nil {
		_ = st.Close()
		return nil, err
	}
	in.LC.Append(fx.Hook{
		OnStart: func(ctx context.Context) error { return st.Setup(ctx) },
		OnStop:  func(context.Context) error { return st.Close() },
	})
	return st, nil
}

// unknownBackendError is the ConfigError for a session.backend that names
// no registered store, with a hint for the names newcomers try.
func unknownBackendError(cf *ConfigFile, name string, names []string, err error) error {
	hint := ""
	switch strings.ToLower(name) {
	case "redis":
		hint = "Redis is backend = kvcache, with session.container on a kvcache container whose backend has type = redis: " +
			"kvcache.backends.shared.type = redis, kvcache.backends.shared.url = redis://127.0.0.1:6379/0, kvcache.containers.session.backend = shared"
	case "memory", "ristretto":
		hint = "memory is backend = kvcache: its default kvcache backend has type = memory"
	case "postgres", "postgresql", "mysql", "mariadb", "sqlite", "sqlite3", "sql", "database", "db":
		hint = "a database is backend = gorm, with gorm.driver = sqlite, postgres or mysql"
	case "cookies", "cookiestore", "cookie_store", "client":
		hint = "the cookie store is backend = cookie"
	default:
		if near := cfgNearest(name, names); near != "" {
			hint = "did you mean " + near + "?"
		}
	}
	allowed := strings.Join(names, ", ")
	if hint != "" {
		allowed += " (" + hint + ")"
	}
	shown, hidden := name, false
	if cf != nil {
		if w, h, ok := cf.written("session.backend"); ok {
			shown, hidden = w, h
		}
	}
	return &ConfigError{Key: "session.backend", Value: shown, hidden: hidden,
		problem: "no session store is registered under this name", Allowed: allowed, Err: err}
}

// builtinSections are the configuration sections of the built-in stores
// whose names differ from the section they read.
var builtinSections = map[string][]string{cookiestore.Name: {"cookie_store"}}

type managerIn struct {
	fx.In
	LC      fx.Lifecycle
	Config  Config
	Store   backends.Store
	File    *ConfigFile
	OnError ErrorHandler `optional:"true"`
}

func provideManager(in managerIn) (*Manager, error) {
	opts := []Option{WithLogger(in.File.log.Named("session"))}
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
	regs := []backends.Registration{
		backends.KVCacheRegistration(),
		backends.NullRegistration(),
		gormstore.Registration(),
		cookiestore.Registration(),
		layered.Registration(),
	}
	for i, r := range regs {
		if len(r.Sections) == 0 {
			regs[i].Sections = builtinSections[r.Name]
		}
	}
	return regs
}
