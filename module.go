package session

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/config"
	"github.com/sessionfx/session/ctxmember"
	"github.com/sessionfx/session/kvcache"
)

// HTTPMiddleware is the session middleware, as provided by the module.
type HTTPMiddleware func(http.Handler) http.Handler

const (
	storeGroup  = `group:"session_stores"`
	memberGroup = `group:"ctxmember"`
)

// AsStore makes a session store selectable by name ([session] store): it
// provides constructor's backends.Registration to Module. constructor is a
// function returning a backends.Registration (and optionally an error); its
// parameters come from the fx graph like any constructor's, so a store
// takes what it needs (a *gorm.DB, say) with fx.In and `optional:"true"`.
// Each store package's Module calls it:
//
//	var Module = fx.Module("sessionfx.gorm", session.AsStore(newRegistration))
func AsStore(constructor any) fx.Option {
	return fx.Provide(fx.Annotate(constructor, fx.ResultTags(storeGroup)))
}

// AsMember adds a request member to the module's ctxmember registry:
// constructor returns a ctxmember.Member (and optionally an error), its
// parameters taken from the fx graph. The member is built lazily in each
// request's scope, like the session.
func AsMember(constructor any) fx.Option {
	return fx.Provide(fx.Annotate(constructor, fx.ResultTags(memberGroup)))
}

// Module is the session module: it reads the config file, builds the
// kvcache and the store [session] store selects, and runs the store's
// setup and the periodic cleanup in the app's lifecycle.
//
// The core knows two stores: kvcache (sessions in a kvcache container; the
// memory engine is built in) and null. Every other store joins with its
// own module, or all of them with one line (stores.All in
// github.com/sessionfx/session/stores):
//
//	gormstore.Module   store = gorm      (SQLite, PostgreSQL, MySQL)
//	cookiestore.Module store = cookie    (sealed cookies)
//	layered.Module     store = layered   (a local front on any store)
//	rediskv.Module     kvcache engine type = redis
//	filekv.Module      kvcache engine type = file
//
// A config that names a store or an engine whose module is missing fails
// start-up with one line naming the module to add.
//
// It takes from the graph, all optional: a *zap.Logger (without one,
// warnings and errors — unknown keys, a store outage, a failed save — go to
// stderr through a fallback logger at warn level), an ErrorHandler (the
// answer to a save that fails before the response; default
// DefaultErrorHandler; UseErrorHandler), a ConfigPath (UseConfigFile),
// stores (AsStore), kvcache engines (kvcache.AsType), request members
// (AsMember), and OpenTelemetry providers: a metric.MeterProvider and a
// trace.TracerProvider (provide them as those interface types, e.g. with
// fx.Annotate and fx.As), which turn on the manager's metrics and traces
// (WithMeterProvider, WithTracerProvider).
//
// It provides *Manager, HTTPMiddleware (the middleware to wrap your
// handler with), *ctxmember.Registry, *kvcache.Cache, backends.Storage (the
// configured store: a backends.Store, or a backends.ClientStore for the
// cookie store), *backends.Registry, *ConfigFile, Config and
// kvcache.Config.
var Module = fx.Module("session",
	fx.Provide(
		provideConfigFile,
		provideConfig,
		provideKVCacheConfig,
		provideKVCache,
		provideStoreRegistry,
		provideStore,
		provideManager,
		provideRegistry,
		func(m *Manager) HTTPMiddleware { return m.Middleware },
	),
)

// UseConfigFile tells the module which config file to read.
func UseConfigFile(path string) fx.Option { return fx.Supply(ConfigPath(path)) }

// UseErrorHandler sets the module's ErrorHandler.
func UseErrorHandler(h ErrorHandler) fx.Option { return fx.Supply(h) }

// ConfigPath names the INI or YAML file the module reads. Supply it with
// UseConfigFile; without one the module runs on defaults (and environment
// overrides).
type ConfigPath string

// StoreStartTimeout bounds the construction of the configured store
// (connecting to its database, say): backends.Env.Context is cancelled
// after it. The store's Setup runs in fx's OnStart, under fx's start
// timeout (fx.StartTimeout, 15s by default).
const StoreStartTimeout = 15 * time.Second

type configIn struct {
	fx.In
	Path     ConfigPath  `optional:"true"`
	Logger   *zap.Logger `optional:"true"`
	Registry *backends.Registry
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
	// The stores' sections are known from the start: an environment
	// variable meant for one (SESSIONFX_GORM_DSN) is matched to its key.
	return loadConfigFile(string(in.Path), log, in.Registry.Sections())
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
	return kvcache.NewFromFx(kvcache.FxParams{Config: in.Config, Logger: in.File.Logger(), Types: in.Types, Lifecycle: in.LC})
}

func provideConfig(cf *ConfigFile) (Config, error) { return LoadConfig(cf) }

type kvcacheConfigIn struct {
	fx.In
	File  *ConfigFile
	Types []kvcache.TypeRegistration `group:"kvcache_types"`
}

// provideKVCacheConfig reads [kvcache], each backend checked by its engine.
func provideKVCacheConfig(in kvcacheConfigIn) (kvcache.Config, error) {
	return kvcache.LoadConfig(in.File, in.Types...)
}

type storeRegistryIn struct {
	fx.In
	Stores []backends.Registration `group:"session_stores"`
}

func provideStoreRegistry(in storeRegistryIn) (*backends.Registry, error) {
	regs := append([]backends.Registration{backends.KVCacheRegistration(), backends.NullRegistration()}, in.Stores...)
	return backends.NewRegistry(regs...)
}

type storeIn struct {
	fx.In
	LC       fx.Lifecycle
	Config   Config
	File     *ConfigFile
	KV       *kvcache.Cache
	Registry *backends.Registry
}

func provideStore(in storeIn) (backends.Storage, error) {
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
		Logger:    in.File.Logger().With(zap.String("session_store", in.Config.Store)),
		KV:        in.KV,
		Container: in.Config.Container,
		Config: func(path string, out any) error {
			mu.Lock()
			read = append(read, strings.SplitN(path, ".", 2)[0])
			mu.Unlock()
			return in.File.Unmarshal(path, out)
		},
	}
	st, err := in.Registry.Create(in.Config.Store, env)
	if err != nil {
		if errors.Is(err, backends.ErrUnknownStore) {
			return nil, unknownStoreError(in.File, in.Config.Store, in.Registry.Names(), err)
		}
		// The store's own error names its key, value and cause.
		return nil, err
	}
	mu.Lock()
	known := append([]string{"session", "kvcache"}, read...)
	mu.Unlock()
	for s := range in.Registry.Sections() {
		known = append(known, s)
	}
	if err := in.File.Check(known...); err != nil {
		_ = st.Close()
		return nil, err
	}
	in.LC.Append(fx.Hook{
		OnStart: func(ctx context.Context) error { return backends.Setup(ctx, st) },
		OnStop:  func(context.Context) error { return st.Close() },
	})
	return st, nil
}

// storeModules are the stores of this repository that are not in the core,
// with the module that registers each: a config that selects one whose
// module the app lacks gets this hint.
var storeModules = map[string]string{
	"gorm":    "gormstore.Module (github.com/sessionfx/session/backends/gormstore)",
	"cookie":  "cookiestore.Module (github.com/sessionfx/session/backends/cookiestore)",
	"layered": "layered.Module (github.com/sessionfx/session/backends/layered)",
}

// unknownStoreError is the ConfigError for a session.store that names no
// registered store: the module to add when the store is one of this
// repository's, else a hint for the names newcomers try.
func unknownStoreError(cf *ConfigFile, name string, names []string, err error) error {
	hint := ""
	lower := strings.ToLower(name)
	if mod, ok := storeModules[lower]; ok && lower == name {
		hint = "the " + name + " store's module is not in this app: add " + mod + ", or stores.All (github.com/sessionfx/session/stores) for every store"
		return &ConfigError{Key: "session.store", Value: name, Problem: hint, Err: err}
	}
	switch lower {
	case "redis":
		hint = "Redis is store = kvcache, with session.container on a kvcache container whose backend has type = redis (rediskv.Module): " +
			"kvcache.backends.shared.type = redis, kvcache.backends.shared.url = redis://127.0.0.1:6379/0, kvcache.containers.session.backend = shared"
	case "memory", "ristretto":
		hint = "memory is store = kvcache: its default kvcache backend has type = memory"
	case "postgres", "postgresql", "mysql", "mariadb", "sqlite", "sqlite3", "sql", "database", "db":
		hint = "a database is store = gorm (gormstore.Module), with gorm.driver = sqlite, postgres or mysql"
	case "cookies", "cookiestore", "cookie_store", "client":
		hint = "the cookie store is store = cookie (cookiestore.Module)"
	default:
		if near := config.Nearest(name, names); near != "" {
			hint = "did you mean " + near + "?"
		}
	}
	allowed := strings.Join(names, ", ")
	if hint != "" {
		allowed += " (" + hint + ")"
	}
	shown, hidden := name, false
	if cf != nil {
		if w, h, ok := cf.Written("session.store"); ok {
			shown, hidden = w, h
		}
	}
	return &ConfigError{Key: "session.store", Value: shown, Hidden: hidden,
		Problem: "no session store is registered under this name", Allowed: allowed, Err: err}
}

type managerIn struct {
	fx.In
	LC      fx.Lifecycle
	Config  Config
	Store   backends.Storage
	File    *ConfigFile
	OnError ErrorHandler `optional:"true"`
	// The app's OpenTelemetry providers, if any (telemetry.go).
	Meter  metric.MeterProvider `optional:"true"`
	Tracer trace.TracerProvider `optional:"true"`
}

func provideManager(in managerIn) (*Manager, error) {
	opts := []Option{WithLogger(in.File.Logger().Named("session"))}
	if in.OnError != nil {
		opts = append(opts, WithErrorHandler(in.OnError))
	}
	opts = append(opts, WithMeterProvider(in.Meter), WithTracerProvider(in.Tracer))
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
			m.tel.stop()
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
