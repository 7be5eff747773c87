package layered_test

// Invalidation pushed by the back (backends.Watcher): the front's rules,
// driven by hand through a fake watch on SQLite. The same on PostgreSQL's
// LISTEN/NOTIFY, across two instances, is in watch_postgres_test.go.

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/layered"
	"github.com/sessionfx/session/kvcache"
)

// fakeWatch is a back store whose changes the test reports by hand.
type fakeWatch struct {
	*countingStore
	mu      sync.Mutex
	fn      func(backends.Change)
	watches int
	stopped int
	err     error
}

func (f *fakeWatch) Watch(_ context.Context, fn func(backends.Change)) (func() error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watches++
	if f.err != nil {
		return nil, f.err
	}
	f.fn = fn
	return func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.stopped++
		f.fn = nil
		return nil
	}, nil
}

func (f *fakeWatch) report(t *testing.T, c backends.Change) {
	t.Helper()
	f.mu.Lock()
	fn := f.fn
	f.mu.Unlock()
	if fn == nil {
		t.Fatal("the layered store is not watching")
	}
	fn(c)
}

func newFakeWatch(t *testing.T) *fakeWatch {
	return &fakeWatch{countingStore: &countingStore{Store: sqliteBack(t)}}
}

// frontTTL returns the life left of id's front copy (0: none).
func frontTTL(t *testing.T, c *kvcache.Container, id string) time.Duration {
	t.Helper()
	_, ttl, err := c.GetWithTTL(t.Context(), id)
	if errors.Is(err, kvcache.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return ttl
}

func TestWatchFrontRules(t *testing.T) {
	back := newFakeWatch(t)
	front := memContainer(t, "front")
	s := layered.New(front, back, layered.WithLocalTTL(time.Second), layered.WithInvalidatedTTL(time.Hour))
	if err := s.Setup(t.Context()); err != nil {
		t.Fatal(err)
	}
	if back.watches != 1 {
		t.Fatalf("Watch calls after Setup = %d, want 1", back.watches)
	}
	id := uuid.NewString()

	// Before Synced, copies live local_ttl.
	create(t, s, id, set("a", int64(1)))
	if s.Invalidated() {
		t.Fatal("Invalidated before Synced")
	}
	if ttl := frontTTL(t, front, id); ttl <= 0 || ttl > time.Second {
		t.Fatalf("front copy TTL before Synced = %s, want (0, 1s]", ttl)
	}
	back.report(t, backends.Change{Kind: backends.Synced})
	if !s.Invalidated() {
		t.Fatal("not Invalidated after Synced")
	}
	r, err := s.Load(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rev != 1 {
		t.Fatalf("Rev of a front hit = %d, want 1 (the front keeps the revision)", r.Rev)
	}
	// A save after Synced: the copy lives invalidated_ttl.
	opt := hour()
	opt.Base = r
	r, err = s.Save(t.Context(), id, set("a", int64(2)), opt)
	if err != nil {
		t.Fatal(err)
	}
	if ttl := frontTTL(t, front, id); ttl <= time.Minute {
		t.Fatalf("front copy TTL after Synced = %s, want about 1h", ttl)
	}

	// The report of its own save (or an older one) keeps the copy.
	loads := back.loads.Load()
	back.report(t, backends.Change{Kind: backends.Changed, ID: id, Rev: r.Rev})
	back.report(t, backends.Change{Kind: backends.Changed, ID: id, Rev: r.Rev - 1})
	if v := loadValue(t, s, id, "a"); v != int64(2) || back.loads.Load() != loads {
		t.Fatalf("after reports of its own revision: a = %v, back loads %d more; want 2 from the front", v, back.loads.Load()-loads)
	}
	// A newer revision drops it.
	back.report(t, backends.Change{Kind: backends.Changed, ID: id, Rev: r.Rev + 1})
	if ttl := frontTTL(t, front, id); ttl != 0 {
		t.Fatalf("front copy after a newer revision's report: TTL %s, want dropped", ttl)
	}
	loadValue(t, s, id, "a")
	if back.loads.Load() != loads+1 {
		t.Fatalf("back loads after the drop = %d more, want 1", back.loads.Load()-loads)
	}
	// Rev 0 (a delete or a touch) always drops it.
	back.report(t, backends.Change{Kind: backends.Changed, ID: id})
	if ttl := frontTTL(t, front, id); ttl != 0 {
		t.Fatalf("front copy after a rev-0 report: TTL %s, want dropped", ttl)
	}

	// Lost drops every copy; until Synced again copies live local_ttl.
	other := uuid.NewString()
	create(t, s, other, set("b", int64(1)))
	loadValue(t, s, id, "a")
	back.report(t, backends.Change{Kind: backends.Lost})
	if s.Invalidated() {
		t.Fatal("Invalidated after Lost")
	}
	if frontTTL(t, front, id) != 0 || frontTTL(t, front, other) != 0 {
		t.Fatal("front copies kept after Lost")
	}
	loadValue(t, s, id, "a")
	if ttl := frontTTL(t, front, id); ttl <= 0 || ttl > time.Second {
		t.Fatalf("front copy TTL after Lost = %s, want (0, 1s]", ttl)
	}
	back.report(t, backends.Change{Kind: backends.Synced})
	if !s.Invalidated() {
		t.Fatal("not Invalidated after Synced again")
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if back.stopped != 1 {
		t.Fatalf("watch stops after Close = %d, want 1", back.stopped)
	}
}

// A back Load that read an older revision before a change report does not
// land in the front after it.
func TestWatchReportBeatsSlowLoad(t *testing.T) {
	back := newFakeWatch(t)
	s := layered.New(memContainer(t, "front"), back, layered.WithLocalTTL(time.Hour))
	if err := s.Setup(t.Context()); err != nil {
		t.Fatal(err)
	}
	back.report(t, backends.Change{Kind: backends.Synced})
	id := uuid.NewString()
	create(t, back.Store, id, set("a", int64(1))) // not through s: its front stays empty

	back.hold = make(chan struct{})
	back.loaded = make(chan struct{}, 1)
	done := make(chan any)
	go func() {
		r, err := s.Load(context.Background(), id)
		if err != nil {
			done <- err
			return
		}
		done <- r.Data["a"]
	}()
	<-back.loaded // the Load has read revision 1 from the back
	mustSave(t, back.Store, id, set("a", int64(2)))
	back.report(t, backends.Change{Kind: backends.Changed, ID: id, Rev: 2})
	close(back.hold)
	if v := <-done; v != int64(1) {
		t.Fatalf("slow Load = %v, want 1 (what it read)", v)
	}
	back.hold = nil
	if v := loadValue(t, s, id, "a"); v != int64(2) {
		t.Fatalf("Load after the report = %v, want 2: the slow Load's copy landed after the report", v)
	}
}

// Own saves whose report arrives before the front is written keep their
// copy: no needless back Load.
func TestWatchOwnReportBeforeFrontWrite(t *testing.T) {
	back := newFakeWatch(t)
	s := layered.New(memContainer(t, "front"), &reportingSaves{fakeWatch: back, t: t}, layered.WithLocalTTL(time.Hour))
	if err := s.Setup(t.Context()); err != nil {
		t.Fatal(err)
	}
	back.report(t, backends.Change{Kind: backends.Synced})
	id := uuid.NewString()
	create(t, s, id, set("a", int64(1)))
	for i := range 5 {
		mustSave(t, s, id, set("a", int64(i)))
		if v := loadValue(t, s, id, "a"); v != int64(i) {
			t.Fatalf("a = %v, want %d", v, i)
		}
	}
	if n := back.loads.Load(); n != 0 {
		t.Fatalf("back loads = %d, want 0: the reports of its own saves dropped the copies", n)
	}
}

// reportingSaves reports each save before returning it, as a notification
// that outruns the writer's answer would.
type reportingSaves struct {
	*fakeWatch
	t *testing.T
}

func (r *reportingSaves) Unwrap() backends.Store { return r.fakeWatch }

func (r *reportingSaves) Save(ctx context.Context, id string, ch backends.Changes, opt backends.SaveOptions) (*backends.Record, error) {
	rec, err := r.fakeWatch.Save(ctx, id, ch, opt)
	if err == nil {
		r.report(r.t, backends.Change{Kind: backends.Changed, ID: id, Rev: rec.Rev})
	}
	return rec, err
}

func TestWatchOff(t *testing.T) {
	back := newFakeWatch(t)
	s := layered.New(memContainer(t, "front"), back, layered.WithInvalidation(false))
	if err := s.Setup(t.Context()); err != nil {
		t.Fatal(err)
	}
	loadValue(t, s, uuidCreate(t, s), "a")
	if back.watches != 0 || s.Invalidated() {
		t.Fatalf("Watch calls = %d, Invalidated %v; want 0, false with invalidation off", back.watches, s.Invalidated())
	}
}

func TestWatchUnsupportedFallsBack(t *testing.T) {
	back := newFakeWatch(t)
	back.err = backends.ErrUnsupported
	front := memContainer(t, "front")
	s := layered.New(front, back, layered.WithLocalTTL(time.Second), layered.WithInvalidatedTTL(time.Hour))
	id := uuidCreate(t, s)
	loadValue(t, s, id, "a")
	if back.watches != 1 || s.Invalidated() {
		t.Fatalf("Watch calls = %d, Invalidated %v; want 1, false", back.watches, s.Invalidated())
	}
	if ttl := frontTTL(t, front, id); ttl <= 0 || ttl > time.Second {
		t.Fatalf("front copy TTL = %s, want local_ttl", ttl)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func uuidCreate(t *testing.T, s backends.Store) string {
	id := uuid.NewString()
	create(t, s, id, set("a", int64(1)))
	return id
}
