package layered_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/rediskv"
)

const (
	postgresEnv = "SESSIONFX_TEST_POSTGRES_DSN"
	redisEnv    = "SESSIONFX_TEST_REDIS_URL"
)

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// memContainer returns a container on a fresh memory backend of its own.
func memContainer(t testing.TB, name string) *kvcache.Container {
	t.Helper()
	b, err := kvcache.NewMemory(name, kvcache.BackendConfig{Type: "memory", MaxSize: 8 << 20}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewMemory: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return kvcache.NewContainer(name, name+":", 0, b)
}

// sqliteBack returns a set-up gorm store on a fresh SQLite file.
func sqliteBack(t testing.TB) backends.Store {
	t.Helper()
	cfg := gormstore.Config{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "s.sqlite3"), Table: randomName("sess")}
	return gormBack(t, cfg)
}

// postgresBack returns a gorm store on a fresh table of the test PostgreSQL,
// dropped at cleanup; it skips when the variable is unset.
func postgresBack(t testing.TB) backends.Store {
	t.Helper()
	dsn := os.Getenv(postgresEnv)
	if dsn == "" {
		t.Skipf("%s is not set; set it (e.g. %q) to run the layered store on PostgreSQL", postgresEnv, "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable")
	}
	cfg := gormstore.Config{Driver: "postgres", DSN: dsn, Table: randomName("sess")}
	db, err := gormstore.Open(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Open postgres: %v", err)
	}
	s, err := gormstore.New(db, gormstore.WithTable(cfg.Table), gormstore.WithLogger(zaptest.NewLogger(t)))
	if err != nil {
		t.Fatalf("gormstore.New: %v", err)
	}
	t.Cleanup(func() {
		_ = db.Migrator().DropTable(cfg.Table)
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return s
}

func gormBack(t testing.TB, cfg gormstore.Config) backends.Store {
	t.Helper()
	s, err := gormstore.NewFromConfig(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("gormstore.NewFromConfig: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Setup(context.Background()); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return s
}

// redisContainer returns a container with a unique prefix on the test
// Redis, emptied at cleanup; it skips when the variable is unset.
func redisContainer(t testing.TB) *kvcache.Container {
	t.Helper()
	url := os.Getenv(redisEnv)
	if url == "" {
		t.Skipf("%s is not set; set it (e.g. redis://127.0.0.1:6379/0) to run the layered store on Redis", redisEnv)
	}
	b, err := rediskv.New("test", kvcache.BackendConfig{Type: "redis", URL: url}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("rediskv.New: %v", err)
	}
	c := kvcache.NewContainer("sessions", randomName("layeredtest")+":", 0, b)
	t.Cleanup(func() {
		_ = c.Clear(context.Background())
		_ = b.Close()
	})
	return c
}

// countingStore counts the calls that reach the back store.
type countingStore struct {
	backends.Store
	loads atomic.Int64
	// hold, when set, is waited on after the inner Load returned.
	hold chan struct{}
	// loaded is signalled (non-blocking) after the inner Load returned.
	loaded chan struct{}
}

// Unwrap keeps the back's capabilities (Sweeper, Iterator, ...) visible.
func (c *countingStore) Unwrap() backends.Store { return c.Store }

func (c *countingStore) Load(ctx context.Context, id string) (*backends.Record, error) {
	c.loads.Add(1)
	r, err := c.Store.Load(ctx, id)
	if c.loaded != nil {
		select {
		case c.loaded <- struct{}{}:
		default:
		}
	}
	if c.hold != nil {
		<-c.hold
	}
	return r, err
}

var errFront = errors.New("front is down")

// failingBackend wraps a backend and fails every call while down is set.
type failingBackend struct {
	kvcache.Backend
	down  atomic.Bool
	calls atomic.Int64
}

func (f *failingBackend) fail() error {
	f.calls.Add(1)
	if f.down.Load() {
		return errFront
	}
	return nil
}

func (f *failingBackend) Get(ctx context.Context, key string) ([]byte, time.Duration, error) {
	if err := f.fail(); err != nil {
		return nil, 0, err
	}
	return f.Backend.Get(ctx, key)
}

func (f *failingBackend) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Backend.Set(ctx, key, v, ttl)
}

func (f *failingBackend) Delete(ctx context.Context, key string) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Backend.Delete(ctx, key)
}

func (f *failingBackend) Scan(ctx context.Context, prefix string, fn func(string) error) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Backend.Scan(ctx, prefix, fn)
}

func (f *failingBackend) Update(ctx context.Context, key string, fn kvcache.UpdateFunc) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Backend.Update(ctx, key, fn)
}

func (f *failingBackend) Expire(ctx context.Context, key string, ttl time.Duration) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Backend.Expire(ctx, key, ttl)
}

func (f *failingBackend) Exists(ctx context.Context, key string) (bool, error) {
	if err := f.fail(); err != nil {
		return false, err
	}
	return f.Backend.Exists(ctx, key)
}
