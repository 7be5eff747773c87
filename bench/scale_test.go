package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/redis/rueidis"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/kvcache/rediskv"
)

// EnvPGMillion gates the 1,000,000-row PostgreSQL case (it takes a while to
// build and leaves ~300 MB of table until dropped at the end).
const EnvPGMillion = "SESSIONFX_BENCH_PG_MILLION"

// scaleSample is how many distinct sessions the timing loop cycles through.
const scaleSample = 1000

// scaleOptions: the scale benchmarks measure sessionfx alone, with its
// defaults (idle_timeout 30m).
var scaleOptions = Options{IdleTimeout: 30 * time.Minute}

// clientID is the deterministic UUIDv4 of live session i.
func clientID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012x", i) }

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// sampleRequests returns S2 requests for scaleSample sessions spread over n.
func sampleRequests(n int) []*http.Request {
	out := make([]*http.Request, 0, scaleSample)
	step := max(n/scaleSample, 1)
	for i := 0; i < n && len(out) < scaleSample; i += step {
		out = append(out, Request(Scenarios[1], CookieName+"="+clientID(i)))
	}
	return out
}

// warm serves every sampled request once, untimed, checking the answers.
func warm(b *testing.B, t *Target, reqs []*http.Request) {
	h := t.L.Wrap(Scenarios[1].Handler(t.L))
	for i, r := range reqs {
		if err := CheckResponse(Serve(h, r)); err != nil {
			b.Fatalf("warm-up request %d: %v", i, err)
		}
	}
}

func runS2Sample(b *testing.B, t *Target, reqs []*http.Request) {
	h := t.L.Wrap(Scenarios[1].Handler(t.L))
	b.ReportAllocs()
	r0, w0 := t.C.Reads.Load(), t.C.Writes.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := Serve(h, reqs[i%len(reqs)])
		if rec.Code != http.StatusOK {
			b.Fatalf("request %d: %v", i, CheckResponse(rec))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(t.C.Reads.Load()-r0)/float64(b.N), "store-reads/op")
	b.ReportMetric(float64(t.C.Writes.Load()-w0)/float64(b.N), "store-writes/op")
}

// BenchmarkScaleMemory: S2 on sessionfx's memory backend holding 1,000 and
// 1,000,000 live sessions (requests cycle over 1,000 of them). It also
// reports heap bytes per live session (runtime.MemStats after GC). The
// backend is sized 4GiB here (not the 64MiB default of the scenario
// benchmarks): a million sessions do not fit in 64MiB.
func BenchmarkScaleMemory(b *testing.B) {
	var smallDelta float64
	for _, n := range []int{1000, 1_000_000} {
		before := heapInUse()
		kv, closeFn, err := NewMemoryKV(4 << 30)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		now := time.Now().UTC()
		cfg := SessionfxConfig(scaleOptions)
		for i := range n {
			sid := session.HashID(clientID(i))
			rec := &backends.Record{ID: sid, Data: map[string]any{"user": "alice", "n": int64(1)}, Created: now, Updated: now, Expires: now.Add(cfg.IdleTimeout)}
			v, err := backends.EncodeRecord(rec)
			if err != nil {
				b.Fatal(err)
			}
			if err := kv.Container().Set(ctx, sid, v, cfg.IdleTimeout); err != nil {
				b.Fatalf("filling session %d of %d: %v", i, n, err)
			}
		}
		delta := float64(heapInUse() - before)
		perSession := delta / float64(n)
		// The backend's fixed structures (sized by max_size) are in both
		// deltas; the difference between the two sizes is per session.
		marginal := 0.0
		if n == 1000 {
			smallDelta = delta
		} else {
			marginal = (delta - smallDelta) / float64(n-1000)
		}
		t, err := NewSessionfxTarget("memory", "", kv, scaleOptions, closeFn)
		if err != nil {
			b.Fatal(err)
		}
		reqs := sampleRequests(n)
		warm(b, t, reqs)
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			runS2Sample(b, t, reqs)
			b.ReportMetric(perSession, "heap-B/session")
			if marginal > 0 {
				b.ReportMetric(marginal, "marginal-heap-B/session")
			}
		})
		t.Close()
		runtime.GC()
	}
}

// BenchmarkScalePostgres: S2 on sessionfx's gorm store on PostgreSQL with
// 1,000 and (when SESSIONFX_BENCH_PG_MILLION=1) 1,000,000 rows, built with
// one INSERT ... SELECT generate_series.
func BenchmarkScalePostgres(b *testing.B) {
	if PostgresDSN() == "" {
		b.Skipf("%s is unset", EnvPostgres)
	}
	sizes := []int{1000}
	if os.Getenv(EnvPGMillion) == "1" {
		sizes = append(sizes, 1_000_000)
	} else {
		b.Logf("1,000,000 rows skipped: set %s=1", EnvPGMillion)
	}
	ctx := context.Background()
	for _, n := range sizes {
		table := UniqueName("sfxscale_")
		st, closeFn, err := NewGormPostgres(table)
		if err != nil {
			b.Fatal(err)
		}
		// A template row written by the store itself, so the data column's
		// format is the store's own.
		now := time.Now().UTC()
		cfg := SessionfxConfig(scaleOptions)
		if _, err := st.Save(ctx, "template", backends.Changes{Set: map[string]any{"user": "alice", "n": int64(1)}}, backends.SaveOptions{Expires: now.Add(cfg.IdleTimeout), Created: now, New: true}); err != nil {
			closeFn()
			b.Fatal(err)
		}
		q := fmt.Sprintf(`INSERT INTO %[1]s (session_id, data, version, created_at, updated_at, expires_at)
SELECT encode(sha256(convert_to('00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'), 'UTF8')), 'hex'),
       t.data, t.version, t.created_at, t.updated_at, t.expires_at
FROM generate_series(0, %[2]d) AS g, (SELECT * FROM %[1]s WHERE session_id = 'template') AS t`, table, n-1)
		start := time.Now()
		if err := st.DB().Exec(q).Error; err != nil {
			closeFn()
			b.Fatalf("filling %d rows: %v", n, err)
		}
		b.Logf("%d rows inserted in %s", n, time.Since(start).Round(time.Millisecond))
		// Steady state before timing: vacuumed, analysed, checkpointed (so
		// the insert's WAL flush and autovacuum do not land in the loop).
		for _, q := range []string{"VACUUM ANALYZE " + table, "CHECKPOINT"} {
			if err := st.DB().Exec(q).Error; err != nil {
				b.Fatalf("%s: %v", q, err)
			}
		}
		t, err := NewSessionfxTarget("postgres", "", st, scaleOptions, closeFn)
		if err != nil {
			b.Fatal(err)
		}
		reqs := sampleRequests(n)
		warm(b, t, reqs)
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			runS2Sample(b, t, reqs)
		})
		t.Close()
	}
}

// BenchmarkScaleRedis: S2 on sessionfx's Redis backend (no client cache)
// holding 1,000 and 1,000,000 live sessions under its key prefix (requests
// cycle over 1,000 of them). The sessions are written in pipelined batches
// of 1,000 SETs and deleted the same way at the end.
func BenchmarkScaleRedis(b *testing.B) {
	if RedisURL() == "" {
		b.Skipf("%s is unset", EnvRedis)
	}
	for _, n := range []int{1000, 1_000_000} {
		kv, closeFn, err := NewRedisKV("", false)
		if err != nil {
			b.Fatal(err)
		}
		ct := kv.Container()
		client := ct.Backend().(*rediskv.Backend).Client()
		ctx := context.Background()
		now := time.Now().UTC()
		cfg := SessionfxConfig(scaleOptions)
		keys := make([]string, 0, n)
		for start := 0; start < n; start += 1000 {
			cmds := make(rueidis.Commands, 0, 1000)
			for i := start; i < min(start+1000, n); i++ {
				sid := session.HashID(clientID(i))
				rec := &backends.Record{ID: sid, Data: map[string]any{"user": "alice", "n": int64(1)}, Created: now, Updated: now, Expires: now.Add(cfg.IdleTimeout)}
				v, err := backends.EncodeRecord(rec)
				if err != nil {
					b.Fatal(err)
				}
				key := ct.Prefix() + sid
				keys = append(keys, key)
				cmds = append(cmds, client.B().Set().Key(key).Value(rueidis.BinaryString(v)).PxMilliseconds(cfg.IdleTimeout.Milliseconds()).Build())
			}
			for _, r := range client.DoMulti(ctx, cmds...) {
				if err := r.Error(); err != nil {
					b.Fatalf("filling %d sessions: %v", n, err)
				}
			}
		}
		t, err := NewSessionfxTarget("redis", "", kv, scaleOptions, closeFn)
		if err != nil {
			b.Fatal(err)
		}
		reqs := sampleRequests(n)
		warm(b, t, reqs)
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			runS2Sample(b, t, reqs)
		})
		for start := 0; start < len(keys); start += 1000 {
			_ = client.Do(ctx, client.B().Unlink().Key(keys[start:min(start+1000, len(keys))]...).Build()).Error()
		}
		t.Close()
	}
}
