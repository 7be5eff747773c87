package session_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends/gormstore"
)

// The manager and the store name one session by one hash, so its log
// lines can be found together (here: a corrupt GORM row, which the store
// and the manager both report).
func TestOneLogHashPerSession(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	db, err := gormstore.Open(gormstore.Config{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "s.sqlite3")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := gormstore.New(db, gormstore.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	m := newManager(t, st, nil, session.WithLogger(log))
	id := writeSession(t, m, map[string]any{"a": int64(1)})
	if err := db.Table(st.Table()).Where("session_id = ?", session.HashID(id)).Update("data", "{not json").Error; err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: "session", Value: id})
	m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = session.From(r.Context())
	})).ServeHTTP(httptest.NewRecorder(), req)
	entries := logs.FilterMessageSnippet("corrupt").All()
	if len(entries) < 2 {
		t.Fatalf("want the store's and the manager's lines about the corrupt row, got %v", logs.All())
	}
	want := ""
	for _, e := range entries {
		h, _ := e.ContextMap()["session"].(string)
		if len(h) != 8 {
			t.Fatalf("%q: session field %q; want an 8-hex hash", e.Message, h)
		}
		if want == "" {
			want = h
		} else if h != want {
			t.Fatalf("%q names the session %q, another line %q: one session, one hash", e.Message, h, want)
		}
	}
}
