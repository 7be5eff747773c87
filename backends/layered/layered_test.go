package layered_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/google/uuid"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/layered"
	"github.com/sessionfx/session/backends/storetest"
	"github.com/sessionfx/session/kvcache"
)

func TestContract(t *testing.T) {
	t.Run("memory/gorm-sqlite", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) backends.Store {
			return layered.New(memContainer(t, "front"), sqliteBack(t))
		})
	})
	t.Run("memory/kvcache-memory", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) backends.Store {
			return layered.New(memContainer(t, "front"), backends.NewKVStore(memContainer(t, "back")))
		})
	})
	t.Run("memory/gorm-postgres", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) backends.Store {
			s := layered.New(memContainer(t, "front"), postgresBack(t))
			t.Cleanup(func() { _ = s.Close() }) // stops its watch
			return s
		})
	})
	t.Run("memory/kvcache-redis", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) backends.Store {
			return layered.New(memContainer(t, "front"), backends.NewKVStore(redisContainer(t)))
		})
	})
}

func set(k string, v any) backends.Changes { return backends.Changes{Set: map[string]any{k: v}} }

func hour() backends.SaveOptions { return backends.SaveOptions{Expires: time.Now().Add(time.Hour)} }

func mustSave(t *testing.T, s backends.Store, id string, ch backends.Changes) {
	t.Helper()
	if _, err := s.Save(t.Context(), id, ch, hour()); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

// create saves a new session: only a New save may create one.
func create(t *testing.T, s backends.Store, id string, ch backends.Changes) {
	t.Helper()
	opt := hour()
	opt.New = true
	if _, err := s.Save(t.Context(), id, ch, opt); err != nil {
		t.Fatalf("Save (New): %v", err)
	}
}

func loadValue(t *testing.T, s backends.Store, id, key string) any {
	t.Helper()
	r, err := s.Load(t.Context(), id)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return r.Data[key]
}

func TestInfo(t *testing.T) {
	s := layered.New(memContainer(t, "front"), sqliteBack(t))
	if got := s.Info(); got != (backends.Info{Name: "layered", CrossProcess: true, Merges: true}) {
		t.Fatalf("Info over gorm = %+v", got)
	}
	s = layered.New(memContainer(t, "front"), backends.NewKVStore(memContainer(t, "back")))
	if got := s.Info(); got != (backends.Info{Name: "layered", CrossProcess: false, Merges: true, ExpiresNatively: true}) {
		t.Fatalf("Info over a memory container = %+v", got)
	}
}

// The front serves repeated reads; the back is asked again once the front
// copy is older than LocalTTL.
func TestFrontServesReads(t *testing.T) {
	back := &countingStore{Store: backends.NewKVStore(memContainer(t, "back"))}
	s := layered.New(memContainer(t, "front"), back, layered.WithLocalTTL(200*time.Millisecond))
	id := uuid.NewString()
	create(t, s, id, set("a", int64(1)))
	for range 5 {
		if v := loadValue(t, s, id, "a"); v != int64(1) {
			t.Fatalf("a = %v, want 1", v)
		}
	}
	if n := back.loads.Load(); n != 0 {
		t.Fatalf("back loads after a save and 5 loads = %d, want 0 (the save fills the front)", n)
	}
	time.Sleep(300 * time.Millisecond)
	loadValue(t, s, id, "a")
	loadValue(t, s, id, "a")
	if n := back.loads.Load(); n != 1 {
		t.Fatalf("back loads after the front copy expired = %d, want 1 (one miss, then a hit)", n)
	}
}

// A front copy never outlives the session's own expiry.
func TestFrontCopyEndsWithSession(t *testing.T) {
	s := layered.New(memContainer(t, "front"), backends.NewKVStore(memContainer(t, "back")), layered.WithLocalTTL(time.Hour))
	id := uuid.NewString()
	if _, err := s.Save(t.Context(), id, set("a", int64(1)), backends.SaveOptions{Expires: time.Now().Add(150 * time.Millisecond), New: true}); err != nil {
		t.Fatal(err)
	}
	loadValue(t, s, id, "a")
	time.Sleep(250 * time.Millisecond)
	if r, err := s.Load(t.Context(), id); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Load after the session expired = %+v, %v; want ErrNotFound", r, err)
	}
}

// A slow Load that read the back before a concurrent Save must not put its
// older copy into the front over the Save's.
func TestSlowLoadDoesNotOverwriteNewerSave(t *testing.T) {
	back := &countingStore{Store: backends.NewKVStore(memContainer(t, "back")), hold: make(chan struct{}), loaded: make(chan struct{}, 1)}
	s := layered.New(memContainer(t, "front"), back, layered.WithLocalTTL(time.Hour))
	id := uuid.NewString()
	if _, err := back.Store.Save(t.Context(), id, set("v", "old"), backends.SaveOptions{Expires: time.Now().Add(time.Hour), New: true}); err != nil {
		t.Fatal(err)
	}
	done := make(chan any)
	go func() {
		r, err := s.Load(context.Background(), id)
		if err != nil {
			done <- err
			return
		}
		done <- r.Data["v"]
	}()
	<-back.loaded // the slow Load has read "old" from the back
	mustSave(t, s, id, set("v", "new"))
	close(back.hold)
	if got := <-done; got != "old" {
		t.Fatalf("slow Load returned %v, want old (it read before the save)", got)
	}
	if v := loadValue(t, s, id, "v"); v != "new" {
		t.Fatalf("Load after the save and the slow Load = %v, want new: the slow Load overwrote the front copy", v)
	}
}

// Two instances (each its own front) over one back: a write on A may be
// served stale by B at most LocalTTL, never longer.
func TestTwoInstancesStalenessBound(t *testing.T) {
	const bound = 300 * time.Millisecond
	back := backends.NewKVStore(memContainer(t, "back"))
	a := layered.New(memContainer(t, "frontA"), back, layered.WithLocalTTL(bound))
	b := layered.New(memContainer(t, "frontB"), back, layered.WithLocalTTL(bound))
	id := uuid.NewString()

	create(t, a, id, set("v", int64(1)))
	if v := loadValue(t, b, id, "v"); v != int64(1) {
		t.Fatalf("B's first Load = %v, want 1", v)
	}
	written := time.Now()
	mustSave(t, a, id, set("v", int64(2)))
	if v := loadValue(t, a, id, "v"); v != int64(2) {
		t.Fatalf("A's Load right after its own write = %v, want 2", v)
	}
	// Before the bound B may still answer 1 (its front copy); it must
	// never answer anything else.
	for time.Since(written) < bound-50*time.Millisecond {
		if v := loadValue(t, b, id, "v"); v != int64(1) && v != int64(2) {
			t.Fatalf("B's Load within the bound = %v, want 1 (stale) or 2", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Until(written.Add(bound + 20*time.Millisecond)))
	if v := loadValue(t, b, id, "v"); v != int64(2) {
		t.Fatalf("B's Load %s after A's write = %v, want 2: stale past the local_ttl bound of %s", time.Since(written).Round(time.Millisecond), v, bound)
	}

	// A delete (logout) on A: B stops serving the session within the bound.
	loadValue(t, b, id, "v")
	if err := a.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	if _, err := a.Load(t.Context(), id); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("A's Load after its own Delete: %v, want ErrNotFound", err)
	}
	time.Sleep(time.Until(deleted.Add(bound + 20*time.Millisecond)))
	if r, err := b.Load(t.Context(), id); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("B's Load %s after A's Delete = %+v, %v; want ErrNotFound", time.Since(deleted).Round(time.Millisecond), r, err)
	}
}

// A failing front never fails a request: every operation falls through to
// the back, and each failure is logged at Warn without the session id.
func TestFrontFailureFallsThrough(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	fb := &failingBackend{Backend: memContainer(t, "frontmem").Backend()}
	front := kvcache.NewContainer("front", "front:", 0, fb)
	back := &countingStore{Store: backends.NewKVStore(memContainer(t, "back"))}
	s := layered.New(front, back, layered.WithLogger(zap.New(core)))
	ctx := t.Context()
	id := uuid.NewString()

	create(t, s, id, set("a", int64(1))) // fills the front
	fb.down.Store(true)
	mustSave(t, s, id, set("b", int64(2)))
	r, err := s.Load(ctx, id)
	if err != nil {
		t.Fatalf("Load with the front down: %v", err)
	}
	if r.Data["a"] != int64(1) || r.Data["b"] != int64(2) {
		t.Fatalf("Load with the front down = %v, want a=1 b=2", r.Data)
	}
	if err := s.Touch(ctx, id, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatalf("Touch with the front down: %v", err)
	}
	if n, err := s.DeleteOlderThan(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("DeleteOlderThan with the front down = %d, %v", n, err)
	}
	other := uuid.NewString()
	create(t, s, other, set("x", "y"))
	time.Sleep(10 * time.Millisecond)
	if n, err := s.DeleteOlderThan(ctx, time.Millisecond); err != nil || n < 1 {
		t.Fatalf("DeleteOlderThan(1ms) with the front down = %d, %v; want at least 1, nil", n, err)
	}
	if _, err := s.Load(ctx, other); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Load of an old session after DeleteOlderThan with the front down: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, id); err != nil {
		t.Fatalf("Delete with the front down: %v", err)
	}
	if _, err := s.Load(ctx, id); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Load after Delete with the front down: %v, want ErrNotFound", err)
	}
	if fb.calls.Load() == 0 || logs.Len() == 0 {
		t.Fatalf("front calls = %d, warnings = %d; want the failing front used and its failures logged", fb.calls.Load(), logs.Len())
	}
	for _, e := range logs.All() {
		if e.Level != zapcore.WarnLevel {
			t.Errorf("front failure logged at %s, want warn: %s", e.Level, e.Message)
		}
		for _, f := range e.Context {
			if strings.Contains(f.String, id) {
				t.Errorf("log entry %q contains the raw session id", e.Message)
			}
		}
	}

	// The front comes back: it is used again.
	fb.down.Store(false)
	create(t, s, id, set("c", int64(3)))
	before := back.loads.Load()
	loadValue(t, s, id, "c")
	if back.loads.Load() != before {
		t.Fatalf("after the front recovered, Load still went to the back")
	}
}

// A corrupt front copy is a miss: the back answers and the copy is replaced.
func TestCorruptFrontCopy(t *testing.T) {
	front := memContainer(t, "front")
	s := layered.New(front, backends.NewKVStore(memContainer(t, "back")))
	id := uuid.NewString()
	create(t, s, id, set("a", int64(1)))
	if err := front.Set(t.Context(), id, []byte("\x00garbage"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v := loadValue(t, s, id, "a"); v != int64(1) {
		t.Fatalf("Load over a corrupt front copy = %v, want 1 from the back", v)
	}
	b, err := front.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("front after the Load: %v", err)
	}
	if _, err := backends.DecodeRecord(id, b); err != nil {
		t.Fatalf("the corrupt front copy was not replaced: %v", err)
	}
}

// A failing back fails the request and leaves no front copy behind.
func TestBackFailureSurfaces(t *testing.T) {
	backC := memContainer(t, "back")
	fb := &failingBackend{Backend: backC.Backend()}
	back := backends.NewKVStore(kvcache.NewContainer("back", backC.Prefix(), 0, fb))
	front := memContainer(t, "front")
	s := layered.New(front, back, layered.WithLocalTTL(time.Hour))
	id := uuid.NewString()
	create(t, s, id, set("a", int64(1)))
	fb.down.Store(true)
	if _, err := s.Save(t.Context(), id, set("a", int64(2)), hour()); !errors.Is(err, errFront) {
		t.Fatalf("Save with the back down: %v, want its error", err)
	}
	if ok, _ := front.Exists(t.Context(), id); ok {
		t.Fatalf("front still holds a copy after a failed Save")
	}
	if _, err := s.Load(t.Context(), id); !errors.Is(err, errFront) {
		t.Fatalf("Load with the back down and no front copy: %v, want the back's error", err)
	}
}

// BenchmarkLoad compares a read served by the front with one served by the
// back alone (SQLite, and Redis when SESSIONFX_TEST_REDIS_URL is set).
func BenchmarkLoad(b *testing.B) {
	backs := []struct {
		name string
		new  func(b *testing.B) backends.Store
	}{
		{"gorm-sqlite", func(b *testing.B) backends.Store { return sqliteBack(b) }},
		{"kvcache-redis", func(b *testing.B) backends.Store { return backends.NewKVStore(redisContainer(b)) }},
	}
	for _, bk := range backs {
		b.Run(bk.name, func(b *testing.B) {
			back := bk.new(b)
			id := uuid.NewString()
			if _, err := back.Save(context.Background(), id, backends.Changes{Set: storetest.Canonical()}, backends.SaveOptions{Expires: time.Now().Add(time.Hour), New: true}); err != nil {
				b.Fatal(err)
			}
			run := func(b *testing.B, s backends.Store) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Load(context.Background(), id); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.Run("back-only", func(b *testing.B) { run(b, back) })
			b.Run("layered-hit", func(b *testing.B) {
				run(b, layered.New(memContainer(b, "front"), back, layered.WithLocalTTL(time.Hour)))
			})
		})
	}
}
