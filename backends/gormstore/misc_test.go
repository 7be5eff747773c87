package gormstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/gormstore"
)

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  gormstore.Config
		want []string
	}{
		{gormstore.Config{Driver: "oracle"}, []string{"gorm.driver", `"oracle"`, "sqlite, postgres, mysql"}},
		{gormstore.Config{Table: "sessions; DROP TABLE users"}, []string{"gorm.table", "DROP"}},
		{gormstore.Config{MaxOpenConns: -1}, []string{"gorm.max_open_conns", "-1"}},
	} {
		_, err := gormstore.Open(tc.cfg, nil)
		if !errors.Is(err, gormstore.ErrConfig) {
			t.Errorf("Open(%+v) = %v; want ErrConfig", tc.cfg, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Open(%+v) error %q does not mention %s", tc.cfg, err, w)
			}
		}
	}
}

func TestModelErrors(t *testing.T) {
	db, _ := dbCases[0].openDB(t)
	type NoRow struct {
		ID     uint
		UserID *uint `session:"user_id"`
	}
	type Ignored struct {
		gormstore.Row
		UserID *uint `session:"user_id" gorm:"-"`
	}
	type Twice struct {
		gormstore.Row
		A *int `session:"k"`
		B *int `session:"k"`
	}
	type MapField struct {
		gormstore.Row
		M map[string]int `session:"m" gorm:"serializer:json"`
	}
	for _, m := range []any{&NoRow{}, &Ignored{}, &Twice{}, &MapField{}, "not a struct"} {
		if _, err := gormstore.New(db, gormstore.WithModel(m)); !errors.Is(err, gormstore.ErrModel) {
			t.Errorf("New(WithModel(%T)) = %v; want ErrModel", m, err)
		}
	}
}

func TestMemorySQLite(t *testing.T) {
	s, err := gormstore.NewFromConfig(gormstore.Config{DSN: ":memory:", Table: "mem"}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if info := s.Info(); info.Name != "gorm" || info.CrossProcess || !info.Merges {
		t.Errorf("Info() = %+v; want gorm, not cross-process, merging", info)
	}
	if err := s.Setup(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Every statement must reach the same in-memory database.
	for range 3 {
		mustSave(t, s, "m", backends.Changes{Set: map[string]any{"a": int64(1)}}, backends.SaveOptions{New: true})
		if got := mustLoad(t, s, "m"); got.Data["a"] != int64(1) {
			t.Fatalf("Load = %#v", got.Data)
		}
	}
}

// TestRegistration builds the store the way the module does: from the
// [gorm] configuration, or on the app's own *gorm.DB and model.
func TestRegistration(t *testing.T) {
	reg, err := backends.NewRegistry(gormstore.Registration())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Run("from config", func(t *testing.T) {
		var asked string
		created, err := reg.Create("gorm", backends.Env{
			Context: t.Context(),
			Logger:  zaptest.NewLogger(t),
			Config: func(path string, out any) error {
				asked = path
				cfg := out.(*gormstore.Config)
				cfg.DSN = filepath.Join(dir, "conf.sqlite3")
				cfg.Table = "conf_sessions"
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		st := created.(*gormstore.Store)
		if asked != "gorm" {
			t.Errorf("asked for config %q; want gorm", asked)
		}
		// The constructor does not migrate: the module calls Setup once,
		// in OnStart.
		if st.DB().Migrator().HasTable("conf_sessions") {
			t.Error("the constructor created the table; Setup (run once, in OnStart) should")
		}
		if err := st.Setup(t.Context()); err != nil {
			t.Fatal(err)
		}
		if st.Info().Name != "gorm" || !st.Info().CrossProcess {
			t.Errorf("Info() = %+v", st.Info())
		}
		if _, err := st.Save(t.Context(), "r", backends.Changes{Set: map[string]any{"a": "b"}}, backends.SaveOptions{New: true}); err != nil {
			t.Fatal(err)
		}
		if st.Table() != "conf_sessions" {
			t.Errorf("table = %q; want conf_sessions", st.Table())
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		// The store opened the database, so Close closed it.
		if err := st.DB().Exec("SELECT 1").Error; err == nil {
			t.Error("database still usable after Close of a store that opened it")
		}
	})
	t.Run("config error", func(t *testing.T) {
		_, err := reg.Create("gorm", backends.Env{Config: func(_ string, out any) error {
			out.(*gormstore.Config).Driver = "sqlserver"
			return nil
		}})
		if !errors.Is(err, gormstore.ErrConfig) || !strings.Contains(err.Error(), "gorm.driver") {
			t.Errorf("Create with driver sqlserver = %v; want an error naming gorm.driver", err)
		}
	})
	t.Run("app db and model", func(t *testing.T) {
		db, _ := dbCases[0].openDB(t)
		appReg, err := backends.NewRegistry(gormstore.NewRegistration(db, gormstore.Model[LevelSession]()))
		if err != nil {
			t.Fatal(err)
		}
		created, err := appReg.Create("gorm", backends.Env{Context: t.Context()})
		if err != nil {
			t.Fatal(err)
		}
		st := created.(*gormstore.Store)
		if err := st.Setup(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Save(t.Context(), "r", backends.Changes{Set: map[string]any{"level": int64(7)}}, backends.SaveOptions{New: true}); err != nil {
			t.Fatal(err)
		}
		var level *int
		if err := db.Table("sessions").Select("level").Where("session_id = ?", "r").Scan(&level).Error; err != nil || level == nil || *level != 7 {
			t.Errorf("column level = %v, %v; want 7 in the app model's column", level, err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if err := db.Exec("SELECT 1").Error; err != nil {
			t.Errorf("app's database unusable after store Close: %v", err)
		}
	})
}

// A DSN's password never reaches an error, whatever its form.
func TestOpenErrorsNeverShowTheDSNPassword(t *testing.T) {
	const secret = "s3cretPW"
	for _, c := range []struct{ driver, dsn string }{
		{"postgres", "host=127.0.0.1 port=1 user=u password=" + secret + " dbname=x sslmode=disable connect_timeout=1"},
		{"postgres", "host=127.0.0.1 port=1 user=u password = " + secret + " dbname=x sslmode=disable connect_timeout=1"},
		{"postgres", "host=127.0.0.1 port=1 user=u password='" + secret + " two' dbname=x sslmode=disable connect_timeout=1"},
		{"postgres", "postgres://u:" + secret + "@x@127.0.0.1:1/x?sslmode=disable&connect_timeout=1"},
		{"mysql", "u:" + secret + "@x@tcp(127.0.0.1:1)/x?timeout=1s"},
		{"mysql", "u:" + secret + "@tcp(127.0.0.1:1)/x?timeout=1s"},
	} {
		_, err := gormstore.Open(gormstore.Config{Driver: c.driver, DSN: c.dsn}, nil)
		if err == nil {
			t.Fatalf("%s %q: opened; want a connection error", c.driver, c.dsn)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the password: %v", c.driver, err)
		}
	}
}

// OpenContext gives up when its context ends, even on a server that
// accepts the connection and never answers.
func TestOpenContextIsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = gormstore.OpenContext(ctx, gormstore.Config{Driver: "postgres",
		DSN: fmt.Sprintf("host=127.0.0.1 port=%d user=u password=pw123 dbname=x sslmode=disable", port)}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "gorm.dsn not shown") || strings.Contains(err.Error(), "pw123") {
		t.Fatalf("OpenContext on a silent server = %v; want a deadline error naming gorm.dsn, without the password", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("OpenContext took %s; want about the context's 200ms", d)
	}
	// A context that is already done opens nothing.
	done, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if _, err := gormstore.OpenContext(done, gormstore.Config{DSN: ":memory:"}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("OpenContext with a cancelled context = %v; want context.Canceled", err)
	}
}

// oldRow is the mixin as it was before sessions recorded their user agent
// and IP: a table made from it is what an existing app has.
type oldRow struct {
	ID        uint       `gorm:"primaryKey;autoIncrement"`
	SessionID string     `gorm:"column:session_id;size:64;not null;uniqueIndex"`
	Data      string     `gorm:"column:data;not null"`
	Version   int64      `gorm:"column:version;not null"`
	CreatedAt time.Time  `gorm:"column:created_at;not null"`
	UpdatedAt time.Time  `gorm:"column:updated_at;not null;index"`
	ExpiresAt *time.Time `gorm:"column:expires_at;index"`
}

// TestSetupAddsMetaColumnsToAnOldTable: Setup migrates a table of the
// previous schema; its sessions load (with empty Meta), keep their data,
// and new sessions record their Meta.
func TestSetupAddsMetaColumnsToAnOldTable(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase) {
		db, cfg := c.openDB(t)
		if err := db.Table(cfg.Table).Migrator().CreateTable(&oldRow{}); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		if err := db.Table(cfg.Table).Create(&oldRow{SessionID: "old", Data: `{"user_id":"ann"}`, Version: 1, CreatedAt: now, UpdatedAt: now}).Error; err != nil {
			t.Fatal(err)
		}
		s := newStore(t, db, cfg.Table)
		rec, err := s.Load(t.Context(), "old")
		if err != nil || rec.Data["user_id"] != "ann" || !rec.Meta.IsZero() {
			t.Fatalf("old session after Setup: %+v, %v", rec, err)
		}
		meta := backends.Meta{UserAgent: "agent/1", IP: "192.0.2.7"}
		if _, err := s.Save(t.Context(), "new", backends.Changes{Set: map[string]any{"a": int64(1)}}, backends.SaveOptions{New: true, Meta: meta}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Save(t.Context(), "new", backends.Changes{Set: map[string]any{"a": int64(2)}}, backends.SaveOptions{Meta: backends.Meta{UserAgent: "other"}}); err != nil {
			t.Fatal(err)
		}
		rec, err = s.Load(t.Context(), "new")
		if err != nil || rec.Meta != meta {
			t.Errorf("new session: meta %+v, %v; want %+v kept by later saves", rec.Meta, err, meta)
		}
	})
}
