package backends

import (
	"context"

	"github.com/sessionfx/session/internal/retry"
)

// RetryObserver is told of each retry of a store's compare-and-set or
// merge loop: a concurrent writer won, and the store reads and applies the
// changes again. The session manager's telemetry (when enabled) passes one
// in the context of each Save and Renew it makes, and counts the retries
// (metric session.store.retries, events on the operation's span).
type RetryObserver interface {
	// StoreRetried is called with the context of the operation, before the
	// retry.
	StoreRetried(ctx context.Context)
}

// WithRetryObserver returns ctx carrying o, for NoteRetry.
func WithRetryObserver(ctx context.Context, o RetryObserver) context.Context {
	return retry.WithObserver(ctx, o)
}

// NoteRetry tells the RetryObserver that ctx carries, if any, that the
// store is about to retry the operation because a concurrent writer won.
// A store calls it once per retry (the stores of this module do). Without
// an observer it is a context lookup and allocates nothing.
func NoteRetry(ctx context.Context) { retry.Note(ctx) }
