package bench

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// Benchmark names: BenchmarkScenarios/<S>/<lib>/<backend>; the baseline
// (no session library) is BenchmarkScenarios/<S>/baseline/none. Each reports
// store-ops/op (reads + writes of the library's store per request).
func BenchmarkScenarios(b *testing.B) {
	ctx := context.Background()
	var targets []*Target
	for _, bl := range Builders() {
		t, err := bl.New(ctx, Options{})
		if errors.Is(err, ErrSkip) {
			b.Logf("skipping %s/%s: %v", bl.Lib, bl.Backend, err)
			continue
		}
		if err != nil {
			b.Fatalf("%s/%s: %v", bl.Lib, bl.Backend, err)
		}
		targets = append(targets, t)
	}
	defer func() {
		for _, t := range targets {
			t.Close()
		}
	}()
	cookies := map[*Target]string{}
	for _, t := range targets {
		c, err := Seed(t)
		if err != nil {
			b.Fatal(err)
		}
		cookies[t] = c
	}
	for _, sc := range Scenarios {
		b.Run(sc.Name+"/baseline/none", func(b *testing.B) {
			h := sc.Handler(baselineLib{})
			base := Request(sc, CookieName+"=00000000-0000-4000-8000-000000000000")
			runLoop(b, h, base, nil)
		})
		for _, t := range targets {
			b.Run(sc.Name+"/"+t.Name(), func(b *testing.B) {
				h := t.L.Wrap(sc.Handler(t.L))
				runLoop(b, h, Request(sc, cookies[t]), t)
			})
		}
	}
}

func runLoop(b *testing.B, h http.Handler, base *http.Request, t *Target) {
	b.ReportAllocs()
	var ops0 int64
	if t != nil {
		ops0 = t.Ops.Load()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := Serve(h, base)
		if rec.Code != http.StatusOK {
			b.Fatalf("request %d: %v", i, CheckResponse(rec))
		}
	}
	b.StopTimer()
	if t != nil {
		b.ReportMetric(float64(t.Ops.Load()-ops0)/float64(b.N), "store-ops/op")
	} else {
		b.ReportMetric(0, "store-ops/op")
	}
}

// baselineLib is "no session library": reads return what the session
// would hold, writes go nowhere.
type baselineLib struct{}

func (baselineLib) Wrap(h http.Handler) http.Handler                            { return h }
func (baselineLib) GetString(http.ResponseWriter, *http.Request, string) string { return "alice" }
func (baselineLib) Incr(http.ResponseWriter, *http.Request, string)             {}
func (baselineLib) Put(http.ResponseWriter, *http.Request, string, string)      {}
