package filekv

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/storetest"
	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/kvcachetest"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	goleak.VerifyTestMain(m)
}

func openAt(t testing.TB, path string) *Backend {
	t.Helper()
	b, err := New("t", kvcache.BackendConfig{Type: TypeName, Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openTemp(t testing.TB) *Backend {
	t.Helper()
	b := openAt(t, filepath.Join(t.TempDir(), "kv.sqlite3"))
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestContract(t *testing.T) {
	kvcachetest.Run(t, func(t *testing.T) kvcache.Backend {
		// Run closes the backend.
		return openAt(t, filepath.Join(t.TempDir(), "kv.sqlite3"))
	})
}

// The contract again with every subtest on one file, through two backends
// (two writers, two connection pools) that share it.
func TestContractSharedFile(t *testing.T) {
	if raceEnabled {
		// The race detector slows the transpiled SQLite about 20-fold:
		// TestContract already runs the suite once under -race.
		t.Skip("skipped under -race (runs without it)")
	}
	path := filepath.Join(t.TempDir(), "kv.sqlite3")
	other := openAt(t, path)
	t.Cleanup(func() { _ = other.Close() })
	kvcachetest.Run(t, func(t *testing.T) kvcache.Backend { return openAt(t, path) })
}

func TestSessionStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store {
		return backends.NewKVStore(kvcache.NewContainer("session", "session:", 0, openTemp(t)))
	})
}

func TestRegistration(t *testing.T) {
	r := Registration()
	if r.Name != "file" || r.New == nil {
		t.Fatalf("Registration() = %+v", r)
	}
	path := filepath.Join(t.TempDir(), "reg.sqlite3")
	c, err := kvcache.New(kvcache.Config{
		Backends:   map[string]kvcache.BackendConfig{"default": {Type: "file", Path: path}},
		Containers: map[string]kvcache.ContainerConfig{"session": {Backend: "default"}},
	}, zaptest.NewLogger(t), kvcache.WithType(r.Name, r.New))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := c.Container("session")
	if err != nil {
		t.Fatal(err)
	}
	if err := ct.Set(t.Context(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if !ct.CrossProcess() {
		t.Error("CrossProcess = false")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ path, want string }{
		{"", "path is empty"},
		{"   ", "path is empty"},
		{":memory:", "a plain file path"},
		{"file:x.db", "a plain file path"},
		{filepath.Join(dir, "missing", "x.sqlite3"), "does not exist"},
		{dir, "is a folder"},
	} {
		_, err := New("bad", kvcache.BackendConfig{Type: TypeName, Path: tc.path}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"bad"`) {
			t.Errorf("New(path %q) = %v; want an error naming the backend and saying %q", tc.path, err, tc.want)
		}
	}
}

func TestFileIsPrivateAndPathMayNeedEscaping(t *testing.T) {
	path := filepath.Join(t.TempDir(), "we?ird #name %41.sqlite3")
	b := openAt(t, path)
	if err := b.Set(t.Context(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the file was not created under its literal name: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v; want 0600", fi.Mode().Perm())
	}
}

func TestSurvivesReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "kv.sqlite3")
	b := openAt(t, path)
	if err := b.Set(ctx, "forever", []byte("f"), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "hour", []byte("h"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "late", []byte("x"), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close = %v; want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	b = openAt(t, path)
	defer b.Close()
	if v, ttl, err := b.Get(ctx, "forever"); err != nil || string(v) != "f" || ttl != 0 {
		t.Fatalf("forever after reopen = %q, %s, %v", v, ttl, err)
	}
	if v, ttl, err := b.Get(ctx, "hour"); err != nil || string(v) != "h" || ttl < 59*time.Minute || ttl > time.Hour {
		t.Fatalf("hour after reopen = %q, %s, %v", v, ttl, err)
	}
}

func rowCount(t *testing.T, b *Backend) int {
	t.Helper()
	var n int
	if err := b.DB().QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSweepDeletesExpiredRows(t *testing.T) {
	ctx := t.Context()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b, err := open("t", kvcache.BackendConfig{Path: filepath.Join(t.TempDir(), "kv.sqlite3")}, nil, options{now: clock, sweepEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range 2500 {
		if err := b.Set(ctx, "short:"+strconv.Itoa(i), []byte("x"), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Set(ctx, "long", []byte("l"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "forever", []byte("f"), 0); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := b.TryLock(ctx, "lk", time.Second); !ok || err != nil {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	// Invisible at once, whether swept or not.
	if _, _, err := b.Get(ctx, "short:1"); !errors.Is(err, kvcache.ErrNotFound) {
		t.Fatalf("Get(expired) = %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for rowCount(t, b) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the sweeper left %d rows; want 2", rowCount(t, b))
		}
		time.Sleep(10 * time.Millisecond)
	}
	var locks int
	if err := b.DB().QueryRow(`SELECT count(*) FROM ` + lockTable).Scan(&locks); err != nil || locks != 0 {
		t.Fatalf("locks after the sweep: %d, %v", locks, err)
	}
	if n, err := b.Sweep(ctx); n != 0 || err != nil {
		t.Fatalf("Sweep with nothing expired = %d, %v", n, err)
	}
}

func TestSetNXAndCompareAndSwap(t *testing.T) {
	ctx := t.Context()
	b := openTemp(t)
	if ok, err := b.SetNX(ctx, "k", []byte("one"), 0); !ok || err != nil {
		t.Fatalf("SetNX(absent) = %v, %v", ok, err)
	}
	if ok, err := b.SetNX(ctx, "k", []byte("two"), 0); ok || err != nil {
		t.Fatalf("SetNX(present) = %v, %v", ok, err)
	}
	if v, _, _ := b.Get(ctx, "k"); string(v) != "one" {
		t.Fatalf("after a refused SetNX: %q", v)
	}
	// An expired key counts as absent.
	if err := b.Set(ctx, "exp", []byte("old"), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if ok, err := b.SetNX(ctx, "exp", []byte("new"), time.Hour); !ok || err != nil {
		t.Fatalf("SetNX(expired) = %v, %v", ok, err)
	}
	if v, ttl, _ := b.Get(ctx, "exp"); string(v) != "new" || ttl <= 59*time.Minute {
		t.Fatalf("after SetNX over an expired key: %q ttl %s", v, ttl)
	}
	if ok, err := b.CompareAndSwap(ctx, "k", []byte("wrong"), []byte("x"), 0); ok || err != nil {
		t.Fatalf("CAS(wrong old) = %v, %v", ok, err)
	}
	if ok, err := b.CompareAndSwap(ctx, "k", []byte("one"), []byte("three"), time.Hour); !ok || err != nil {
		t.Fatalf("CAS = %v, %v", ok, err)
	}
	if v, ttl, _ := b.Get(ctx, "k"); string(v) != "three" || ttl <= 59*time.Minute {
		t.Fatalf("after CAS: %q ttl %s", v, ttl)
	}
	if ok, err := b.CompareAndSwap(ctx, "k", []byte("three"), nil, 0); !ok || err != nil {
		t.Fatalf("CAS delete = %v, %v", ok, err)
	}
	if ok, _ := b.Exists(ctx, "k"); ok {
		t.Fatal("key exists after a deleting CAS")
	}
	if ok, err := b.CompareAndSwap(ctx, "absent", nil, []byte("x"), 0); ok || err != nil {
		t.Fatalf("CAS(absent) = %v, %v", ok, err)
	}
	// Empty values compare equal to empty values.
	if err := b.Set(ctx, "e", nil, 0); err != nil {
		t.Fatal(err)
	}
	if v, _, err := b.Get(ctx, "e"); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("Get(empty) = %q (nil %v), %v", v, v == nil, err)
	}
	if ok, err := b.CompareAndSwap(ctx, "e", []byte{}, []byte("full"), 0); !ok || err != nil {
		t.Fatalf("CAS(empty old) = %v, %v", ok, err)
	}
	// Through a container, both fast paths are taken.
	ct := kvcache.NewContainer("c", "c:", 0, b)
	if _, supported, _ := ct.CompareAndSwap(ctx, "x", nil, nil, 0); !supported {
		t.Fatal("the container does not see Swapper")
	}
}

func TestUpdateFnErrorAndPanic(t *testing.T) {
	ctx := t.Context()
	b := openTemp(t)
	if err := b.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	// Writes batched with the failing Update still commit.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.Set(ctx, "other"+strconv.Itoa(i), []byte("o"), 0); err != nil {
				t.Error(err)
			}
		}()
	}
	if err := b.Update(ctx, "k", func([]byte, bool) ([]byte, time.Duration, error) { return []byte("x"), 0, boom }); err != boom {
		t.Fatalf("Update = %v; want the fn's own error", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "oops" {
				t.Fatalf("recovered %v; want the fn's panic", r)
			}
		}()
		_ = b.Update(ctx, "k", func([]byte, bool) ([]byte, time.Duration, error) { panic("oops") })
		t.Fatal("Update did not panic")
	}()
	wg.Wait()
	if v, _, _ := b.Get(ctx, "k"); string(v) != "v" {
		t.Fatalf("after failed updates: %q", v)
	}
	if rowCount(t, b) != 21 {
		t.Fatalf("rows = %d; want 21", rowCount(t, b))
	}
	// The writer still works.
	if err := b.Set(ctx, "k", []byte("w"), 0); err != nil {
		t.Fatal(err)
	}
}

func TestCancelledContext(t *testing.T) {
	b := openTemp(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Set(ctx, "k", []byte("v"), 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Set with a cancelled context = %v", err)
	}
	if ok, _ := b.Exists(t.Context(), "k"); ok {
		t.Fatal("a write with a cancelled context was stored")
	}
}

func TestTryLock(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "kv.sqlite3")
	a, c := openAt(t, path), openAt(t, path)
	defer a.Close()
	defer c.Close()
	unlock, ok, err := a.TryLock(ctx, "k", time.Hour)
	if !ok || err != nil {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	if _, ok, err := c.TryLock(ctx, "k", time.Hour); ok || err != nil {
		t.Fatalf("second TryLock = %v, %v; want false", ok, err)
	}
	var keys []string
	_ = a.Scan(ctx, "", func(k string) error { keys = append(keys, k); return nil })
	if len(keys) != 0 {
		t.Fatalf("Scan sees locks: %q", keys)
	}
	unlock()
	unlock2, ok, err := c.TryLock(ctx, "k", 50*time.Millisecond)
	if !ok || err != nil {
		t.Fatalf("TryLock after unlock = %v, %v", ok, err)
	}
	unlock() // a stale unlock must not release c's lock
	if _, ok, _ := a.TryLock(ctx, "k", time.Hour); ok {
		t.Fatal("a stale unlock released another holder's lock")
	}
	time.Sleep(80 * time.Millisecond)
	if _, ok, _ := a.TryLock(ctx, "k", time.Hour); !ok {
		t.Fatal("an expired lock was not taken over")
	}
	unlock2()
	if _, _, err := a.TryLock(ctx, "z", 0); err == nil {
		t.Fatal("TryLock with ttl 0 succeeded")
	}
}

func TestScanPrefixEdges(t *testing.T) {
	ctx := t.Context()
	b := openTemp(t)
	keys := []string{"a", "a\xff", "a\xff\xff", "b", "\xff", "\xff\xff", "ab", "a:1"}
	for _, k := range keys {
		if err := b.Set(ctx, k, []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		prefix string
		want   int
	}{{"", 8}, {"a", 5}, {"a\xff", 2}, {"\xff", 2}, {"\xff\xff", 1}, {"c", 0}} {
		n := 0
		if err := b.Scan(ctx, tc.prefix, func(k string) error {
			if !strings.HasPrefix(k, tc.prefix) {
				t.Errorf("Scan(%q) gave %q", tc.prefix, k)
			}
			n++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Errorf("Scan(%q) gave %d keys; want %d", tc.prefix, n, tc.want)
		}
	}
	// More keys than one batch.
	for i := range 3*scanBatch + 7 {
		if err := b.Set(ctx, "many:"+strconv.Itoa(i), nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	if err := b.Scan(ctx, "many:", func(k string) error {
		if seen[k] {
			t.Errorf("Scan gave %q twice", k)
		}
		seen[k] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3*scanBatch+7 {
		t.Fatalf("Scan over several batches gave %d keys", len(seen))
	}
}

func TestIntegrityAfterUse(t *testing.T) {
	b := openTemp(t)
	ctx := t.Context()
	big := bytes.Repeat([]byte("x"), 100_000)
	for i := range 50 {
		if err := b.Set(ctx, strconv.Itoa(i), big, 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := integrity(t, b); got != "ok" {
		t.Fatalf("integrity_check = %q", got)
	}
}

func integrity(t testing.TB, b *Backend) string {
	t.Helper()
	var res string
	if err := b.DB().QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		t.Fatal(err)
	}
	return res
}
