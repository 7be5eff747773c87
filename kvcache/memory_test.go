package kvcache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessionfx/session/internal/loghash"
	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/kvcachetest"
)

func newMemory(t testing.TB, name string, size kvcache.ByteSize, log *zap.Logger) *kvcache.Memory {
	t.Helper()
	b, err := kvcache.NewMemory(name, kvcache.BackendConfig{Type: "memory", MaxSize: size}, log)
	if err != nil {
		t.Fatalf("NewMemory(%s): %v", size, err)
	}
	return b.(*kvcache.Memory)
}

func TestMemoryContract(t *testing.T) {
	kvcachetest.Run(t, func(t *testing.T) kvcache.Backend {
		return newMemory(t, "contract", 64<<20, nil)
	})
}

// keyHash is the short hash the memory backend logs instead of a key.
func keyHash(key string) string { return loghash.Of(key) }

// At capacity, every write either fails with ErrNotStored or is readable
// right after it returns. A write can still be evicted by another writer's
// write between its return and our read; such a key must then appear in an
// eviction warning, so the backend never loses data silently.
func TestMemoryAtCapacityWritesAreReadableOrRefused(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	m := newMemory(t, "tiny", 32<<10, zap.New(core))
	defer m.Close()
	ctx := context.Background()

	const writers, perWriter = 8, 2000
	value := bytes.Repeat([]byte("v"), 200)
	var stored, refused atomic.Int64
	var mu sync.Mutex
	var vanished []string // stored, then gone before the writer read it
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				k := fmt.Sprintf("w%d:k%d", w, i)
				err := m.Set(ctx, k, value, 0)
				if errors.Is(err, kvcache.ErrNotStored) {
					refused.Add(1)
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("Set(%s) = %v; want nil or ErrNotStored", k, err)
					return
				}
				stored.Add(1)
				got, _, err := m.Get(ctx, k)
				switch {
				case errors.Is(err, kvcache.ErrNotFound):
					mu.Lock()
					vanished = append(vanished, k)
					mu.Unlock()
				case err != nil || !bytes.Equal(got, value):
					errs <- fmt.Errorf("read-your-write of %s = %d bytes, %v", k, len(got), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// One more write flushes ristretto's queue, so every eviction so far
	// has been logged.
	_ = m.Set(ctx, "flush", []byte("x"), 0)

	total := int64(writers * perWriter)
	capacity := int64(32<<10) / int64(len(value)+len("w0:k0000")+128)
	t.Logf("%d writes to a cache that holds about %d: %d stored, %d refused (ErrNotStored), %d evicted before the read-back; stats %+v",
		total, capacity, stored.Load(), refused.Load(), len(vanished), m.Stats())
	if stored.Load()+refused.Load() != total {
		t.Fatalf("stored %d + refused %d != %d writes", stored.Load(), refused.Load(), total)
	}
	if stored.Load() <= capacity {
		t.Errorf("only %d writes stored; the test wants the cache filled past its capacity of ~%d", stored.Load(), capacity)
	}
	evicted := map[string]bool{}
	for _, e := range logs.FilterMessageSnippet("evicted").All() {
		evicted[e.ContextMap()["key_hash"].(string)] = true
	}
	if len(evicted) == 0 {
		t.Errorf("no eviction was logged although %d entries were stored in room for ~%d", stored.Load(), capacity)
	}
	for _, k := range vanished {
		if !evicted[keyHash(k)] {
			t.Errorf("Set(%s) returned nil, the key was gone at once, and no eviction was logged for it", k)
		}
	}
	if got := m.Stats().Evictions; got != uint64(len(logs.FilterMessageSnippet("evicted").All())) {
		t.Errorf("Stats().Evictions = %d; want the number of eviction warnings, %d", got, logs.FilterMessageSnippet("evicted").Len())
	}
}

// A cache full of keys that are read far more often than new ones (where
// ristretto's admission policy alone refused every new key) still admits
// new writes: the backend evicts to make room, and every write that returns
// nil is readable right after it. Every key that went missing is counted as
// an eviction.
func TestMemoryFullOfReadKeysStillAdmitsNewWrites(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	m := newMemory(t, "full", 4<<10, zap.New(core))
	defer m.Close()
	ctx := context.Background()
	value := bytes.Repeat([]byte("v"), 100)
	var keys []string
	for i := range 16 {
		keys = append(keys, "hot"+strconv.Itoa(i))
		if err := m.Set(ctx, keys[i], value, 0); err != nil {
			t.Fatalf("Set(%s) = %v", keys[i], err)
		}
	}
	for range 200 {
		for i := range 16 {
			_, _, _ = m.Get(ctx, "hot"+strconv.Itoa(i))
		}
	}
	time.Sleep(50 * time.Millisecond) // ristretto counts reads asynchronously
	for i := range 50 {
		k := "cold" + strconv.Itoa(i)
		keys = append(keys, k)
		if err := m.Set(ctx, k, value, 0); err != nil {
			t.Errorf("Set(%s) into a cache full of read keys = %v; want nil", k, err)
			continue
		}
		if got, _, err := m.Get(ctx, k); err != nil || !bytes.Equal(got, value) {
			t.Errorf("Set(%s) = nil but Get = %d bytes, %v", k, len(got), err)
		}
	}
	present := 0
	for _, k := range keys {
		if ok, _ := m.Exists(ctx, k); ok {
			present++
		}
	}
	s := m.Stats()
	t.Logf("%d writes into 4KiB, %d present; stats %+v", len(keys), present, s)
	if s.NotStored != 0 || s.Rejections != 0 {
		t.Errorf("stats %+v; want no refusal (NotStored 0, Rejections 0)", s)
	}
	if n := logs.FilterMessageSnippet("could not store").Len(); n != 0 {
		t.Errorf("%d 'could not store' warnings; want 0", n)
	}
	if got, want := s.Evictions, uint64(len(keys)-present); got != want {
		t.Errorf("Stats().Evictions = %d; want %d, the number of keys written and gone", got, want)
	}
	if int64(present) != s.Entries {
		t.Errorf("Stats().Entries = %d; want the %d keys present", s.Entries, present)
	}
}

func TestMemoryEvictionIsLoggedAtWarnWithoutTheKey(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	m := newMemory(t, "small", 4<<10, zap.New(core))
	defer m.Close()
	ctx := context.Background()
	var keys []string
	for i := range 200 {
		k := "secret-session-id-" + strconv.Itoa(i)
		keys = append(keys, k)
		_ = m.Set(ctx, k, bytes.Repeat([]byte{'x'}, 100), 0)
	}
	warns := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("evicted").All()
	if len(warns) == 0 {
		t.Fatalf("200 entries of ~240 bytes in a 4KiB cache logged no eviction warning; logs: %v", logs.All())
	}
	hashes := map[string]bool{}
	for _, k := range keys {
		hashes[keyHash(k)] = true
	}
	for _, e := range warns {
		f := e.ContextMap()
		if f["backend"] != "small" {
			t.Errorf("eviction log backend = %v; want %q", f["backend"], "small")
		}
		if h, _ := f["key_hash"].(string); !hashes[h] {
			t.Errorf("eviction log key_hash = %v; want the short sha256 of one of our keys", f["key_hash"])
		}
		if c, _ := f["cost"].(int64); c < 100 {
			t.Errorf("eviction log cost = %v; want the entry's cost in bytes (>= 100)", f["cost"])
		}
		if !strings.Contains(fmt.Sprint(f["note"]), "GORM or Redis") {
			t.Errorf("eviction log note = %q; want advice to use GORM or Redis", f["note"])
		}
	}
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		if strings.Contains(line, "secret-session-id") {
			t.Fatalf("a log line contains a raw key: %s", line)
		}
	}
}

// Expired entries are reclaimed silently, whether ristretto's TTL sweep or
// the backend's own make-room step removes them; unexpired entries evicted
// for room are logged at warn, once each, and summed up when the backend
// closes. The test runs in a synctest bubble: the TTLs expire on the fake
// clock, and ristretto's sweep (every 2.5s, for entries expired in an
// earlier 5s bucket) runs at known times.
func TestMemoryExpiredEntriesAreNotLoggedAsEvictions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zapcore.WarnLevel)
		m := newMemory(t, "exp", 4<<10, zap.New(core)) // room for about 13 entries
		defer m.Close()
		ctx := context.Background()
		value := bytes.Repeat([]byte{'x'}, 100)
		evictionLogs := func() []observer.LoggedEntry {
			return logs.FilterMessageSnippet("evicted an unexpired entry").All()
		}
		expired := map[string]string{} // key hash -> key

		// 1. ristretto's TTL sweep: entries that expire with the backend
		// far from full are dropped by ristretto, not by making room.
		for i := range 3 {
			k := "swept-" + strconv.Itoa(i)
			if err := m.Set(ctx, k, value, time.Second); err != nil {
				t.Fatalf("Set %s: %v", k, err)
			}
			expired[keyHash(k)] = k
		}
		time.Sleep(15 * time.Second)
		synctest.Wait()
		if st := m.Stats(); st.Entries != 0 || st.UsedBytes != 0 {
			t.Fatalf("after ristretto's TTL sweep: %d entries, %d bytes held; want the 3 expired entries gone", st.Entries, st.UsedBytes)
		}
		if n := len(evictionLogs()); n != 0 {
			t.Fatalf("ristretto's TTL sweep was logged as %d capacity evictions, the first: %v", n, evictionLogs()[0].ContextMap())
		}

		// 2. Making room: 10 expired entries, then 100 fresh ones in a
		// backend with room for about 13.
		for i := range 10 {
			k := "old-" + strconv.Itoa(i)
			if err := m.Set(ctx, k, value, 50*time.Millisecond); err != nil {
				t.Fatalf("Set %s: %v", k, err)
			}
			expired[keyHash(k)] = k
		}
		time.Sleep(100 * time.Millisecond)
		fresh := map[string]bool{}
		for i := range 100 {
			k := "new-" + strconv.Itoa(i)
			if err := m.Set(ctx, k, value, 0); err != nil {
				t.Fatalf("Set %s: %v", k, err)
			}
			fresh[keyHash(k)] = true
		}
		// Let ristretto's sweep take any expired entry that sampling
		// missed, so every entry still held is a fresh one.
		time.Sleep(15 * time.Second)
		synctest.Wait()

		st := m.Stats()
		logged := evictionLogs()
		if st.Evictions == 0 || len(logged) == 0 {
			t.Fatalf("100 entries written into room for about 13: %d evictions counted, %d logged; want both > 0", st.Evictions, len(logged))
		}
		if uint64(len(logged)) != st.Evictions {
			t.Errorf("%d evictions logged, %d counted in Stats; want each eviction logged once", len(logged), st.Evictions)
		}
		if held := uint64(st.Entries); held+st.Evictions != 100 {
			t.Errorf("%d entries held + %d evictions = %d; want 100 (each fresh entry held or evicted, the expired ones gone uncounted)", held, st.Evictions, held+st.Evictions)
		}
		for _, e := range logged {
			h, _ := e.ContextMap()["key_hash"].(string)
			if k, ok := expired[h]; ok {
				t.Errorf("the expired entry %s was logged as a capacity eviction: %v", k, e.ContextMap())
			} else if !fresh[h] {
				t.Errorf("an eviction log names no key written by this test: %v", e.ContextMap())
			}
			if e.Level != zapcore.WarnLevel {
				t.Errorf("eviction logged at %s; want warn", e.Level)
			}
		}

		// The summary at Close adds up the same evictions.
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		sums := logs.FilterMessageSnippet("evictions,").All()
		if len(sums) != 1 {
			t.Fatalf("%d summary warnings at Close; want 1", len(sums))
		}
		if got, _ := sums[0].ContextMap()["evictions"].(uint64); got != st.Evictions {
			t.Errorf("summary at Close: evictions=%v; want %d: %v", sums[0].ContextMap()["evictions"], st.Evictions, sums[0].ContextMap())
		}
	})
}

func TestMemoryValueLargerThanCapacity(t *testing.T) {
	m := newMemory(t, "small", 4<<10, nil)
	defer m.Close()
	err := m.Set(context.Background(), "big", make([]byte, 8<<10), 0)
	if !errors.Is(err, kvcache.ErrNotStored) || !strings.Contains(err.Error(), "max_size 4KiB") {
		t.Fatalf("Set of 8KiB into a 4KiB cache = %v; want ErrNotStored naming max_size 4KiB", err)
	}
	if _, _, err := m.Get(context.Background(), "big"); !errors.Is(err, kvcache.ErrNotFound) {
		t.Fatalf("Get after refused Set = %v; want ErrNotFound", err)
	}
}

func TestMemorySizeValidation(t *testing.T) {
	_, err := kvcache.NewMemory("tiny", kvcache.BackendConfig{Type: "memory", MaxSize: 512}, nil)
	if err == nil || !strings.Contains(err.Error(), "kvcache.backends.tiny.max_size") || !strings.Contains(err.Error(), "512B") || !strings.Contains(err.Error(), "1KiB") {
		t.Fatalf("NewMemory(max_size 512) = %v; want an error naming kvcache.backends.tiny.max_size, 512B and the 1KiB minimum", err)
	}
	b, err := kvcache.NewMemory("dflt", kvcache.BackendConfig{Type: "memory"}, nil)
	if err != nil {
		t.Fatalf("NewMemory without max_size: %v", err)
	}
	defer b.Close()
	// The 64MiB default holds a 1MiB value.
	if err := b.Set(context.Background(), "k", make([]byte, 1<<20), 0); err != nil {
		t.Fatalf("Set 1MiB into the default-sized backend: %v", err)
	}
}

func TestMemoryRejectsNegativeTTLAndUseAfterClose(t *testing.T) {
	m := newMemory(t, "m", 1<<20, nil)
	ctx := context.Background()
	if err := m.Set(ctx, "k", []byte("v"), -time.Second); err == nil || !strings.Contains(err.Error(), "-1s") {
		t.Errorf("Set with ttl -1s = %v; want an error naming the ttl", err)
	}
	if m.CrossProcess() {
		t.Error("CrossProcess() = true; the memory backend is per process")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close = %v; want nil", err)
	}
	if err := m.Set(ctx, "k", []byte("v"), 0); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Set after Close = %v; want a 'closed' error", err)
	}
	if _, _, err := m.Get(ctx, "k"); err == nil || errors.Is(err, kvcache.ErrNotFound) {
		t.Errorf("Get after Close = %v; want a 'closed' error, not ErrNotFound", err)
	}
}

func TestMemoryCloseStopsItsGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	m := newMemory(t, "leak", 1<<20, nil)
	if err := m.Set(context.Background(), "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkMemoryGet(b *testing.B) {
	m := newMemory(b, "bench", 64<<20, nil)
	defer m.Close()
	ctx := context.Background()
	const keys = 1024
	for i := range keys {
		if err := m.Set(ctx, "k"+strconv.Itoa(i), bytes.Repeat([]byte{'x'}, 256), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, _, err := m.Get(ctx, "k"+strconv.Itoa(i%keys)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkMemorySet(b *testing.B) {
	m := newMemory(b, "bench", 64<<20, nil)
	defer m.Close()
	ctx := context.Background()
	v := bytes.Repeat([]byte{'x'}, 256)
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := m.Set(ctx, "k"+strconv.Itoa(int(n.Add(1)%4096)), v, time.Hour); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkMemoryUpdate(b *testing.B) {
	m := newMemory(b, "bench", 64<<20, nil)
	defer m.Close()
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			err := m.Update(ctx, "k"+strconv.Itoa(int(n.Add(1)%64)), func(old []byte, found bool) ([]byte, time.Duration, error) {
				c, _ := strconv.Atoi(string(old))
				return strconv.AppendInt(nil, int64(c+1), 10), 0, nil
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
