package rediskv

import "testing"

func TestRecentWrites(t *testing.T) {
	r := newRecentWrites()
	if r.has("a") {
		t.Fatal("an unwritten key counts as recently written")
	}
	r.add("a")
	if !r.has("a") {
		t.Fatal("a key just written does not count as recently written")
	}
	if r.has("b") {
		t.Fatal("another key counts as written") // 1 in 4096 slots: the seed is random, a collision also needs equal 64-bit hashes
	}
	// Age the write past the window.
	r.start = r.start.Add(-2 * recentWindow)
	if r.has("a") {
		t.Fatalf("a key written %s ago still counts as recent", 2*recentWindow)
	}
	var none *recentWrites
	if none.has("a") {
		t.Fatal("without the client cache nothing counts as recent")
	}
}
