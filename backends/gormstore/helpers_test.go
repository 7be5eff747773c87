package gormstore_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap/zaptest"
	"gorm.io/gorm"

	"github.com/sessionfx/session/backends/gormstore"
)

// dbCase is one database the tests run against.
type dbCase struct {
	name   string
	driver string
	env    string // variable holding the DSN; "" for sqlite (temp file)
}

var dbCases = []dbCase{
	{name: "sqlite", driver: "sqlite"},
	{name: "postgres", driver: "postgres", env: "SESSIONFX_TEST_POSTGRES_DSN"},
	{name: "mariadb", driver: "mysql", env: "SESSIONFX_TEST_MYSQL_DSN"},
}

// forEachDB runs fn as a subtest per database; servers whose DSN variable is
// unset are skipped with a message naming it.
func forEachDB(t *testing.T, fn func(t *testing.T, c dbCase)) {
	for _, c := range dbCases {
		t.Run(c.name, func(t *testing.T) { fn(t, c) })
	}
}

// config returns the configuration for c: a fresh SQLite file, or the
// server's DSN (skipping the test when its variable is unset).
func (c dbCase) config(t testing.TB) gormstore.Config {
	cfg := gormstore.Config{Driver: c.driver, Table: randomName("sess")}
	if c.env == "" {
		cfg.DSN = filepath.Join(t.TempDir(), "sessions.sqlite3")
		return cfg
	}
	cfg.DSN = os.Getenv(c.env)
	if cfg.DSN == "" {
		t.Skipf("%s is not set; set it to run the gorm store tests on %s", c.env, c.name)
	}
	return cfg
}

// openDB opens c's database for one test and closes it at cleanup.
func (c dbCase) openDB(t testing.TB) (*gorm.DB, gormstore.Config) {
	cfg := c.config(t)
	db, err := gormstore.Open(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Open(%s): %v", c.name, err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return db, cfg
}

// newStore returns a set-up store on its own table of db, dropped at
// cleanup.
func newStore(t testing.TB, db *gorm.DB, table string, opts ...gormstore.Option) *gormstore.Store {
	t.Helper()
	opts = append([]gormstore.Option{gormstore.WithTable(table), gormstore.WithLogger(zaptest.NewLogger(t))}, opts...)
	s, err := gormstore.New(db, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Setup(t.Context()); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Migrator().DropTable(table); err != nil {
			t.Errorf("dropping table %s: %v", table, err)
		}
	})
	return s
}

// storeOn opens c's database and returns a store on a fresh table.
func storeOn(t testing.TB, c dbCase, opts ...gormstore.Option) *gormstore.Store {
	db, cfg := c.openDB(t)
	return newStore(t, db, cfg.Table, opts...)
}

func randomName(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}
