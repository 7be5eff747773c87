package session

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	nooptrace "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/kvcache"
)

// instrumentationName is the instrumentation scope of the manager's
// meter and tracer.
const instrumentationName = "github.com/sessionfx/session"

// WithMeterProvider makes the manager record metrics with mp (see the
// README's "Metrics and traces" for the instruments). Without it, or with
// a nil or no-op provider, nothing is measured and the store is used
// directly. The fx module passes the app's metric.MeterProvider when the
// graph has one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(m *Manager) { m.tel = m.tel.with(mp, nil) }
}

// WithTracerProvider makes the manager trace each store operation with tp:
// one span per load, save, touch, delete or renewal, a child of the span
// in the request's context when there is one. Without it, or with a nil or
// no-op provider, no span is started. The fx module passes the app's
// trace.TracerProvider when the graph has one.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(m *Manager) { m.tel = m.tel.with(nil, tp) }
}

// storeOp is a store operation the telemetry counts and traces.
type storeOp uint8

const (
	opLoad storeOp = iota
	opSave
	opTouch
	opDelete
	opRenew
	numOps
)

var opNames = [numOps]string{"load", "save", "touch", "delete", "renew"}
var spanNames = [numOps]string{"session.load", "session.save", "session.touch", "session.delete", "session.renew"}

// outcome is how a store operation ended (attribute session.outcome).
type outcome uint8

const (
	outOK       outcome = iota
	outNotFound         // load, touch: no such session (unknown, expired or ended)
	outMoved            // load, save: the id was renewed away (a login)
	outEnded            // save, renew: the session ended before the write
	outConflict         // save, renew: concurrent writers won every retry
	outCorrupt          // load: the stored record cannot be decoded
	outTooLarge         // save: the session is over a size limit
	outTimeout          // the context's deadline passed
	outCanceled         // the context was canceled
	outError            // any other failure (store down, ...)
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "not_found", "moved", "ended", "conflict", "corrupt", "too_large", "timeout", "canceled", "error"}

// failed reports whether o is a failure (span status Error), rather than
// one of the answers a store gives in normal operation.
func (o outcome) failed() bool { return o >= outConflict }

func outcomeOf(op storeOp, err error) outcome {
	switch {
	case err == nil:
		return outOK
	case errors.Is(err, backends.ErrMoved):
		return outMoved
	case errors.Is(err, backends.ErrNotFound):
		if op == opSave || op == opRenew {
			return outEnded
		}
		return outNotFound
	case errors.Is(err, backends.ErrConflict):
		return outConflict
	case errors.Is(err, backends.ErrCorrupt):
		return outCorrupt
	case errors.Is(err, backends.ErrTooLarge):
		return outTooLarge
	case errors.Is(err, context.DeadlineExceeded):
		return outTimeout
	case errors.Is(err, context.Canceled):
		return outCanceled
	}
	return outError
}

// endReason is why a session ended (attribute session.end_reason).
type endReason uint8

const (
	endLogout  endReason = iota // Destroy
	endRenewal                  // RenewID: the old id ended when the new one was saved
	endExpiry                   // found past its idle deadline or lifetime when loaded
	endRevoked                  // DestroyStored: revoked by handle or by user ("your sessions", sessionctl)
	numEndReasons
)

var endReasonNames = [numEndReasons]string{"logout", "renewal", "expiry", "revoked"}

// Attribute keys. None of them ever carries a session id, a storage id,
// a hash of either, or session data.
const (
	attrStore     = attribute.Key("session.store")
	attrOperation = attribute.Key("session.operation")
	attrOutcome   = attribute.Key("session.outcome")
	attrEndReason = attribute.Key("session.end_reason")
	attrContainer = attribute.Key("session.kvcache.container")
	attrErrorType = attribute.Key("error.type")
)

// durationBounds are the buckets of session.store.operation.duration, in
// seconds: from 50µs (the memory engine) to 10s (a store timing out).
var durationBounds = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// telemetry is a manager's instruments. A Manager without providers has a
// nil *telemetry: every hook below is a method that returns at once on a
// nil receiver, and the store is not wrapped.
type telemetry struct {
	mp metric.MeterProvider // as given (nil: none)
	tp trace.TracerProvider

	tracer trace.Tracer // nil without a TracerProvider
	server bool         // the manager runs a server-side store

	ops            metric.Int64Counter
	duration       metric.Float64Histogram
	retries        metric.Int64Counter
	created        metric.Int64Counter
	ended          metric.Int64Counter
	cleanupRuns    metric.Int64Counter
	cleanupRemoved metric.Int64Counter

	// Attribute sets, built once so that a measurement allocates nothing.
	opAdd      [numOps][numOutcomes][]metric.AddOption
	opRecord   [numOps][numOutcomes][]metric.RecordOption
	outcomeKV  [numOutcomes][]attribute.KeyValue
	spanStart  []trace.SpanStartOption
	retryObs   [numOps]*retryObserver // save and renew only
	storeAdd   []metric.AddOption
	endAdd     [numEndReasons][]metric.AddOption
	cleanupAdd [numOutcomes][]metric.AddOption

	reg metric.Registration // the kvcache engines' callback, nil when none
}

// with records the providers an option gave (nil ones are left as they
// are).
func (t *telemetry) with(mp metric.MeterProvider, tp trace.TracerProvider) *telemetry {
	if t == nil {
		t = &telemetry{}
	}
	if mp != nil {
		t.mp = mp
	}
	if tp != nil {
		t.tp = tp
	}
	return t
}

// start builds the instruments for a manager on a store named by info; it
// returns nil (telemetry off) when no real provider was given.
func (t *telemetry) start(info backends.Info, log *zap.Logger) *telemetry {
	if t == nil {
		return nil
	}
	switch t.mp.(type) {
	case noopmetric.MeterProvider, *noopmetric.MeterProvider:
		t.mp = nil
	}
	switch t.tp.(type) {
	case nooptrace.TracerProvider, *nooptrace.TracerProvider:
		t.tp = nil
	}
	if t.mp == nil && t.tp == nil {
		return nil
	}
	if t.tp != nil {
		t.tracer = t.tp.Tracer(instrumentationName)
	}
	mp := t.mp
	if mp == nil {
		mp = noopmetric.NewMeterProvider()
	}
	meter := mp.Meter(instrumentationName)
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	t.ops = counter("session.store.operations", "{operation}",
		"Session store operations (load, save, touch, delete, renew) by outcome.")
	t.retries = counter("session.store.retries", "{retry}",
		"Retries of a save or renewal because a concurrent writer changed the session first.")
	t.created = counter("session.created", "{session}", "New sessions stored (first save).")
	t.ended = counter("session.ended", "{session}",
		"Sessions ended, by reason: logout (Destroy), renewal (RenewID), expiry (found expired when loaded), revoked (DestroyStored).")
	t.cleanupRuns = counter("session.cleanup.runs", "{run}", "Sweeps of expired and idle sessions (Cleanup), by outcome.")
	t.cleanupRemoved = counter("session.cleanup.removed", "{session}", "Sessions the cleanup sweeps deleted.")
	var err error
	t.duration, err = meter.Float64Histogram("session.store.operation.duration",
		metric.WithUnit("s"), metric.WithDescription("Duration of session store operations."),
		metric.WithExplicitBucketBoundaries(durationBounds...))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		log.Warn("session: creating metric instruments", zap.Error(err))
	}

	store := attrStore.String(info.Name)
	for op := range numOps {
		for oc := range numOutcomes {
			o := metric.WithAttributeSet(attribute.NewSet(store, attrOperation.String(opNames[op]), attrOutcome.String(outcomeNames[oc])))
			t.opAdd[op][oc] = []metric.AddOption{o}
			t.opRecord[op][oc] = []metric.RecordOption{o}
		}
	}
	for oc := range numOutcomes {
		kv := []attribute.KeyValue{attrOutcome.String(outcomeNames[oc])}
		if outcome(oc).failed() {
			kv = append(kv, attrErrorType.String(outcomeNames[oc]))
		}
		t.outcomeKV[oc] = kv
		t.cleanupAdd[oc] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(store, attrOutcome.String(outcomeNames[oc])))}
	}
	for _, op := range []storeOp{opSave, opRenew} {
		t.retryObs[op] = &retryObserver{t: t, add: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(store, attrOperation.String(opNames[op])))}}
	}
	t.spanStart = []trace.SpanStartOption{trace.WithAttributes(store)}
	t.storeAdd = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(store))}
	for r := range numEndReasons {
		t.endAdd[r] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(store, attrEndReason.String(endReasonNames[r])))}
	}
	return t
}

// wrap returns store instrumented (nil telemetry: store itself), and
// registers the observable instruments of the kvcache engines behind it.
func (t *telemetry) wrap(store backends.Store, log *zap.Logger) backends.Store {
	if t == nil {
		return store
	}
	t.server = true
	if t.mp != nil {
		if err := t.observeEngines(store); err != nil {
			log.Warn("session: registering kvcache engine metrics", zap.Error(err))
		}
	}
	d := &instrumentedStore{inner: store, t: t}
	if rn, ok := backends.As[backends.Renewer](store); ok {
		return &instrumentedRenewer{instrumentedStore: d, renewer: rn}
	}
	return d
}

// begin starts a store operation: its span (a child of ctx's) and, for a
// save or a renewal, the retry observer in its context.
func (t *telemetry) begin(ctx context.Context, op storeOp) (context.Context, trace.Span, time.Time) {
	var span trace.Span
	if t.tracer != nil {
		ctx, span = t.tracer.Start(ctx, spanNames[op], t.spanStart...)
	}
	if o := t.retryObs[op]; o != nil {
		ctx = backends.WithRetryObserver(ctx, o)
	}
	return ctx, span, time.Now()
}

// end counts a store operation and ends its span. Errors are recorded by
// kind only: their text may name a session (by a short hash).
func (t *telemetry) end(ctx context.Context, op storeOp, span trace.Span, start time.Time, err error) {
	oc := outcomeOf(op, err)
	t.ops.Add(ctx, 1, t.opAdd[op][oc]...)
	t.duration.Record(ctx, time.Since(start).Seconds(), t.opRecord[op][oc]...)
	if span == nil {
		return
	}
	span.SetAttributes(t.outcomeKV[oc]...)
	if oc.failed() {
		span.SetStatus(codes.Error, outcomeNames[oc])
	}
	span.End()
}

// saved counts what a successful save did: a new session, or a renewal
// that ended the old id.
func (t *telemetry) saved(ctx context.Context, isNew, renewed bool) {
	if t == nil {
		return
	}
	if isNew {
		t.created.Add(ctx, 1, t.storeAdd...)
	}
	if renewed && t.server {
		t.ended.Add(ctx, 1, t.endAdd[endRenewal]...)
	}
}

// endSessions counts n sessions ended for reason.
func (t *telemetry) endSessions(ctx context.Context, reason endReason, n int64) {
	if t == nil || n <= 0 {
		return
	}
	t.ended.Add(ctx, n, t.endAdd[reason]...)
}

// cleaned counts a cleanup sweep and the sessions it removed.
func (t *telemetry) cleaned(ctx context.Context, removed int64, err error) {
	if t == nil {
		return
	}
	t.cleanupRuns.Add(ctx, 1, t.cleanupAdd[outcomeOf(opDelete, err)]...)
	if removed > 0 {
		t.cleanupRemoved.Add(ctx, removed, t.storeAdd...)
	}
}

// retryObserver counts the retries of one kind of operation and adds an
// event to the operation's span.
type retryObserver struct {
	t   *telemetry
	add []metric.AddOption
}

func (o *retryObserver) StoreRetried(ctx context.Context) {
	o.t.retries.Add(ctx, 1, o.add...)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("session.retry")
	}
}

// instrumentedStore counts and traces the core operations of the store it
// wraps. Its capabilities (Iterator, Sweeper, ...) stay visible through
// Unwrap; a Renewer is wrapped by instrumentedRenewer.
type instrumentedStore struct {
	inner backends.Store
	t     *telemetry
}

func (d *instrumentedStore) Unwrap() backends.Store { return d.inner }

func (d *instrumentedStore) Load(ctx context.Context, id string) (*backends.Record, error) {
	ctx, span, start := d.t.begin(ctx, opLoad)
	rec, err := d.inner.Load(ctx, id)
	d.t.end(ctx, opLoad, span, start, err)
	return rec, err
}

func (d *instrumentedStore) Save(ctx context.Context, id string, ch backends.Changes, opt backends.SaveOptions) (*backends.Record, error) {
	ctx, span, start := d.t.begin(ctx, opSave)
	rec, err := d.inner.Save(ctx, id, ch, opt)
	d.t.end(ctx, opSave, span, start, err)
	return rec, err
}

func (d *instrumentedStore) Delete(ctx context.Context, id string) error {
	ctx, span, start := d.t.begin(ctx, opDelete)
	err := d.inner.Delete(ctx, id)
	d.t.end(ctx, opDelete, span, start, err)
	return err
}

func (d *instrumentedStore) Touch(ctx context.Context, id string, expires time.Time) error {
	ctx, span, start := d.t.begin(ctx, opTouch)
	err := d.inner.Touch(ctx, id, expires)
	d.t.end(ctx, opTouch, span, start, err)
	return err
}

func (d *instrumentedStore) Close() error { return d.inner.Close() }

// instrumentedRenewer is instrumentedStore over a store that is (or wraps)
// a backends.Renewer.
type instrumentedRenewer struct {
	*instrumentedStore
	renewer backends.Renewer
}

func (d *instrumentedRenewer) Renew(ctx context.Context, from, to string, ch backends.Changes, opt backends.SaveOptions, grace time.Duration) (*backends.Record, error) {
	ctx, span, start := d.t.begin(ctx, opRenew)
	rec, err := d.renewer.Renew(ctx, from, to, ch, opt, grace)
	d.t.end(ctx, opRenew, span, start, err)
	return rec, err
}

// memoryStats is the kvcache memory engine (kvcache.Memory).
type memoryStats interface {
	Stats() kvcache.MemoryStats
}

// clientCacheStats is the Redis engine with its client-side cache
// (rediskv.Backend), named by method so the core does not import it.
type clientCacheStats interface {
	ClientCacheStats() (hits, misses uint64)
}

type engineSource struct {
	b   kvcache.Backend
	obs []metric.ObserveOption
}

// stop unregisters the engines' callback (the module calls it when the app
// stops, before the store closes): an app's MeterProvider may outlive the
// manager, and must not keep reading a closed engine.
func (t *telemetry) stop() {
	if t != nil && t.reg != nil {
		_ = t.reg.Unregister()
		t.reg = nil
	}
}

// observeEngines registers the observable instruments of the kvcache
// engines behind store (its container; a layered store's front and back):
// the memory engine's evictions, refusals and size, the Redis engine's
// client-cache hits and misses. It registers nothing when there are none.
func (t *telemetry) observeEngines(store backends.Store) error {
	var mem, redis []engineSource
	seen := map[kvcache.Backend]bool{}
	add := func(c *kvcache.Container) {
		if c == nil || seen[c.Backend()] {
			return
		}
		seen[c.Backend()] = true
		src := engineSource{b: c.Backend(), obs: []metric.ObserveOption{metric.WithAttributes(attrContainer.String(c.Name()))}}
		if _, ok := src.b.(memoryStats); ok {
			mem = append(mem, src)
		}
		if _, ok := src.b.(clientCacheStats); ok {
			redis = append(redis, src)
		}
	}
	queue := []backends.Storage{store}
	for n := 0; len(queue) > 0 && n < 64; n++ {
		var s backends.Storage
		s, queue = queue[0], queue[1:]
		if c, ok := s.(interface{ Container() *kvcache.Container }); ok {
			add(c.Container())
		}
		if f, ok := s.(interface{ Front() *kvcache.Container }); ok {
			add(f.Front())
		}
		if b, ok := s.(interface{ Back() backends.Store }); ok && b.Back() != nil {
			queue = append(queue, b.Back())
		}
		if u, ok := s.(interface{ Unwrap() backends.Store }); ok && u.Unwrap() != nil {
			queue = append(queue, u.Unwrap())
		}
	}
	if len(mem) == 0 && len(redis) == 0 {
		return nil
	}
	meter := t.mp.Meter(instrumentationName)
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	updown := func(name, unit, desc string) metric.Int64ObservableUpDownCounter {
		c, err := meter.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	var insts []metric.Observable
	var evictions, refusals, hits, misses metric.Int64ObservableCounter
	var entries, usage, limit metric.Int64ObservableUpDownCounter
	if len(mem) > 0 {
		evictions = counter("session.kvcache.memory.evictions", "{entry}", "Unexpired entries the memory engine evicted to make room.")
		refusals = counter("session.kvcache.memory.refusals", "{write}", "Writes the memory engine refused (ErrNotStored): the data was not kept.")
		entries = updown("session.kvcache.memory.entries", "{entry}", "Entries the memory engine holds.")
		usage = updown("session.kvcache.memory.usage", "By", "Bytes the memory engine's entries count against its max_size.")
		limit = updown("session.kvcache.memory.limit", "By", "The memory engine's max_size.")
		insts = append(insts, evictions, refusals, entries, usage, limit)
	}
	if len(redis) > 0 {
		hits = counter("session.kvcache.redis.client_cache.hits", "{read}", "Reads the Redis engine's client-side cache served without a round trip.")
		misses = counter("session.kvcache.redis.client_cache.misses", "{read}", "Reads that went to the Redis server while the client-side cache was on.")
		insts = append(insts, hits, misses)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, src := range mem {
			st := src.b.(memoryStats).Stats()
			o.ObserveInt64(evictions, int64(st.Evictions), src.obs...)
			o.ObserveInt64(refusals, int64(st.NotStored), src.obs...)
			o.ObserveInt64(entries, st.Entries, src.obs...)
			o.ObserveInt64(usage, st.UsedBytes, src.obs...)
			o.ObserveInt64(limit, st.MaxSize, src.obs...)
		}
		for _, src := range redis {
			h, m := src.b.(clientCacheStats).ClientCacheStats()
			o.ObserveInt64(hits, int64(h), src.obs...)
			o.ObserveInt64(misses, int64(m), src.obs...)
		}
		return nil
	}, insts...)
	t.reg = reg
	return err
}
