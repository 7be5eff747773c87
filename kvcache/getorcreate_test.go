package kvcache_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/rediskv"
)

// tokenEnv builds the containers a test runs against: "memory" always,
// "redis" when SESSIONFX_TEST_REDIS_URL is set. newInstance returns a
// container on a fresh backend that shares data with the others of the same
// kind (a second app instance for redis; the same backend for memory).
type tokenEnv struct {
	name        string
	newInstance func(t testing.TB) *kvcache.Container
}

func tokenEnvs(t testing.TB) []tokenEnv {
	var raw [6]byte
	_, _ = rand.Read(raw[:])
	prefix := "gocttest:" + hex.EncodeToString(raw[:]) + ":"
	mem, err := kvcache.NewMemory("mem", kvcache.BackendConfig{Type: "memory", MaxSize: 16 << 20}, nil)
	if err != nil {
		t.Fatalf("NewMemory: %v", err)
	}
	t.Cleanup(func() { _ = mem.Close() })
	envs := []tokenEnv{{"memory", func(testing.TB) *kvcache.Container { return kvcache.NewContainer("tokens", prefix, 0, mem) }}}
	if url := os.Getenv("SESSIONFX_TEST_REDIS_URL"); url != "" {
		envs = append(envs, tokenEnv{"redis", func(t testing.TB) *kvcache.Container {
			b, err := rediskv.New("tokens", kvcache.BackendConfig{Type: "redis", URL: url, ClientCache: true}, nil)
			if err != nil {
				t.Fatalf("rediskv.New: %v", err)
			}
			c := kvcache.NewContainer("tokens", prefix, 0, b)
			t.Cleanup(func() { _ = c.Clear(context.Background()); _ = b.Close() })
			return c
		}})
	} else {
		t.Logf("SESSIONFX_TEST_REDIS_URL is not set: GetOrCreate runs on the memory backend only")
	}
	return envs
}

// counter is an fn that counts its calls and returns "v<n>" valid for life.
type counter struct {
	calls atomic.Int64
	delay time.Duration
	life  time.Duration
}

func (c *counter) fn(ctx context.Context) ([]byte, time.Time, error) {
	n := c.calls.Add(1)
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	return []byte("v" + strconv.FormatInt(n, 10)), time.Now().Add(c.life), nil
}

func TestGetOrCreateSingleFlight64(t *testing.T) {
	for _, env := range tokenEnvs(t) {
		t.Run(env.name, func(t *testing.T) {
			// Two instances (for redis: two clients; for memory: one backend).
			insts := []*kvcache.Container{env.newInstance(t), env.newInstance(t)}
			fn := &counter{delay: 100 * time.Millisecond, life: time.Minute}
			start := make(chan struct{})
			var wg sync.WaitGroup
			results := make([][]byte, 64)
			errs := make([]error, 64)
			for i := range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i], errs[i] = insts[i%2].GetOrCreate(context.Background(), "broker", fn.fn)
				}()
			}
			close(start)
			wg.Wait()
			for i := range 64 {
				if errs[i] != nil {
					t.Fatalf("caller %d: %v", i, errs[i])
				}
				if string(results[i]) != "v1" {
					t.Fatalf("caller %d got %q, want v1", i, results[i])
				}
			}
			if n := fn.calls.Load(); n != 1 {
				t.Fatalf("fn called %d times by 64 concurrent callers on 2 instances, want 1", n)
			}
			// Callers own their slices.
			results[0][0] = 'X'
			if string(results[1]) != "v1" {
				t.Fatal("callers share one byte slice")
			}
		})
	}
}

func TestGetOrCreateHalfLife(t *testing.T) {
	for _, env := range tokenEnvs(t) {
		t.Run(env.name, func(t *testing.T) {
			t.Parallel()
			c := env.newInstance(t)
			ctx := context.Background()
			fn := &counter{life: 2 * time.Second}
			get := func() string {
				v, err := c.GetOrCreate(ctx, "tok", fn.fn)
				if err != nil {
					t.Fatal(err)
				}
				return string(v)
			}
			if v := get(); v != "v1" {
				t.Fatalf("first = %q, want v1", v)
			}
			time.Sleep(600 * time.Millisecond) // 30% of the lifetime
			if v := get(); v != "v1" {
				t.Fatalf("at 30%% of the lifetime = %q, want the cached v1", v)
			}
			time.Sleep(600 * time.Millisecond) // 60%: past the half-life
			if v := get(); v != "v2" {
				t.Fatalf("past half of the lifetime = %q, want a refreshed v2", v)
			}
			if v := get(); v != "v2" {
				t.Fatalf("right after the refresh = %q, want v2", v)
			}
			if n := fn.calls.Load(); n != 2 {
				t.Fatalf("fn called %d times, want 2", n)
			}
		})
	}
}

func TestGetOrCreateErrorNotCached(t *testing.T) {
	for _, env := range tokenEnvs(t) {
		t.Run(env.name, func(t *testing.T) {
			c := env.newInstance(t)
			ctx := context.Background()
			boom := errors.New("broker unavailable")
			calls := 0
			fn := func(context.Context) ([]byte, time.Time, error) {
				calls++
				if calls == 1 {
					return nil, time.Time{}, boom
				}
				return []byte("ok"), time.Now().Add(time.Minute), nil
			}
			if _, err := c.GetOrCreate(ctx, "tok", fn); !errors.Is(err, boom) {
				t.Fatalf("first call error = %v, want the fn error", err)
			}
			if v, err := c.GetOrCreate(ctx, "tok", fn); err != nil || string(v) != "ok" {
				t.Fatalf("second call = %q, %v; want fn called again and ok", v, err)
			}
			if calls != 2 {
				t.Fatalf("fn called %d times, want 2", calls)
			}
			// A value that is already expired is an error, not a cached entry.
			if _, err := c.GetOrCreate(ctx, "past", func(context.Context) ([]byte, time.Time, error) {
				return []byte("old"), time.Now().Add(-time.Second), nil
			}); err == nil {
				t.Fatal("fn returning an expired value: GetOrCreate succeeded, want an error")
			}
			if _, err := c.Get(ctx, "past"); !errors.Is(err, kvcache.ErrNotFound) {
				t.Fatalf("an expired fn value was stored: Get = %v", err)
			}
		})
	}
}

func TestGetOrCreateExpiredNeverReturned(t *testing.T) {
	for _, env := range tokenEnvs(t) {
		t.Run(env.name, func(t *testing.T) {
			t.Parallel()
			c := env.newInstance(t)
			other := env.newInstance(t)
			ctx := context.Background()
			var expires atomic.Int64
			fn := func(context.Context) ([]byte, time.Time, error) {
				e := time.Now().Add(300 * time.Millisecond)
				expires.Store(e.UnixNano())
				return []byte(strconv.FormatInt(e.UnixNano(), 10)), e, nil
			}
			deadline := time.Now().Add(1500 * time.Millisecond)
			for time.Now().Before(deadline) {
				for _, ct := range []*kvcache.Container{c, other} {
					v, err := ct.GetOrCreate(ctx, "short", fn)
					if err != nil {
						t.Fatal(err)
					}
					exp, _ := strconv.ParseInt(string(v), 10, 64)
					if now := time.Now().UnixNano(); exp <= now {
						t.Fatalf("GetOrCreate returned a value that expired %s ago", time.Duration(now-exp))
					}
				}
				time.Sleep(7 * time.Millisecond)
			}
		})
	}
}

func TestGetOrCreateClearAndCorrupt(t *testing.T) {
	for _, env := range tokenEnvs(t) {
		t.Run(env.name, func(t *testing.T) {
			c := env.newInstance(t)
			ctx := context.Background()
			fn := &counter{life: time.Minute}
			if _, err := c.GetOrCreate(ctx, "a", fn.fn); err != nil {
				t.Fatal(err)
			}
			if err := c.Clear(ctx); err != nil {
				t.Fatalf("Clear: %v", err)
			}
			if v, _ := c.GetOrCreate(ctx, "a", fn.fn); string(v) != "v2" {
				t.Fatalf("after Clear = %q, want a new v2", v)
			}
			// Something that is not a GetOrCreate envelope is replaced.
			for _, junk := range [][]byte{[]byte("garbage"), {}, []byte("kvt1short")} {
				if err := c.Set(ctx, "a", junk, time.Minute); err != nil {
					t.Fatal(err)
				}
				before := fn.calls.Load()
				v, err := c.GetOrCreate(ctx, "a", fn.fn)
				if err != nil || !bytes.HasPrefix(v, []byte("v")) || fn.calls.Load() != before+1 {
					t.Fatalf("over junk %q: %q, %v; want fn called and its value", junk, v, err)
				}
			}
		})
	}
}

// Across instances, while one refreshes a stale-but-valid value, another
// keeps serving the old one instead of waiting or calling fn.
func TestGetOrCreateStaleServedDuringRemoteRefresh(t *testing.T) {
	if os.Getenv("SESSIONFX_TEST_REDIS_URL") == "" {
		t.Skip("SESSIONFX_TEST_REDIS_URL is not set: this test needs two instances on one Redis")
	}
	var env tokenEnv
	for _, e := range tokenEnvs(t) {
		if e.name == "redis" {
			env = e
		}
	}
	a, b := env.newInstance(t), env.newInstance(t)
	ctx := context.Background()
	var calls atomic.Int64
	fn := func(context.Context) ([]byte, time.Time, error) {
		n := calls.Add(1)
		if n > 1 {
			time.Sleep(800 * time.Millisecond) // a slow refresh
		}
		return []byte(fmt.Sprint("v", n)), time.Now().Add(time.Second), nil
	}
	if _, err := a.GetOrCreate(ctx, "tok", fn); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // past the half-life, still valid
	done := make(chan []byte)
	go func() {
		v, err := a.GetOrCreate(ctx, "tok", fn)
		if err != nil {
			t.Error(err)
		}
		done <- v
	}()
	time.Sleep(100 * time.Millisecond) // a holds the lock and is in fn
	start := time.Now()
	v, err := b.GetOrCreate(ctx, "tok", fn)
	if err != nil {
		t.Fatal(err)
	}
	if string(v) != "v1" || time.Since(start) > 200*time.Millisecond {
		t.Fatalf("instance b during a's refresh: %q after %s; want the still-valid v1 at once", v, time.Since(start))
	}
	if v := <-done; string(v) != "v2" {
		t.Fatalf("refreshing instance got %q, want v2", v)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("fn called %d times, want 2", n)
	}
}

// A caller whose context ends does not fail the others waiting on it.
func TestGetOrCreateLeaderCancel(t *testing.T) {
	for _, env := range tokenEnvs(t) {
		t.Run(env.name, func(t *testing.T) {
			c := env.newInstance(t)
			started := make(chan struct{})
			var calls atomic.Int64
			fn := func(ctx context.Context) ([]byte, time.Time, error) {
				if calls.Add(1) == 1 {
					close(started)
					<-ctx.Done()
					return nil, time.Time{}, ctx.Err()
				}
				return []byte("ok"), time.Now().Add(time.Minute), nil
			}
			lctx, cancel := context.WithCancel(context.Background())
			lerr := make(chan error)
			go func() { _, err := c.GetOrCreate(lctx, "tok", fn); lerr <- err }()
			<-started
			ferr := make(chan error)
			var fv []byte
			go func() {
				var err error
				fv, err = c.GetOrCreate(context.Background(), "tok", fn)
				ferr <- err
			}()
			time.Sleep(50 * time.Millisecond) // the follower joins the flight
			cancel()
			if err := <-lerr; !errors.Is(err, context.Canceled) {
				t.Fatalf("leader error = %v, want context.Canceled", err)
			}
			if err := <-ferr; err != nil || string(fv) != "ok" {
				t.Fatalf("follower = %q, %v; want ok (its own context was alive)", fv, err)
			}
		})
	}
}

// BenchmarkGetOrCreate64 runs 64 concurrent callers on one hot key whose
// value is cached (the steady state of a token cache).
func BenchmarkGetOrCreate64(b *testing.B) {
	for _, env := range tokenEnvs(b) {
		b.Run(env.name, func(b *testing.B) {
			c := env.newInstance(b)
			fn := &counter{life: time.Hour}
			if _, err := c.GetOrCreate(context.Background(), "hot", fn.fn); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.GetOrCreate(context.Background(), "hot", fn.fn); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if n := fn.calls.Load(); n > 1 {
				b.Fatalf("fn called %d times for a cached key, want at most 1", n)
			}
		})
	}
}

// A broker session token shared by every goroutine: the broker is asked
// once, and again only after half of the token's lifetime has passed.
func ExampleContainer_GetOrCreate() {
	mem, _ := kvcache.NewMemory("default", kvcache.BackendConfig{Type: "memory", MaxSize: 1 << 20}, nil)
	defer mem.Close()
	tokens := kvcache.NewContainer("tokens", "tokens:", 0, mem)

	logins := 0
	login := func(ctx context.Context) ([]byte, time.Time, error) {
		logins++ // stands for a call to the broker
		return []byte("session-token"), time.Now().Add(time.Hour), nil
	}
	for range 3 {
		tok, err := tokens.GetOrCreate(context.Background(), "broker", login)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(string(tok))
	}
	fmt.Println("broker logins:", logins)
	// Output:
	// session-token
	// session-token
	// session-token
	// broker logins: 1
}
