// Package retry is the wait between attempts that the stores' optimistic
// (compare-and-set) loops share: short, growing and jittered, so that
// writers who lost a race do not collide again in step.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is the wait before retry n (1 for the first retry): 1 ms doubled
// per retry and capped at ceiling, then jittered to between half and one and a
// half times that.
func Backoff(n int, ceiling time.Duration) time.Duration {
	d := min(time.Millisecond<<min(max(n-1, 0), 10), ceiling)
	if d <= 0 {
		return 0
	}
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

// Wait sleeps Backoff(n, ceiling), or returns ctx's error as soon as ctx is
// done. Every call precedes a retry: it tells ctx's Observer (Note).
func Wait(ctx context.Context, n int, ceiling time.Duration) error {
	Note(ctx)
	t := time.NewTimer(Backoff(n, ceiling))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
