package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/mysqlstore"
	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/sqlite3store"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/go-sql-driver/mysql"
	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
	"github.com/sessionfx/session/backends/gormstore"
)

// countingSCSStore wraps a plain scs.Store (no Ctx methods, so scs calls
// Find/Commit/Delete, as it would on the store itself).
type countingSCSStore struct {
	s scs.Store
	c *Counter
}

func (s countingSCSStore) Find(token string) ([]byte, bool, error) {
	s.c.read()
	return s.s.Find(token)
}

func (s countingSCSStore) Commit(token string, b []byte, expiry time.Time) error {
	s.c.write()
	return s.s.Commit(token, b, expiry)
}

func (s countingSCSStore) Delete(token string) error {
	s.c.write()
	return s.s.Delete(token)
}

// countingSCSCtxStore wraps an scs.CtxStore (goredisstore): scs calls
// FindCtx/CommitCtx/DeleteCtx, as it would on the store itself (whose plain
// methods panic).
type countingSCSCtxStore struct {
	countingSCSStore
	cs scs.CtxStore
}

func (s countingSCSCtxStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	s.c.read()
	return s.cs.FindCtx(ctx, token)
}

func (s countingSCSCtxStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	s.c.write()
	return s.cs.CommitCtx(ctx, token, b, expiry)
}

func (s countingSCSCtxStore) DeleteCtx(ctx context.Context, token string) error {
	s.c.write()
	return s.cs.DeleteCtx(ctx, token)
}

type scsLib struct{ sm *scs.SessionManager }

func (l scsLib) Wrap(h http.Handler) http.Handler { return l.sm.LoadAndSave(h) }

func (l scsLib) GetString(_ http.ResponseWriter, r *http.Request, key string) string {
	return l.sm.GetString(r.Context(), key)
}

func (l scsLib) Incr(_ http.ResponseWriter, r *http.Request, key string) {
	l.sm.Put(r.Context(), key, l.sm.GetInt(r.Context(), key)+1)
}

func (l scsLib) Put(_ http.ResponseWriter, r *http.Request, key, value string) {
	l.sm.Put(r.Context(), key, value)
}

// SCSManager returns the scs session manager every scs target uses: scs's
// defaults (gob codec, ...) with the settings shared by every side (see
// Settings): Lifetime 24h, a Secure, HttpOnly, SameSite=Lax persistent cookie
// named CookieName, HashTokenInStore, and IdleTimeout = o.IdleTimeout (0:
// none, scs's default).
func SCSManager(o Options) *scs.SessionManager {
	sm := scs.New()
	sm.Lifetime = Lifetime
	sm.IdleTimeout = o.IdleTimeout
	sm.HashTokenInStore = SCSHashTokenInStore
	sm.Cookie.Name = CookieName
	sm.Cookie.Path = "/"
	sm.Cookie.Secure = true
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Persist = true
	return sm
}

// NewSCSTarget builds an scs target on store (see SCSManager).
func NewSCSTarget(backend, note string, store scs.Store, o Options, closeFn func()) *Target {
	c := &Counter{}
	sm := SCSManager(o)
	plain := countingSCSStore{s: store, c: c}
	if cs, ok := store.(scs.CtxStore); ok {
		sm.Store = countingSCSCtxStore{countingSCSStore: plain, cs: cs}
	} else {
		sm.Store = plain
	}
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		http.Error(w, "scs: "+err.Error(), http.StatusInternalServerError)
	}
	return &Target{Lib: "scs", Backend: backend, Note: note, L: scsLib{sm}, C: c, Close: closeFn}
}

// NewRedigoPool returns a redigo pool on url (the environment's Redis URL
// when empty), as scs/redisstore's README builds one.
func NewRedigoPool(url string) (*redis.Pool, error) {
	if url == "" {
		url = RedisURL()
	}
	if url == "" {
		return nil, fmt.Errorf("%w: %s is unset", ErrSkip, EnvRedis)
	}
	p := &redis.Pool{
		MaxIdle:     10,
		IdleTimeout: 240 * time.Second,
		Dial:        func() (redis.Conn, error) { return redis.DialURL(url) },
	}
	conn := p.Get()
	defer conn.Close()
	if _, err := conn.Do("PING"); err != nil {
		_ = p.Close()
		return nil, fmt.Errorf("redis at %s: %w", url, err)
	}
	return p, nil
}

// DeletePrefix removes every key under prefix (SCAN + DEL).
func DeletePrefix(p *redis.Pool, prefix string) {
	conn := p.Get()
	defer conn.Close()
	cursor := "0"
	for {
		vals, err := redis.Values(conn.Do("SCAN", cursor, "MATCH", prefix+"*", "COUNT", 1000))
		if err != nil || len(vals) != 2 {
			return
		}
		cursor, _ = redis.String(vals[0], nil)
		keys, _ := redis.Strings(vals[1], nil)
		for _, k := range keys {
			_, _ = conn.Do("DEL", k)
		}
		if cursor == "0" {
			return
		}
	}
}

func scsBuilders() []Builder {
	return []Builder{
		{"scs", "memory", true, false, func(_ context.Context, o Options) (*Target, error) {
			st := memstore.NewWithCleanupInterval(0)
			return NewSCSTarget("memory", "scs/v2/memstore (unbounded map: never evicts)", st, o, func() {}), nil
		}},
		{"scs", "redis", true, false, func(_ context.Context, o Options) (*Target, error) {
			p, err := NewRedigoPool(o.redisURL())
			if err != nil {
				return nil, err
			}
			prefix := UniqueName("scsbench:") + ":"
			st := redisstore.NewWithPrefix(p, prefix)
			return NewSCSTarget("redis", "scs/redisstore (redigo pool, MaxIdle 10)", st, o, func() {
				DeletePrefix(p, prefix)
				_ = p.Close()
			}), nil
		}},
		{"scs", "redis-goredis", true, false, func(ctx context.Context, o Options) (*Target, error) {
			url := o.redisURL()
			if url == "" {
				return nil, fmt.Errorf("%w: %s is unset", ErrSkip, EnvRedis)
			}
			opt, err := goredis.ParseURL(url)
			if err != nil {
				return nil, err
			}
			client := goredis.NewClient(opt)
			if err := client.Ping(ctx).Err(); err != nil {
				_ = client.Close()
				return nil, fmt.Errorf("redis at %s: %w", url, err)
			}
			prefix := UniqueName("scsbench:") + ":"
			st := goredisstore.NewWithPrefix(client, prefix)
			return NewSCSTarget("redis-goredis", "scs/goredisstore (go-redis v9 client, default pool)", st, o, func() {
				if p, err := NewRedigoPool(url); err == nil {
					DeletePrefix(p, prefix)
					_ = p.Close()
				}
				_ = client.Close()
			}), nil
		}},
		{"scs", "sqlite", true, false, func(_ context.Context, o Options) (*Target, error) {
			dir, err := tempDir()
			if err != nil {
				return nil, err
			}
			// The same pure-Go driver and pragmas as sessionfx's gormstore.
			gdb, err := gormstore.Open(gormstore.Config{Driver: "sqlite", DSN: filepath.Join(dir, "scs.sqlite3")}, nil)
			if err != nil {
				removeAll(dir)
				return nil, err
			}
			db, err := gdb.DB()
			if err != nil {
				removeAll(dir)
				return nil, err
			}
			for _, q := range []string{
				"CREATE TABLE sessions (token TEXT PRIMARY KEY, data BLOB NOT NULL, expiry REAL NOT NULL)",
				"CREATE INDEX sessions_expiry_idx ON sessions(expiry)",
			} {
				if _, err := db.Exec(q); err != nil {
					_ = db.Close()
					removeAll(dir)
					return nil, fmt.Errorf("scs sqlite: %s: %w", q, err)
				}
			}
			st := sqlite3store.NewWithConfig(db, sqlite3store.Config{TableName: "sessions"})
			return NewSCSTarget("sqlite", "scs/sqlite3store on the same SQLite driver and pragmas (modernc.org/sqlite via libtnb/sqlite, pure Go)", st, o, func() {
				_ = db.Close()
				removeAll(dir)
			}), nil
		}},
		{"scs", "postgres", true, false, func(ctx context.Context, o Options) (*Target, error) {
			pool, schema, err := NewPgxPoolWithSchema(ctx, UniqueName("scsbench_"))
			if err != nil {
				return nil, err
			}
			drop := func() {
				_, _ = pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
				pool.Close()
			}
			for _, q := range []string{
				"CREATE TABLE sessions (token TEXT PRIMARY KEY, data BYTEA NOT NULL, expiry TIMESTAMPTZ NOT NULL)",
				"CREATE INDEX sessions_expiry_idx ON sessions (expiry)",
			} {
				if _, err := pool.Exec(ctx, q); err != nil {
					drop()
					return nil, fmt.Errorf("scs postgres: %s: %w", q, err)
				}
			}
			st := pgxstore.NewWithCleanupInterval(pool, 0)
			return NewSCSTarget("postgres", "scs/pgxstore (pgx pool)", st, o, drop), nil
		}},
		{"scs", "mysql", true, false, func(_ context.Context, o Options) (*Target, error) {
			db, dbName, err := NewMySQLDatabase(UniqueName("scsbench_"))
			if err != nil {
				return nil, err
			}
			drop := func() {
				_, _ = db.Exec("DROP DATABASE " + dbName)
				_ = db.Close()
			}
			for _, q := range []string{
				"CREATE TABLE sessions (token CHAR(43) PRIMARY KEY, data BLOB NOT NULL, expiry TIMESTAMP(6) NOT NULL)",
				"CREATE INDEX sessions_expiry_idx ON sessions (expiry)",
			} {
				if _, err := db.Exec(q); err != nil {
					drop()
					return nil, fmt.Errorf("scs mysql: %s: %w", q, err)
				}
			}
			st := mysqlstore.NewWithCleanupInterval(db, 0)
			return NewSCSTarget("mysql", "scs/mysqlstore (go-sql-driver/mysql)", st, o, drop), nil
		}},
	}
}

// NewMySQLDatabase creates database name on the environment's MySQL/MariaDB
// and returns a pool on it (mysqlstore always uses the table "sessions").
func NewMySQLDatabase(name string) (*sql.DB, string, error) {
	dsn := MySQLDSN()
	if dsn == "" {
		return nil, "", fmt.Errorf("%w: %s is unset", ErrSkip, EnvMySQL)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, "", fmt.Errorf("mysql: %s: %w", EnvMySQL, err)
	}
	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, "", err
	}
	_, err = admin.Exec("CREATE DATABASE " + name)
	_ = admin.Close()
	if err != nil {
		return nil, "", fmt.Errorf("mysql: create database %s: %w", name, err)
	}
	cfg.DBName = name
	cfg.ParseTime = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, "", err
	}
	return db, name, nil
}

// NewPgxPoolWithSchema creates schema in the environment's PostgreSQL and
// returns a pool whose search_path is that schema (pgxstore always uses the
// table "sessions").
func NewPgxPoolWithSchema(ctx context.Context, schema string) (*pgxpool.Pool, string, error) {
	dsn := PostgresDSN()
	if dsn == "" {
		return nil, "", fmt.Errorf("%w: %s is unset", ErrSkip, EnvPostgres)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, "", fmt.Errorf("postgres: %w", err)
	}
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	_ = conn.Close(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("postgres: create schema %s: %w", schema, err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, "", err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, "", err
	}
	return pool, schema, nil
}
