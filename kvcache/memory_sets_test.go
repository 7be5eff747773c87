package kvcache

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestMemoryIndexSets: the memory engine's index sets keep members with the
// time each was added, spare a member added again after a remove's cutoff,
// live as long as their longest TTL, never show up in Scan, and expired
// sets are swept so they cannot pile up.
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
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
	if err := c.IndexAdd(ctx, "u", "a", t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := c.IndexAdd(ctx, "u", "b", t0.Add(time.Minute), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // b's shorter TTL must not shorten the set's
	ms, err := c.IndexMembers(ctx, "u")
	if err != nil || len(ms) != 2 {
		t.Fatalf("members = %+v, %v; want a and b", ms, err)
	}
	if err := c.IndexAdd(ctx, "u", "a", time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if n, err := c.IndexRemove(ctx, "u", t0.Add(time.Hour), "a", "b", "absent"); err != nil || n != 1 {
		t.Errorf("IndexRemove = %d, %v; want 1 (b only: a was added again after the cutoff)", n, err)
	}
	if ms, _ := c.IndexMembers(ctx, "u"); len(ms) != 1 || ms[0].Member != "a" {
		t.Errorf("after the remove: %+v, want only a", ms)
	}
	if err := c.Set(ctx, "x", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := c.Keys(ctx, func(k string) error { keys = append(keys, k); return nil }); err != nil || len(keys) != 1 || keys[0] != "x" {
		t.Errorf("container keys = %v, %v; want only x", keys, err)
	}
	// A set whose TTL passed is gone, and the sweep drops expired sets
	// nobody reads.
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
