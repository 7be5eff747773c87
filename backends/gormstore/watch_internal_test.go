package gormstore

import (
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/sessionfx/session/backends"
)

// An idle listener pings its connection and keeps listening: idle periods
// report no loss, and writes after them are still reported.
func TestWatchHeartbeat(t *testing.T) {
	dsn := os.Getenv("SESSIONFX_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("SESSIONFX_TEST_POSTGRES_DSN is not set; set it to run the PostgreSQL watch heartbeat test")
	}
	idle := watchIdle
	watchIdle = 20 * time.Millisecond
	t.Cleanup(func() { watchIdle = idle })
	table := "sess_hb_" + time.Now().Format("150405000000")
	s, err := NewFromConfig(Config{Driver: "postgres", DSN: dsn, Table: table}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.DB().Migrator().DropTable(table)
		_ = s.Close()
	})
	if err := s.Setup(t.Context()); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen []backends.Change
	)
	stop, err := s.Watch(t.Context(), func(c backends.Change) {
		mu.Lock()
		seen = append(seen, c)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stop() }()
	time.Sleep(300 * time.Millisecond) // many idle periods, each with a ping
	if _, err := s.Save(t.Context(), "hb", backends.Changes{Set: map[string]any{"a": int64(1)}}, backends.SaveOptions{New: true}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := append([]backends.Change(nil), seen...)
		mu.Unlock()
		if len(got) >= 2 {
			want := []backends.Change{{Kind: backends.Synced}, {ID: "hb", Rev: 1}}
			if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
				t.Fatalf("reports = %+v, want %+v", got, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("reports after idle periods = %+v; want Synced and the save", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
