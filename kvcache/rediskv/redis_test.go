package rediskv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/kvcachetest"
)

const urlEnv = "SESSIONFX_TEST_REDIS_URL"

func redisURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(urlEnv)
	if u == "" {
		tb.Skipf("%s is not set: skipping tests that need a Redis server (e.g. %s=redis://127.0.0.1:6379/0)", urlEnv, urlEnv)
	}
	return u
}

func newTestBackend(tb testing.TB, url string, clientCache bool) *Backend {
	tb.Helper()
	b, err := New("test", kvcache.BackendConfig{Type: "redis", URL: url, ClientCache: clientCache}, nil)
	if err != nil {
		tb.Fatalf("New(%s): %v", url, err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

// uniquePrefix returns a key prefix no other test uses, and deletes its keys
// when the test ends (the shared Redis holds other tests' keys: no FLUSHDB).
func uniquePrefix(tb testing.TB, b *Backend) string {
	tb.Helper()
	var raw [6]byte
	_, _ = rand.Read(raw[:])
	p := "rediskvtest:" + hex.EncodeToString(raw[:]) + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		var keys []string
		_ = b.Scan(ctx, p, func(k string) error { keys = append(keys, k); return nil })
		for _, k := range keys {
			_ = b.Delete(ctx, k)
		}
	})
	return p
}

func TestContract(t *testing.T) {
	runContract(t, kvcache.BackendConfig{Type: "redis", URL: redisURL(t)}, Single)
}

// runContract runs the kvcache contract on backends made from cfg, with
// and without the client cache, checking each is of the topology want.
func runContract(t *testing.T, cfg kvcache.BackendConfig, want Topology) {
	for _, cc := range []bool{false, true} {
		t.Run("client_cache="+strconv.FormatBool(cc), func(t *testing.T) {
			kvcachetest.Run(t, func(t *testing.T) kvcache.Backend {
				c := cfg
				c.ClientCache = cc
				b, err := New("contract", c, zaptest.NewLogger(t))
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if b.Topology() != want {
					t.Fatalf("topology %s, want %s", b.Topology(), want)
				}
				return b
			})
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  kvcache.BackendConfig
		want string
	}{
		{"empty url", kvcache.BackendConfig{}, "url is empty"},
		{"wrong scheme", kvcache.BackendConfig{URL: "http://127.0.0.1:6379"}, "http://127.0.0.1:6379"},
		{"negative timeout", kvcache.BackendConfig{URL: "redis://127.0.0.1:6379/0", CommandTimeout: -time.Second}, "must not be negative"},
		{"password hidden", kvcache.BackendConfig{URL: "ftp://user:s3cret@127.0.0.1:6379"}, "user:xxxxx@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New("bad", tc.cfg, nil)
			if err == nil {
				_ = b.Close()
				t.Fatalf("New(%+v) succeeded, want an error", tc.cfg)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error %q: want it to contain %q and no password", err, tc.want)
			}
		})
	}
}

func TestRegistration(t *testing.T) {
	url := redisURL(t)
	c, err := kvcache.New(kvcache.Config{
		Backends:   map[string]kvcache.BackendConfig{"default": {Type: "redis", URL: url, ClientCache: true}},
		Containers: map[string]kvcache.ContainerConfig{"tok": {Prefix: "rediskvtest:reg:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"}},
	}, nil, kvcache.WithType(Registration().Name, Registration().New))
	if err != nil {
		t.Fatalf("kvcache.New with type redis: %v", err)
	}
	defer c.Close()
	ct, _ := c.Container("tok")
	ctx := context.Background()
	defer ct.Clear(ctx)
	if err := ct.Set(ctx, "a", []byte("1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := ct.Get(ctx, "a"); err != nil || string(v) != "1" {
		t.Fatalf("Get = %q, %v; want 1", v, err)
	}
	if !ct.CrossProcess() {
		t.Fatal("redis container must report CrossProcess")
	}
}

// Two instances on one Redis: a read cached by A is dropped when B writes,
// and A sees its own writes immediately.
func TestClientCacheInvalidation(t *testing.T) {
	url := redisURL(t)
	ctx := context.Background()
	a := newTestBackend(t, url, true)
	b := newTestBackend(t, url, true)
	p := uniquePrefix(t, a)
	k := p + "k"
	// Written through B: A reads a key it wrote itself a moment ago from
	// the server (recentWrites), and caches it once it rests.
	if err := b.Set(ctx, k, []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if v, _, err := a.Get(ctx, k); err != nil || string(v) != "v1" {
			t.Fatalf("A Get = %q, %v; want v1", v, err)
		}
	}
	if !a.client.DoCache(ctx, a.client.B().Get().Key(k).Cache(), a.cacheTTL).IsCacheHit() {
		t.Fatal("second read of a key on A was not served from the client-side cache")
	}

	if err := b.Set(ctx, k, []byte("v2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		v, _, err := a.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if string(v) == "v2" {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("A still reads %q 1s after B wrote v2: invalidation did not arrive", v)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("A saw B's write after %s", time.Since(start))

	// B deletes: A's cached copy and cached Exists go too.
	if ok, _ := a.Exists(ctx, k); !ok {
		t.Fatal("Exists = false for a present key")
	}
	if err := b.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	for {
		ok, err := a.Exists(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatal("A still reports the key present 1s after B deleted it")
		}
		time.Sleep(time.Millisecond)
	}

	// Read-your-writes on one instance, no polling allowed.
	for i := range 20 {
		want := "own" + strconv.Itoa(i)
		if i%2 == 0 {
			if err := a.Set(ctx, k, []byte(want), time.Minute); err != nil {
				t.Fatal(err)
			}
		} else if err := a.Update(ctx, k, func([]byte, bool) ([]byte, time.Duration, error) { return []byte(want), time.Minute, nil }); err != nil {
			t.Fatal(err)
		}
		if v, _, err := a.Get(ctx, k); err != nil || string(v) != want {
			t.Fatalf("A Get right after its own write = %q, %v; want %q", v, err, want)
		}
	}
}

// A TTL served from the client cache keeps counting down.
func TestClientCacheTTLAges(t *testing.T) {
	url := redisURL(t)
	ctx := context.Background()
	a := newTestBackend(t, url, true)
	k := uniquePrefix(t, a) + "k"
	if err := a.Set(ctx, k, []byte("v"), 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, ttl, err := a.Get(ctx, k); err != nil || ttl <= 2*time.Second || ttl > 3*time.Second {
		t.Fatalf("first Get ttl = %s, %v; want in (2s, 3s]", ttl, err)
	}
	time.Sleep(600 * time.Millisecond)
	_, ttl, err := a.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if ttl > 2500*time.Millisecond || ttl < 2*time.Second {
		t.Fatalf("cached Get after 600ms: ttl = %s; want about 2.4s", ttl)
	}
}

func TestUpdate50Writers(t *testing.T) {
	url := redisURL(t)
	for _, cc := range []bool{false, true} {
		t.Run("client_cache="+strconv.FormatBool(cc), func(t *testing.T) {
			ctx := context.Background()
			// Two instances share the writers.
			insts := []*Backend{newTestBackend(t, url, cc), newTestBackend(t, url, cc)}
			k := uniquePrefix(t, insts[0]) + "list"
			var wg sync.WaitGroup
			errs := make(chan error, 50)
			for i := range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- insts[i%2].Update(ctx, k, func(old []byte, found bool) ([]byte, time.Duration, error) {
						return append(append([]byte(nil), old...), fmt.Sprintf("[%d]", i)...), time.Minute, nil
					})
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("Update: %v", err)
				}
			}
			v, ttl, err := insts[0].GetDirect(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				if !bytes.Contains(v, []byte(fmt.Sprintf("[%d]", i))) {
					t.Fatalf("write %d lost: value %q", i, v)
				}
			}
			if ttl <= 0 || ttl > time.Minute {
				t.Fatalf("ttl after Update = %s, want (0, 1m]", ttl)
			}
		})
	}
}

func TestUpdateErrorAndDelete(t *testing.T) {
	url := redisURL(t)
	ctx := context.Background()
	b := newTestBackend(t, url, true)
	k := uniquePrefix(t, b) + "k"
	boom := errors.New("boom")
	if err := b.Update(ctx, k, func([]byte, bool) ([]byte, time.Duration, error) { return []byte("x"), 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want boom", err)
	}
	if ok, _ := b.Exists(ctx, k); ok {
		t.Fatal("a failed Update wrote the key")
	}
	_ = b.Set(ctx, k, []byte("x"), 0)
	if err := b.Update(ctx, k, func(old []byte, found bool) ([]byte, time.Duration, error) {
		if !found || string(old) != "x" {
			t.Errorf("Update saw %q, %v; want x, true", old, found)
		}
		return nil, 0, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Get(ctx, k); !errors.Is(err, kvcache.ErrNotFound) {
		t.Fatalf("Get after Update returned nil = %v, want ErrNotFound", err)
	}
}

func TestScanEscapesGlob(t *testing.T) {
	url := redisURL(t)
	ctx := context.Background()
	b := newTestBackend(t, url, false)
	base := uniquePrefix(t, b)
	p := base + "a*[b]?\\:"
	want := map[string]bool{p + "1": true, p + "2": true}
	for k := range want {
		_ = b.Set(ctx, k, []byte("v"), time.Minute)
	}
	// These match the prefix read as a glob, not as a literal string.
	for _, k := range []string{base + "aXXbX\\:1", base + "ab?\\:1", base + "a*[b]?\\"} {
		_ = b.Set(ctx, k, []byte("v"), time.Minute)
	}
	got := map[string]bool{}
	if err := b.Scan(ctx, p, func(k string) error { got[k] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Scan(%q) = %v, want %v", p, got, want)
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("Scan(%q) missed %q (got %v)", p, k, got)
		}
	}
}

func TestTryLock(t *testing.T) {
	url := redisURL(t)
	ctx := context.Background()
	a, b := newTestBackend(t, url, true), newTestBackend(t, url, true)
	k := uniquePrefix(t, a) + "tok"
	unlock, ok, err := a.TryLock(ctx, k, 300*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("first TryLock = %v, %v; want ok", ok, err)
	}
	if _, ok, err := b.TryLock(ctx, k, time.Second); err != nil || ok {
		t.Fatalf("second TryLock while held = %v, %v; want not ok", ok, err)
	}
	// The lock lives outside the key's namespace: scans of the prefix skip it.
	_ = a.Scan(ctx, k[:strings.LastIndex(k, ":")+1], func(key string) error {
		t.Errorf("Scan reported %q: lock keys must not appear in a container", key)
		return nil
	})
	time.Sleep(400 * time.Millisecond) // a's lock expires
	unlockB, ok, err := b.TryLock(ctx, k, time.Second)
	if err != nil || !ok {
		t.Fatalf("TryLock after expiry = %v, %v; want ok", ok, err)
	}
	unlock() // a's late unlock must not release b's lock
	if _, ok, _ := a.TryLock(ctx, k, time.Second); ok {
		t.Fatal("a stale holder's unlock released another holder's lock")
	}
	unlockB()
	unlockC, ok, err := a.TryLock(ctx, k, time.Second)
	if err != nil || !ok {
		t.Fatalf("TryLock after unlock = %v, %v; want ok", ok, err)
	}
	unlockC()
}

// ---- failure and recovery with a Redis server of our own ----

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedis runs redis-server on port and returns a stop function that
// kills it and waits for it to exit.
func startRedis(t *testing.T, port int) (stop func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not on PATH: skipping the failure/recovery test")
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return stop
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on port %d did not accept connections within 5s: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFailureAndRecovery(t *testing.T) {
	if os.Getenv(urlEnv) == "" {
		t.Skipf("%s is not set: skipping Redis tests", urlEnv)
	}
	for _, cc := range []bool{false, true} {
		t.Run("client_cache="+strconv.FormatBool(cc), func(t *testing.T) {
			port := freePort(t)
			stop := startRedis(t, port)
			url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
			b, err := New("flaky", kvcache.BackendConfig{URL: url, ClientCache: cc, CommandTimeout: 500 * time.Millisecond, DialTimeout: 300 * time.Millisecond}, zaptest.NewLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			ctx := context.Background()
			if err := b.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.Get(ctx, "k"); err != nil {
				t.Fatal(err)
			}

			stop()
			ops := map[string]func() error{
				"Get": func() error { _, _, err := b.Get(ctx, "other"); return err },
				"Set": func() error { return b.Set(ctx, "k", []byte("w"), time.Minute) },
				"Update": func() error {
					return b.Update(ctx, "k", func(o []byte, _ bool) ([]byte, time.Duration, error) { return o, 0, nil })
				},
				"Scan": func() error { return b.Scan(ctx, "", func(string) error { return nil }) },
			}
			for name, op := range ops {
				start := time.Now()
				err := op()
				took := time.Since(start)
				if err == nil {
					t.Fatalf("%s with redis down succeeded", name)
				}
				if errors.Is(err, kvcache.ErrNotFound) {
					t.Fatalf("%s with redis down = ErrNotFound; want a connection error", name)
				}
				if !strings.Contains(err.Error(), `"flaky"`) || !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(port)) {
					t.Fatalf("%s error %q does not name the backend and address", name, err)
				}
				if took > 1500*time.Millisecond {
					t.Fatalf("%s with redis down took %s; want to fail within about the 500ms command timeout", name, took)
				}
				t.Logf("%s with redis down: %s after %s", name, err, took)
			}

			startRedis(t, port)
			deadline := time.Now().Add(10 * time.Second)
			for {
				err := b.Set(ctx, "k", []byte("back"), time.Minute)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("backend did not recover within 10s after redis restarted: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if v, _, err := b.Get(ctx, "k"); err != nil || string(v) != "back" {
				t.Fatalf("Get after recovery = %q, %v; want back", v, err)
			}
		})
	}
}

// The app can start while Redis is down and works once it is up.
func TestStartWhileDown(t *testing.T) {
	if os.Getenv(urlEnv) == "" {
		t.Skipf("%s is not set: skipping Redis tests", urlEnv)
	}
	port := freePort(t)
	b, err := New("late", kvcache.BackendConfig{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), CommandTimeout: 300 * time.Millisecond, DialTimeout: 200 * time.Millisecond}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("New with redis down: %v; want a backend that connects later", err)
	}
	defer b.Close()
	ctx := context.Background()
	if _, _, err := b.Get(ctx, "k"); err == nil || errors.Is(err, kvcache.ErrNotFound) {
		t.Fatalf("Get with redis never started = %v; want a connection error", err)
	}
	startRedis(t, port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, err := b.Get(ctx, "k")
		if errors.Is(err, kvcache.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend did not connect within 10s after redis started: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---- benchmarks ----

func benchBackend(b *testing.B, cc bool) (*Backend, string) {
	url := redisURL(b)
	be := newTestBackend(b, url, cc)
	return be, uniquePrefix(b, be)
}

func BenchmarkRedisGet(b *testing.B) {
	for _, cc := range []bool{false, true} {
		b.Run("client_cache="+strconv.FormatBool(cc), func(b *testing.B) {
			be, p := benchBackend(b, cc)
			ctx := context.Background()
			k := p + "k"
			if err := be.Set(ctx, k, bytes.Repeat([]byte("x"), 256), time.Hour); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, _, err := be.Get(ctx, k); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRedisSet(b *testing.B) {
	be, p := benchBackend(b, false)
	ctx := context.Background()
	k := p + "k"
	v := bytes.Repeat([]byte("x"), 256)
	b.ReportAllocs()
	for b.Loop() {
		if err := be.Set(ctx, k, v, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisUpdate(b *testing.B) {
	be, p := benchBackend(b, false)
	ctx := context.Background()
	k := p + "k"
	v := bytes.Repeat([]byte("x"), 256)
	b.ReportAllocs()
	for b.Loop() {
		if err := be.Update(ctx, k, func([]byte, bool) ([]byte, time.Duration, error) { return v, time.Hour, nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisReadThenSwap is a session's read-modify-write request (S3):
// Get, then CompareAndSwap against the value read. With the client cache the
// instance's own write invalidates its cached copy, so the next Get misses.
func BenchmarkRedisReadThenSwap(b *testing.B) {
	for _, cc := range []bool{false, true} {
		b.Run("client_cache="+strconv.FormatBool(cc), func(b *testing.B) {
			be, p := benchBackend(b, cc)
			ctx := context.Background()
			k := p + "k"
			if err := be.Set(ctx, k, []byte("0"), time.Hour); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for b.Loop() {
				old, _, err := be.Get(ctx, k)
				if err != nil {
					b.Fatal(err)
				}
				n++
				ok, err := be.CompareAndSwap(ctx, k, old, []byte(strconv.Itoa(n)), time.Hour)
				if err != nil || !ok {
					b.Fatalf("CompareAndSwap = %v, %v (read %q)", ok, err, old)
				}
			}
		})
	}
}
