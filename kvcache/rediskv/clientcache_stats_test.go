package rediskv

import (
	"context"
	"testing"
	"time"
)

// ClientCacheStats counts the reads the client-side cache served and those
// that went to the server; without the cache both stay 0.
func TestClientCacheStats(t *testing.T) {
	url := redisURL(t)
	ctx := context.Background()
	a := newTestBackend(t, url, true)
	b := newTestBackend(t, url, true)
	p := uniquePrefix(t, a)
	k := p + "k"
	if err := b.Set(ctx, k, []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if v, _, err := a.Get(ctx, k); err != nil || string(v) != "v1" {
			t.Fatalf("Get = %q, %v; want v1", v, err)
		}
	}
	if hits, misses := a.ClientCacheStats(); hits != 2 || misses != 1 {
		t.Fatalf("after 3 reads of a key written elsewhere: hits %d, misses %d; want 2 and 1", hits, misses)
	}
	// A key this instance has just written is read from the server: a miss.
	if err := a.Set(ctx, k, []byte("v2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, _, err := a.Get(ctx, k); err != nil || string(v) != "v2" {
		t.Fatalf("Get = %q, %v; want v2", v, err)
	}
	if hits, misses := a.ClientCacheStats(); hits != 2 || misses != 2 {
		t.Fatalf("after reading its own write: hits %d, misses %d; want 2 and 2", hits, misses)
	}

	plain := newTestBackend(t, url, false)
	for range 2 {
		if _, _, err := plain.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if hits, misses := plain.ClientCacheStats(); hits != 0 || misses != 0 {
		t.Fatalf("without client_cache: hits %d, misses %d; want 0 and 0", hits, misses)
	}
}
