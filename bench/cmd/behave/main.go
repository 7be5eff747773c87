// Command behave prints, as Markdown, the behaviour measurements of the
// side-by-side benchmark: lost updates under concurrent writes to one
// session, and store writes caused by read-only requests with a 30-minute
// idle timeout. Backends whose service is not configured are listed as
// skipped.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/sessionfx/session/bench"
)

func main() {
	n := flag.Int("n", 50, "concurrent requests per round, each writing its own key")
	repeats := flag.Int("repeats", 20, "rounds per library/backend")
	overlap := flag.Duration("overlap", time.Millisecond, "time each request holds its loaded session before writing")
	reads := flag.Int("reads", 100, "read-only requests for the idle-timeout measurement")
	idle := flag.Duration("idle", 30*time.Minute, "idle timeout for the idle-timeout measurement")
	flag.Parse()
	ctx := context.Background()
	failed := false

	fmt.Printf("### Lost updates\n\nOne session; %d concurrent requests each load it, hold it %s, and write their own key; %d rounds. The client keeps the cookie of the last response that set one.\n\n", *n, *overlap, *repeats)
	fmt.Println("| library | backend | keys surviving (min / mean / max of", *n, ") | rounds with all", *n, "|")
	fmt.Println("|---|---|---|---|")
	for _, bl := range bench.Builders() {
		r := bench.RunLostUpdates(ctx, bl, *n, *repeats, *overlap)
		switch {
		case errors.Is(r.Err, bench.ErrSkip):
			fmt.Printf("| %s | %s | skipped: %v | |\n", bl.Lib, bl.Backend, r.Err)
		case r.Err != nil:
			failed = true
			fmt.Printf("| %s | %s | error: %v | |\n", bl.Lib, bl.Backend, r.Err)
		default:
			fmt.Printf("| %s | %s | %d / %.1f / %d | %d of %d |\n", bl.Lib, bl.Backend, r.Min, float64(r.Sum)/float64(r.Repeats), r.Max, r.AllRepeats, r.Repeats)
		}
	}

	fmt.Printf("\n### Writes caused by read-only requests (idle timeout %s)\n\n%d requests that only read one key of an existing session, right after it was created.\n\n", *idle, *reads)
	fmt.Println("| library | backend | store writes | note |")
	fmt.Println("|---|---|---|---|")
	for _, bl := range bench.Builders() {
		_, w, err := bench.IdleWrites(ctx, bl, *idle, *reads)
		note := ""
		switch bl.Lib {
		case "sessionfx":
			note = "idle_timeout=" + idle.String() + "; deadline refreshed once half the window has passed"
		case "scs":
			note = "IdleTimeout=" + idle.String()
		case "gorilla":
			note = "gorilla/sessions has no idle timeout (MaxAge only, never slides): nothing to refresh"
		}
		switch {
		case errors.Is(err, bench.ErrSkip):
			fmt.Printf("| %s | %s | skipped | %v |\n", bl.Lib, bl.Backend, err)
		case err != nil:
			failed = true
			fmt.Printf("| %s | %s | error | %v |\n", bl.Lib, bl.Backend, err)
		default:
			fmt.Printf("| %s | %s | %d | %s |\n", bl.Lib, bl.Backend, w, note)
		}
	}
	if failed {
		os.Exit(1)
	}
}
