package session_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/rueidis"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/rediskv"
)

// countingBackend counts every call that reaches a kvcache engine: on
// Redis, every round trip.
type countingBackend struct {
	kvcache.Backend
	calls atomic.Int64
}

func (c *countingBackend) Get(ctx context.Context, k string) ([]byte, time.Duration, error) {
	c.calls.Add(1)
	return c.Backend.Get(ctx, k)
}

func (c *countingBackend) Scan(ctx context.Context, p string, fn func(string) error) error {
	c.calls.Add(1)
	return c.Backend.Scan(ctx, p, fn)
}

func (c *countingBackend) Delete(ctx context.Context, k string) error {
	c.calls.Add(1)
	return c.Backend.Delete(ctx, k)
}

// sweepManager fills a container on b with n live sessions and returns a
// manager over it, and the counter of engine calls made after the fill.
func sweepManager(t testing.TB, b kvcache.Backend, n int) (*session.Manager, *countingBackend) {
	t.Helper()
	cb := &countingBackend{Backend: b}
	c := kvcache.NewContainer("sessions", "sweep-"+uuid.NewString()[:8]+":", 0, cb)
	t.Cleanup(func() { _ = c.Clear(context.Background()) })
	st := backends.NewKVStore(c)
	opt := backends.SaveOptions{Expires: time.Now().Add(time.Hour), New: true}
	for i := range n {
		if _, err := st.Save(context.Background(), uuid.NewString(), backends.Changes{Set: map[string]any{"i": int64(i)}}, opt); err != nil {
			t.Fatal(err)
		}
	}
	cb.calls.Store(0)
	m, err := session.NewManager(session.DefaultConfig(), st)
	if err != nil {
		t.Fatal(err)
	}
	return m, cb
}

// The periodic cleanup costs a store that expires sessions itself nothing:
// not one call (on Redis, not one round trip), whatever it holds.
func TestCleanupSkipsStoresThatExpireNatively(t *testing.T) {
	kv, err := kvcache.New(kvcache.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	b, err := kv.Backend("default")
	if err != nil {
		t.Fatal(err)
	}
	m, calls := sweepManager(t, b, 1000)
	if n, err := m.Cleanup(context.Background()); err != nil || n != 0 {
		t.Fatalf("Cleanup = %d, %v", n, err)
	}
	m.StartCleanup(time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	m.StopCleanup()
	if got := calls.calls.Load(); got != 0 {
		t.Fatalf("the cleanup of 1000 sessions on an engine that expires them made %d calls; want 0", got)
	}
}

// BenchmarkSweepRedisMillion: the cleanup of 1,000,000 live sessions on
// Redis, as the module runs it (0 round trips) and as it ran before stores
// declared native expiry (KVStore.DeleteOlderThan: SCAN, then GET+PTTL of
// every session).
//
//	SESSIONFX_BENCH_BIG=1 SESSIONFX_TEST_REDIS_URL=redis://127.0.0.1:6379/0 \
//	  go test -run '^$' -bench SweepRedisMillion -benchtime 1x .
func BenchmarkSweepRedisMillion(b *testing.B) {
	url := os.Getenv("SESSIONFX_TEST_REDIS_URL")
	if os.Getenv("SESSIONFX_BENCH_BIG") != "1" || url == "" {
		b.Skip("set SESSIONFX_BENCH_BIG=1 and SESSIONFX_TEST_REDIS_URL to sweep 1,000,000 sessions on Redis")
	}
	rb, err := rediskv.New("bench", kvcache.BackendConfig{Type: "redis", URL: url}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer rb.Close()
	const n = 1_000_000
	prefix := "sweep-" + uuid.NewString()[:8] + ":"
	c := kvcache.NewContainer("sessions", prefix, 0, rb)
	defer func() { _ = c.Clear(context.Background()) }()
	start := time.Now()
	rec, _ := backends.EncodeRecord(&backends.Record{Data: map[string]any{"visits": int64(1)}, Created: time.Now(), Updated: time.Now(), Expires: time.Now().Add(time.Hour)})
	cli := rb.Client()
	for i := 0; i < n; i += 10_000 {
		multi := make(rueidis.Commands, 0, 10_000)
		for j := i; j < i+10_000; j++ {
			multi = append(multi, cli.B().Set().Key(fmt.Sprintf("%s%08d", prefix, j)).Value(string(rec)).Ex(time.Hour).Build())
		}
		for _, r := range cli.DoMulti(context.Background(), multi...) {
			if err := r.Error(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Logf("filled %d sessions in %v", n, time.Since(start).Round(time.Millisecond))
	st := backends.NewKVStore(c)
	m, err := session.NewManager(session.DefaultConfig(), st)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("module-cleanup", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.Cleanup(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scan-and-read-every-session", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.DeleteOlderThan(context.Background(), 30*time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	})
}
