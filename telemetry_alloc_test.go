//go:build !race

// The race detector makes allocation counts vary (sync.Pool drops items at
// random under it): these comparisons run without -race only.

package session_test

import (
	"context"
	"net/http"
	"testing"

	noopmetric "go.opentelemetry.io/otel/metric/noop"
	nooptrace "go.opentelemetry.io/otel/trace/noop"

	session "github.com/sessionfx/session"
)

// minAllocs is the fewest allocations per request of path over a few
// measurements (the memory engine's own goroutines may allocate meanwhile).
func minAllocs(h http.Handler, path, cookie string) float64 {
	best := -1.0
	for range 3 {
		n := testing.AllocsPerRun(200, func() { hit(h, context.Background(), path, cookie) })
		if best < 0 || n < best {
			best = n
		}
	}
	return best
}

// Telemetry off costs nothing: an untouched request still makes no store
// call and allocates as much with telemetry on as off; no-op providers
// count as off (same allocations on every path as no provider).
func TestTelemetryOffPathCostsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	h := newOtelHarness(t)
	type variant struct {
		name  string
		opts  []session.Option
		store *countingStore
		app   http.Handler
		c     string
	}
	vs := []*variant{
		{name: "off"},
		{name: "noop", opts: []session.Option{session.WithMeterProvider(noopmetric.NewMeterProvider()), session.WithTracerProvider(nooptrace.NewTracerProvider())}},
		{name: "on", opts: h.options()},
	}
	for _, v := range vs {
		_, kv := newKV(t)
		v.store = &countingStore{Store: kv}
		v.app = telemetryHandler(t, newManager(t, v.store, nil, v.opts...))
		v.c = hit(v.app, context.Background(), "/init", "")
	}
	allocs := map[string]map[string]float64{}
	for _, v := range vs {
		before := v.store.calls.Load()
		allocs[v.name] = map[string]float64{"/untouched": minAllocs(v.app, "/untouched", v.c)}
		if n := v.store.calls.Load() - before; n != 0 {
			t.Errorf("%s: %d store calls for untouched requests; want 0", v.name, n)
		}
		for _, p := range []string{"/read", "/write"} {
			allocs[v.name][p] = minAllocs(v.app, p, v.c)
		}
	}
	if allocs["on"]["/untouched"] != allocs["off"]["/untouched"] {
		t.Errorf("untouched request: %v allocations with telemetry on, %v off; want the same", allocs["on"]["/untouched"], allocs["off"]["/untouched"])
	}
	for _, p := range []string{"/untouched", "/read", "/write"} {
		if allocs["noop"][p] != allocs["off"][p] {
			t.Errorf("%s: %v allocations with no-op providers, %v without; want the same", p, allocs["noop"][p], allocs["off"][p])
		}
	}
	t.Logf("allocations per request: %v", allocs)
}
