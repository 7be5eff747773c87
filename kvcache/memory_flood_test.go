package kvcache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sessionfx/session/kvcache"
)

// The flood of issue 9 §4: bots create anonymous sessions as fast as they
// can while real users keep using theirs. Sessions are written the way
// backends.KVStore writes them: a new one with Container.SetNX (an Update
// that finds nothing on the memory backend), a save with Update, an idle
// refresh with Expire, a load with Get.
const (
	floodCreators   = 32
	floodActive     = 200
	floodActiveGors = 8 // goroutines using the active sessions, 25 each
	floodValueSize  = 200
	floodTTL        = 30 * time.Minute
	floodPrefix     = "session:"
)

type floodResult struct {
	writes, refused, otherErrs int64
	activeLost                 []string // active sessions gone or not holding their last value
	activeReads, activeWrites  int64
	floodPresent               int // flood sessions still readable at the end
	elapsed                    time.Duration
	stats                      kvcache.MemoryStats
}

// floodID returns a session id shaped like the real ones (a UUIDv4 is 36
// characters).
func floodID(kind string, n int) string {
	return fmt.Sprintf("%s-%08d-0000-4000-8000-%012d", kind[:1], n/1e8, n)
}

func floodValue(tag string) []byte {
	v := bytes.Repeat([]byte{'.'}, floodValueSize)
	copy(v, tag)
	return v
}

// runFlood writes new sessions with floodCreators goroutines until the data
// written (keys and values) is twice capacity, while floodActive sessions
// are read in a loop, saved now and then and refreshed, by other goroutines.
func runFlood(t testing.TB, m *kvcache.Memory, capacity int64) floodResult {
	t.Helper()
	ctx := context.Background()
	c := kvcache.NewContainer("session", floodPrefix, floodTTL, m)
	var res floodResult

	// The active sessions exist and have been used before the flood.
	last := make([][]byte, floodActive)
	for i := range floodActive {
		last[i] = floodValue("active " + strconv.Itoa(i) + " v0")
		if ok, err := c.SetNX(ctx, floodID("active", i), last[i], 0); !ok || err != nil {
			t.Fatalf("creating active session %d: %v, %v", i, ok, err)
		}
		if _, err := c.Get(ctx, floodID("active", i)); err != nil {
			t.Fatalf("reading active session %d: %v", i, err)
		}
	}

	perWrite := int64(len(floodPrefix) + len(floodID("flood", 0)) + floodValueSize)
	total := 2 * capacity / perWrite
	var next atomic.Int64
	var done atomic.Bool
	start := time.Now()

	var active sync.WaitGroup
	var lostMu sync.Mutex
	for g := range floodActiveGors {
		active.Add(1)
		go func() {
			defer active.Done()
			lost := map[int]bool{}
			for round := 0; !done.Load() || round < 2; round++ {
				for i := g; i < floodActive; i += floodActiveGors {
					if lost[i] {
						continue
					}
					id := floodID("active", i)
					got, err := c.Get(ctx, id)
					atomic.AddInt64(&res.activeReads, 1)
					if err != nil || !bytes.Equal(got, last[i]) {
						lost[i] = true
						lostMu.Lock()
						res.activeLost = append(res.activeLost, fmt.Sprintf("%s: %v (value %.20q)", id, err, got))
						lostMu.Unlock()
						continue
					}
					switch round % 8 {
					case 3: // a request that changed the session: a save
						v := floodValue("active " + strconv.Itoa(i) + " r" + strconv.Itoa(round))
						err := c.Update(ctx, id, func(old []byte, found bool) ([]byte, time.Duration, error) {
							if !found {
								return nil, 0, errors.New("gone")
							}
							return v, 0, nil
						})
						atomic.AddInt64(&res.activeWrites, 1)
						if err == nil {
							last[i] = v
						} else {
							lost[i] = true
							lostMu.Lock()
							res.activeLost = append(res.activeLost, fmt.Sprintf("%s: save: %v", id, err))
							lostMu.Unlock()
						}
					case 6: // a request that only read it: an idle refresh
						if err := c.Expire(ctx, id, 0); err != nil {
							lost[i] = true
							lostMu.Lock()
							res.activeLost = append(res.activeLost, fmt.Sprintf("%s: refresh: %v", id, err))
							lostMu.Unlock()
						}
					}
				}
				runtime.Gosched()
			}
		}()
	}

	var creators sync.WaitGroup
	var errMu sync.Mutex
	var firstErrs []error
	for range floodCreators {
		creators.Add(1)
		go func() {
			defer creators.Done()
			v := floodValue("flood")
			for {
				n := next.Add(1) - 1
				if n >= total {
					return
				}
				_, err := c.SetNX(ctx, floodID("flood", int(n)), v, 0)
				atomic.AddInt64(&res.writes, 1)
				switch {
				case err == nil:
				case errors.Is(err, kvcache.ErrNotStored):
					atomic.AddInt64(&res.refused, 1)
				default:
					atomic.AddInt64(&res.otherErrs, 1)
					errMu.Lock()
					if len(firstErrs) < 5 {
						firstErrs = append(firstErrs, err)
					}
					errMu.Unlock()
				}
			}
		}()
	}
	creators.Wait()
	res.elapsed = time.Since(start)
	done.Store(true)
	active.Wait()
	for _, err := range firstErrs {
		t.Errorf("flood write: %v", err)
	}
	for i := range int(total) {
		if ok, _ := c.Exists(ctx, floodID("flood", i)); ok {
			res.floodPresent++
		}
	}
	res.stats = m.Stats()
	return res
}

func (r floodResult) report(t testing.TB, capacity int64) {
	t.Helper()
	t.Logf("flood into %s: %d new sessions in %s (%.0f/s), %d refused (ErrNotStored), %d other errors; %d of them still present; "+
		"active sessions: %d of %d survived (%d reads, %d saves); stats %+v",
		kvcache.ByteSize(capacity), r.writes, r.elapsed.Round(time.Millisecond), float64(r.writes)/r.elapsed.Seconds(),
		r.refused, r.otherErrs, r.floodPresent, floodActive-len(r.activeLost), floodActive, r.activeReads, r.activeWrites, r.stats)
}

func (r floodResult) check(t testing.TB) {
	t.Helper()
	if r.refused != 0 {
		t.Errorf("%d of %d new sessions were refused with ErrNotStored (a 503 for each visitor); want 0", r.refused, r.writes)
	}
	if r.otherErrs != 0 {
		t.Errorf("%d writes failed with other errors", r.otherErrs)
	}
	if n := len(r.activeLost); n != 0 {
		show := r.activeLost
		if len(show) > 5 {
			show = show[:5]
		}
		t.Errorf("%d of %d active sessions were lost during the flood (first: %q); want all to survive", n, floodActive, show)
	}
	if r.floodPresent >= int(r.writes) {
		t.Errorf("all %d flood sessions are still present: the flood did not reach capacity", r.writes)
	}
}

// TestMemoryFlood: at capacity, new sessions keep being admitted and the
// sessions in use survive. Small enough to run under -race in seconds.
func TestMemoryFlood(t *testing.T) {
	const capacity = 2 << 20
	m := newMemory(t, "flood", capacity, zap.NewNop())
	defer m.Close()
	r := runFlood(t, m, capacity)
	r.report(t, capacity)
	r.check(t)
}

// TestMemoryFloodFull reproduces the measurement at the default
// 64MiB capacity. SESSIONFX_FLOOD_FULL=1 go test ./kvcache/ -run FloodFull -v
func TestMemoryFloodFull(t *testing.T) {
	if os.Getenv("SESSIONFX_FLOOD_FULL") == "" {
		t.Skip("set SESSIONFX_FLOOD_FULL=1 to flood a 64MiB memory backend (about a minute)")
	}
	const capacity = 64 << 20
	m := newMemory(t, "flood", capacity, zap.NewNop())
	defer m.Close()
	r := runFlood(t, m, capacity)
	r.report(t, capacity)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("heap in use after the flood: %.1f MiB for %d sessions (%d flood + %d active): %.0f B per session",
		float64(ms.HeapAlloc)/(1<<20), r.floodPresent+floodActive-len(r.activeLost), r.floodPresent, floodActive-len(r.activeLost),
		float64(ms.HeapAlloc)/float64(r.floodPresent+floodActive-len(r.activeLost)))
	r.check(t)
}
