package layered_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/layered"
)

// TestFindUserThroughTheBack: a layered store finds a user's sessions with
// its back's index (Redis's user set) and indexes through it; over a back
// that cannot (gorm without a user column), it says ErrUnsupported so the
// manager iterates.
func TestFindUserThroughTheBack(t *testing.T) {
	ctx := context.Background()
	back := backends.NewKVStore(redisContainer(t))
	s := layered.New(memContainer(t, "front"), back)
	if err := s.IndexUser(ctx, "user_id", "ann", "s1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "s1", backends.Changes{Set: map[string]any{"user_id": "ann"}}, backends.SaveOptions{New: true, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Saved without indexing: a scan would list it, the index does not.
	if _, err := s.Save(ctx, "decoy", backends.Changes{Set: map[string]any{"user_id": "ann"}}, backends.SaveOptions{New: true, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	recs, err := s.FindUser(ctx, "user_id", "ann")
	if err != nil || len(recs) != 1 || recs[0].ID != "s1" {
		t.Fatalf("FindUser through a Redis back = %+v, %v; want s1 from the index", recs, err)
	}
	plain := layered.New(memContainer(t, "front2"), sqliteBack(t)) // no typed user column
	if _, err := plain.FindUser(ctx, "user_id", "ann"); !errors.Is(err, backends.ErrUnsupported) {
		t.Errorf("FindUser over a gorm back without a user column: %v, want ErrUnsupported", err)
	}
}
