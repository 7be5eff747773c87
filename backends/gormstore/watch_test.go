package gormstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sessionfx/session/backends"
)

// Watch reports every write on PostgreSQL with the revision it made (0 for a
// touch or a delete); the other databases cannot watch.
func TestWatch(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase) {
		s := storeOn(t, c)
		changes := make(chan backends.Change, 100)
		stop, err := s.Watch(t.Context(), func(ch backends.Change) { changes <- ch })
		if c.driver != "postgres" {
			if !errors.Is(err, backends.ErrUnsupported) {
				t.Fatalf("Watch on %s = %v; want ErrUnsupported", c.name, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = stop() })
		next := func() backends.Change {
			t.Helper()
			select {
			case ch := <-changes:
				return ch
			case <-time.After(5 * time.Second):
				t.Fatal("no change reported within 5s")
			}
			panic("unreachable")
		}
		if ch := next(); ch.Kind != backends.Synced {
			t.Fatalf("first report = %+v, want Synced", ch)
		}
		ctx := t.Context()
		exp := backends.SaveOptions{Expires: time.Now().Add(time.Hour), New: true}
		if _, err := s.Save(ctx, "w1", backends.Changes{Set: map[string]any{"a": int64(1)}}, exp); err != nil {
			t.Fatal(err)
		}
		exp.New = false
		if _, err := s.Save(ctx, "w1", backends.Changes{Set: map[string]any{"a": int64(2)}}, exp); err != nil {
			t.Fatal(err)
		}
		if err := s.Touch(ctx, "w1", time.Now().Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "w1"); err != nil {
			t.Fatal(err)
		}
		for i, want := range []backends.Change{{ID: "w1", Rev: 1}, {ID: "w1", Rev: 2}, {ID: "w1"}, {ID: "w1"}} {
			if got := next(); got != want {
				t.Fatalf("report %d = %+v, want %+v", i, got, want)
			}
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if err := stop(); err != nil {
			t.Fatalf("second stop: %v", err)
		}
	})
}
