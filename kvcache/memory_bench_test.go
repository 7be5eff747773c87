package kvcache_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sessionfx/session/kvcache"
)

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkMemoryBytesPerEntry measures what one session costs the heap on
// a 64MiB memory backend: 100,000 sessions of 200 bytes under 44-byte keys
// ("session:" and a 36-character id), with a TTL, written the way
// backends.KVStore creates them. The keys are built per write and dropped by
// the caller, so a backend that keeps them pays for them.
//
//	go test ./kvcache/ -run '^$' -bench BytesPerEntry -benchtime 3x -benchmem
//
// heap-B/entry is the heap the entries add (after a GC), data-B/entry their
// keys and values, overhead-B/entry the difference; fixed-B is the heap the
// empty backend takes (ristretto's admission counters and buffers).
func BenchmarkMemoryBytesPerEntry(b *testing.B) {
	const entries = 100_000
	ctx := context.Background()
	value := floodValue("bytes per entry")
	data := float64(len(floodPrefix) + len(floodID("flood", 0)) + len(value))
	var perEntry, fixed float64
	for range b.N {
		base := heapAlloc()
		m := newMemory(b, "bytes", 64<<20, zap.NewNop())
		empty := heapAlloc()
		c := kvcache.NewContainer("session", floodPrefix, time.Hour, m)
		for i := range entries {
			if ok, err := c.SetNX(ctx, floodID("flood", i), value, 0); !ok || err != nil {
				b.Fatalf("SetNX %d: %v, %v", i, ok, err)
			}
		}
		full := heapAlloc()
		if n := m.Stats().Evictions; n != 0 {
			b.Fatalf("%d evictions: the benchmark wants every entry kept", n)
		}
		perEntry += (float64(full) - float64(empty)) / entries
		fixed += float64(empty) - float64(base)
		runtime.KeepAlive(c)
		_ = m.Close()
	}
	b.ReportMetric(perEntry/float64(b.N), "heap-B/entry")
	b.ReportMetric(data, "data-B/entry")
	b.ReportMetric(perEntry/float64(b.N)-data, "overhead-B/entry")
	b.ReportMetric(fixed/float64(b.N), "fixed-B")
}
