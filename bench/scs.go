package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/sqlite3store"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sessionfx/session/backends/gormstore"
)

// countingSCSStore wraps an scs.Store (the plain interface, so scs calls
// Find/Commit/Delete and never the Ctx variants).
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

// NewSCSTarget builds an scs target on store: scs defaults (lifetime 24h,
// no idle timeout unless o.IdleTimeout), cookie named CookieName.
func NewSCSTarget(backend, note string, store scs.Store, o Options, closeFn func()) *Target {
	c := &Counter{}
	sm := scs.New()
	sm.Store = countingSCSStore{s: store, c: c}
	sm.Cookie.Name = CookieName
	sm.IdleTimeout = o.IdleTimeout
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		http.Error(w, "scs: "+err.Error(), http.StatusInternalServerError)
	}
	return &Target{Lib: "scs", Backend: backend, Note: note, L: scsLib{sm}, Ops: &c.Ops, Writes: &c.Writes, Close: closeFn}
}

// redigoSCSStore is an scs.Store on Redis written for this harness, because
// github.com/alexedwards/scs/redisstore cannot be fetched from the module
// proxy this machine reaches. It issues the commands scs's Redis store
// documents: GET on Find; MULTI, SET, PEXPIREAT, EXEC on Commit; DEL on Delete.
type redigoSCSStore struct {
	pool   *redis.Pool
	prefix string
}

func (s *redigoSCSStore) Find(token string) ([]byte, bool, error) {
	conn := s.pool.Get()
	defer conn.Close()
	b, err := redis.Bytes(conn.Do("GET", s.prefix+token))
	if errors.Is(err, redis.ErrNil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

func (s *redigoSCSStore) Commit(token string, b []byte, expiry time.Time) error {
	conn := s.pool.Get()
	defer conn.Close()
	if err := conn.Send("MULTI"); err != nil {
		return err
	}
	if err := conn.Send("SET", s.prefix+token, b); err != nil {
		return err
	}
	if err := conn.Send("PEXPIREAT", s.prefix+token, expiry.UnixNano()/int64(time.Millisecond)); err != nil {
		return err
	}
	_, err := conn.Do("EXEC")
	return err
}

func (s *redigoSCSStore) Delete(token string) error {
	conn := s.pool.Get()
	defer conn.Close()
	_, err := conn.Do("DEL", s.prefix+token)
	return err
}

// NewRedigoPool returns a redigo pool on the Redis URL of the environment.
func NewRedigoPool() (*redis.Pool, error) {
	url := RedisURL()
	if url == "" {
		return nil, fmt.Errorf("%w: %s is unset", ErrSkip, EnvRedis)
	}
	p := &redis.Pool{
		MaxIdle:     16,
		IdleTimeout: time.Minute,
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
		{"scs", "memory", func(_ context.Context, o Options) (*Target, error) {
			st := memstore.NewWithCleanupInterval(0)
			return NewSCSTarget("memory", "scs/v2/memstore", st, o, func() {}), nil
		}},
		{"scs", "redis", func(_ context.Context, o Options) (*Target, error) {
			p, err := NewRedigoPool()
			if err != nil {
				return nil, err
			}
			prefix := UniqueName("scsbench:") + ":"
			st := &redigoSCSStore{pool: p, prefix: prefix}
			return NewSCSTarget("redis", "harness redigo store (scs/redisstore's commands; scs/redisstore is not on the module proxy)", st, o, func() {
				DeletePrefix(p, prefix)
				_ = p.Close()
			}), nil
		}},
		{"scs", "sqlite", func(_ context.Context, o Options) (*Target, error) {
			dir, err := tempDir()
			if err != nil {
				return nil, err
			}
			// The same pure-Go driver and pragmas as sessionfx's gormstore.
			gdb, err := gormstore.Open(gormstore.Config{Driver: "sqlite", DSN: filepath.Join(dir, "scs.sqlite3")}, nil)
			if err != nil {
				return nil, err
			}
			db, err := gdb.DB()
			if err != nil {
				return nil, err
			}
			for _, q := range []string{
				"CREATE TABLE sessions (token TEXT PRIMARY KEY, data BLOB NOT NULL, expiry REAL NOT NULL)",
				"CREATE INDEX sessions_expiry_idx ON sessions(expiry)",
			} {
				if _, err := db.Exec(q); err != nil {
					return nil, fmt.Errorf("scs sqlite: %s: %w", q, err)
				}
			}
			st := sqlite3store.NewWithConfig(db, sqlite3store.Config{TableName: "sessions"})
			return NewSCSTarget("sqlite", "scs/sqlite3store on the same SQLite driver (modernc.org/sqlite via libtnb/sqlite, pure Go)", st, o, func() {
				_ = db.Close()
				removeAll(dir)
			}), nil
		}},
		{"scs", "postgres", func(ctx context.Context, o Options) (*Target, error) {
			pool, schema, err := NewPgxPoolWithSchema(ctx, UniqueName("scsbench_"))
			if err != nil {
				return nil, err
			}
			for _, q := range []string{
				"CREATE TABLE sessions (token TEXT PRIMARY KEY, data BYTEA NOT NULL, expiry TIMESTAMPTZ NOT NULL)",
				"CREATE INDEX sessions_expiry_idx ON sessions (expiry)",
			} {
				if _, err := pool.Exec(ctx, q); err != nil {
					pool.Close()
					return nil, fmt.Errorf("scs postgres: %s: %w", q, err)
				}
			}
			st := pgxstore.NewWithCleanupInterval(pool, 0)
			return NewSCSTarget("postgres", "scs/pgxstore (pgx pool)", st, o, func() {
				_, _ = pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
				pool.Close()
			}), nil
		}},
	}
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
