package bench

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/cookiestore"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/backends/layered"
	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/rediskv"
)

// countingStore wraps a server-side backends.Store and counts its calls.
// Like any decorator without an Unwrap method it hides the store's optional
// capabilities (Renewer among them), except Info, which it forwards.
type countingStore struct {
	backends.Store
	c *Counter
}

func (s countingStore) Load(ctx context.Context, id string) (*backends.Record, error) {
	s.c.read()
	return s.Store.Load(ctx, id)
}

func (s countingStore) Save(ctx context.Context, id string, ch backends.Changes, opt backends.SaveOptions) (*backends.Record, error) {
	s.c.write()
	return s.Store.Save(ctx, id, ch, opt)
}

func (s countingStore) Delete(ctx context.Context, id string) error {
	s.c.write()
	return s.Store.Delete(ctx, id)
}

func (s countingStore) Touch(ctx context.Context, id string, exp time.Time) error {
	s.c.write()
	return s.Store.Touch(ctx, id, exp)
}

func (s countingStore) Info() backends.Info { return backends.InfoOf(s.Store) }

// countingClientStore wraps the cookie store: Open is a decode (read), Seal
// an encode (write), as for gorilla's CookieStore.
type countingClientStore struct {
	backends.ClientStore
	c *Counter
}

func (s countingClientStore) Open(token string) (*backends.Record, error) {
	s.c.read()
	return s.ClientStore.Open(token)
}

func (s countingClientStore) Seal(rec *backends.Record) (string, error) {
	s.c.write()
	return s.ClientStore.Seal(rec)
}

func (s countingClientStore) Info() backends.Info { return backends.InfoOf(s.ClientStore) }

// sfxLib drives sessionfx: the manager's middleware, session.From in handlers.
type sfxLib struct{ m *session.Manager }

func (l sfxLib) Wrap(h http.Handler) http.Handler { return l.m.Middleware(h) }

func (l sfxLib) sess(r *http.Request) *session.Session {
	s, err := session.From(r.Context())
	if err != nil {
		panic(fmt.Sprintf("sessionfx: From: %v", err))
	}
	return s
}

func (l sfxLib) GetString(_ http.ResponseWriter, r *http.Request, key string) string {
	return l.sess(r).GetString(key)
}

func (l sfxLib) Incr(_ http.ResponseWriter, r *http.Request, key string) {
	s := l.sess(r)
	if err := s.Set(key, s.GetInt(key)+1); err != nil {
		panic(err)
	}
}

func (l sfxLib) Put(_ http.ResponseWriter, r *http.Request, key, value string) {
	if err := l.sess(r).Set(key, value); err != nil {
		panic(err)
	}
}

// SessionfxConfig is the configuration every sessionfx target uses: the
// defaults (hash_ids on, max_cookie_size 4096, ...) with the settings shared
// by every side (see Settings): lifetime 24h, a Secure, HttpOnly, SameSite=Lax
// persistent cookie named CookieName, and idle_timeout = o.IdleTimeout (0:
// none, which session.Config allows: "IdleTimeout ends a session unused for
// that long (0 = none)").
func SessionfxConfig(o Options) session.Config {
	cfg := session.DefaultConfig()
	cfg.Lifetime = Lifetime
	cfg.IdleTimeout = o.IdleTimeout
	cfg.CleanupInterval = 0
	cfg.Cookie.Name = CookieName
	cfg.Cookie.Path = "/"
	cfg.Cookie.Secure = true
	cfg.Cookie.HTTPOnly = true
	cfg.Cookie.SameSite = "lax"
	cfg.Cookie.Persist = true
	return cfg
}

// NewSessionfxTarget builds a sessionfx target on store, a backends.Store or
// a backends.ClientStore (wrapped by a counter).
func NewSessionfxTarget(backend, note string, store backends.Storage, o Options, closeFn func()) (*Target, error) {
	c := &Counter{}
	var wrapped backends.Storage
	switch st := store.(type) {
	case backends.Store:
		wrapped = countingStore{Store: st, c: c}
	case backends.ClientStore:
		wrapped = countingClientStore{ClientStore: st, c: c}
	default:
		return nil, fmt.Errorf("sessionfx %s: %T is neither a backends.Store nor a backends.ClientStore", backend, store)
	}
	m, err := session.NewManager(SessionfxConfig(o), wrapped)
	if err != nil {
		return nil, fmt.Errorf("sessionfx %s: NewManager: %w", backend, err)
	}
	return &Target{Lib: "sessionfx", Backend: backend, Note: note, L: sfxLib{m}, C: c, Close: closeFn}, nil
}

// NewMemoryKV returns a KVStore on a fresh memory backend of maxSize bytes
// (0: kvcache's default max_size, 64MiB).
func NewMemoryKV(maxSize int64) (*backends.KVStore, func(), error) {
	b, err := kvcache.NewMemory("bench", kvcache.BackendConfig{Type: "memory", MaxSize: kvcache.ByteSize(maxSize)}, nil)
	if err != nil {
		return nil, nil, err
	}
	return backends.NewKVStore(kvcache.NewContainer("session", "session:", 0, b)), func() { _ = b.Close() }, nil
}

// NewRedisKV returns a KVStore on Redis at url (the environment's when
// empty) under a unique key prefix; the prefix's keys are deleted by the
// returned close function.
func NewRedisKV(url string, clientCache bool) (*backends.KVStore, func(), error) {
	if url == "" {
		url = RedisURL()
	}
	if url == "" {
		return nil, nil, fmt.Errorf("%w: %s is unset", ErrSkip, EnvRedis)
	}
	b, err := rediskv.New("bench", kvcache.BackendConfig{Type: "redis", URL: url, ClientCache: clientCache}, nil)
	if err != nil {
		return nil, nil, err
	}
	ct := kvcache.NewContainer("session", UniqueName("sfxbench:")+":", 0, b)
	return backends.NewKVStore(ct), func() {
		_ = ct.Clear(context.Background())
		_ = b.Close()
	}, nil
}

// NewGormSQLite returns a gorm store on a SQLite file in dir.
func NewGormSQLite(dir string) (*gormstore.Store, error) {
	s, err := gormstore.NewFromConfig(gormstore.Config{Driver: "sqlite", DSN: filepath.Join(dir, "sfx.sqlite3"), Table: "sessions"}, nil)
	if err != nil {
		return nil, err
	}
	if err := s.Setup(context.Background()); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// NewGormPostgres returns a gorm store on a fresh table in PostgreSQL; the
// close function drops it.
func NewGormPostgres(table string) (*gormstore.Store, func(), error) {
	return newGormServer("postgres", PostgresDSN(), EnvPostgres, table)
}

// NewGormMySQL returns a gorm store on a fresh table in MySQL/MariaDB; the
// close function drops it.
func NewGormMySQL(table string) (*gormstore.Store, func(), error) {
	return newGormServer("mysql", MySQLDSN(), EnvMySQL, table)
}

func newGormServer(driver, dsn, env, table string) (*gormstore.Store, func(), error) {
	if dsn == "" {
		return nil, nil, fmt.Errorf("%w: %s is unset", ErrSkip, env)
	}
	s, err := gormstore.NewFromConfig(gormstore.Config{Driver: driver, DSN: dsn, Table: table}, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := s.Setup(context.Background()); err != nil {
		_ = s.Close()
		return nil, nil, err
	}
	return s, func() {
		s.DB().Exec("DROP TABLE IF EXISTS " + table)
		_ = s.Close()
	}, nil
}

// sessionfxCookieKey is the cookie store's 32-byte key (base64), fixed so
// no key is generated per target (DevMode would log a warning).
var sessionfxCookieKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func sessionfxBuilders() []Builder {
	return []Builder{
		{"sessionfx", "memory", true, false, func(_ context.Context, o Options) (*Target, error) {
			s, closeFn, err := NewMemoryKV(0)
			if err != nil {
				return nil, err
			}
			return NewSessionfxTarget("memory", "kvcache memory (ristretto), default max_size 64MiB (bounded: evicts)", s, o, closeFn)
		}},
		{"sessionfx", "cookie", true, true, func(_ context.Context, o Options) (*Target, error) {
			s, err := cookiestore.New(cookiestore.Config{Keys: cookiestore.Keys{sessionfxCookieKey}, CookieName: CookieName}, nil)
			if err != nil {
				return nil, err
			}
			return NewSessionfxTarget("cookie", "cookiestore (XChaCha20-Poly1305 sealed cookie); reads = Open, writes = Seal", s, o, func() {})
		}},
		{"sessionfx", "redis", true, false, func(_ context.Context, o Options) (*Target, error) {
			s, closeFn, err := NewRedisKV(o.redisURL(), false)
			if err != nil {
				return nil, err
			}
			return NewSessionfxTarget("redis", "kvcache redis (rueidis), no client-side cache", s, o, closeFn)
		}},
		{"sessionfx", "redis-cc", true, false, func(_ context.Context, o Options) (*Target, error) {
			s, closeFn, err := NewRedisKV(o.redisURL(), true)
			if err != nil {
				return nil, err
			}
			return NewSessionfxTarget("redis-cc", "kvcache redis (rueidis) with client-side caching", s, o, closeFn)
		}},
		{"sessionfx", "sqlite", true, false, func(_ context.Context, o Options) (*Target, error) {
			dir, err := tempDir()
			if err != nil {
				return nil, err
			}
			s, err := NewGormSQLite(dir)
			if err != nil {
				removeAll(dir)
				return nil, err
			}
			return NewSessionfxTarget("sqlite", "gormstore on a SQLite file (modernc.org/sqlite via libtnb/sqlite, pure Go)", s, o, func() { _ = s.Close(); removeAll(dir) })
		}},
		{"sessionfx", "postgres", true, false, func(_ context.Context, o Options) (*Target, error) {
			s, closeFn, err := NewGormPostgres(UniqueName("sfxbench_"))
			if err != nil {
				return nil, err
			}
			return NewSessionfxTarget("postgres", "gormstore on PostgreSQL (gorm postgres driver, pgx)", s, o, closeFn)
		}},
		{"sessionfx", "mysql", true, false, func(_ context.Context, o Options) (*Target, error) {
			s, closeFn, err := NewGormMySQL(UniqueName("sfxbench_"))
			if err != nil {
				return nil, err
			}
			return NewSessionfxTarget("mysql", "gormstore on MySQL/MariaDB (gorm mysql driver, go-sql-driver/mysql)", s, o, closeFn)
		}},
		{"sessionfx", "postgres-layered", true, false, func(_ context.Context, o Options) (*Target, error) {
			s, closeFn, err := NewGormPostgres(UniqueName("sfxbench_"))
			if err != nil {
				return nil, err
			}
			return newLayeredTarget("postgres-layered", "layered: memory front (64MiB default) over gormstore on PostgreSQL, invalidation pushed by LISTEN/NOTIFY (cross-instance bound: the notification delay)", s, o, closeFn)
		}},
		{"sessionfx", "mysql-layered", true, false, func(_ context.Context, o Options) (*Target, error) {
			s, closeFn, err := NewGormMySQL(UniqueName("sfxbench_"))
			if err != nil {
				return nil, err
			}
			return newLayeredTarget("mysql-layered", "layered: memory front (64MiB default) over gormstore on MySQL/MariaDB; nothing is pushed: cross-instance bound local_ttl (5s)", s, o, closeFn)
		}},
		{"sessionfx", "sqlite-layered", true, false, func(_ context.Context, o Options) (*Target, error) {
			dir, err := tempDir()
			if err != nil {
				return nil, err
			}
			s, err := NewGormSQLite(dir)
			if err != nil {
				removeAll(dir)
				return nil, err
			}
			return newLayeredTarget("sqlite-layered", "layered: memory front (64MiB default) over gormstore on a SQLite file; nothing is pushed: cross-process bound local_ttl (5s)", s, o, func() { _ = s.Close(); removeAll(dir) })
		}},
		FileKVBuilder(),
	}
}

// newLayeredTarget puts a layered store (a fresh memory front at kvcache's
// default size, the layered defaults: local_ttl 5s, invalidation auto) in
// front of back. closeBack drops the back's table and closes it.
func newLayeredTarget(backend, note string, back backends.Store, o Options, closeBack func()) (*Target, error) {
	mem, err := kvcache.NewMemory("front", kvcache.BackendConfig{Type: "memory"}, nil)
	if err != nil {
		closeBack()
		return nil, err
	}
	st := layered.New(kvcache.NewContainer("front", "front:", 0, mem), back)
	if err := st.Setup(context.Background()); err != nil {
		closeBack()
		_ = mem.Close()
		return nil, err
	}
	return NewSessionfxTarget(backend, note, st, o, func() {
		closeBack() // drops the table, closes the back
		_ = st.Close()
		_ = mem.Close()
	})
}
