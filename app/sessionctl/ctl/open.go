package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"go.uber.org/dig"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gorm.io/gorm"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/backends/layered"
	"github.com/sessionfx/session/config"
	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/stores"
)

// store is the app's session store as sessionctl opened it.
type store struct {
	m       *session.Manager
	storage backends.Storage
	kv      *kvcache.Cache
	kvcfg   kvcache.Config
	model   gormstore.ModelType
}

type graph struct {
	fx.In
	Manager  *session.Manager
	Storage  backends.Storage
	KV       *kvcache.Cache
	KVConfig kvcache.Config
	Model    gormstore.ModelType `optional:"true"`
}

// logger is what the module and the stores log with: warnings and errors,
// one line each, on stderr.
func logger(stderr io.Writer) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = ""
	enc.CallerKey = ""
	enc.StacktraceKey = ""
	enc.EncodeLevel = zapcore.CapitalLevelEncoder
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(zapcore.AddSync(stderr)), zap.WarnLevel)).Named("sessionctl")
}

// open builds the app's session graph on the config file at path, as the
// app does (session.Module, stores.All), but starts nothing: no store
// setup (no table is created or migrated), no periodic cleanup.
func open(ctx context.Context, path string, stderr io.Writer, opts []fx.Option) (*store, error) {
	type result struct {
		st  *store
		err error
	}
	done := make(chan result, 1)
	go func() {
		var g graph
		app := fx.New(
			fx.Supply(logger(stderr)),
			fx.WithLogger(func() fxevent.Logger { return fxevent.NopLogger }),
			session.Module,
			stores.All,
			session.UseConfigFile(path),
			fx.Options(opts...),
			fx.Invoke(sqliteFileExists),
			fx.Invoke(func(in graph) { g = in }),
		)
		if err := app.Err(); err != nil {
			done <- result{nil, openError(err)}
			return
		}
		done <- result{&store{m: g.Manager, storage: g.Storage, kv: g.KV, kvcfg: g.KVConfig, model: g.Model}, nil}
	}()
	select {
	case r := <-done:
		return r.st, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.st != nil {
				r.st.close()
			}
		}()
		return nil, &exitError{ExitFailed, "opening the session store: timed out (-timeout)"}
	}
}

// openError is a failure to build the graph: a config problem (exit code
// 2) or a store that cannot be opened (1), on one line without fx's chain
// of constructors and without secrets.
func openError(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee
	}
	root := dig.RootCause(err)
	msg := scrub(root.Error())
	var ce *config.Error
	if errors.As(err, &ce) || errors.As(root, &ce) || errors.Is(root, fs.ErrNotExist) || strings.HasPrefix(root.Error(), "config:") {
		return &exitError{ExitUsage, "bad config: " + msg}
	}
	return &exitError{ExitFailed, "opening the session store: " + msg}
}

// sqliteFileExists refuses a GORM store on a SQLite file that does not
// exist, before the store is opened: opening would create an empty
// database, and sessionctl leaves creating it to the app. It runs before
// the store is built (fx runs invokes in order).
func sqliteFileExists(cf *session.ConfigFile, cfg session.Config) error {
	k := cf.Koanf()
	if cfg.Store != "gorm" && (cfg.Store != "layered" || k.String("layered.back") != "gorm") {
		return nil
	}
	if d := strings.ToLower(k.String("gorm.driver")); d != "" && d != "sqlite" && d != "sqlite3" {
		return nil
	}
	dsn := k.String("gorm.dsn")
	if dsn == "" {
		dsn = gormstore.DefaultConfig().DSN
	}
	if strings.Contains(dsn, ":memory:") || strings.Contains(dsn, "mode=memory") {
		return nil // refused later: not shared across processes
	}
	file, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	if file == "" {
		return nil
	}
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		return &exitError{ExitFailed, fmt.Sprintf("the SQLite database %s does not exist (yet): the app creates it when it starts; check gorm.dsn", clean(file, 200))}
	}
	return nil
}

func (s *store) close() {
	_ = s.storage.Close()
	_ = s.kv.Close()
}

// usable refuses what sessionctl cannot work on: a store inside the app's
// process, the cookie store, a GORM table whose user column the model in
// use does not know.
func (s *store) usable(ctx context.Context) error {
	if _, ok := backends.As[backends.ClientStore](s.storage); ok {
		return &exitError{ExitUnsupported, "the configured store (" + s.describe() + ") keeps each session in its client's cookie: there is nothing on the server to list, show or revoke"}
	}
	if !backends.InfoOf(s.storage).CrossProcess {
		return &exitError{ExitUnsupported, "the configured store (" + s.describe() + ") lives inside each app process: sessionctl, another process, cannot see its sessions; it works on stores the app's processes share (gorm, kvcache on redis or file)"}
	}
	return s.checkModel(ctx)
}

// gormOf is the GORM store behind st (directly or as a layered store's
// back), or nil.
func gormOf(st backends.Storage) *gormstore.Store {
	if ls, ok := backends.As[*layered.Store](st); ok {
		st = ls.Back()
	}
	gs, _ := backends.As[*gormstore.Store](st)
	return gs
}

// checkModel refuses a GORM table that keeps the user key in a column of
// the app's own model when sessionctl runs with the default model: it would
// not read that column, and would see every session as anonymous.
func (s *store) checkModel(ctx context.Context) error {
	gs := gormOf(s.storage)
	if gs == nil {
		return nil
	}
	db := gs.DB().Session(&gorm.Session{NewDB: true, Context: ctx})
	if !db.Migrator().HasTable(gs.Table()) {
		if err := ctx.Err(); err != nil {
			return &exitError{ExitFailed, "opening the session store: timed out (-timeout)"}
		}
		// sessionctl creates no table: the app does at start-up.
		return &exitError{ExitFailed, fmt.Sprintf("the session table %q does not exist (yet): the app creates it when it starts; check gorm.table and gorm.dsn", gs.Table())}
	}
	user := s.m.Config().UserKey
	if user == "" || s.model != (gormstore.ModelType{}) {
		return nil
	}
	if !db.Migrator().HasColumn(gs.Table(), user) {
		return nil
	}
	return &exitError{ExitUsage, fmt.Sprintf("the table %q keeps %s in a column of the app's GORM model, which this sessionctl does not know: "+
		"build a sessionctl with the model (ctl.Run(os.Args[1:], os.Stdout, os.Stderr, gormstore.UseModel[AppSession]()), see github.com/sessionfx/session/app/sessionctl/ctl)",
		gs.Table(), user)}
}

// describe names the store for messages and stats: its kind and where its
// sessions are (engine, driver, table), never a URL or a DSN.
func (s *store) describe() string { return s.describeStorage(s.storage) }

func (s *store) describeStorage(st backends.Storage) string {
	if ls, ok := st.(*layered.Store); ok {
		return fmt.Sprintf("layered: front container %s, back %s", ls.Front().Name(), s.describeStorage(ls.Back()))
	}
	if gs, ok := st.(*gormstore.Store); ok {
		return fmt.Sprintf("gorm: %s, table %s", gs.DB().Dialector.Name(), gs.Table())
	}
	if kv, ok := st.(*backends.KVStore); ok {
		return fmt.Sprintf("kvcache: container %s on the %s engine", kv.Container().Name(), s.engineOf(kv.Container()))
	}
	return backends.InfoOf(st).Name
}

// engineOf is the type of the container's kvcache backend (memory, redis,
// file) from the config.
func (s *store) engineOf(c *kvcache.Container) string {
	cc := s.kvcfg.Containers[c.Name()]
	b := cc.Backend
	if b == "" {
		b = "default"
	}
	if bc, ok := s.kvcfg.Backends[b]; ok && bc.Type != "" {
		return bc.Type
	}
	return "unknown"
}
