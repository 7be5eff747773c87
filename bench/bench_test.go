package bench

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// BenchmarkScenarios runs S1–S6 on every server-side store in both settings
// modes. Names: BenchmarkScenarios/<mode>/<S>/<lib>/<backend>, e.g.
// BenchmarkScenarios/idle=none/S2/scs/redis; the no-library baseline of each
// mode and scenario is .../<S>/baseline/none. Every mode × scenario × store
// has its own fresh target (new store, seeded, closed after), so no scenario
// sees data another one left. Each reports store-reads/op and
// store-writes/op (calls of the library's own store interface per request).
func BenchmarkScenarios(b *testing.B) {
	for _, m := range Modes {
		b.Run(m.Name, func(b *testing.B) {
			for _, sc := range Scenarios {
				b.Run(sc.Name, func(b *testing.B) {
					b.Run("baseline/none", func(b *testing.B) { runBaseline(b, sc) })
					for _, bl := range ModeBuilders(ServerBuilders(), m) {
						benchTarget(b, bl, Options{IdleTimeout: m.Idle}, sc)
					}
				})
			}
		})
	}
}

// BenchmarkCookieStores compares the cookie stores (sessionfx cookiestore,
// gorilla's encrypted CookieStore) on S2–S4, idle=none (gorilla has no idle
// timeout). Names: BenchmarkCookieStores/<S>/<lib>/cookie and
// BenchmarkCookieStores/<S>/baseline/none.
func BenchmarkCookieStores(b *testing.B) {
	for _, name := range CookieScenarios {
		sc := ScenarioByName(name)
		b.Run(sc.Name, func(b *testing.B) {
			b.Run("baseline/none", func(b *testing.B) { runBaseline(b, sc) })
			for _, bl := range CookieBuilders() {
				benchTarget(b, bl, Options{}, sc)
			}
		})
	}
}

// benchTarget runs the sub-benchmark <lib>/<backend> of sc on a target of
// its own: built, seeded and (for a valid-cookie scenario) settled on the
// first call, reused by the run-1 probe, every b.N step and every -count
// repetition of this sub-benchmark, closed when it is done. Building,
// seeding and settling are not timed.
func benchTarget(b *testing.B, bl Builder, o Options, sc Scenario) {
	var (
		t    *Target
		h    http.Handler
		base *http.Request
	)
	defer func() {
		if t != nil {
			t.Close()
		}
	}()
	b.Run(bl.Name(), func(b *testing.B) {
		if t == nil {
			tg, err := bl.New(context.Background(), o)
			if errors.Is(err, ErrSkip) {
				b.Skipf("%s: %v", bl.Name(), err)
			}
			if err != nil {
				b.Fatalf("%s: %v", bl.Name(), err)
			}
			t = tg
			cookie, err := Seed(t)
			if err != nil {
				b.Fatal(err)
			}
			Settle(sc)
			h, base = t.L.Wrap(sc.Handler(t.L)), Request(sc, cookie)
		}
		runLoop(b, h, base, t.C)
	})
}

func runBaseline(b *testing.B, sc Scenario) {
	runLoop(b, sc.Handler(baselineLib{}), Request(sc, CookieName+"=00000000-0000-4000-8000-000000000000"), nil)
}

func runLoop(b *testing.B, h http.Handler, base *http.Request, c *Counter) {
	b.ReportAllocs()
	var r0, w0 int64
	if c != nil {
		r0, w0 = c.Reads.Load(), c.Writes.Load()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := Serve(h, base)
		if rec.Code != http.StatusOK {
			b.Fatalf("request %d: %v", i, CheckResponse(rec))
		}
	}
	b.StopTimer()
	var reads, writes float64
	if c != nil {
		reads = float64(c.Reads.Load()-r0) / float64(b.N)
		writes = float64(c.Writes.Load()-w0) / float64(b.N)
	}
	b.ReportMetric(reads, "store-reads/op")
	b.ReportMetric(writes, "store-writes/op")
}

// baselineLib is "no session library": reads return what the session
// would hold, writes go nowhere.
type baselineLib struct{}

func (baselineLib) Wrap(h http.Handler) http.Handler                            { return h }
func (baselineLib) GetString(http.ResponseWriter, *http.Request, string) string { return "alice" }
func (baselineLib) Incr(http.ResponseWriter, *http.Request, string)             {}
func (baselineLib) Put(http.ResponseWriter, *http.Request, string, string)      {}
