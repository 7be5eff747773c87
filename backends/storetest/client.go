package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionfx/session/backends"
)

// RunClient runs the ClientStore contract against stores made by newStore
// (once per subtest):
//
//   - Seal keeps a record whole: Open gives back its ID, data (every
//     canonical kind) and timestamps; a record without expiry never expires;
//   - a token whose sealed expiry has passed, a tampered token and anything
//     that is not a token open as an error wrapping backends.ErrNotFound
//     (never as another session, never as another error);
//   - a session too large for a cookie is refused by Seal with an error
//     wrapping backends.ErrTooLarge;
//   - the store declares (Info, or the default backends.InfoOf gives) that
//     it does not merge;
//   - Seal and Open are safe for concurrent use.
//
// Of the options, TimePrecision and Skip apply.
func RunClient(t *testing.T, newStore func(t *testing.T) backends.ClientStore, opts ...Option) {
	c := &clientSuite{config: config{precision: time.Millisecond}, newStore: newStore}
	for _, o := range opts {
		o(&c.config)
	}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Info", c.testInfo},
		{"RoundTrip", c.testRoundTrip},
		{"NoExpiry", c.testNoExpiry},
		{"Expiry", c.testExpiry},
		{"Tampered", c.testTampered},
		{"Garbage", c.testGarbage},
		{"TooLarge", c.testTooLarge},
		{"Concurrent", c.testConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if slices.Contains(c.skip, tc.name) {
				t.Skip("skipped by a storetest option")
			}
			tc.fn(t)
		})
	}
}

type clientSuite struct {
	config
	newStore func(t *testing.T) backends.ClientStore
}

func (c *clientSuite) record(data map[string]any, expires time.Time) *backends.Record {
	now := time.Now()
	return &backends.Record{ID: newID(), Data: data, Created: now.Add(-time.Minute), Updated: now, Expires: expires}
}

func mustSealRecord(t *testing.T, cs backends.ClientStore, rec *backends.Record) string {
	t.Helper()
	tok, err := cs.Seal(rec)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if tok == "" {
		t.Fatal("Seal returned an empty token and no error")
	}
	return tok
}

func mustOpen(t *testing.T, cs backends.ClientStore, tok string) *backends.Record {
	t.Helper()
	rec, err := cs.Open(tok)
	if err != nil {
		t.Fatalf("Open of a sealed token: %v", err)
	}
	if rec == nil {
		t.Fatal("Open returned a nil record and no error")
	}
	return rec
}

func wantNotOpen(t *testing.T, cs backends.ClientStore, tok, what string) {
	t.Helper()
	if rec, err := cs.Open(tok); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("%s: Open = %+v, %v; want an error wrapping ErrNotFound", what, rec, err)
	}
}

func (c *clientSuite) testInfo(t *testing.T) {
	cs := c.newStore(t)
	info := backends.InfoOf(cs)
	if info.Name == "" {
		t.Fatal("Info().Name is empty")
	}
	if info.Merges {
		t.Fatal("Info().Merges = true; a client-side store cannot merge concurrent requests")
	}
}

func (c *clientSuite) testRoundTrip(t *testing.T) {
	cs := c.newStore(t)
	exp := time.Now().Add(time.Hour)
	rec := c.record(Canonical(), exp)
	got := mustOpen(t, cs, mustSealRecord(t, cs, rec))
	if got.ID != rec.ID {
		t.Fatalf("Open returned ID %q, want the sealed %q", got.ID, rec.ID)
	}
	if d := Diff(Canonical(), got.Data); d != "" {
		t.Fatalf("Open: data differs: %s", d)
	}
	within(t, "Created", got.Created, rec.Created, rec.Created, c.precision)
	within(t, "Updated", got.Updated, rec.Updated, rec.Updated, c.precision)
	within(t, "Expires", got.Expires, exp, exp, c.precision)
	// One key at a time, and an empty session.
	for k, v := range Canonical() {
		got := mustOpen(t, cs, mustSealRecord(t, cs, c.record(map[string]any{k: v}, exp)))
		if d := Diff(map[string]any{k: v}, got.Data); d != "" {
			t.Fatalf("Open of key %s: data differs: %s", k, d)
		}
	}
	if got := mustOpen(t, cs, mustSealRecord(t, cs, c.record(map[string]any{}, exp))); len(got.Data) != 0 {
		t.Fatalf("Open of an empty session: data = %v", got.Data)
	}
}

func (c *clientSuite) testNoExpiry(t *testing.T) {
	cs := c.newStore(t)
	got := mustOpen(t, cs, mustSealRecord(t, cs, c.record(map[string]any{"a": int64(1)}, time.Time{})))
	if !got.Expires.IsZero() {
		t.Fatalf("sealed without expiry, opened Expires = %s, want zero", got.Expires)
	}
}

func (c *clientSuite) testExpiry(t *testing.T) {
	cs := c.newStore(t)
	wantNotOpen(t, cs, mustSealRecord(t, cs, c.record(map[string]any{"a": int64(1)}, time.Now().Add(-time.Minute))), "a token sealed already expired")
	exp := time.Now().Add(300*time.Millisecond + 2*c.precision)
	tok := mustSealRecord(t, cs, c.record(map[string]any{"a": int64(1)}, exp))
	mustOpen(t, cs, tok)
	time.Sleep(time.Until(exp) + c.precision + 100*time.Millisecond)
	wantNotOpen(t, cs, tok, "a token after its sealed expiry")
}

// testTampered changes one character of a token at a time: the result
// must not open, or open as the very same session (an encoding may ignore
// a few bits), never as another one.
func (c *clientSuite) testTampered(t *testing.T) {
	cs := c.newStore(t)
	rec := c.record(map[string]any{"user": "alice", "n": int64(7)}, time.Now().Add(time.Hour))
	tok := mustSealRecord(t, cs, rec)
	step := max(1, len(tok)/64)
	for i := 0; i < len(tok); i += step {
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		got, err := cs.Open(string(b))
		switch {
		case errors.Is(err, backends.ErrNotFound):
		case err != nil:
			t.Fatalf("token changed at %d: Open = %v; want an error wrapping ErrNotFound", i, err)
		case got.ID != rec.ID || Diff(rec.Data, got.Data) != "":
			t.Fatalf("token changed at %d opened as another session: %+v", i, got)
		}
	}
	wantNotOpen(t, cs, tok[:len(tok)/2], "a truncated token")
	wantNotOpen(t, cs, tok+tok, "a doubled token")
}

func (c *clientSuite) testGarbage(t *testing.T) {
	cs := c.newStore(t)
	for _, g := range []string{"", "x", "not a token", newID(), strings.Repeat("A", 200), strings.Repeat("-_", 3000)} {
		wantNotOpen(t, cs, g, fmt.Sprintf("garbage %.20q", g))
	}
}

func (c *clientSuite) testTooLarge(t *testing.T) {
	cs := c.newStore(t)
	rec := c.record(map[string]any{"blob": strings.Repeat("x", 64<<10)}, time.Now().Add(time.Hour))
	if tok, err := cs.Seal(rec); !errors.Is(err, backends.ErrTooLarge) {
		t.Fatalf("Seal of a 64 KiB session = %d-byte token, %v; want an error wrapping ErrTooLarge", len(tok), err)
	}
}

func (c *clientSuite) testConcurrent(t *testing.T) {
	cs := c.newStore(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				n := int64(g*1000 + i)
				rec := c.record(map[string]any{"n": n}, time.Now().Add(time.Hour))
				tok, err := cs.Seal(rec)
				if err != nil {
					errs <- fmt.Errorf("goroutine %d: Seal: %w", g, err)
					return
				}
				got, err := cs.Open(tok)
				if err != nil || got.ID != rec.ID || got.Data["n"] != n {
					errs <- fmt.Errorf("goroutine %d: Open = %+v, %v", g, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
