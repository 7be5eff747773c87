package kvcache

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestMemoryIndexSets: what the engine contract (kvcachetest index_sets)
// cannot see of the memory engine's sets: a set whose TTL passed is gone,
// expired sets nobody reads are swept so they cannot pile up, and a set
// with no TTL stays.
func TestMemoryIndexSets(t *testing.T) {
	b, err := NewMemory("m", BackendConfig{Type: "memory"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	c := NewContainer("s", "s:", 0, b)
	if !c.Indexed() {
		t.Fatal("a memory container with a prefix should keep index sets")
	}
	mem := b.(*Memory)
	for i := 0; i < memSetSweepEvery; i++ {
		if err := c.IndexAdd(ctx, fmt.Sprintf("short%d", i), "m", time.Now(), time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Millisecond)
	if ms, _ := c.IndexMembers(ctx, "short0"); len(ms) != 0 {
		t.Errorf("an expired set still has %d members", len(ms))
	}
	for i := 0; i < memSetSweepEvery; i++ {
		_ = c.IndexAdd(ctx, "u", "a", time.Now(), time.Hour)
	}
	mem.sets.mu.Lock()
	n := len(mem.sets.sets)
	mem.sets.mu.Unlock()
	if n != 1 {
		t.Errorf("%d index sets left after a sweep; want 1 (u): expired sets must not pile up", n)
	}
	if err := c.IndexAdd(ctx, "forever", "m", time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	if ms, _ := c.IndexMembers(ctx, "forever"); len(ms) != 1 {
		t.Error("a set with no TTL must not expire")
	}
}
