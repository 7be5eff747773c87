// Package kvcachetest is the contract suite every kvcache.Backend must pass.
// A new backend proves itself by calling Run from its tests.
package kvcachetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionfx/session/kvcache"
)

// Run runs the contract suite. newBackend is called once per subtest and
// must return a working backend; Run closes it when the subtest ends.
//
// Every subtest writes under its own random key prefix ("kvct:<hex>:"),
// so backends that share data (one Redis server for several test runs)
// never see each other's keys; the suite deletes what it wrote.
//
// The backend must be large enough for what the suite writes: the biggest
// subtest stores 100,000 keys of about 40 bytes each with their values at
// once (a memory backend of 64MiB is enough), and a capacity refusal there
// fails the suite. Some subtests sleep through short TTLs (about 1.5 s);
// they run in parallel with each other.
func Run(t *testing.T, newBackend func(t *testing.T) kvcache.Backend) {
	t.Helper()
	open := func(t *testing.T) (kvcache.Backend, string) {
		t.Helper()
		b := newBackend(t)
		if b == nil {
			t.Fatal("newBackend returned a nil backend")
		}
		prefix := "kvct:" + randomHex(t) + ":"
		t.Cleanup(func() {
			ctx := context.Background()
			var keys []string
			_ = b.Scan(ctx, prefix, func(k string) error { keys = append(keys, k); return nil })
			deleteAll(ctx, b, keys)
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return b, prefix
	}

	// The TTL subtests sleep; they run in parallel with each other.
	t.Run("ttl", func(t *testing.T) {
		t.Run("expiry", func(t *testing.T) { t.Parallel(); b, p := open(t); testExpiry(t, b, p) })
		t.Run("expire", func(t *testing.T) { t.Parallel(); b, p := open(t); testExpire(t, b, p) })
		t.Run("update_ttl", func(t *testing.T) { t.Parallel(); b, p := open(t); testUpdateTTL(t, b, p) })
	})
	t.Run("get_missing", func(t *testing.T) { b, p := open(t); testGetMissing(t, b, p) })
	t.Run("round_trip", func(t *testing.T) { b, p := open(t); testRoundTrip(t, b, p) })
	t.Run("delete_exists", func(t *testing.T) { b, p := open(t); testDeleteExists(t, b, p) })
	t.Run("expire_missing", func(t *testing.T) { b, p := open(t); testExpireMissing(t, b, p) })
	t.Run("update", func(t *testing.T) { b, p := open(t); testUpdate(t, b, p) })
	t.Run("setnx", func(t *testing.T) { b, p := open(t); testSetNX(t, b, p) })
	t.Run("compare_and_swap", func(t *testing.T) { b, p := open(t); testCompareAndSwap(t, b, p) })
	t.Run("update_concurrent", func(t *testing.T) { b, p := open(t); testUpdateConcurrent(t, b, p) })
	t.Run("scan", func(t *testing.T) { b, p := open(t); testScan(t, b, p) })
	t.Run("index_sets", func(t *testing.T) { b, p := open(t); testIndexSets(t, b, p) })
	t.Run("concurrent_writes_100k", func(t *testing.T) { b, p := open(t); testConcurrentWrites(t, b, p, 100_000) })
}

// deleteAll removes keys with a few workers (a remote backend would
// otherwise need one round trip after another).
func deleteAll(ctx context.Context, b kvcache.Backend, keys []string) {
	ch := make(chan string)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range ch {
				_ = b.Delete(ctx, k)
			}
		}()
	}
	for _, k := range keys {
		ch <- k
	}
	close(ch)
	wg.Wait()
}

func randomHex(t *testing.T) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("crypto/rand: %v", err)
	}
	return hex.EncodeToString(b[:])
}

func mustSet(t *testing.T, b kvcache.Backend, key string, value []byte, ttl time.Duration) {
	t.Helper()
	if err := b.Set(context.Background(), key, value, ttl); err != nil {
		t.Fatalf("Set(%q, ttl %s): %v", key, ttl, err)
	}
}

func mustGet(t *testing.T, b kvcache.Backend, key string) ([]byte, time.Duration) {
	t.Helper()
	v, ttl, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v, ttl
}

func wantNotFound(t *testing.T, b kvcache.Backend, key string) {
	t.Helper()
	v, _, err := b.Get(context.Background(), key)
	if !errors.Is(err, kvcache.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, v, err)
	}
	ok, err := b.Exists(context.Background(), key)
	if err != nil || ok {
		t.Fatalf("Exists(%q) = %v, %v; want false, nil", key, ok, err)
	}
}

func testGetMissing(t *testing.T, b kvcache.Backend, p string) {
	wantNotFound(t, b, p+"missing")
}

func testRoundTrip(t *testing.T, b kvcache.Backend, p string) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := bytes.Repeat([]byte("0123456789abcdef\x00\xff"), 4096) // 72 KiB
	cases := map[string][]byte{
		"all-bytes":                  all,
		"empty":                      {},
		"nul":                        {0},
		"utf8":                       []byte("héllo ☃"),
		"big":                        big,
		"key with spaces/and:colons": []byte("v"),
	}
	for name, v := range cases {
		mustSet(t, b, p+name, v, 0)
	}
	for name, want := range cases {
		got, ttl := mustGet(t, b, p+name)
		if !bytes.Equal(got, want) {
			t.Errorf("Get(%q) = %d bytes %q...; want %d bytes", name, len(got), trunc(got), len(want))
		}
		if ttl != 0 {
			t.Errorf("Get(%q) ttl = %s; want 0 for a key set without TTL", name, ttl)
		}
	}

	// The backend must not keep the caller's slice.
	buf := []byte("original")
	mustSet(t, b, p+"copy", buf, 0)
	copy(buf, "XXXXXXXX")
	if got, _ := mustGet(t, b, p+"copy"); string(got) != "original" {
		t.Errorf("after the caller changed its slice, Get = %q; want %q", got, "original")
	}
	got, _ := mustGet(t, b, p+"copy")
	copy(got, "YYYYYYYY")
	if got2, _ := mustGet(t, b, p+"copy"); string(got2) != "original" {
		t.Errorf("after the caller changed a returned slice, Get = %q; want %q", got2, "original")
	}

	// Overwrite replaces the value and clears a TTL.
	mustSet(t, b, p+"over", []byte("one"), time.Hour)
	mustSet(t, b, p+"over", []byte("two"), 0)
	if got, ttl := mustGet(t, b, p+"over"); string(got) != "two" || ttl != 0 {
		t.Errorf("after overwrite, Get = %q, ttl %s; want %q, ttl 0", got, ttl, "two")
	}
}

func trunc(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}

const shortTTL = 1500 * time.Millisecond

func testExpiry(t *testing.T, b kvcache.Backend, p string) {
	ctx := context.Background()
	mustSet(t, b, p+"short", []byte("s"), shortTTL)
	mustSet(t, b, p+"forever", []byte("f"), 0)
	mustSet(t, b, p+"long", []byte("l"), time.Hour)
	v, ttl := mustGet(t, b, p+"short")
	if string(v) != "s" || ttl <= 0 || ttl > shortTTL {
		t.Fatalf("Get(short) = %q, ttl %s; want %q with 0 < ttl <= %s", v, ttl, "s", shortTTL)
	}
	if _, ttl := mustGet(t, b, p+"long"); ttl <= time.Hour-time.Minute || ttl > time.Hour {
		t.Errorf("Get(long) ttl = %s; want about 1h", ttl)
	}
	time.Sleep(shortTTL + 300*time.Millisecond)
	wantNotFound(t, b, p+"short")
	if v, ttl := mustGet(t, b, p+"forever"); string(v) != "f" || ttl != 0 {
		t.Errorf("Get(forever) = %q, ttl %s; want %q, 0", v, ttl, "f")
	}
	var seen []string
	if err := b.Scan(ctx, p, func(k string) error { seen = append(seen, k); return nil }); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	sort.Strings(seen)
	if want := []string{p + "forever", p + "long"}; !slices.Equal(seen, want) {
		t.Errorf("Scan after expiry = %q; want %q (expired keys are not live)", seen, want)
	}
}

func testExpire(t *testing.T, b kvcache.Backend, p string) {
	ctx := context.Background()
	mustSet(t, b, p+"extended", []byte("e"), shortTTL)
	mustSet(t, b, p+"untouched", []byte("u"), shortTTL)
	mustSet(t, b, p+"shortened", []byte("s"), 0)
	mustSet(t, b, p+"persisted", []byte("p"), shortTTL)
	if err := b.Expire(ctx, p+"extended", time.Hour); err != nil {
		t.Fatalf("Expire(extended, 1h): %v", err)
	}
	if err := b.Expire(ctx, p+"shortened", shortTTL); err != nil {
		t.Fatalf("Expire(shortened, %s): %v", shortTTL, err)
	}
	if err := b.Expire(ctx, p+"persisted", 0); err != nil {
		t.Fatalf("Expire(persisted, 0): %v", err)
	}
	if _, ttl := mustGet(t, b, p+"extended"); ttl <= shortTTL || ttl > time.Hour {
		t.Errorf("after Expire(1h), ttl = %s; want more than %s and at most 1h", ttl, shortTTL)
	}
	if _, ttl := mustGet(t, b, p+"shortened"); ttl <= 0 || ttl > shortTTL {
		t.Errorf("after Expire(%s), ttl = %s; want 0 < ttl <= %s", shortTTL, ttl, shortTTL)
	}
	if _, ttl := mustGet(t, b, p+"persisted"); ttl != 0 {
		t.Errorf("after Expire(0), ttl = %s; want 0 (no expiry)", ttl)
	}
	time.Sleep(shortTTL + 300*time.Millisecond)
	if v, _ := mustGet(t, b, p+"extended"); string(v) != "e" {
		t.Errorf("extended key = %q; want %q (Expire must keep the value)", v, "e")
	}
	if v, _ := mustGet(t, b, p+"persisted"); string(v) != "p" {
		t.Errorf("persisted key = %q; want %q", v, "p")
	}
	wantNotFound(t, b, p+"untouched")
	wantNotFound(t, b, p+"shortened")
}

func testUpdateTTL(t *testing.T, b kvcache.Backend, p string) {
	ctx := context.Background()
	err := b.Update(ctx, p+"k", func(old []byte, found bool) ([]byte, time.Duration, error) {
		return []byte("v"), shortTTL, nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if v, ttl := mustGet(t, b, p+"k"); string(v) != "v" || ttl <= 0 || ttl > shortTTL {
		t.Fatalf("after Update with ttl %s, Get = %q, ttl %s", shortTTL, v, ttl)
	}
	time.Sleep(shortTTL + 300*time.Millisecond)
	wantNotFound(t, b, p+"k")
	// An expired key is seen by Update as absent.
	err = b.Update(ctx, p+"k", func(old []byte, found bool) ([]byte, time.Duration, error) {
		if found {
			return nil, 0, fmt.Errorf("update saw expired value %q as present", old)
		}
		return []byte("again"), 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testDeleteExists(t *testing.T, b kvcache.Backend, p string) {
	ctx := context.Background()
	if err := b.Delete(ctx, p+"absent"); err != nil {
		t.Errorf("Delete(absent) = %v; want nil", err)
	}
	mustSet(t, b, p+"k", []byte("v"), 0)
	mustSet(t, b, p+"other", []byte("o"), 0)
	if ok, err := b.Exists(ctx, p+"k"); err != nil || !ok {
		t.Fatalf("Exists(k) = %v, %v; want true", ok, err)
	}
	if err := b.Delete(ctx, p+"k"); err != nil {
		t.Fatalf("Delete(k): %v", err)
	}
	wantNotFound(t, b, p+"k")
	if v, _ := mustGet(t, b, p+"other"); string(v) != "o" {
		t.Errorf("Delete(k) touched another key: other = %q", v)
	}
	// A key can be written again after Delete.
	mustSet(t, b, p+"k", []byte("v2"), 0)
	if v, _ := mustGet(t, b, p+"k"); string(v) != "v2" {
		t.Errorf("Set after Delete: Get = %q; want %q", v, "v2")
	}
}

func testExpireMissing(t *testing.T, b kvcache.Backend, p string) {
	err := b.Expire(context.Background(), p+"missing", time.Minute)
	if !errors.Is(err, kvcache.ErrNotFound) {
		t.Fatalf("Expire(missing) = %v; want ErrNotFound", err)
	}
	wantNotFound(t, b, p+"missing")
}

// testSetNX checks kvcache.Adder, when the backend has it: a value is
// stored only where none lives, and never replaces one, even under 16
// concurrent callers.
func testSetNX(t *testing.T, b kvcache.Backend, p string) {
	a, ok := b.(kvcache.Adder)
	if !ok {
		t.Skipf("%T does not implement kvcache.Adder", b)
	}
	ctx := context.Background()
	k := p + "nx"
	if ok, err := a.SetNX(ctx, k, []byte("first"), time.Minute); err != nil || !ok {
		t.Fatalf("SetNX on an absent key = %v, %v; want true, nil", ok, err)
	}
	if ok, err := a.SetNX(ctx, k, []byte("second"), time.Minute); err != nil || ok {
		t.Fatalf("SetNX on a present key = %v, %v; want false, nil", ok, err)
	}
	if v, _ := mustGet(t, b, k); string(v) != "first" {
		t.Fatalf("after a refused SetNX, Get = %q; want %q", v, "first")
	}
	var won atomic.Int32
	var wg sync.WaitGroup
	k2 := p + "nx-race"
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := a.SetNX(ctx, k2, []byte(strconv.Itoa(i)), time.Minute)
			if err != nil {
				t.Errorf("SetNX: %v", err)
			}
			if ok {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := won.Load(); n != 1 {
		t.Fatalf("%d of 16 concurrent SetNX calls on one key stored; want exactly 1", n)
	}
}

// testCompareAndSwap checks kvcache.Swapper, when the backend has it: a
// swap happens only against the current value, nil deletes, and of 16
// concurrent swaps from one value exactly one wins.
func testCompareAndSwap(t *testing.T, b kvcache.Backend, p string) {
	sw, ok := b.(kvcache.Swapper)
	if !ok {
		t.Skipf("%T does not implement kvcache.Swapper", b)
	}
	ctx := context.Background()
	k := p + "cas"
	if ok, err := sw.CompareAndSwap(ctx, k, []byte("x"), []byte("y"), time.Minute); err != nil || ok {
		t.Fatalf("CompareAndSwap on an absent key = %v, %v; want false, nil", ok, err)
	}
	if err := b.Set(ctx, k, []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := sw.CompareAndSwap(ctx, k, []byte("v0"), []byte("v2"), time.Minute); err != nil || ok {
		t.Fatalf("CompareAndSwap from a stale value = %v, %v; want false, nil", ok, err)
	}
	if v, _ := mustGet(t, b, k); string(v) != "v1" {
		t.Fatalf("after a stale CompareAndSwap, Get = %q; want v1", v)
	}
	if ok, err := sw.CompareAndSwap(ctx, k, []byte("v1"), []byte("v2"), time.Minute); err != nil || !ok {
		t.Fatalf("CompareAndSwap from the current value = %v, %v; want true, nil", ok, err)
	}
	if v, _ := mustGet(t, b, k); string(v) != "v2" {
		t.Fatalf("after CompareAndSwap, Get = %q; want v2", v)
	}
	var won atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := sw.CompareAndSwap(ctx, k, []byte("v2"), []byte("w"+strconv.Itoa(i)), time.Minute)
			if err != nil {
				t.Errorf("CompareAndSwap: %v", err)
			}
			if ok {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := won.Load(); n != 1 {
		t.Fatalf("%d of 16 concurrent swaps from one value won; want exactly 1", n)
	}
	v, _ := mustGet(t, b, k)
	if ok, err := sw.CompareAndSwap(ctx, k, v, nil, 0); err != nil || !ok {
		t.Fatalf("CompareAndSwap to nil = %v, %v; want true, nil", ok, err)
	}
	if _, _, err := b.Get(ctx, k); !errors.Is(err, kvcache.ErrNotFound) {
		t.Fatalf("after CompareAndSwap to nil, Get error = %v; want ErrNotFound", err)
	}
}

func testUpdate(t *testing.T, b kvcache.Backend, p string) {
	ctx := context.Background()
	k := p + "counter"
	// Create.
	err := b.Update(ctx, k, func(old []byte, found bool) ([]byte, time.Duration, error) {
		if found || old != nil {
			return nil, 0, fmt.Errorf("absent key: found = %v, old = %q; want false, nil", found, old)
		}
		return []byte("1"), 0, nil
	})
	if err != nil {
		t.Fatalf("Update(create): %v", err)
	}
	if v, _ := mustGet(t, b, k); string(v) != "1" {
		t.Fatalf("after create, Get = %q; want %q", v, "1")
	}
	// Modify.
	err = b.Update(ctx, k, func(old []byte, found bool) ([]byte, time.Duration, error) {
		if !found || string(old) != "1" {
			return nil, 0, fmt.Errorf("found = %v, old = %q; want true, %q", found, old, "1")
		}
		return append(old, '2'), 0, nil
	})
	if err != nil {
		t.Fatalf("Update(modify): %v", err)
	}
	if v, _ := mustGet(t, b, k); string(v) != "12" {
		t.Fatalf("after modify, Get = %q; want %q", v, "12")
	}
	// An error from fn is returned and changes nothing.
	boom := errors.New("boom")
	err = b.Update(ctx, k, func(old []byte, found bool) ([]byte, time.Duration, error) {
		return []byte("changed"), 0, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update with failing fn = %v; want the fn's error", err)
	}
	if v, _ := mustGet(t, b, k); string(v) != "12" {
		t.Fatalf("after failed update, Get = %q; want %q unchanged", v, "12")
	}
	// Empty (non-nil) value is stored, not deleted.
	err = b.Update(ctx, k, func(old []byte, found bool) ([]byte, time.Duration, error) { return []byte{}, 0, nil })
	if err != nil {
		t.Fatalf("Update(empty): %v", err)
	}
	if v, _ := mustGet(t, b, k); len(v) != 0 {
		t.Fatalf("after empty update, Get = %q; want empty", v)
	}
	// Delete with nil.
	err = b.Update(ctx, k, func(old []byte, found bool) ([]byte, time.Duration, error) { return nil, 0, nil })
	if err != nil {
		t.Fatalf("Update(delete): %v", err)
	}
	wantNotFound(t, b, k)
	// Deleting an absent key through Update is fine.
	err = b.Update(ctx, p+"never", func(old []byte, found bool) ([]byte, time.Duration, error) { return nil, 0, nil })
	if err != nil {
		t.Fatalf("Update(delete absent): %v", err)
	}
	wantNotFound(t, b, p+"never")
}

func testUpdateConcurrent(t *testing.T, b kvcache.Backend, p string) {
	const n = 50
	ctx := context.Background()
	k := p + "list"
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = b.Update(ctx, k, func(old []byte, found bool) ([]byte, time.Duration, error) {
				out := make([]byte, len(old), len(old)+1)
				copy(out, old)
				runtime.Gosched() // widen the read-modify-write window
				return append(out, byte(i)), 0, nil
			})
		}()
	}
	close(start)
	wg.Wait()
	// ErrConflict is allowed (optimistic backends give up after retries);
	// every Update that returned nil must be in the value, and no other.
	ok := map[byte]bool{}
	conflicts := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok[byte(i)] = true
		case errors.Is(err, kvcache.ErrConflict):
			conflicts++
		default:
			t.Errorf("concurrent Update %d: %v", i, err)
		}
	}
	if len(ok) == 0 {
		t.Fatalf("all %d concurrent Updates failed", n)
	}
	if conflicts > 0 {
		t.Logf("%d of %d concurrent Updates returned ErrConflict", conflicts, n)
	}
	v, _ := mustGet(t, b, k)
	seen := map[byte]int{}
	for _, c := range v {
		seen[c]++
	}
	if len(v) != len(ok) {
		t.Errorf("after %d successful concurrent appends the value has %d bytes (lost or phantom updates)", len(ok), len(v))
	}
	for i := range n {
		switch {
		case ok[byte(i)] && seen[byte(i)] != 1:
			t.Errorf("append of goroutine %d returned nil but appears %d times", i, seen[byte(i)])
		case !ok[byte(i)] && seen[byte(i)] != 0:
			t.Errorf("append of goroutine %d failed but is in the value", i)
		}
	}
}

func testScan(t *testing.T, b kvcache.Backend, p string) {
	ctx := context.Background()
	var want []string
	for i := range 5 {
		k := p + "a:" + strconv.Itoa(i)
		want = append(want, k)
		mustSet(t, b, k, []byte("x"), 0)
	}
	mustSet(t, b, p+"a:ttl", []byte("x"), time.Hour)
	want = append(want, p+"a:ttl")
	for i := range 3 {
		mustSet(t, b, p+"b:"+strconv.Itoa(i), []byte("y"), 0)
	}
	mustSet(t, b, p+"a:deleted", []byte("x"), 0)
	if err := b.Delete(ctx, p+"a:deleted"); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := b.Scan(ctx, p+"a:", func(k string) error { got = append(got, k); return nil }); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("Scan(%q) = %q; want %q", p+"a:", got, want)
	}
	var none []string
	if err := b.Scan(ctx, p+"zzz", func(k string) error { none = append(none, k); return nil }); err != nil || len(none) != 0 {
		t.Errorf("Scan(no match) = %q, %v; want nothing", none, err)
	}
	// fn may write to the backend while scanning.
	if err := b.Scan(ctx, p+"b:", func(k string) error { return b.Delete(ctx, k) }); err != nil {
		t.Fatalf("Scan deleting each key: %v", err)
	}
	for i := range 3 {
		wantNotFound(t, b, p+"b:"+strconv.Itoa(i))
	}
	// An error from fn stops the scan and is returned.
	stop := errors.New("stop")
	calls := 0
	err := b.Scan(ctx, p+"a:", func(string) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Scan with failing fn = %v after %d calls; want the fn's error after 1 call", err, calls)
	}
}

func testConcurrentWrites(t *testing.T, b kvcache.Backend, p string, n int) {
	const workers = 64
	ctx := context.Background()
	value := func(i int) []byte { return []byte("value-" + strconv.Itoa(i)) }
	var failed atomic.Int64
	var mu sync.Mutex
	var firstErr error
	run := func(do func(i int) error) {
		next := atomic.Int64{}
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					if err := do(i); err != nil {
						if failed.Add(1) == 1 {
							mu.Lock()
							firstErr = err
							mu.Unlock()
						}
					}
				}
			}()
		}
		wg.Wait()
	}
	start := time.Now()
	run(func(i int) error { return b.Set(ctx, p+strconv.Itoa(i), value(i), 0) })
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d concurrent Sets failed; first: %v", f, n, firstErr)
	}
	t.Logf("%d concurrent Sets by %d workers in %s", n, workers, time.Since(start))
	run(func(i int) error {
		v, _, err := b.Get(ctx, p+strconv.Itoa(i))
		if err != nil {
			return fmt.Errorf("Get(%d): %w", i, err)
		}
		if !bytes.Equal(v, value(i)) {
			return fmt.Errorf("Get(%d) = %q; want %q", i, v, value(i))
		}
		return nil
	})
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d keys written successfully are not readable with their value; first: %v", f, n, firstErr)
	}
}

// testIndexSets checks an Indexer (skipped for engines without one):
// members come back with the time each was added; a shorter TTL does not
// shorten a set; a remove spares a member added again after its cutoff;
// concurrent adds all land; and a Scan of the values' prefix never yields
// the index key, kept outside it as Container does.
func testIndexSets(t *testing.T, b kvcache.Backend, p string) {
	ix, ok := b.(kvcache.Indexer)
	if !ok {
		t.Skipf("%T does not implement kvcache.Indexer", b)
	}
	ctx := context.Background()
	key := "~i:" + p + "u"
	t.Cleanup(func() { _ = b.Delete(context.Background(), key) })
	if ms, err := ix.IndexMembers(ctx, "~i:"+p+"absent"); err != nil || len(ms) != 0 {
		t.Fatalf("IndexMembers of an absent set = %v, %v; want none", ms, err)
	}
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
	if err := ix.IndexAdd(ctx, key, "a", t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := ix.IndexAdd(ctx, key, "b", t0.Add(time.Minute), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // b's shorter TTL must not have shortened the set's
	ms, err := ix.IndexMembers(ctx, key)
	if err != nil || len(ms) != 2 {
		t.Fatalf("members = %+v, %v; want a and b (a TTL is extended, never shortened)", ms, err)
	}
	for _, m := range ms {
		if m.Member == "a" && !m.Added.Equal(t0) {
			t.Errorf("a added at %v, want %v", m.Added, t0)
		}
	}
	if err := ix.IndexAdd(ctx, key, "a", time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if n, err := ix.IndexRemove(ctx, key, t0.Add(time.Hour), "a", "b", "absent"); err != nil || n != 1 {
		t.Errorf("IndexRemove = %d, %v; want 1 (b only: a was added again after the cutoff)", n, err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ix.IndexAdd(ctx, key, fmt.Sprintf("c%d", i), time.Now(), time.Hour); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ms, _ := ix.IndexMembers(ctx, key); len(ms) != 17 {
		t.Errorf("after 16 concurrent adds: %d members, want 17 (a and c0..c15)", len(ms))
	}
	mustSet(t, b, p+"x", []byte("v"), time.Minute)
	var keys []string
	if err := b.Scan(ctx, p, func(k string) error { keys = append(keys, k); return nil }); err != nil || len(keys) != 1 || keys[0] != p+"x" {
		t.Errorf("Scan(%q) = %v, %v; want only the value key", p, keys, err)
	}
}
