package backends

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/rediskv"
)

// TestKVStoreUserIndex: on engines with index sets (memory, Redis) a
// user's sessions are found through the user's index set, not by reading
// every session; entries of ended sessions are dropped once older than the
// grace, and not before (a session is indexed just before its first save).
func TestKVStoreUserIndex(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		mb, err := kvcache.NewMemory("idx", kvcache.BackendConfig{Type: "memory"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer mb.Close()
		testUserIndex(t, kvcache.NewContainer("s", "idxtest:", 0, mb))
	})
	t.Run("redis", func(t *testing.T) {
		url := os.Getenv("SESSIONFX_TEST_REDIS_URL")
		if url == "" {
			t.Skip("SESSIONFX_TEST_REDIS_URL is not set: this test needs Redis (e.g. redis://127.0.0.1:6379/0)")
		}
		rb, err := rediskv.New("idx", kvcache.BackendConfig{Type: "redis", URL: url}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer rb.Close()
		prefix := "idxtest-" + uuid.NewString()[:8] + ":"
		defer rb.Delete(context.Background(), "~i:"+prefix+userIndex("user_id", "ann"))
		testUserIndex(t, kvcache.NewContainer("s", prefix, 0, rb))
	})
}

func testUserIndex(t *testing.T, c *kvcache.Container) {
	ctx := context.Background()
	s := NewKVStore(c)
	now := time.Now()
	s.now = func() time.Time { return now }
	t.Cleanup(func() { _ = c.Clear(ctx) })
	save := func(id, user string) {
		if err := s.IndexUser(ctx, "user_id", user, id, time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Save(ctx, id, Changes{Set: map[string]any{"user_id": user}}, SaveOptions{New: true, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	save("s1", "ann")
	save("s2", "ann")
	save("s3", "bob")
	// Written without the index (not through the manager): an index
	// lookup does not see it, a scan would.
	if _, err := s.Save(ctx, "decoy", Changes{Set: map[string]any{"user_id": "ann"}}, SaveOptions{New: true, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Indexed, not stored yet (its save is in flight).
	if err := s.IndexUser(ctx, "user_id", "ann", "pending", time.Hour); err != nil {
		t.Fatal(err)
	}
	ids := func() map[string]bool {
		recs, err := s.FindUser(ctx, "user_id", "ann")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, r := range recs {
			out[r.ID] = true
		}
		return out
	}
	if got := ids(); len(got) != 2 || !got["s1"] || !got["s2"] {
		t.Fatalf("ann's sessions = %v, want s1 and s2 from the index", got)
	}
	if err := s.Delete(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	members := func() int {
		ms, err := c.IndexMembers(ctx, userIndex("user_id", "ann"))
		if err != nil {
			t.Fatal(err)
		}
		return len(ms)
	}
	ids()
	if n := members(); n != 3 {
		t.Errorf("within the grace the index keeps %d entries, want 3 (s1, s2, pending)", n)
	}
	now = now.Add(indexGrace + time.Second)
	if got := ids(); len(got) != 1 || !got["s2"] {
		t.Errorf("after s1 ended: %v, want only s2", got)
	}
	if n := members(); n != 1 {
		t.Errorf("after the grace the index keeps %d entries, want 1 (s2): ended and never-stored entries go", n)
	}
}
