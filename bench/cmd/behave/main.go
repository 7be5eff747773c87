// Command behave prints, as Markdown, the behaviour measurements of the
// side-by-side benchmark:
//
//   - lost updates: n concurrent writers to one session, each writing its own
//     key, with a forced overlap (each holds the loaded session 1 ms) and
//     without one (immediate);
//   - store writes caused by read-only requests with an idle timeout, right
//     after the session was created (idle 30m) and once half of the idle
//     window has passed (idle 2s, requests from 1.1s on);
//   - Redis commands per request, counted on a private redis-server from its
//     MONITOR feed.
//
// Backends whose service is not configured are listed as skipped. It asserts
// nothing: it reports what it measured.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sessionfx/session/bench"
)

func main() {
	n := flag.Int("n", 50, "concurrent requests per round, each writing its own key")
	repeats := flag.Int("repeats", 20, "rounds per library/backend and overlap")
	overlap := flag.Duration("overlap", time.Millisecond, "time each request holds its loaded session before writing, in the forced-overlap variant")
	reads := flag.Int("reads", 100, "read-only requests for the idle-timeout measurements")
	idle := flag.Duration("idle", 30*time.Minute, "idle timeout of the right-after-creation measurement")
	halfIdle := flag.Duration("half-idle", 2*time.Second, "idle timeout of the half-window measurement")
	halfWait := flag.Duration("half-wait", 1100*time.Millisecond, "wait after creating the session, in the half-window measurement (just over half of -half-idle)")
	redisReqs := flag.Int("redis-requests", 20, "requests per cell of the Redis command count")
	flag.Parse()
	ctx := context.Background()
	failed := false
	cell := func(err error, ok string) string {
		switch {
		case errors.Is(err, bench.ErrSkip):
			return "skipped: " + err.Error()
		case err != nil:
			failed = true
			return "error: " + strings.ReplaceAll(err.Error(), "|", "/")
		}
		return ok
	}

	fmt.Printf("### Lost updates\n\n")
	fmt.Printf("One session; %d concurrent requests each load it and write their own key; %d rounds per variant, idle=none settings. ", *n, *repeats)
	fmt.Printf("*Forced overlap*: each request holds the loaded session %s before writing, so all of them overlap. *Immediate*: no wait at all between load and write. ", *overlap)
	fmt.Printf("The client keeps the cookie of the last response that set one (a cookie store therefore keeps only the last writer's session). ")
	fmt.Printf("Cells: keys surviving (min / mean / max of %d); rounds with all %d.\n\n", *n, *n)
	fmt.Println("| library | store | forced overlap " + overlap.String() + " | rounds all kept | immediate (no wait) | rounds all kept |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, bl := range bench.Builders() {
		row := []string{bl.Lib, bl.Backend}
		for _, ov := range []time.Duration{*overlap, 0} {
			r := bench.RunLostUpdates(ctx, bl, *n, *repeats, ov)
			if r.Err != nil {
				row = append(row, cell(r.Err, ""), "")
				continue
			}
			row = append(row, fmt.Sprintf("%d / %.1f / %d", r.Min, float64(r.Sum)/float64(r.Repeats), r.Max), fmt.Sprintf("%d of %d", r.AllRepeats, r.Repeats))
		}
		fmt.Println("| " + strings.Join(row, " | ") + " |")
	}

	fmt.Printf("\n### Store writes caused by read-only requests\n\n")
	fmt.Printf("%d requests that only read one key (S2) of an existing session, sent as a browser would (each with the last session cookie a response set); store writes counted at the library's store interface. ", *reads)
	fmt.Printf("*Right after creation*: idle timeout %s, requests start at once. ", *idle)
	fmt.Printf("*Half the window passed*: idle timeout %s, requests start %s after the session was created (the same point of the window as %s into a %s one). ", *halfIdle, *halfWait, scale(*halfWait, *halfIdle, *idle), *idle)
	fmt.Printf("What each library is designed to do: sessionfx refreshes the idle deadline once half the window has passed (so 0, then 1); scs re-commits every loaded session when IdleTimeout is set (%d in both); gorilla/sessions has no idle timeout.\n\n", *reads)
	fmt.Println("| library | store | right after creation (idle " + idle.String() + ") | half the window passed (idle " + halfIdle.String() + ", after " + halfWait.String() + ") |")
	fmt.Println("|---|---|---|---|")
	for _, bl := range bench.Builders() {
		if !bl.Idle {
			fmt.Printf("| %s | %s | – (no idle timeout) | – (no idle timeout) |\n", bl.Lib, bl.Backend)
			continue
		}
		row := []string{bl.Lib, bl.Backend}
		for _, m := range []struct{ idle, wait time.Duration }{{*idle, 0}, {*halfIdle, *halfWait}} {
			_, w, err := bench.IdleWrites(ctx, bl, m.idle, m.wait, *reads)
			row = append(row, cell(err, fmt.Sprintf("%d", w)))
		}
		fmt.Println("| " + strings.Join(row, " | ") + " |")
	}

	fmt.Printf("\n### Redis commands per request\n\n")
	url, stop, err := bench.StartPrivateRedis()
	if err != nil {
		fmt.Printf("%s\n", cell(err, ""))
	} else {
		if !redisCommands(ctx, url, *redisReqs) {
			failed = true
		}
		stop() // before os.Exit, which runs no deferred call
	}
	if failed {
		os.Exit(1)
	}
}

// scale returns d/of × to, rounded to the second.
func scale(d, of, to time.Duration) time.Duration {
	return time.Duration(float64(to) * float64(d) / float64(of)).Round(time.Second)
}

// redisCommands prints the Redis command table; false on errors.
func redisCommands(ctx context.Context, url string, reqs int) bool {
	mon, err := bench.NewRedisMonitor(url)
	if err != nil {
		fmt.Printf("error: redis monitor: %v\n", err)
		return false
	}
	defer mon.Close()
	fmt.Printf("Commands each Redis store sends per request, counted on a private redis-server (started for this measurement, so no other client is counted) from its MONITOR feed: ")
	fmt.Printf("a fresh target per cell, seeded, left %s in the valid-cookie scenarios as in the benchmarks, one warm-up request, then %d requests. ", bench.SettleAfterSeed, reqs)
	fmt.Printf("The total counts commands as sent (a MULTI … EXEC block counts each command in it, though it travels in one round trip; a pipelined GET + PTTL likewise); commands a Lua script runs inside Redis are listed after \"in scripts\" and not in the total; PING and HELLO (keep-alive, connection set-up) are not counted. ")
	fmt.Printf("These are Redis commands, not store calls (the store-reads/op and store-writes/op of the benchmarks).\n\n")
	ok := true
	var redis []bench.Builder
	for _, bl := range bench.ServerBuilders() {
		if strings.HasPrefix(bl.Backend, "redis") {
			redis = append(redis, bl)
		}
	}
	for _, m := range bench.Modes {
		bs := bench.ModeBuilders(redis, m)
		fmt.Printf("#### %s\n\n| scenario |", m.Name)
		for _, bl := range bs {
			fmt.Printf(" %s |", bl.Name())
		}
		fmt.Printf("\n|---|%s\n", strings.Repeat("---|", len(bs)))
		for _, sc := range bench.Scenarios {
			fmt.Printf("| %s |", sc.Name)
			for _, bl := range bs {
				c, err := bench.RedisCommands(ctx, bl, bench.Options{IdleTimeout: m.Idle, RedisURL: url}, sc, mon, reqs)
				if err != nil {
					ok = false
					fmt.Printf(" error: %s |", strings.ReplaceAll(err.Error(), "|", "/"))
					continue
				}
				fmt.Printf(" %s |", c.Format(reqs))
			}
			fmt.Println()
		}
		fmt.Println()
	}
	return ok
}
