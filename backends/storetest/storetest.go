// Package storetest is the contract test suite every session store runs: a
// new store proves itself by passing it.
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) backends.Store {
//			s := mystore.New(freshTable(t))
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Run tests a server-side backends.Store: the core contract (Load, Save,
// Delete, Touch) always, and each optional capability the store implements
// (found as backends.As finds it): Describer (Info), Setupper, Exister,
// Iterator, Sweeper (the DeleteOlderThan subtest) and Renewer (the renewal
// subtests). A subtest of a capability the store lacks is skipped with a
// message naming the interface; checks of a capability inside other
// subtests (Exists after a delete, say) are left out. RunClient tests a
// client-side backends.ClientStore (Open and Seal).
//
// Run calls newStore once per subtest and calls backends.Setup on every
// store it gets. Ids are random UUIDs and every check filters on them, so
// stores over a shared backend work; still, give each call a fresh
// namespace (table, key prefix) where you can: the DeleteOlderThan subtest
// deletes every old session it finds.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessionfx/session/backends"
)

// Option adapts the suite to what a store legitimately cannot do.
type Option func(*config)

type config struct {
	skipIterate, skipDeleteOlderThan, skipTouch, lastWriteWins bool
	precision                                                  time.Duration
	concurrency                                                int
	skip                                                       []string
	ignoreKeys                                                 []string
}

// SkipIterate skips the Iterate checks of a store that implements
// backends.Iterator but returns ErrUnsupported (one whose ability depends on
// what it wraps). A store that is no Iterator needs no option.
func SkipIterate() Option { return func(c *config) { c.skipIterate = true } }

// SkipDeleteOlderThan skips the DeleteOlderThan checks of a store that
// implements backends.Sweeper but returns ErrUnsupported. A store that is no
// Sweeper needs no option.
func SkipDeleteOlderThan() Option { return func(c *config) { c.skipDeleteOlderThan = true } }

// SkipTouch skips the Touch checks (Touch is core: say in a comment next
// to the call why the store cannot honour it).
func SkipTouch() Option { return func(c *config) { c.skipTouch = true } }

// LastWriteWins declares that Save does not merge concurrent changes
// (Info().Merges is false): the concurrent test then only checks that every
// save succeeds and one of them is stored.
func LastWriteWins() Option { return func(c *config) { c.lastWriteWins = true } }

// TimePrecision declares the granularity of the store's timestamps (default
// 1ms), e.g. time.Second for MySQL DATETIME without fractions. Time
// comparisons allow that much error, and the waits of the expiry and
// DeleteOlderThan checks grow with it.
func TimePrecision(d time.Duration) Option { return func(c *config) { c.precision = d } }

// Concurrency sets how many goroutines the concurrent-merge check runs
// (default 50).
func Concurrency(n int) Option { return func(c *config) { c.concurrency = n } }

// Skip skips the named subtests (e.g. "Expiry"), for a store-specific gap the
// other options do not describe. Say why in a comment next to the call.
func Skip(names ...string) Option { return func(c *config) { c.skip = append(c.skip, names...) } }

// IgnoreKeys names keys the store itself adds to every session (e.g. a
// non-nullable typed column with a default): data comparisons ignore them
// unless the test set them.
func IgnoreKeys(keys ...string) Option {
	return func(c *config) { c.ignoreKeys = append(c.ignoreKeys, keys...) }
}

type suite struct {
	config
	newStore func(t *testing.T) backends.Store
}

// Run runs the Store contract, and the contract of every capability the
// store implements, against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) backends.Store, opts ...Option) {
	s := &suite{config: config{precision: time.Millisecond, concurrency: 50}, newStore: newStore}
	for _, o := range opts {
		o(&s.config)
	}
	for _, tc := range []struct {
		name string
		skip bool
		fn   func(*testing.T)
	}{
		{"Setup", false, s.testSetup},
		{"LoadMissing", false, s.testLoadMissing},
		{"SaveCreates", false, s.testSaveCreates},
		{"RoundTrip", false, s.testRoundTrip},
		{"Merge", false, s.testMerge},
		{"Created", false, s.testCreated},
		{"Meta", false, s.testMeta},
		{"Updated", false, s.testUpdated},
		{"Expiry", false, s.testExpiry},
		{"Touch", s.skipTouch, s.testTouch},
		{"Delete", false, s.testDelete},
		{"ConcurrentMerge", false, s.testConcurrent},
		{"SaveNewOnTakenID", false, s.testSaveNewTaken},
		{"StaleBase", false, s.testStaleBase},
		{"ConcurrentBase", false, s.testConcurrentBase},
		{"EndedStaysEnded", false, s.testEndedStaysEnded},
		{"SaveAfterRenew", false, s.testSaveAfterRenew},
		{"ConcurrentDelete", false, s.testConcurrentDelete},
		{"ConcurrentRenew", false, s.testConcurrentRenew},
		{"RenewRacingDelete", false, s.testRenewRacingDelete},
		{"Iterate", s.skipIterate, s.testIterate},
		{"DeleteOlderThan", s.skipDeleteOlderThan, s.testDeleteOlderThan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip || slices.Contains(s.skip, tc.name) {
				t.Skip("skipped by a storetest option")
			}
			tc.fn(t)
		})
	}
}

func (s *suite) store(t *testing.T) backends.Store {
	t.Helper()
	st := s.newStore(t)
	if err := backends.Setup(t.Context(), st); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return st
}

// exister returns st's Exister, or false when it has none.
func exister(st backends.Store) (backends.Exister, bool) {
	return backends.As[backends.Exister](st)
}

// iterator returns st's Iterator, or false when it has none or the suite
// was told to skip Iterate.
func (s *suite) iterator(st backends.Store) (backends.Iterator, bool) {
	if s.skipIterate {
		return nil, false
	}
	return backends.As[backends.Iterator](st)
}

// need returns st's T or skips the test, naming the missing interface.
func need[T any](t *testing.T, st backends.Store, iface string) T {
	t.Helper()
	c, ok := backends.As[T](st)
	if !ok {
		t.Skipf("%T does not implement backends.%s (an optional capability)", st, iface)
	}
	return c
}

func newID() string { return uuid.NewString() }

func set(kv ...any) backends.Changes {
	ch := backends.Changes{Set: map[string]any{}}
	for i := 0; i < len(kv); i += 2 {
		ch.Set[kv[i].(string)] = kv[i+1]
	}
	return ch
}

func hour() backends.SaveOptions {
	return backends.SaveOptions{Expires: time.Now().Add(time.Hour)}
}

// fresh is hour() for the save that creates a session: only a New save may.
func fresh() backends.SaveOptions {
	opt := hour()
	opt.New = true
	return opt
}

func mustSave(t *testing.T, st backends.Store, id string, ch backends.Changes, opt backends.SaveOptions) *backends.Record {
	t.Helper()
	r, err := st.Save(t.Context(), id, ch, opt)
	if err != nil {
		t.Fatalf("Save(%v): %v", ch, err)
	}
	if r == nil {
		t.Fatalf("Save(%v) returned a nil record and no error", ch)
	}
	return r
}

func mustLoad(t *testing.T, st backends.Store, id string) *backends.Record {
	t.Helper()
	r, err := st.Load(t.Context(), id)
	if err != nil {
		t.Fatalf("Load of a saved session: %v", err)
	}
	if r.ID != id {
		t.Fatalf("Load returned ID %q, want %q", r.ID, id)
	}
	return r
}

func (s *suite) wantData(t *testing.T, what string, want map[string]any, got *backends.Record) {
	t.Helper()
	data := got.Data
	if len(s.ignoreKeys) > 0 {
		data = make(map[string]any, len(got.Data))
		for k, v := range got.Data {
			if _, set := want[k]; set || !slices.Contains(s.ignoreKeys, k) {
				data[k] = v
			}
		}
	}
	if d := Diff(want, data); d != "" {
		t.Fatalf("%s: data differs: %s", what, d)
	}
}

func wantNotFound(t *testing.T, st backends.Store, id, what string) {
	t.Helper()
	r, err := st.Load(t.Context(), id)
	if !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("%s: Load = %+v, %v; want ErrNotFound", what, r, err)
	}
	if ex, ok := exister(st); ok {
		if ok, err := ex.Exists(t.Context(), id); err != nil || ok {
			t.Fatalf("%s: Exists = %v, %v; want false", what, ok, err)
		}
	}
}

// within checks that got lies in [lo-tol, hi+tol].
func within(t *testing.T, what string, got, lo, hi time.Time, tol time.Duration) {
	t.Helper()
	if got.Before(lo.Add(-tol)) || got.After(hi.Add(tol)) {
		t.Fatalf("%s = %s, want between %s and %s (±%s)", what, got.Format(time.RFC3339Nano), lo.Format(time.RFC3339Nano), hi.Format(time.RFC3339Nano), tol)
	}
}

// expTol is the tolerance on expiries: stores may derive them from a TTL
// that a server counts down.
func (s *suite) expTol() time.Duration { return s.precision + 250*time.Millisecond }

// testSetup: Setup (when the store is a Setupper) is idempotent, and what
// the store declares (Info, or the default backends.InfoOf gives a store
// without it) matches the suite's options.
func (s *suite) testSetup(t *testing.T) {
	st := s.store(t)
	if err := backends.Setup(t.Context(), st); err != nil {
		t.Fatalf("second Setup: %v (Setup must be idempotent)", err)
	}
	info := backends.InfoOf(st)
	if info.Name == "" {
		t.Fatalf("Info().Name is empty")
	}
	if s.lastWriteWins == info.Merges {
		t.Fatalf("Info().Merges = %v, but the suite was told LastWriteWins = %v (a store that does not merge must say so with Info)", info.Merges, s.lastWriteWins)
	}
}

func (s *suite) testLoadMissing(t *testing.T) {
	st := s.store(t)
	wantNotFound(t, st, newID(), "never-saved id")
	if !s.skipTouch {
		if err := st.Touch(t.Context(), newID(), time.Now().Add(time.Hour)); !errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("Touch of a never-saved id: %v, want ErrNotFound", err)
		}
	}
}

func (s *suite) testSaveCreates(t *testing.T) {
	st := s.store(t)
	id := newID()
	exp := time.Now().Add(time.Hour)
	before := time.Now()
	r := mustSave(t, st, id, set("a", int64(1)), backends.SaveOptions{Expires: exp, New: true})
	after := time.Now()
	if r.ID != id {
		t.Fatalf("Save returned ID %q, want %q", r.ID, id)
	}
	s.wantData(t, "Save result", map[string]any{"a": int64(1)}, r)
	within(t, "Created", r.Created, before, after, s.precision)
	within(t, "Updated", r.Updated, before, after, s.precision)
	within(t, "Expires", r.Expires, exp, exp, s.precision)

	got := mustLoad(t, st, id)
	s.wantData(t, "Load", map[string]any{"a": int64(1)}, got)
	within(t, "loaded Created", got.Created, r.Created, r.Created, s.precision)
	within(t, "loaded Updated", got.Updated, r.Updated, r.Updated, s.precision)
	within(t, "loaded Expires", got.Expires, exp, exp, s.expTol())
	if ex, ok := exister(st); ok {
		if ok, err := ex.Exists(t.Context(), id); err != nil || !ok {
			t.Fatalf("Exists of a saved session = %v, %v; want true", ok, err)
		}
	}

	// No expiry at all.
	id2 := newID()
	mustSave(t, st, id2, set("b", "x"), backends.SaveOptions{New: true})
	if got := mustLoad(t, st, id2); !got.Expires.IsZero() {
		t.Fatalf("saved without expiry, loaded Expires = %s, want zero", got.Expires)
	}
}

// Canonical returns a session data map holding every canonical kind,
// nested, including user maps whose keys look like codec tags.
func Canonical() map[string]any {
	tm := time.Date(2024, 3, 5, 7, 8, 9, 123456000, time.UTC)
	return map[string]any{
		"nil":     nil,
		"bool":    true,
		"int":     int64(5),
		"bigint":  int64(math.MaxInt64),
		"negint":  int64(math.MinInt64),
		"float5":  5.0,
		"float":   -0.125,
		"string":  "héllo \"wörld\" \n\t 😀",
		"empty":   "",
		"bytes":   []byte{0, 1, 0xfe, 0xff},
		"time":    tm,
		"list":    []any{int64(1), "two", 3.5, nil, []any{}, map[string]any{"x": false}},
		"map":     map[string]any{"inner": map[string]any{"list": []any{tm, []byte("b")}}, "empty": map[string]any{}},
		"tagLike": map[string]any{"$t": "not a time"},
	}
}

func (s *suite) testRoundTrip(t *testing.T) {
	st := s.store(t)
	id := newID()
	data := Canonical()
	r := mustSave(t, st, id, backends.Changes{Set: data}, fresh())
	s.wantData(t, "Save result", Canonical(), r)
	got := mustLoad(t, st, id)
	s.wantData(t, "Load", Canonical(), got)
	if _, ok := got.Data["int"].(int64); !ok {
		t.Fatalf("int64 came back as %T", got.Data["int"])
	}
	if _, ok := got.Data["float5"].(float64); !ok {
		t.Fatalf("float64 5.0 came back as %T", got.Data["float5"])
	}
	// One key at a time, so a store with typed columns is exercised per kind.
	for k, v := range Canonical() {
		id := newID()
		mustSave(t, st, id, set(k, v), fresh())
		s.wantData(t, "Load of key "+k, map[string]any{k: v}, mustLoad(t, st, id))
	}
}

func (s *suite) testMerge(t *testing.T) {
	st := s.store(t)
	id := newID()
	mustSave(t, st, id, set("a", int64(1)), fresh())
	r := mustSave(t, st, id, set("b", "two"), hour())
	if !s.lastWriteWins {
		s.wantData(t, "Save result after set a, set b", map[string]any{"a": int64(1), "b": "two"}, r)
		s.wantData(t, "Load after set a, set b", map[string]any{"a": int64(1), "b": "two"}, mustLoad(t, st, id))
	}
	mustSave(t, st, id, set("a", int64(1), "b", "two", "c", 3.0), hour())
	r = mustSave(t, st, id, backends.Changes{Delete: []string{"a", "never-there"}, Set: map[string]any{"b": "2"}}, hour())
	s.wantData(t, "Save result after delete a, set b", map[string]any{"b": "2", "c": 3.0}, r)
	s.wantData(t, "Load after delete a, set b", map[string]any{"b": "2", "c": 3.0}, mustLoad(t, st, id))
	r = mustSave(t, st, id, backends.Changes{Clear: true, Set: map[string]any{"d": false}}, hour())
	s.wantData(t, "Save result after clear, set d", map[string]any{"d": false}, r)
	s.wantData(t, "Load after clear, set d", map[string]any{"d": false}, mustLoad(t, st, id))
	r = mustSave(t, st, id, backends.Changes{Clear: true}, hour())
	s.wantData(t, "Save result after clear", map[string]any{}, r)
	s.wantData(t, "Load after clear", map[string]any{}, mustLoad(t, st, id))
}

func (s *suite) testCreated(t *testing.T) {
	st := s.store(t)
	id := newID()
	created := time.Now().Add(-time.Hour).Truncate(time.Second)
	r := mustSave(t, st, id, set("a", int64(1)), backends.SaveOptions{Expires: time.Now().Add(time.Hour), Created: created, New: true})
	within(t, "Created from SaveOptions.Created", r.Created, created, created, s.precision)
	r = mustSave(t, st, id, set("b", int64(2)), backends.SaveOptions{Expires: time.Now().Add(time.Hour), Created: time.Now()})
	within(t, "Created after a second save", r.Created, created, created, s.precision)
	within(t, "loaded Created", mustLoad(t, st, id).Created, created, created, s.precision)
}

// testMeta: the Meta a session is created with is stored beside its data,
// kept by later saves (whatever Meta they carry) and by a renewal.
func (s *suite) testMeta(t *testing.T) {
	st := s.store(t)
	id := newID()
	meta := backends.Meta{UserAgent: "Mozilla/5.0 (X11) \"q\" é", IP: "2001:db8::7"}
	opt := fresh()
	opt.Meta = meta
	r := mustSave(t, st, id, set("a", int64(1)), opt)
	if r.Meta != meta {
		t.Fatalf("Save returned Meta %+v, want %+v", r.Meta, meta)
	}
	later := hour()
	later.Meta = backends.Meta{UserAgent: "someone else"}
	if r := mustSave(t, st, id, set("b", int64(2)), later); r.Meta != meta {
		t.Fatalf("a later save returned Meta %+v, want the creating one %+v", r.Meta, meta)
	}
	if got := mustLoad(t, st, id).Meta; got != meta {
		t.Fatalf("loaded Meta %+v, want %+v", got, meta)
	}
	rn, ok := backends.As[backends.Renewer](st)
	if !ok {
		return
	}
	to := newID()
	if _, err := rn.Renew(t.Context(), id, to, set("c", int64(3)), hour(), time.Second); err != nil {
		if errors.Is(err, backends.ErrUnsupported) {
			return
		}
		t.Fatalf("Renew: %v", err)
	}
	if got := mustLoad(t, st, to).Meta; got != meta {
		t.Fatalf("renewed session's Meta %+v, want %+v", got, meta)
	}
}

func (s *suite) testUpdated(t *testing.T) {
	st := s.store(t)
	id := newID()
	first := mustSave(t, st, id, set("a", int64(1)), fresh())
	time.Sleep(2*s.precision + 10*time.Millisecond)
	before := time.Now()
	second := mustSave(t, st, id, set("a", int64(2)), hour())
	if !second.Updated.After(first.Updated) {
		t.Fatalf("Updated did not advance: %s then %s", first.Updated.Format(time.RFC3339Nano), second.Updated.Format(time.RFC3339Nano))
	}
	within(t, "Updated", second.Updated, before, time.Now(), s.precision)
	within(t, "loaded Updated", mustLoad(t, st, id).Updated, second.Updated, second.Updated, s.precision)
	if !second.Created.Equal(first.Created) {
		t.Fatalf("Created changed across saves: %s then %s", first.Created, second.Created)
	}
}

func (s *suite) testExpiry(t *testing.T) {
	st := s.store(t)
	lead := 300*time.Millisecond + 2*s.precision
	id := newID()
	exp := time.Now().Add(lead)
	mustSave(t, st, id, set("a", int64(1)), backends.SaveOptions{Expires: exp, New: true})
	mustLoad(t, st, id)
	if ex, ok := exister(st); ok {
		if ok, err := ex.Exists(t.Context(), id); err != nil || !ok {
			t.Fatalf("Exists before expiry = %v, %v; want true", ok, err)
		}
	}
	time.Sleep(time.Until(exp) + s.precision + 100*time.Millisecond)
	wantNotFound(t, st, id, "after expiry")
	if it, ok := s.iterator(st); ok {
		if seen := collect(t, it, id); len(seen) != 0 {
			t.Fatalf("Iterate returned an expired session")
		}
	}
	if !s.skipTouch {
		if err := st.Touch(t.Context(), id, time.Now().Add(time.Hour)); !errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("Touch of an expired session: %v, want ErrNotFound", err)
		}
		wantNotFound(t, st, id, "after touching an expired session")
	}

	// A save whose expiry is already past stores nothing live.
	id2 := newID()
	r, err := st.Save(t.Context(), id2, set("a", int64(1)), backends.SaveOptions{Expires: time.Now().Add(-time.Minute), New: true})
	if err != nil {
		t.Fatalf("Save with a past expiry: %v", err)
	}
	if r == nil || !r.Expired(time.Now()) {
		t.Fatalf("Save with a past expiry returned %+v, want the expired record", r)
	}
	wantNotFound(t, st, id2, "saved with a past expiry")
}

func (s *suite) testTouch(t *testing.T) {
	st := s.store(t)
	id := newID()
	mustSave(t, st, id, set("a", int64(1)), backends.SaveOptions{Expires: time.Now().Add(300*time.Millisecond + 2*s.precision), New: true})
	exp := time.Now().Add(time.Hour)
	if err := st.Touch(t.Context(), id, exp); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	time.Sleep(400*time.Millisecond + 3*s.precision)
	got := mustLoad(t, st, id)
	within(t, "Expires after Touch", got.Expires, exp, exp, s.expTol())
	s.wantData(t, "Load after Touch", map[string]any{"a": int64(1)}, got)

	// Touch can also shorten.
	short := time.Now().Add(300*time.Millisecond + 2*s.precision)
	if err := st.Touch(t.Context(), id, short); err != nil {
		t.Fatalf("Touch to a nearer expiry: %v", err)
	}
	time.Sleep(time.Until(short) + s.precision + 100*time.Millisecond)
	wantNotFound(t, st, id, "after Touch to a nearer expiry passed")
}

func (s *suite) testDelete(t *testing.T) {
	st := s.store(t)
	id, other := newID(), newID()
	mustSave(t, st, id, set("a", int64(1)), fresh())
	mustSave(t, st, other, set("a", int64(2)), fresh())
	if err := st.Delete(t.Context(), id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, st, id, "after Delete")
	s.wantData(t, "the other session after Delete", map[string]any{"a": int64(2)}, mustLoad(t, st, other))
	if err := st.Delete(t.Context(), id); err != nil {
		t.Fatalf("Delete of a deleted session: %v, want nil", err)
	}
	if err := st.Delete(t.Context(), newID()); err != nil {
		t.Fatalf("Delete of a never-saved id: %v, want nil", err)
	}
	// A deleted session stays deleted: a save that is not New (a request
	// that loaded it before the Delete) writes nothing.
	if r, err := st.Save(t.Context(), id, set("b", int64(1)), hour()); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Save (not New) after Delete = %+v, %v; want ErrNotFound and nothing written", r, err)
	}
	wantNotFound(t, st, id, "after a save that followed Delete")
}

func (s *suite) testConcurrent(t *testing.T) {
	st := s.store(t)
	id := newID()
	mustSave(t, st, id, set("start", true), fresh())
	n := s.concurrency
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, err := st.Save(context.WithoutCancel(t.Context()), id, set(fmt.Sprintf("k%02d", i), int64(i)), hour())
			if err != nil {
				errs <- fmt.Errorf("goroutine %d: %w", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Save: %v", err)
	}
	if t.Failed() {
		return
	}
	got := mustLoad(t, st, id)
	if s.lastWriteWins {
		n := 0
		for k := range got.Data {
			if !slices.Contains(s.ignoreKeys, k) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("last write wins: want exactly one key, got %d", n)
		}
		return
	}
	want := map[string]any{"start": true}
	for i := range n {
		want[fmt.Sprintf("k%02d", i)] = int64(i)
	}
	s.wantData(t, fmt.Sprintf("after %d concurrent saves of distinct keys", n), want, got)
}

// testSaveNewTaken: SaveOptions.New lets a store skip reading, but an id
// that exists after all must still be merged, never overwritten.
func (s *suite) testSaveNewTaken(t *testing.T) {
	st := s.store(t)
	id := newID()
	opt := hour()
	opt.New = true
	r := mustSave(t, st, id, set("a", int64(1)), opt)
	s.wantData(t, "Save with New on a fresh id", map[string]any{"a": int64(1)}, r)
	mustSave(t, st, id, set("b", "two"), opt)
	if !s.lastWriteWins {
		s.wantData(t, "Save with New on a taken id", map[string]any{"a": int64(1), "b": "two"}, mustLoad(t, st, id))
	}
}

// testStaleBase: a Base loaded before another save moved the record must not
// lose that save.
func (s *suite) testStaleBase(t *testing.T) {
	if s.lastWriteWins {
		t.Skip("last write wins")
	}
	st := s.store(t)
	id := newID()
	mustSave(t, st, id, set("a", int64(1)), fresh())
	base := mustLoad(t, st, id)
	opt := hour()
	opt.Base = base
	r := mustSave(t, st, id, set("b", "two"), opt) // base is current
	s.wantData(t, "Save on a current base", map[string]any{"a": int64(1), "b": "two"}, r)
	// base is now stale: the save of b moved the record.
	mustSave(t, st, id, set("c", 3.0), opt)
	s.wantData(t, "Save on a stale base", map[string]any{"a": int64(1), "b": "two", "c": 3.0}, mustLoad(t, st, id))
	opt.Base = mustLoad(t, st, id)
	mustSave(t, st, id, backends.Changes{Delete: []string{"a"}}, opt)
	s.wantData(t, "delete on a current base", map[string]any{"b": "two", "c": 3.0}, mustLoad(t, st, id))
}

// testConcurrentBase: like ConcurrentMerge, but every writer passes the
// same loaded record as Base, as concurrent requests do.
func (s *suite) testConcurrentBase(t *testing.T) {
	if s.lastWriteWins {
		t.Skip("last write wins")
	}
	st := s.store(t)
	id := newID()
	mustSave(t, st, id, set("start", true), fresh())
	base := mustLoad(t, st, id)
	n := min(s.concurrency, 20)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			opt := hour()
			opt.Base = base
			if _, err := st.Save(context.WithoutCancel(t.Context()), id, set(fmt.Sprintf("k%02d", i), int64(i)), opt); err != nil {
				errs <- fmt.Errorf("goroutine %d: %w", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Save with a shared Base: %v", err)
	}
	want := map[string]any{"start": true}
	for i := range n {
		want[fmt.Sprintf("k%02d", i)] = int64(i)
	}
	s.wantData(t, "after concurrent saves sharing one Base", want, mustLoad(t, st, id))
}

// collect returns the records Iterate yields for the given ids.
func collect(t *testing.T, it backends.Iterator, ids ...string) map[string]backends.Record {
	t.Helper()
	seen := map[string]backends.Record{}
	err := it.Iterate(t.Context(), func(r backends.Record) error {
		if slices.Contains(ids, r.ID) {
			if _, dup := seen[r.ID]; dup {
				return fmt.Errorf("session %s yielded twice", r.ID)
			}
			seen[r.ID] = r
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Iterate: %v", err)
	}
	return seen
}

func (s *suite) testIterate(t *testing.T) {
	st := s.store(t)
	it := need[backends.Iterator](t, st, "Iterator")
	ids := []string{newID(), newID(), newID()}
	for i, id := range ids {
		mustSave(t, st, id, set("i", int64(i)), fresh())
	}
	seen := collect(t, it, ids...)
	if len(seen) != len(ids) {
		t.Fatalf("Iterate yielded %d of the %d saved sessions", len(seen), len(ids))
	}
	for i, id := range ids {
		r := seen[id]
		s.wantData(t, "Iterate record", map[string]any{"i": int64(i)}, &r)
		if r.Created.IsZero() || r.Updated.IsZero() || r.Expires.IsZero() {
			t.Fatalf("Iterate record has zero times: %+v", r)
		}
	}

	errStop := errors.New("stop")
	calls := 0
	err := it.Iterate(t.Context(), func(backends.Record) error {
		calls++
		return errStop
	})
	if !errors.Is(err, errStop) || calls != 1 {
		t.Fatalf("Iterate with fn returning an error: err = %v after %d calls; want that error after 1 call", err, calls)
	}
}

func (s *suite) testDeleteOlderThan(t *testing.T) {
	st := s.store(t)
	sw := need[backends.Sweeper](t, st, "Sweeper")
	age := 200*time.Millisecond + 2*s.precision
	old, kept := newID(), newID()
	mustSave(t, st, old, set("a", int64(1)), backends.SaveOptions{New: true})
	mustSave(t, st, kept, set("a", int64(1)), fresh())
	time.Sleep(age + s.precision + 50*time.Millisecond)
	fresh := newID()
	mustSave(t, st, fresh, set("a", int64(1)), backends.SaveOptions{New: true})
	if !s.skipTouch {
		// A session kept alive by Touch (reads, no writes) is not old.
		if err := st.Touch(t.Context(), kept, time.Now().Add(2*time.Hour)); err != nil {
			t.Fatalf("Touch: %v", err)
		}
	} else {
		mustSave(t, st, kept, set("b", int64(2)), hour())
	}
	n, err := sw.DeleteOlderThan(t.Context(), age)
	if err != nil {
		t.Fatalf("DeleteOlderThan: %v", err)
	}
	if n < 1 {
		t.Fatalf("DeleteOlderThan returned %d, want at least 1 (the old session)", n)
	}
	wantNotFound(t, st, old, "old session after DeleteOlderThan")
	mustLoad(t, st, fresh)
	mustLoad(t, st, kept)
}

// lifecycleTrials is how often each race around a delete or a renew is run:
// 20 trials found every such race known so far.
const lifecycleTrials = 20

// testEndedStaysEnded: once a session is deleted or has expired, a save
// from a request that loaded it before (with or without its Base) writes
// nothing and reports ErrNotFound; the id never loads again.
func (s *suite) testEndedStaysEnded(t *testing.T) {
	st := s.store(t)
	id := newID()
	mustSave(t, st, id, set("a", int64(1)), fresh())
	base := mustLoad(t, st, id)
	if err := st.Delete(t.Context(), id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for _, withBase := range []bool{true, false} {
		opt := hour()
		if withBase {
			opt.Base = base
		}
		if r, err := st.Save(t.Context(), id, set("b", int64(2)), opt); !errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("Save (Base %v) after Delete = %+v, %v; want ErrNotFound", withBase, r, err)
		}
		wantNotFound(t, st, id, "after a save that followed Delete")
	}

	// Expiry ends a session the same way.
	id = newID()
	exp := time.Now().Add(300*time.Millisecond + 2*s.precision)
	mustSave(t, st, id, set("a", int64(1)), backends.SaveOptions{Expires: exp, New: true})
	base = mustLoad(t, st, id)
	time.Sleep(time.Until(exp) + s.precision + 100*time.Millisecond)
	for _, withBase := range []bool{true, false} {
		opt := hour()
		if withBase {
			opt.Base = base
		}
		if r, err := st.Save(t.Context(), id, set("b", int64(2)), opt); !errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("Save (Base %v) after expiry = %+v, %v; want ErrNotFound", withBase, r, err)
		}
		wantNotFound(t, st, id, "after a save that followed expiry")
	}
}

func (s *suite) renewer(t *testing.T) (backends.Store, backends.Renewer) {
	t.Helper()
	st := s.store(t)
	rn, ok := backends.As[backends.Renewer](st)
	if !ok {
		t.Skipf("%T does not implement backends.Renewer (an optional capability): renewal is a save and a delete, and saves in flight are dropped", st)
	}
	return st, rn
}

// testSaveAfterRenew: Renew moves the session; the old id never loads
// again, and a save with a Base from before is told where the session
// went (and writes nothing under the old id) until the grace ends.
func (s *suite) testSaveAfterRenew(t *testing.T) {
	st, rn := s.renewer(t)
	from, to := newID(), newID()
	mustSave(t, st, from, set("a", int64(1), "b", "two"), fresh())
	base := mustLoad(t, st, from)
	mustSave(t, st, from, set("c", 3.0), hour()) // lands before the renew: kept
	r, err := rn.Renew(t.Context(), from, to, set("user", "alice"), hour(), time.Minute)
	if err != nil {
		t.Fatalf("Renew: %v", err)
	}
	want := map[string]any{"a": int64(1), "b": "two", "c": 3.0, "user": "alice"}
	if r.ID != to {
		t.Fatalf("Renew returned ID %q, want the new id", r.ID)
	}
	s.wantData(t, "Renew result", want, r)
	s.wantData(t, "Load of the new id", want, mustLoad(t, st, to))
	if r.Created.Sub(base.Created).Abs() > s.precision {
		t.Fatalf("Renew changed Created from %s to %s (the absolute lifetime must hold)", base.Created, r.Created)
	}
	wantNotFound(t, st, from, "old id after Renew")
	if _, err := st.Load(t.Context(), from); !errors.Is(err, backends.ErrMoved) {
		t.Fatalf("Load of a renewed id: %v; want an error matching both ErrNotFound and ErrMoved", err)
	}
	for _, withBase := range []bool{true, false} {
		opt := hour()
		if withBase {
			opt.Base = base
		}
		_, err := st.Save(t.Context(), from, set("late", withBase), opt)
		var moved *backends.MovedError
		if !errors.As(err, &moved) || moved.To != to {
			t.Fatalf("Save (Base %v) on the renewed id: %v; want a *MovedError to the new id", withBase, err)
		}
		wantNotFound(t, st, from, "old id after a save on it")
	}
	mustSave(t, st, to, set("late", true), hour())
	want["late"] = true
	s.wantData(t, "new id after a forwarded save", want, mustLoad(t, st, to))
	if it, ok := s.iterator(st); ok {
		if seen := collect(t, it, from, to); len(seen) != 1 {
			t.Fatalf("Iterate yielded %d of {old id, new id}; want only the new id", len(seen))
		}
	}
	// Renewing again from the old id, or from an id never saved, fails and
	// writes nothing.
	for _, src := range []string{from, newID()} {
		dst := newID()
		if _, err := rn.Renew(t.Context(), src, dst, set("x", int64(1)), hour(), time.Minute); !errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("Renew of a session that is not live: %v; want ErrNotFound", err)
		}
		wantNotFound(t, st, dst, "new id of a failed Renew")
	}

	// After the grace, the old id is simply gone.
	from, to = newID(), newID()
	mustSave(t, st, from, set("a", int64(1)), fresh())
	grace := 300*time.Millisecond + 2*s.precision
	if _, err := rn.Renew(t.Context(), from, to, backends.Changes{}, hour(), grace); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	time.Sleep(grace + s.precision + 200*time.Millisecond)
	if _, err := st.Save(t.Context(), from, set("b", int64(2)), hour()); !errors.Is(err, backends.ErrNotFound) || errors.Is(err, backends.ErrMoved) {
		t.Fatalf("Save on a renewed id after the grace: %v; want ErrNotFound", err)
	}
	wantNotFound(t, st, from, "old id after the grace")
	s.wantData(t, "new id after the grace", map[string]any{"a": int64(1)}, mustLoad(t, st, to))
}

// racers runs n savers of distinct keys on id, each with the Base loaded
// before, and end (a Delete or a Renew) among them; every save must end in
// nil, ErrNotFound or a *MovedError, which the saver follows as the manager
// does. It returns the keys whose save was acknowledged.
func (s *suite) racers(t *testing.T, st backends.Store, id string, base *backends.Record, n int, end func() error) map[string]any {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked = map[string]any{}
		errs  []error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			ctx := context.WithoutCancel(t.Context())
			k := fmt.Sprintf("k%02d", i)
			opt := hour()
			if i%2 == 0 {
				opt.Base = base // half of them as requests do, half without
			}
			_, err := st.Save(ctx, id, set(k, int64(i)), opt)
			var moved *backends.MovedError
			for hop := 0; hop < 8 && errors.As(err, &moved); hop++ {
				_, err = st.Save(ctx, moved.To, set(k, int64(i)), hour())
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				acked[k] = int64(i)
			case errors.Is(err, backends.ErrNotFound) && !errors.Is(err, backends.ErrMoved):
			default:
				errs = append(errs, fmt.Errorf("saver %d: %w", i, err))
			}
		})
	}
	wg.Go(func() {
		<-start
		if err := end(); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	close(start)
	wg.Wait()
	for _, err := range errs {
		t.Errorf("%v", err)
	}
	if t.Failed() {
		t.FailNow()
	}
	return acked
}

// testConcurrentDelete: savers racing a Delete never bring the session back.
func (s *suite) testConcurrentDelete(t *testing.T) {
	st := s.store(t)
	for _, n := range []int{8, s.concurrency} {
		for trial := range lifecycleTrials {
			id := newID()
			mustSave(t, st, id, set("start", true), fresh())
			base := mustLoad(t, st, id)
			s.racers(t, st, id, base, n, func() error { return st.Delete(context.WithoutCancel(t.Context()), id) })
			r, err := st.Load(t.Context(), id)
			if !errors.Is(err, backends.ErrNotFound) {
				t.Fatalf("%d savers, trial %d: the deleted session loads again (%d keys, err %v)", n, trial, len(r.Data), err)
			}
			if ex, ok := exister(st); ok {
				if ok, err := ex.Exists(t.Context(), id); err != nil || ok {
					t.Fatalf("%d savers, trial %d: Exists of the deleted session = %v, %v", n, trial, ok, err)
				}
			}
		}
	}
}

// testConcurrentRenew: savers racing a Renew never bring the old id back,
// and every save they were told succeeded is in the renewed session.
func (s *suite) testConcurrentRenew(t *testing.T) {
	if s.lastWriteWins {
		t.Skip("last write wins: a save acknowledged before the renewal may be overwritten")
	}
	st, rn := s.renewer(t)
	for _, n := range []int{8, s.concurrency} {
		for trial := range lifecycleTrials {
			from, to := newID(), newID()
			mustSave(t, st, from, set("start", true), fresh())
			base := mustLoad(t, st, from)
			acked := s.racers(t, st, from, base, n, func() error {
				_, err := rn.Renew(context.WithoutCancel(t.Context()), from, to, set("user", "alice"), backends.SaveOptions{Expires: time.Now().Add(time.Hour), Base: base}, time.Minute)
				return err
			})
			if len(acked) != n {
				t.Fatalf("%d savers, trial %d: %d saves failed; within the grace every save must be kept", n, trial, n-len(acked))
			}
			if r, err := st.Load(t.Context(), from); !errors.Is(err, backends.ErrNotFound) {
				t.Fatalf("%d savers, trial %d: the renewed id loads again (%+v, %v)", n, trial, r, err)
			}
			got := mustLoad(t, st, to)
			var lost []string
			for k := range acked {
				if _, ok := got.Data[k]; !ok {
					lost = append(lost, k)
				}
			}
			if len(lost) > 0 || got.Data["user"] != "alice" || got.Data["start"] != true {
				t.Fatalf("%d savers, trial %d: acknowledged saves missing from the renewed session: %v (user %v, start %v)", n, trial, lost, got.Data["user"], got.Data["start"])
			}
		}
	}
}

// testRenewRacingDelete: a login (Renew) racing a logout (Delete) of the
// same session ends in one of two states, never a third: the renew lost
// (ErrNotFound, nothing under the new id) or it won (the new id holds the
// session); the old id never loads again either way.
func (s *suite) testRenewRacingDelete(t *testing.T) {
	st, rn := s.renewer(t)
	won, lost := 0, 0
	for trial := range lifecycleTrials {
		from, to := newID(), newID()
		mustSave(t, st, from, set("a", int64(1)), fresh())
		var renewErr, deleteErr error
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			_, renewErr = rn.Renew(context.WithoutCancel(t.Context()), from, to, set("user", "alice"), hour(), time.Minute)
		})
		wg.Go(func() {
			<-start
			// Vary who goes first so both orders and the overlaps occur.
			time.Sleep(time.Duration(trial%5) * 200 * time.Microsecond)
			deleteErr = st.Delete(context.WithoutCancel(t.Context()), from)
		})
		close(start)
		wg.Wait()
		if deleteErr != nil {
			t.Fatalf("trial %d: Delete: %v", trial, deleteErr)
		}
		if r, err := st.Load(t.Context(), from); !errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("trial %d: the old id loads after a renew raced a delete: %+v, %v", trial, r, err)
		}
		switch {
		case renewErr == nil:
			won++
			s.wantData(t, fmt.Sprintf("trial %d: the renewed session", trial), map[string]any{"a": int64(1), "user": "alice"}, mustLoad(t, st, to))
		case errors.Is(renewErr, backends.ErrNotFound):
			lost++
			wantNotFound(t, st, to, fmt.Sprintf("trial %d: the new id of a renew that lost to a delete", trial))
		default:
			t.Fatalf("trial %d: Renew racing Delete: %v; want nil or ErrNotFound", trial, renewErr)
		}
	}
	t.Logf("renew racing delete, %d trials: the renew won %d, lost %d", lifecycleTrials, won, lost)
}
