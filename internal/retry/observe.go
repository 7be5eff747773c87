package retry

import "context"

// Observer is told of each retry of a compare-and-set loop run under a
// context that carries it (see WithObserver): the session manager's
// telemetry counts merge retries this way. backends.RetryObserver is the
// public face of the same interface.
type Observer interface {
	StoreRetried(ctx context.Context)
}

type observerKey struct{}

// WithObserver returns ctx carrying o.
func WithObserver(ctx context.Context, o Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// Note tells ctx's Observer, if any, that the operation is being retried.
// Without one it costs a context lookup and allocates nothing.
func Note(ctx context.Context) {
	if o, ok := ctx.Value(observerKey{}).(Observer); ok {
		o.StoreRetried(ctx)
	}
}
