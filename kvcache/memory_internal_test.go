package kvcache

import (
	"slices"
	"testing"
)

// Victims are chosen expired first, then never read since written, then
// closest to expiry (no expiry last).
func TestMemoryEvictionOrder(t *testing.T) {
	const now = 1000
	entry := func(name string, exp int64, read bool) *memEntry {
		return newMemEntry(name, nil, exp, read)
	}
	want := []*memEntry{
		entry("expired-unread", 900, false),
		entry("expired-read", 500, true),
		entry("unread-soon", 2000, false),
		entry("unread-later", 5000, false),
		entry("unread-never", 0, false),
		entry("read-soon", 1500, true),
		entry("read-later", 9000, true),
		entry("read-never", 0, true),
	}
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortStableFunc(got, func(a, b *memEntry) int {
		switch {
		case a.evictBefore(b, now):
			return -1
		case b.evictBefore(a, now):
			return 1
		}
		return 0
	})
	var g, w []string
	for i := range got {
		g, w = append(g, got[i].key()), append(w, want[i].key())
	}
	if !slices.Equal(g, w) {
		t.Fatalf("eviction order %q; want %q", g, w)
	}
	e := entry("k", 0, false)
	e.markRead()
	if !e.read() || e.key() != "k" {
		t.Fatalf("after markRead: read %v, key %q", e.read(), e.key())
	}
}
