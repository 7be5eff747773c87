package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessionfx/session/internal/retry"
)

func TestBackoffGrowsWithinBounds(t *testing.T) {
	for n, base := range []time.Duration{1: time.Millisecond, 2: 2 * time.Millisecond, 3: 4 * time.Millisecond, 4: 8 * time.Millisecond, 5: 8 * time.Millisecond, 30: 8 * time.Millisecond} {
		if base == 0 {
			continue
		}
		for range 200 {
			d := retry.Backoff(n, 8*time.Millisecond)
			if d < base/2 || d >= base*3/2 {
				t.Fatalf("Backoff(%d, 8ms) = %s; want within [%s, %s)", n, d, base/2, base*3/2)
			}
		}
	}
}

func TestWaitStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := retry.Wait(ctx, 20, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a cancelled context = %v; want context.Canceled", err)
	}
	if el := time.Since(start); el > 100*time.Millisecond {
		t.Fatalf("Wait on a cancelled context took %s", el)
	}
}
