package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestScenariosServe builds every sessionfx and scs target (and gorilla's)
// in both settings modes, fresh per scenario as the benchmarks do, and
// checks that S1–S6 answer 200 and that the store reads and writes per
// request of S2 are what each library is meant to do:
//
//   - idle=none: every library 1 read, 0 writes (load the session, change
//     nothing);
//   - idle=30m: sessionfx 1 read, 0 writes (the idle deadline is refreshed
//     only once half the window has passed); scs 1 read, 1 write (scs
//     re-commits every loaded session to slide the deadline).
//
// Targets whose service is not configured are skipped.
func TestScenariosServe(t *testing.T) {
	const requests = 3
	ctx := context.Background()
	for _, m := range Modes {
		for _, bl := range ModeBuilders(Builders(), m) {
			t.Run(m.Name+"/"+bl.Name(), func(t *testing.T) {
				var matrix string
				for _, sc := range Scenarios {
					tg, err := bl.New(ctx, Options{IdleTimeout: m.Idle})
					if errors.Is(err, ErrSkip) {
						t.Skip(err)
					}
					if err != nil {
						t.Fatalf("%s: %v", sc.Name, err)
					}
					reads, writes, err := serveN(tg, sc, requests)
					tg.Close()
					if err != nil {
						t.Fatalf("%s: %v", sc.Name, err)
					}
					matrix += fmt.Sprintf(" %s %gr/%gw", sc.Name, reads, writes)
					if sc.Name != "S2" {
						continue
					}
					wantR, wantW := 1.0, 0.0
					if m.Idle > 0 && bl.Lib == "scs" {
						wantW = 1
					}
					if reads != wantR || writes != wantW {
						t.Errorf("S2 %s: %g reads, %g writes per request; want %g, %g", m.Name, reads, writes, wantR, wantW)
					}
				}
				t.Logf("store calls per request:%s", matrix)
			})
		}
	}
}

// serveN seeds tg, serves sc n times and returns the store reads and writes
// per request.
func serveN(tg *Target, sc Scenario, n int) (float64, float64, error) {
	cookie, err := Seed(tg)
	if err != nil {
		return 0, 0, err
	}
	h := tg.L.Wrap(sc.Handler(tg.L))
	base := Request(sc, cookie)
	r0, w0 := tg.C.Reads.Load(), tg.C.Writes.Load()
	for i := range n {
		if err := CheckResponse(Serve(h, base)); err != nil {
			return 0, 0, fmt.Errorf("request %d: %w", i, err)
		}
	}
	return float64(tg.C.Reads.Load()-r0) / float64(n), float64(tg.C.Writes.Load()-w0) / float64(n), nil
}

// TestCookieSettingsEqual checks that every target sets its session cookie
// with the shared settings (Settings): Path=/, Secure, HttpOnly,
// SameSite=Lax and a Max-Age of the 24h lifetime.
func TestCookieSettingsEqual(t *testing.T) {
	ctx := context.Background()
	for _, bl := range Builders() {
		t.Run(bl.Name(), func(t *testing.T) {
			tg, err := bl.New(ctx, Options{})
			if errors.Is(err, ErrSkip) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			sc := ScenarioByName("S4")
			rec := Serve(tg.L.Wrap(sc.Handler(tg.L)), Request(sc, ""))
			if err := CheckResponse(rec); err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, c := range rec.Result().Cookies() {
				if c.Name != CookieName || c.Value == "" {
					continue
				}
				found = true
				want := int(Lifetime / time.Second)
				if c.Path != "/" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.MaxAge < want-2 || c.MaxAge > want+2 {
					t.Errorf("cookie %q: Path=%q Secure=%v HttpOnly=%v SameSite=%v Max-Age=%d; want Path=/ Secure HttpOnly SameSite=Lax Max-Age≈%d",
						rec.Header().Values("Set-Cookie"), c.Path, c.Secure, c.HttpOnly, c.SameSite, c.MaxAge, want)
				}
			}
			if !found {
				t.Fatalf("no %q cookie set: %v", CookieName, rec.Header())
			}
		})
	}
}
