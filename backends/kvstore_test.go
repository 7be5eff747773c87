package backends_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/storetest"
	"github.com/sessionfx/session/kvcache"
)

func newMemoryContainer(t *testing.T) *kvcache.Container {
	t.Helper()
	b, err := kvcache.NewMemory("t", kvcache.BackendConfig{Type: "memory", MaxSize: 64 << 20}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return kvcache.NewContainer("session", "session:", 0, b)
}

func TestKVStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store {
		return backends.NewKVStore(newMemoryContainer(t))
	})
}

func TestKVStoreCorruptValues(t *testing.T) {
	ctx := t.Context()
	c := newMemoryContainer(t)
	s := backends.NewKVStore(c)
	if err := c.Set(ctx, "bad", []byte("not a record"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "bad"); !errors.Is(err, backends.ErrCorrupt) {
		t.Fatalf("Load of a corrupt value: %v, want ErrCorrupt", err)
	}
	// Iterate skips it.
	if err := s.Iterate(ctx, func(r backends.Record) error {
		t.Errorf("Iterate yielded %q", r.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// DeleteOlderThan removes it, whatever the age.
	if n, err := s.DeleteOlderThan(ctx, time.Hour); err != nil || n != 1 {
		t.Fatalf("DeleteOlderThan = %d, %v; want 1 (the corrupt value)", n, err)
	}
	// A save that is not New never turns a corrupt value into a session
	// (the manager deletes it on load and starts a new one).
	if err := c.Set(ctx, "bad", []byte("{}"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Save(ctx, "bad", backends.Changes{Set: map[string]any{"a": int64(1)}}, backends.SaveOptions{}); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Save over a corrupt value = %+v, %v; want ErrNotFound", r, err)
	}
	if got, err := c.Get(ctx, "bad"); err != nil || string(got) != "{}" {
		t.Fatalf("the corrupt value after a refused save = %q, %v; want it untouched", got, err)
	}
}

func TestKVStoreTouchKeepsValue(t *testing.T) {
	ctx := t.Context()
	c := newMemoryContainer(t)
	s := backends.NewKVStore(c)
	r, err := s.Save(ctx, "id", backends.Changes{Set: map[string]any{"a": "x"}}, backends.SaveOptions{Expires: time.Now().Add(time.Minute), New: true})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := c.Get(ctx, "id")
	if err := s.Touch(ctx, "id", time.Time{}); err != nil {
		t.Fatal(err)
	}
	after, ttl, err := c.GetWithTTL(ctx, "id")
	if err != nil || string(after) != string(before) || ttl != 0 {
		t.Fatalf("after Touch to no expiry: value changed or ttl = %s, err %v", ttl, err)
	}
	got, err := s.Load(ctx, "id")
	if err != nil || !got.Expires.IsZero() || !got.Updated.Equal(r.Updated) {
		t.Fatalf("Load after Touch = %+v, %v; want no expiry, Updated of the save", got, err)
	}
	// Touch to a past time deletes.
	if err := s.Touch(ctx, "id", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Exists(ctx, "id"); ok {
		t.Fatal("session exists after Touch to a past time")
	}
}

func TestKVStoreInfo(t *testing.T) {
	s := backends.NewKVStore(newMemoryContainer(t))
	if got := s.Info(); got != (backends.Info{Name: "kvcache", CrossProcess: false, Merges: true, ExpiresNatively: true}) {
		t.Fatalf("Info = %+v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNullStore(t *testing.T) {
	ctx := context.Background()
	s := backends.NewNullStore()
	created := time.Now().Add(-time.Hour)
	exp := time.Now().Add(time.Hour)
	r, err := s.Save(ctx, "id", backends.Changes{Set: map[string]any{"a": int64(1)}}, backends.SaveOptions{Expires: exp, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "id" || r.Data["a"] != int64(1) || !r.Created.Equal(created) || !r.Expires.Equal(exp) || r.Updated.IsZero() {
		t.Fatalf("Save returned %+v", r)
	}
	if _, err := s.Load(ctx, "id"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Load: %v, want ErrNotFound", err)
	}
	if ok, err := s.Exists(ctx, "id"); ok || err != nil {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	if err := s.Touch(ctx, "id", exp); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Touch: %v, want ErrNotFound", err)
	}
	calls := 0
	if err := s.Iterate(ctx, func(backends.Record) error { calls++; return nil }); err != nil || calls != 0 {
		t.Fatalf("Iterate: %d calls, %v", calls, err)
	}
	if n, err := s.DeleteOlderThan(ctx, 0); n != 0 || err != nil {
		t.Fatalf("DeleteOlderThan = %d, %v", n, err)
	}
	if err := errors.Join(s.Delete(ctx, "id"), s.Setup(ctx), s.Close()); err != nil {
		t.Fatal(err)
	}
	if s.Info() != (backends.Info{Name: "null", CrossProcess: true}) {
		t.Fatalf("Info = %+v", s.Info())
	}
}
