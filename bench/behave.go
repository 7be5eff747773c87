package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// LostUpdates runs one round: a fresh session, n concurrent requests that
// each load the session, wait overlap (0: no wait at all, the immediate
// variant), and write their own key; then it counts how many of the n keys
// the session holds. The client keeps the cookie of the last response that
// set one (that is what a browser does), so for cookie stores the last
// writer's cookie wins.
func LostUpdates(t *Target, n int, overlap time.Duration) (int, error) {
	cookie, err := Seed(t)
	if err != nil {
		return 0, err
	}
	var (
		mu       sync.Mutex
		last     string
		failures []error
		start    = make(chan struct{})
		wg       sync.WaitGroup
	)
	for i := range n {
		key := fmt.Sprintf("k%02d", i)
		h := t.L.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = t.L.GetString(w, r, "user") // load now
			if overlap > 0 {
				time.Sleep(overlap)
			}
			t.L.Put(w, r, key, "v")
			_, _ = w.Write([]byte("ok"))
		}))
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Cookie", cookie)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			mu.Lock()
			defer mu.Unlock()
			if err := CheckResponse(rec); err != nil {
				failures = append(failures, err)
				return
			}
			if c := SetCookie(rec); c != "" {
				last = c
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(failures) > 0 {
		return 0, fmt.Errorf("%s: %d of %d concurrent writes failed, first: %w", t.Name(), len(failures), n, failures[0])
	}
	if last != "" {
		cookie = last
	}
	survived := 0
	h := t.L.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range n {
			if t.L.GetString(w, r, fmt.Sprintf("k%02d", i)) == "v" {
				survived++
			}
		}
	}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", cookie)
	h.ServeHTTP(httptest.NewRecorder(), r)
	return survived, nil
}

// LostUpdateResult summarises the rounds of LostUpdates for one target and
// one overlap.
type LostUpdateResult struct {
	Target          *Target
	Overlap         time.Duration
	Min, Max        int
	Sum, AllRepeats int
	Repeats         int
	Err             error
}

// RunLostUpdates runs LostUpdates repeats times on a fresh target built by bl
// (idle=none: no idle timeout on any side).
func RunLostUpdates(ctx context.Context, bl Builder, n, repeats int, overlap time.Duration) LostUpdateResult {
	t, err := bl.New(ctx, Options{})
	if err != nil {
		return LostUpdateResult{Target: &Target{Lib: bl.Lib, Backend: bl.Backend}, Overlap: overlap, Err: err}
	}
	defer t.Close()
	res := LostUpdateResult{Target: t, Overlap: overlap, Min: n + 1, Repeats: repeats}
	for range repeats {
		s, err := LostUpdates(t, n, overlap)
		if err != nil {
			res.Err = err
			return res
		}
		res.Min, res.Max, res.Sum = min(res.Min, s), max(res.Max, s), res.Sum+s
		if s == n {
			res.AllRepeats++
		}
	}
	return res
}

// IdleWrites builds a fresh target with idle timeout idle, seeds a session,
// waits wait, then sends reads read-only requests (S2: read one key) the way
// a browser does (each carrying the last session cookie a response set), and
// returns the store writes they caused. It asserts nothing: it reports.
func IdleWrites(ctx context.Context, bl Builder, idle, wait time.Duration, reads int) (*Target, int64, error) {
	t, err := bl.New(ctx, Options{IdleTimeout: idle})
	if err != nil {
		return &Target{Lib: bl.Lib, Backend: bl.Backend}, 0, err
	}
	defer t.Close()
	cookie, err := Seed(t)
	if err != nil {
		return t, 0, err
	}
	if wait > 0 {
		time.Sleep(wait)
	}
	sc := ScenarioByName("S2")
	h := t.L.Wrap(sc.Handler(t.L))
	w0 := t.C.Writes.Load()
	for i := range reads {
		rec := Serve(h, Request(sc, cookie))
		if err := CheckResponse(rec); err != nil {
			return t, 0, fmt.Errorf("%s: read %d: %w", t.Name(), i, err)
		}
		if c := SetCookie(rec); c != "" {
			cookie = c
		}
	}
	return t, t.C.Writes.Load() - w0, nil
}
