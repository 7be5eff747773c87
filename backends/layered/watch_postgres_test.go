package layered_test

// Two instances over one PostgreSQL table, each with its own gorm store
// (its own pool and listener) and its own front: B hears of A's writes
// through the table's NOTIFY trigger.

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap/zaptest"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/backends/layered"
)

// pgInstance is one app instance: a layered store over its own gorm store.
type pgInstance struct {
	*layered.Store
	back *countingStore
}

// pgPair returns two instances on a fresh PostgreSQL table (dropped at
// cleanup), both listening. local_ttl is an hour, so only a notification
// can make B see A's write.
func pgPair(t *testing.T) (a, b pgInstance, table string) {
	t.Helper()
	dsn := os.Getenv(postgresEnv)
	if dsn == "" {
		t.Skipf("%s is not set; set it (e.g. %q) to run the pushed invalidation on PostgreSQL", postgresEnv, "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable")
	}
	table = randomName("sess")
	mk := func(name string) pgInstance {
		g, err := gormstore.NewFromConfig(gormstore.Config{Driver: "postgres", DSN: dsn, Table: table}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatalf("gormstore.NewFromConfig: %v", err)
		}
		back := &countingStore{Store: g}
		s := layered.New(memContainer(t, name), back, layered.WithLocalTTL(time.Hour), layered.WithInvalidatedTTL(time.Hour),
			layered.WithLogger(zaptest.NewLogger(t)))
		t.Cleanup(func() { _ = s.Close() })
		return pgInstance{Store: s, back: back}
	}
	a, b = mk("frontA"), mk("frontB")
	t.Cleanup(func() {
		if err := a.back.Store.(*gormstore.Store).DB().Migrator().DropTable(table); err != nil {
			t.Errorf("dropping %s: %v", table, err)
		}
	})
	for _, s := range []pgInstance{a, b} {
		if err := s.Setup(t.Context()); err != nil {
			t.Fatalf("Setup: %v", err)
		}
	}
	waitFor(t, "both instances listening", 10*time.Second, func() bool { return a.Invalidated() && b.Invalidated() })
	return a, b, table
}

func waitFor(t *testing.T, what string, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// seen polls B until cond holds and returns how long after start it did;
// it fails past limit.
func seen(t *testing.T, limit time.Duration, start time.Time, cond func() bool) time.Duration {
	t.Helper()
	for {
		if cond() {
			return time.Since(start)
		}
		if d := time.Since(start); d > limit {
			t.Fatalf("B still served the old state %s after A's write (bound asserted: %s)", d.Round(time.Millisecond), limit)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// stats formats p50/p99/max of ds.
func stats(ds []time.Duration) string {
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s", len(ds), q(0.50).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), ds[len(ds)-1].Round(10*time.Microsecond))
}

// The bound asserted; the delays measured are logged (go test -v).
const pgBound = time.Second

func TestWatchPostgresTwoInstances(t *testing.T) {
	a, b, _ := pgPair(t)
	ctx := t.Context()
	trials := 200
	if testing.Short() {
		trials = 20
	}
	var saves, deletes, renews []time.Duration
	for i := range trials {
		id := uuid.NewString()
		create(t, a, id, set("n", int64(0)))
		if v := loadValue(t, b, id, "n"); v != int64(0) {
			t.Fatalf("B's first Load = %v, want 0", v)
		}
		// A saves: B sees the new value.
		r, err := a.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		opt := hour()
		opt.Base = r
		if _, err := a.Save(ctx, id, set("n", int64(i+1)), opt); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		saves = append(saves, seen(t, pgBound, start, func() bool { return loadValue(t, b, id, "n") == int64(i+1) }))

		switch i % 2 {
		case 0: // logout on A: B stops serving the session
			if err := a.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			start = time.Now()
			deletes = append(deletes, seen(t, pgBound, start, func() bool {
				_, err := b.Load(ctx, id)
				return errors.Is(err, backends.ErrNotFound)
			}))
		case 1: // login on A (renew): the old id stops loading on B
			to := uuid.NewString()
			if _, err := a.Renew(ctx, id, to, backends.Changes{}, hour(), time.Minute); err != nil {
				t.Fatal(err)
			}
			start = time.Now()
			renews = append(renews, seen(t, pgBound, start, func() bool {
				_, err := b.Load(ctx, id)
				return errors.Is(err, backends.ErrNotFound)
			}))
			if v := loadValue(t, b, to, "n"); v != int64(i+1) {
				t.Fatalf("B's Load of the renewed id = %v, want %d", v, i+1)
			}
		}
	}
	t.Logf("invalidation delay, A's write returned -> B serves the new state (PostgreSQL LISTEN/NOTIFY, local_ttl 1h):")
	t.Logf("  save:   %s", stats(saves))
	t.Logf("  delete: %s", stats(deletes))
	t.Logf("  renew:  %s", stats(renews))
	all := slices.Concat(saves, deletes, renews)
	t.Logf("  all:    %s", stats(all))
}

// An instance's own saves are not reloaded because of their notifications.
func TestWatchPostgresOwnWrites(t *testing.T) {
	a, _, _ := pgPair(t)
	ctx := t.Context()
	id := uuid.NewString()
	create(t, a, id, set("n", int64(0)))
	const n = 100
	for i := range n {
		r, err := a.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		opt := hour()
		opt.Base = r
		if _, err := a.Save(ctx, id, set("n", int64(i+1)), opt); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the last notifications arrive
	if v := loadValue(t, a, id, "n"); v != int64(n) {
		t.Fatalf("n = %v, want %d", v, n)
	}
	if l := a.back.loads.Load(); l != 0 {
		t.Fatalf("back Loads over %d load-and-save rounds = %d, want 0: own notifications dropped the front copy", n, l)
	}
}

// When the listening connection is killed, B drops every copy (so a write
// it cannot hear of is not served stale), listens again, and is pushed
// again afterwards.
func TestWatchPostgresListenerKilled(t *testing.T) {
	a, b, table := pgPair(t)
	ids := []string{uuid.NewString(), uuid.NewString()}
	for _, id := range ids {
		create(t, a, id, set("n", int64(1)))
		loadValue(t, b, id, "n")
	}
	db := a.back.Store.(*gormstore.Store).DB()
	var killed []bool
	if err := db.Raw(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ?`,
		gormstore.WatchApplicationName+" "+table).Scan(&killed).Error; err != nil {
		t.Fatal(err)
	}
	if len(killed) != 2 {
		t.Fatalf("listeners terminated = %d, want 2 (one per instance)", len(killed))
	}
	waitFor(t, "B noticing the lost connection", 5*time.Second, func() bool { return !b.Invalidated() })
	for _, id := range ids {
		if ttl := frontTTL(t, b.Front(), id); ttl != 0 {
			t.Fatalf("B's front copy after the loss: TTL %s, want dropped", ttl)
		}
	}
	// A writes while B may not hear it: B reads the back.
	mustSave(t, a, ids[0], set("n", int64(2)))
	if v := loadValue(t, b, ids[0], "n"); v != int64(2) {
		t.Fatalf("B after the loss = %v, want 2", v)
	}
	waitFor(t, "B listening again", 10*time.Second, func() bool { return b.Invalidated() && a.Invalidated() })
	loadValue(t, b, ids[1], "n")
	mustSave(t, a, ids[1], set("n", int64(3)))
	start := time.Now()
	d := seen(t, pgBound, start, func() bool { return loadValue(t, b, ids[1], "n") == int64(3) })
	t.Logf("after listening again: B saw A's write %s after it returned", d)
}

// One trigger per table, installed once however many instances listen.
func TestWatchPostgresTriggerInstalledOnce(t *testing.T) {
	a, _, table := pgPair(t)
	db := a.back.Store.(*gormstore.Store).DB()
	var n int64
	if err := db.Raw(`SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass(?) AND NOT tgisinternal`, `"`+table+`"`).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("triggers on %s = %d, want 1", table, n)
	}
}
