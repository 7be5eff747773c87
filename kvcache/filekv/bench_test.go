package filekv

import (
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionfx/session/kvcache"
)

// go test -run '^$' -bench . -benchmem ./kvcache/filekv/
//
// Sequential benchmarks measure one caller (each write is its own
// transaction and fsync); the Parallel ones show group commit (many
// concurrent writes share a transaction and an fsync). The "normal"
// variants use synchronous = NORMAL for comparison (not configurable: the
// backend always uses FULL).

func benchBackend(b *testing.B, sync string) *Backend {
	b.Helper()
	be, err := open("bench", kvcache.BackendConfig{Type: TypeName, Path: filepath.Join(b.TempDir(), "bench.sqlite3")}, nil, options{synchronous: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = be.Close() })
	return be
}

var benchValue = []byte(`{"v":1,"created":"2024-01-01T00:00:00Z","data":{"user":"alice","n":1,"cart":[1,2,3]}}`) // a small session record

func BenchmarkGet(b *testing.B) {
	be := benchBackend(b, "")
	ctx := b.Context()
	for i := range 1000 {
		if err := be.Set(ctx, "k"+strconv.Itoa(i), benchValue, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := be.Get(ctx, "k"+strconv.Itoa(i%1000)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetParallel(b *testing.B) {
	be := benchBackend(b, "")
	ctx := b.Context()
	for i := range 1000 {
		if err := be.Set(ctx, "k"+strconv.Itoa(i), benchValue, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := be.Get(ctx, "k"+strconv.Itoa(int(n.Add(1)%1000))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchSet(b *testing.B, sync string) {
	be := benchBackend(b, sync)
	ctx := b.Context()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := be.Set(ctx, "k"+strconv.Itoa(i%1000), benchValue, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSet(b *testing.B)       { benchSet(b, "") }
func BenchmarkSetNormal(b *testing.B) { benchSet(b, "NORMAL") }

func BenchmarkSetParallel(b *testing.B) {
	be := benchBackend(b, "")
	ctx := b.Context()
	var n atomic.Int64
	b.SetParallelism(16) // 16 × GOMAXPROCS concurrent writers
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := be.Set(ctx, "k"+strconv.Itoa(int(n.Add(1)%1000)), benchValue, time.Hour); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchUpdate(b *testing.B, sync string) {
	be := benchBackend(b, sync)
	ctx := b.Context()
	if err := be.Set(ctx, "k", benchValue, time.Hour); err != nil {
		b.Fatal(err)
	}
	fn := func(old []byte, found bool) ([]byte, time.Duration, error) {
		out := append([]byte(nil), old...)
		out[len(out)-2]++
		return out, time.Hour, nil
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := be.Update(ctx, "k", fn); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpdate(b *testing.B)       { benchUpdate(b, "") }
func BenchmarkUpdateNormal(b *testing.B) { benchUpdate(b, "NORMAL") }

func BenchmarkUpdateParallelOneKey(b *testing.B) {
	be := benchBackend(b, "")
	ctx := b.Context()
	if err := be.Set(ctx, "k", benchValue, time.Hour); err != nil {
		b.Fatal(err)
	}
	fn := func(old []byte, found bool) ([]byte, time.Duration, error) {
		out := append([]byte(nil), old...)
		out[len(out)-2]++
		return out, time.Hour, nil
	}
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := be.Update(ctx, "k", fn); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkCompareAndSwap(b *testing.B) {
	be := benchBackend(b, "")
	ctx := b.Context()
	cur := append([]byte(nil), benchValue...)
	if err := be.Set(ctx, "k", cur, time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next := append([]byte(nil), cur...)
		next[len(next)-2]++
		ok, err := be.CompareAndSwap(ctx, "k", cur, next, time.Hour)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		cur = next
	}
}
