package kvcache

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"golang.org/x/sync/singleflight"
)

// Locker is implemented by backends shared between processes that can take
// a short, self-expiring lock (the redis backend: SET NX PX, released with a
// compare-and-delete script). GetOrCreate uses it so that only one instance
// calls fn for a key at a time. key is a full key; the backend keeps its
// locks in a namespace of its own, so Scan and Clear never see them.
type Locker interface {
	TryLock(ctx context.Context, key string, ttl time.Duration) (unlock func(), ok bool, err error)
}

// DirectReader is implemented by backends whose Get may be served from a
// client-side cache: GetDirect always asks the server. GetOrCreate uses it
// for every read that decides whether to call fn.
type DirectReader interface {
	GetDirect(ctx context.Context, key string) (value []byte, ttl time.Duration, err error)
}

// Tuning of GetOrCreate across instances.
const (
	// tokenLockTTL bounds how long one instance may hold the refresh lock;
	// an fn slower than this may be called by a second instance as well.
	tokenLockTTL = 10 * time.Second
	// tokenLockWait is how long an instance without the lock (and without a
	// still-valid old value) polls the server for the holder's value before
	// calling fn itself.
	tokenLockWait = 3 * time.Second
	tokenPoll     = 20 * time.Millisecond
)

// tokenFlights coalesces concurrent misses in this process, keyed by the
// backend's address plus the full key, so two Container values over one
// backend share their flights.
var tokenFlights singleflight.Group

func flightKey(c *Container, full string) string {
	if v := reflect.ValueOf(c.backend); v.Kind() == reflect.Pointer {
		return "b" + strconv.FormatUint(uint64(v.Pointer()), 16) + "\x00" + full
	}
	return fmt.Sprintf("c%p\x00%s", c, full)
}

// GetOrCreate returns the value cached under key, or calls fn to create it.
// It is the token cache of gafaelfawr's TokenCacheService, safe for
// concurrent goroutines and instances:
//
//   - fn returns the value and when it expires; it is stored in an envelope
//     (value, created, expires) whose backend TTL ends at expires, so an
//     expired value is never returned.
//   - A cached value is reused while less than half of its lifetime has
//     passed. The first caller after that refreshes it.
//   - Concurrent callers for the same key in one process share one call of
//     fn (single flight): they all wait for it, stale or missing alike.
//   - When the backend is shared between processes and implements Locker
//     (redis), one instance at a time refreshes a key. An instance that
//     does not get the lock returns the old value if it is still valid;
//     otherwise it polls the server for up to 3s for the holder's value,
//     then calls fn itself.
//   - An error from fn is returned and nothing is cached.
//   - An entry that is not a GetOrCreate envelope (corrupt or written by
//     Set) is treated as a miss and replaced.
//
// Backend errors on reads are returned (wrapped); fn is not called then.
// Clear (or Delete of key) invalidates cached values; a refresh already in
// flight when Clear runs may still store its result.
func (c *Container) GetOrCreate(ctx context.Context, key string, fn func(ctx context.Context) (value []byte, expires time.Time, err error)) ([]byte, error) {
	full := c.prefix + key
	env, ok, err := c.readToken(ctx, full, false)
	if err != nil {
		return nil, err
	}
	if ok && env.fresh(time.Now()) {
		return env.value, nil
	}
	fk := flightKey(c, full)
	for attempt := 0; ; attempt++ {
		ch := tokenFlights.DoChan(fk, func() (any, error) { return c.refreshToken(ctx, full, fn) })
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("kvcache: GetOrCreate in container %q: %w", c.name, ctx.Err())
		case r := <-ch:
			if r.Err != nil {
				// The flight ran under another caller's context, which ended;
				// ours is alive, so lead a new flight.
				if r.Shared && ctx.Err() == nil && attempt < 3 &&
					(errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded)) {
					continue
				}
				return nil, r.Err
			}
			v := r.Val.([]byte)
			if r.Shared {
				v = bytes.Clone(v) // each caller owns its slice
			}
			return v, nil
		}
	}
}

func (c *Container) refreshToken(ctx context.Context, full string, fn func(ctx context.Context) ([]byte, time.Time, error)) ([]byte, error) {
	// Ask the server again: another flight or instance may have refreshed it.
	old, ok, err := c.readToken(ctx, full, true)
	if err != nil {
		return nil, err
	}
	if ok && old.fresh(time.Now()) {
		return old.value, nil
	}
	if lk, isLocker := c.backend.(Locker); isLocker && c.backend.CrossProcess() {
		unlock, got, err := lk.TryLock(ctx, full, tokenLockTTL)
		if err != nil {
			return nil, fmt.Errorf("kvcache: GetOrCreate in container %q: %w", c.name, err)
		}
		if got {
			defer unlock()
			// The previous holder may have stored its value just before we
			// got the lock.
			env, ok, err := c.readToken(ctx, full, true)
			if err != nil {
				return nil, err
			}
			if ok && env.fresh(time.Now()) {
				return env.value, nil
			}
		} else {
			if ok {
				return old.value, nil // still valid; the holder is refreshing it
			}
			if v, found, err := c.waitToken(ctx, full); err != nil || found {
				return v, err
			}
			// The holder is slow or gone: create it ourselves.
		}
	}
	return c.createToken(ctx, full, fn)
}

func (c *Container) waitToken(ctx context.Context, full string) ([]byte, bool, error) {
	deadline := time.Now().Add(tokenLockWait)
	t := time.NewTicker(tokenPoll)
	defer t.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, false, fmt.Errorf("kvcache: GetOrCreate in container %q: waiting for another instance: %w", c.name, ctx.Err())
		case <-t.C:
		}
		env, ok, err := c.readToken(ctx, full, true)
		if err != nil {
			return nil, false, err
		}
		if ok && env.fresh(time.Now()) {
			return env.value, true, nil
		}
	}
	return nil, false, nil
}

func (c *Container) createToken(ctx context.Context, full string, fn func(ctx context.Context) ([]byte, time.Time, error)) ([]byte, error) {
	v, expires, err := fn(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if !expires.After(now) {
		return nil, fmt.Errorf("kvcache: GetOrCreate in container %q: fn returned a value expiring at %s, want a time after now (%s)",
			c.name, expires.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	}
	env := tokenEnvelope{value: v, created: now, expires: expires}
	if err := c.backend.Set(ctx, full, env.encode(), expires.Sub(now)); err != nil && !errors.Is(err, ErrNotStored) {
		return nil, fmt.Errorf("kvcache: GetOrCreate in container %q: storing the new value: %w", c.name, err)
	}
	return v, nil
}

// readToken reads and decodes the envelope under full. found is false for
// an absent, expired or undecodable entry.
func (c *Container) readToken(ctx context.Context, full string, direct bool) (tokenEnvelope, bool, error) {
	var (
		raw []byte
		err error
	)
	if dr, ok := c.backend.(DirectReader); direct && ok {
		raw, _, err = dr.GetDirect(ctx, full)
	} else {
		raw, _, err = c.backend.Get(ctx, full)
	}
	if errors.Is(err, ErrNotFound) {
		return tokenEnvelope{}, false, nil
	}
	if err != nil {
		return tokenEnvelope{}, false, fmt.Errorf("kvcache: GetOrCreate in container %q: reading the cached value: %w", c.name, err)
	}
	env, err := decodeToken(raw)
	if err != nil || !time.Now().Before(env.expires) {
		return tokenEnvelope{}, false, nil
	}
	return env, true, nil
}

// tokenEnvelope is what GetOrCreate stores: magic "kvt1", created and
// expires as big-endian Unix nanoseconds, then the value.
type tokenEnvelope struct {
	value            []byte
	created, expires time.Time
}

const tokenMagic = "kvt1"

var errBadEnvelope = errors.New("kvcache: not a GetOrCreate envelope")

func (e tokenEnvelope) encode() []byte {
	b := make([]byte, 0, len(tokenMagic)+16+len(e.value))
	b = append(b, tokenMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.created.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(e.expires.UnixNano()))
	return append(b, e.value...)
}

func decodeToken(b []byte) (tokenEnvelope, error) {
	if len(b) < len(tokenMagic)+16 || string(b[:len(tokenMagic)]) != tokenMagic {
		return tokenEnvelope{}, fmt.Errorf("%w: %d bytes without the %q header", errBadEnvelope, len(b), tokenMagic)
	}
	b = b[len(tokenMagic):]
	created := time.Unix(0, int64(binary.BigEndian.Uint64(b)))
	expires := time.Unix(0, int64(binary.BigEndian.Uint64(b[8:])))
	if expires.Before(created) {
		return tokenEnvelope{}, fmt.Errorf("%w: expires %s before created %s", errBadEnvelope, expires, created)
	}
	return tokenEnvelope{value: b[16:], created: created, expires: expires}, nil
}

// fresh reports whether less than half of the value's lifetime has passed.
func (e tokenEnvelope) fresh(now time.Time) bool {
	return now.Before(e.created.Add(e.expires.Sub(e.created)/2)) && now.Before(e.expires)
}
