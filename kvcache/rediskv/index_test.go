package rediskv

import (
	"context"
	"testing"
	"time"

	"github.com/sessionfx/session/kvcache"
)

// TestIndexSets: members come back with the time they were added; the
// set's TTL is extended, never shortened; a remove spares a member added
// again after the cutoff; and a container's Scan never yields index keys.
func TestIndexSets(t *testing.T) {
	b := newTestBackend(t, redisURL(t), false)
	ctx := context.Background()
	prefix := uniquePrefix(t, b)
	c := kvcache.NewContainer("s", prefix, 0, b)
	if !c.Indexed() {
		t.Fatal("a Redis container with a prefix should keep index sets")
	}
	t.Cleanup(func() { _ = b.Delete(ctx, "~i:"+prefix+"u") })
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
	if err := c.IndexAdd(ctx, "u", "a", t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := c.IndexAdd(ctx, "u", "b", t0.Add(time.Minute), time.Minute); err != nil {
		t.Fatal(err)
	}
	pttl, err := b.client.Do(ctx, b.client.B().Pttl().Key("~i:"+prefix+"u").Build()).AsInt64()
	if err != nil || pttl < int64(59*time.Minute/time.Millisecond) {
		t.Errorf("index TTL %d ms (%v): a later, shorter ttl must not shorten it", pttl, err)
	}
	ms, err := c.IndexMembers(ctx, "u")
	if err != nil || len(ms) != 2 || ms[0].Member != "a" || !ms[0].Added.Equal(t0) {
		t.Fatalf("members = %+v, %v", ms, err)
	}
	// "a" is added again now: a remove with an older cutoff spares it.
	if err := c.IndexAdd(ctx, "u", "a", time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	n, err := c.IndexRemove(ctx, "u", t0.Add(time.Hour), "a", "b", "absent")
	if err != nil || n != 1 {
		t.Errorf("IndexRemove = %d, %v; want 1 (only b)", n, err)
	}
	if ms, _ := c.IndexMembers(ctx, "u"); len(ms) != 1 || ms[0].Member != "a" {
		t.Errorf("after the remove: %+v, want only a", ms)
	}
	if err := c.Set(ctx, "x", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := c.Keys(ctx, func(k string) error { keys = append(keys, k); return nil }); err != nil || len(keys) != 1 || keys[0] != "x" {
		t.Errorf("container keys = %v, %v; want only x (index sets stay outside the container's key space)", keys, err)
	}
	if ms, err := c.IndexMembers(ctx, "none"); err != nil || len(ms) != 0 {
		t.Errorf("absent index: %v, %v", ms, err)
	}
}
