package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
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
// process, the cookie store, a GORM table that does not exist; it returns
// errUserColumn for a table whose user column the model in use does not
// know.
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

// errUserColumn is checkModel's finding that the table keeps the user key
// in a column the model in use does not know: Run opens the store again
// with userColumnModel.
type errUserColumn struct{ key string }

func (e errUserColumn) Error() string { return "the table keeps " + e.key + " in a column of its own" }

// checkModel finds a GORM table that keeps the user key in a column of the
// app's own model while sessionctl runs with the default model: read with
// it, every session would look anonymous (errUserColumn).
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
	return errUserColumn{key: user}
}

// userColumnModel is a session model built at run time: gormstore.Row and
// the user key as a typed text column, so sessionctl reads the user of an
// app whose own model (unknown here) keeps it in a column. Other columns
// of the app's model are not read: their keys are missing from the key
// counts.
func userColumnModel(key string) (gormstore.ModelType, error) {
	if !validColumn(key) {
		return gormstore.ModelType{}, &exitError{ExitUsage, fmt.Sprintf("[session] user_key %q cannot name a column; build a sessionctl with the app's model (ctl.Run with gormstore.UseModel)", clean(key, 64))}
	}
	t := reflect.StructOf([]reflect.StructField{
		{Name: "Row", Type: reflect.TypeFor[gormstore.Row](), Anonymous: true},
		{Name: "User", Type: reflect.TypeFor[*string](), Tag: reflect.StructTag(fmt.Sprintf(`session:%q gorm:"column:%s"`, key, key))},
	})
	return gormstore.ModelOf(reflect.New(t).Interface()), nil
}

// validColumn accepts the column names a struct tag can carry safely.
func validColumn(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
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
