package session_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/backends/layered"
	"github.com/sessionfx/session/internal/loghash"
	"github.com/sessionfx/session/kvcache"
)

// otelHarness is an SDK MeterProvider on a ManualReader and an SDK
// TracerProvider sampling every span into an in-memory exporter.
type otelHarness struct {
	reader *sdkmetric.ManualReader
	spans  *tracetest.InMemoryExporter
	mp     *sdkmetric.MeterProvider
	tp     *sdktrace.TracerProvider
}

func newOtelHarness(t testing.TB) *otelHarness {
	t.Helper()
	h := &otelHarness{reader: sdkmetric.NewManualReader(), spans: tracetest.NewInMemoryExporter()}
	h.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	h.tp = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSyncer(h.spans))
	t.Cleanup(func() {
		_ = h.mp.Shutdown(context.Background())
		_ = h.tp.Shutdown(context.Background())
	})
	return h
}

func (h *otelHarness) options() []session.Option {
	return []session.Option{session.WithMeterProvider(h.mp), session.WithTracerProvider(h.tp)}
}

func (h *otelHarness) collect(t testing.TB) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// metricValue sums the points of the named metric whose attributes include
// all of attrs: counter values, or histogram counts. found is false when
// the metric was not reported at all.
func metricValue(rm metricdata.ResourceMetrics, name string, attrs ...attribute.KeyValue) (v int64, found bool) {
	match := func(set attribute.Set) bool {
		for _, kv := range attrs {
			if got, ok := set.Value(kv.Key); !ok || got != kv.Value {
				return false
			}
		}
		return true
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			found = true
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						v += p.Value
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						v += int64(p.Count)
					}
				}
			}
		}
	}
	return v, found
}

func opAttrs(op, outcome string) []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("session.operation", op), attribute.String("session.outcome", outcome)}
}

// telemetryHandler is an app: /untouched never uses the session, /init
// and /write write, /read reads, /login renews the id, /logout destroys.
func telemetryHandler(t testing.TB, m *session.Manager) http.Handler {
	return m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/untouched" {
			return
		}
		s, err := session.From(r.Context())
		if err != nil {
			t.Error(err)
			return
		}
		switch r.URL.Path {
		case "/init":
			_ = s.Set("name", "ann")
		case "/read":
			_ = s.GetString("name")
		case "/write":
			_ = s.Set("n", s.GetInt("n")+1)
		case "/login":
			_ = s.RenewID()
			_ = s.Set("user_id", "ann")
		case "/logout":
			_ = s.Destroy(r.Context())
		}
	}))
}

// hit serves path with cookie (none when "") and returns the session
// cookie the client holds afterwards.
func hit(h http.Handler, ctx context.Context, path, cookie string) string {
	req := httptest.NewRequestWithContext(ctx, "GET", path, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "session", Value: cookie})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "session" {
			if c.MaxAge < 0 {
				return ""
			}
			return c.Value
		}
	}
	return cookie
}

// The counters match what the requests did, per operation and outcome,
// and the manager's own events (new, renewed, logged out) are counted. No
// attribute, span name, event or status carries a session id, its storage
// id or the short hash the logs use.
func TestTelemetryCountsOperations(t *testing.T) {
	h := newOtelHarness(t)
	_, st := newKV(t)
	m := newManager(t, st, nil, h.options()...) // hash_ids is on by default
	app := telemetryHandler(t, m)
	ctx := context.Background()

	c1 := hit(app, ctx, "/init", "")
	hit(app, ctx, "/read", c1)
	hit(app, ctx, "/read", c1)
	hit(app, ctx, "/write", c1)
	hit(app, ctx, "/read", "0b6f5bd0-8b7f-4c1e-9a53-1f1a4f6f4b9a") // unknown
	c2 := hit(app, ctx, "/login", c1)
	if c2 == c1 || c2 == "" {
		t.Fatalf("login did not renew the id")
	}
	hit(app, ctx, "/read", c1) // renewed away
	hit(app, ctx, "/logout", c2)
	hit(app, ctx, "/read", c2)      // logged out
	hit(app, ctx, "/untouched", c2) // no store call: not counted below

	rm := h.collect(t)
	want := []struct {
		op, outcome string
		n           int64
	}{
		{"load", "ok", 5}, {"load", "not_found", 2}, {"load", "moved", 1},
		{"save", "ok", 2}, {"renew", "ok", 1}, {"delete", "ok", 1}, {"touch", "ok", 0},
	}
	for _, w := range want {
		attrs := append(opAttrs(w.op, w.outcome), attribute.String("session.store", "kvcache"))
		if got, _ := metricValue(rm, "session.store.operations", attrs...); got != w.n {
			t.Errorf("session.store.operations{%s, %s} = %d; want %d", w.op, w.outcome, got, w.n)
		}
		if got, _ := metricValue(rm, "session.store.operation.duration", attrs...); got != w.n {
			t.Errorf("session.store.operation.duration{%s, %s} count = %d; want %d", w.op, w.outcome, got, w.n)
		}
	}
	if got, _ := metricValue(rm, "session.store.operations"); got != 12 {
		t.Errorf("session.store.operations total = %d; want 12", got)
	}
	if got, _ := metricValue(rm, "session.created"); got != 1 {
		t.Errorf("session.created = %d; want 1", got)
	}
	for reason, n := range map[string]int64{"renewal": 1, "logout": 1, "expiry": 0} {
		if got, _ := metricValue(rm, "session.ended", attribute.String("session.end_reason", reason)); got != n {
			t.Errorf("session.ended{%s} = %d; want %d", reason, got, n)
		}
	}
	if got, _ := metricValue(rm, "session.store.retries"); got != 0 {
		t.Errorf("session.store.retries = %d; want 0", got)
	}

	spans := h.spans.GetSpans()
	names := map[string]int{}
	for _, s := range spans {
		names[s.Name]++
	}
	if names["session.load"] != 8 || names["session.save"] != 2 || names["session.renew"] != 1 || names["session.delete"] != 1 || len(spans) != 12 {
		t.Errorf("spans %v; want 8 session.load, 2 session.save, 1 session.renew, 1 session.delete", names)
	}

	var secrets []string
	for _, id := range []string{c1, c2} {
		sid := m.StorageID(id)
		secrets = append(secrets, id, sid, loghash.Of(sid), session.HashID(id))
	}
	leaks := func(where, v string) {
		for _, s := range secrets {
			if strings.Contains(v, s) {
				t.Errorf("%s %q carries a session id or its hash", where, v)
			}
		}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			forEachAttrSet(mt.Data, func(set attribute.Set) {
				for _, kv := range set.ToSlice() {
					leaks("metric "+mt.Name+" attribute "+string(kv.Key), kv.Value.String())
				}
			})
		}
	}
	for _, s := range spans {
		leaks("span name", s.Name)
		leaks("span status", s.Status.Description)
		for _, kv := range s.Attributes {
			leaks("span attribute "+string(kv.Key), kv.Value.String())
		}
		for _, e := range s.Events {
			leaks("span event", e.Name)
			for _, kv := range e.Attributes {
				leaks("span event attribute "+string(kv.Key), kv.Value.String())
			}
		}
	}
}

func forEachAttrSet(data metricdata.Aggregation, fn func(attribute.Set)) {
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			fn(p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			fn(p.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			fn(p.Attributes)
		}
	}
}

// A session found expired on load is counted as ended by expiry.
func TestTelemetryCountsExpiry(t *testing.T) {
	h := newOtelHarness(t)
	clk := &clock{t: time.Now()}
	// The store keeps the record beyond the lifetime (no TTL): the manager
	// finds it too old.
	st := &noTTLStore{records: map[string]*backends.Record{}}
	m := newManager(t, st, func(c *session.Config) { c.Lifetime = time.Hour; c.IdleTimeout = 0 },
		append(h.options(), session.WithClock(clk.Now))...)
	app := telemetryHandler(t, m)
	c := hit(app, context.Background(), "/init", "")
	clk.Add(2 * time.Hour)
	if got := hit(app, context.Background(), "/read", c); got != "" {
		t.Fatalf("an expired session's cookie was kept")
	}
	rm := h.collect(t)
	if got, _ := metricValue(rm, "session.ended", attribute.String("session.end_reason", "expiry")); got != 1 {
		t.Errorf("session.ended{expiry} = %d; want 1", got)
	}
}

// noTTLStore is a minimal store that never expires anything itself.
type noTTLStore struct {
	records map[string]*backends.Record
}

func (s *noTTLStore) Load(_ context.Context, id string) (*backends.Record, error) {
	r, ok := s.records[id]
	if !ok {
		return nil, backends.ErrNotFound
	}
	return r, nil
}

func (s *noTTLStore) Save(_ context.Context, id string, ch backends.Changes, opt backends.SaveOptions) (*backends.Record, error) {
	prev := s.records[id]
	if prev == nil && !opt.New {
		return nil, backends.ErrNotFound
	}
	r := &backends.Record{ID: id, Created: opt.Created, Expires: opt.Expires}
	if prev != nil {
		r.Data, r.Created = ch.Apply(prev.Data), prev.Created
	} else {
		r.Data = ch.Apply(nil)
	}
	s.records[id] = r
	return r, nil
}

func (s *noTTLStore) Delete(_ context.Context, id string) error { delete(s.records, id); return nil }

func (s *noTTLStore) Touch(_ context.Context, id string, exp time.Time) error {
	r, ok := s.records[id]
	if !ok {
		return backends.ErrNotFound
	}
	r.Expires = exp
	return nil
}

func (s *noTTLStore) Close() error { return nil }

// A save that loses a compare-and-set to a concurrent save is retried
// (merged), and the retry is counted and shown on the save's span; both
// writers' keys survive.
func TestTelemetryCountsRetries(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		_, st := newKV(t)
		testRetriesCounted(t, st, "kvcache")
	})
	t.Run("sqlite", func(t *testing.T) {
		db, err := gormstore.Open(gormstore.Config{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "s.sqlite3")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if sqlDB, err := db.DB(); err == nil {
				_ = sqlDB.Close()
			}
		})
		st, err := gormstore.New(db)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Setup(context.Background()); err != nil {
			t.Fatal(err)
		}
		testRetriesCounted(t, st, "gorm")
	})
}

func testRetriesCounted(t *testing.T, st backends.Store, storeName string) {
	h := newOtelHarness(t)
	m := newManager(t, st, nil, h.options()...)
	id := writeSession(t, m, map[string]any{"a": 1})
	h.spans.Reset()

	err := m.Run(context.Background(), func(ctx context.Context) error {
		if err := session.SetID(ctx, id); err != nil {
			return err
		}
		s, err := session.From(ctx)
		if err != nil {
			return err
		}
		// Another request saves first, after this one loaded.
		err = m.Run(context.Background(), func(ctx context.Context) error {
			if err := session.SetID(ctx, id); err != nil {
				return err
			}
			other, err := session.From(ctx)
			if err != nil {
				return err
			}
			return other.Set("b", 2)
		})
		if err != nil {
			return err
		}
		return s.Set("c", 3)
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	_ = m.Run(context.Background(), func(ctx context.Context) error {
		_ = session.SetID(ctx, id)
		s, err := session.From(ctx)
		if err == nil {
			keys = s.Keys()
		}
		return err
	})
	if strings.Join(keys, ",") != "a,b,c" {
		t.Fatalf("after the merge the session holds %v; want a, b, c", keys)
	}

	rm := h.collect(t)
	if got, _ := metricValue(rm, "session.store.retries", attribute.String("session.operation", "save"), attribute.String("session.store", storeName)); got != 1 {
		t.Errorf("session.store.retries{save} = %d; want 1", got)
	}
	if got, _ := metricValue(rm, "session.store.operations", opAttrs("save", "ok")...); got != 3 {
		t.Errorf("session.store.operations{save, ok} = %d; want 3", got)
	}
	retried := 0
	for _, s := range h.spans.GetSpans() {
		for _, e := range s.Events {
			if e.Name == "session.retry" {
				if s.Name != "session.save" {
					t.Errorf("retry event on span %s", s.Name)
				}
				retried++
			}
		}
	}
	if retried != 1 {
		t.Errorf("%d session.retry span events; want 1", retried)
	}
}

// failingStore fails every Save with err.
type failingStore struct {
	*backends.KVStore
	err error
}

func (f *failingStore) Save(context.Context, string, backends.Changes, backends.SaveOptions) (*backends.Record, error) {
	return nil, f.err
}

// A failed save is counted by kind, and its span has status Error with the
// kind, not the error's text.
func TestTelemetryErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("gave up on session 1a2b3c: %w", backends.ErrConflict), "conflict"},
		{fmt.Errorf("store: %w", context.DeadlineExceeded), "timeout"},
		{errors.New("connection refused"), "error"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			h := newOtelHarness(t)
			_, kv := newKV(t)
			m := newManager(t, &failingStore{KVStore: kv, err: tc.err}, nil, h.options()...)
			err := m.Run(context.Background(), func(ctx context.Context) error {
				s, err := session.From(ctx)
				if err != nil {
					return err
				}
				if err := s.Set("k", "v"); err != nil {
					return err
				}
				return s.Store(ctx)
			})
			if !errors.Is(err, session.ErrStore) {
				t.Fatalf("Store = %v; want ErrStore", err)
			}
			rm := h.collect(t)
			if got, _ := metricValue(rm, "session.store.operations", opAttrs("save", tc.want)...); got != 1 {
				t.Errorf("session.store.operations{save, %s} = %d; want 1", tc.want, got)
			}
			if got, _ := metricValue(rm, "session.created"); got != 0 {
				t.Errorf("session.created = %d after a failed save; want 0", got)
			}
			spans := h.spans.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("%d spans; want 1", len(spans))
			}
			s := spans[0]
			if s.Status.Code != codes.Error || s.Status.Description != tc.want {
				t.Errorf("span status %v %q; want Error %q", s.Status.Code, s.Status.Description, tc.want)
			}
			var errType string
			for _, kv := range s.Attributes {
				if kv.Key == "error.type" {
					errType = kv.Value.AsString()
				}
			}
			if errType != tc.want {
				t.Errorf("span error.type %q; want %q", errType, tc.want)
			}
		})
	}
}

// Store spans are children of the request's span when the app traces
// requests (the span in the request's context), in the same trace.
func TestTelemetrySpansAreChildrenOfTheRequest(t *testing.T) {
	h := newOtelHarness(t)
	_, st := newKV(t)
	m := newManager(t, st, nil, h.options()...)
	app := telemetryHandler(t, m)
	c := hit(app, context.Background(), "/init", "")
	h.spans.Reset()

	ctx, req := h.tp.Tracer("app").Start(context.Background(), "GET /write")
	hit(app, ctx, "/write", c)
	req.End()

	var load, save tracetest.SpanStub
	for _, s := range h.spans.GetSpans() {
		switch s.Name {
		case "session.load":
			load = s
		case "session.save":
			save = s
		}
	}
	for _, s := range []tracetest.SpanStub{load, save} {
		if !s.SpanContext.IsValid() {
			t.Fatalf("missing store span; got %d spans", len(h.spans.GetSpans()))
		}
		if s.Parent.SpanID() != req.SpanContext().SpanID() || s.SpanContext.TraceID() != req.SpanContext().TraceID() {
			t.Errorf("%s: parent %s in trace %s; want the request span %s in trace %s", s.Name,
				s.Parent.SpanID(), s.SpanContext.TraceID(), req.SpanContext().SpanID(), req.SpanContext().TraceID())
		}
		if !hasAttr(s.Attributes, attribute.String("session.store", "kvcache")) || !hasAttr(s.Attributes, attribute.String("session.outcome", "ok")) {
			t.Errorf("%s: attributes %v; want session.store=kvcache and session.outcome=ok", s.Name, s.Attributes)
		}
		if s.Status.Code == codes.Error {
			t.Errorf("%s: status Error", s.Name)
		}
	}
}

func hasAttr(attrs []attribute.KeyValue, want attribute.KeyValue) bool {
	for _, kv := range attrs {
		if kv == want {
			return true
		}
	}
	return false
}

// sweepStore reports a fixed result for every cleanup.
type sweepStore struct {
	*backends.KVStore
	n   int64
	err error
}

func (s *sweepStore) DeleteOlderThan(context.Context, time.Duration) (int64, error) {
	return s.n, s.err
}

func (s *sweepStore) Info() backends.Info {
	i := s.KVStore.Info()
	i.ExpiresNatively = false
	return i
}

func TestTelemetryCountsCleanup(t *testing.T) {
	h := newOtelHarness(t)
	_, kv := newKV(t)
	st := &sweepStore{KVStore: kv, n: 3}
	m := newManager(t, st, nil, h.options()...)
	if n, err := m.Cleanup(context.Background()); n != 3 || err != nil {
		t.Fatalf("Cleanup = %d, %v", n, err)
	}
	st.n, st.err = 0, errors.New("database is down")
	if _, err := m.Cleanup(context.Background()); err == nil {
		t.Fatal("Cleanup did not fail")
	}
	rm := h.collect(t)
	for outcome, n := range map[string]int64{"ok": 1, "error": 1} {
		if got, _ := metricValue(rm, "session.cleanup.runs", attribute.String("session.outcome", outcome)); got != n {
			t.Errorf("session.cleanup.runs{%s} = %d; want %d", outcome, got, n)
		}
	}
	if got, _ := metricValue(rm, "session.cleanup.removed"); got != 3 {
		t.Errorf("session.cleanup.removed = %d; want 3", got)
	}
}

// The memory engine's counters are reported as observable instruments,
// equal to its Stats, named by container.
func TestTelemetryMemoryEngine(t *testing.T) {
	h := newOtelHarness(t)
	cfg := kvcache.DefaultConfig()
	cfg.Backends = map[string]kvcache.BackendConfig{"default": {Type: "memory", MaxSize: 4 << 10}}
	kv, err := kvcache.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	c, err := kv.Container("session")
	if err != nil {
		t.Fatal(err)
	}
	mem, ok := c.Backend().(*kvcache.Memory)
	if !ok {
		t.Fatalf("backend %T; want *kvcache.Memory", c.Backend())
	}
	m := newManager(t, backends.NewKVStore(c), nil, h.options()...)
	app := telemetryHandler(t, m)
	for range 100 {
		hit(app, context.Background(), "/init", "")
	}
	var rm metricdata.ResourceMetrics
	var st kvcache.MemoryStats
	for range 10 { // the engine may still settle: read both at a quiet moment
		before := mem.Stats()
		rm = h.collect(t)
		if st = mem.Stats(); st == before {
			break
		}
	}
	if st.Evictions == 0 {
		t.Fatalf("no evictions in a 4KiB engine after 100 sessions: %+v", st)
	}
	container := attribute.String("session.kvcache.container", "session")
	for name, want := range map[string]int64{
		"session.kvcache.memory.evictions": int64(st.Evictions),
		"session.kvcache.memory.refusals":  int64(st.NotStored),
		"session.kvcache.memory.entries":   st.Entries,
		"session.kvcache.memory.usage":     st.UsedBytes,
		"session.kvcache.memory.limit":     st.MaxSize,
	} {
		if got, found := metricValue(rm, name, container); !found || got != want {
			t.Errorf("%s = %d (reported: %v); want %d", name, got, found, want)
		}
	}
	if _, found := metricValue(rm, "session.kvcache.redis.client_cache.hits"); found {
		t.Error("Redis client-cache metrics reported without a Redis engine")
	}
}

// With fx, the module picks up the app's providers (optional
// dependencies).
func TestTelemetryModule(t *testing.T) {
	h := newOtelHarness(t)
	var mw session.HTTPMiddleware
	app := fx.New(fx.NopLogger,
		session.Module,
		fx.Provide(
			fx.Annotate(func() *sdkmetric.MeterProvider { return h.mp }, fx.As(new(metric.MeterProvider))),
			fx.Annotate(func() *sdktrace.TracerProvider { return h.tp }, fx.As(new(trace.TracerProvider))),
		),
		fx.Populate(&mw),
	)
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = app.Stop(context.Background()) }()
	handler := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := session.From(r.Context())
		if err == nil {
			err = s.Set("k", "v")
		}
		if err != nil {
			t.Error(err)
		}
	}))
	handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	rm := h.collect(t)
	if got, _ := metricValue(rm, "session.created"); got != 1 {
		t.Errorf("session.created = %d; want 1", got)
	}
	if got, _ := metricValue(rm, "session.kvcache.memory.limit"); got <= 0 {
		t.Errorf("session.kvcache.memory.limit = %d; want the engine's max_size", got)
	}
	if n := len(h.spans.GetSpans()); n != 1 {
		t.Errorf("%d spans; want 1 (session.save)", n)
	}
	// Stopping the app unregisters the engines' callback: a provider that
	// outlives the app does not keep reading a closed store.
	if err := app.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, found := metricValue(h.collect(t), "session.kvcache.memory.limit"); found {
		t.Error("the memory engine is still observed after the app stopped")
	}
}

// A session ended by an admin or by its user from another session
// (DestroyStored, behind the revoke calls) is counted as revoked.
func TestTelemetryCountsRevoked(t *testing.T) {
	h := newOtelHarness(t)
	_, st := newKV(t)
	m := newManager(t, st, nil, h.options()...)
	id := writeSession(t, m, map[string]any{"a": 1})
	if err := m.DestroyStored(context.Background(), m.StorageID(id)); err != nil {
		t.Fatal(err)
	}
	rm := h.collect(t)
	if got, _ := metricValue(rm, "session.ended", attribute.String("session.end_reason", "revoked")); got != 1 {
		t.Errorf("session.ended{revoked} = %d; want 1", got)
	}
	if got, _ := metricValue(rm, "session.store.operations", opAttrs("delete", "ok")...); got != 1 {
		t.Errorf("session.store.operations{delete, ok} = %d; want 1", got)
	}
}

// A layered store reports the memory engines of its front and of its back.
func TestTelemetryLayeredEngines(t *testing.T) {
	h := newOtelHarness(t)
	cfg := kvcache.Config{
		Backends:   map[string]kvcache.BackendConfig{"a": {Type: "memory"}, "b": {Type: "memory"}},
		Containers: map[string]kvcache.ContainerConfig{"front": {Backend: "a"}, "session": {Backend: "b"}},
	}
	kv, err := kvcache.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	front, err := kv.Container("front")
	if err != nil {
		t.Fatal(err)
	}
	back, err := kv.Container("session")
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, layered.New(front, backends.NewKVStore(back)), nil, h.options()...)
	hit(telemetryHandler(t, m), context.Background(), "/init", "")
	rm := h.collect(t)
	for _, c := range []string{"front", "session"} {
		if got, found := metricValue(rm, "session.kvcache.memory.entries", attribute.String("session.kvcache.container", c)); !found || got != 1 {
			t.Errorf("session.kvcache.memory.entries{%s} = %d (reported: %v); want 1", c, got, found)
		}
	}
}
