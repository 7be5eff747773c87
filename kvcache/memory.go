package kvcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"go.uber.org/zap"
)

const (
	// memDefaultMaxSize is the capacity of a memory backend configured without max_size.
	memDefaultMaxSize = 64 << 20
	// memMinMaxSize is the smallest capacity accepted: below it a handful of
	// entries would already fill the cache.
	memMinMaxSize = 1 << 10
	// memEntryOverhead approximates, in bytes, what one entry costs beyond
	// its key and value: the entry struct, ristretto's store item, its
	// policy and expiry bookkeeping and the map slots.
	memEntryOverhead = 128
	// memAvgItemSize is the assumed average entry size used to size the
	// admission counters (ristretto wants ~10 counters per expected item).
	memAvgItemSize = 256
	memMinCounters = 1 << 10
	memMaxCounters = 1 << 24
	// memSetAttempts bounds how often a write is retried when ristretto
	// drops it (set buffer full) or its admission policy refuses it.
	memSetAttempts = 8
	memStripes     = 256
	// memNote is appended to every capacity warning.
	memNote = "the memory backend is a cache: data that must survive capacity pressure or a restart belongs on the GORM or Redis backend"
)

var errMemClosed = errors.New("kvcache: memory backend is closed")

// memEntry is what the memory backend stores. The key is kept so Scan can
// walk values and eviction logs can name the key's hash; expires lets the
// eviction hook tell capacity evictions from expiry.
type memEntry struct {
	key     string
	value   []byte
	expires time.Time // zero: no expiry
}

func (e *memEntry) expired(now time.Time) bool {
	return !e.expires.IsZero() && !now.Before(e.expires)
}

// MemoryStats counts the memory backend's capacity events since it was built.
type MemoryStats struct {
	// Evictions counts unexpired entries removed to make room.
	Evictions uint64
	// Rejections counts writes ristretto's admission policy refused
	// (each may have been retried successfully).
	Rejections uint64
	// NotStored counts writes that failed with ErrNotStored.
	NotStored uint64
}

// Memory is the in-process backend on ristretto. Unlike a bare ristretto
// cache it never reports success for a write it did not keep: every write is
// retried while ristretto drops it, flushed, and read back; a write that
// still is not there fails with ErrNotStored. Entries may still be evicted
// later, at capacity; such evictions are logged at warn level.
//
// Writes to one key (Set, Update, Expire, Delete) are serialised, so Update
// is atomic within the process. The data is not shared between processes.
type Memory struct {
	name    string
	log     *zap.Logger
	maxCost int64
	cache   *ristretto.Cache[string, *memEntry]
	seed    maphash.Seed
	stripes [memStripes]sync.Mutex

	// life guards against use during and after Close: ristretto panics
	// when a write races its Close.
	life   sync.RWMutex
	closed atomic.Bool

	evictions, rejections, notStored atomic.Uint64
}

var _ Backend = (*Memory)(nil)

// NewMemory builds the in-process memory backend (ristretto) named name.
// cfg.MaxSize is its capacity in bytes (default 64MiB, at least 1KiB); an
// entry costs len(key)+len(value)+128 bytes.
func NewMemory(name string, cfg BackendConfig, log *zap.Logger) (Backend, error) {
	return newMemory(name, cfg, log)
}

func newMemory(name string, cfg BackendConfig, log *zap.Logger) (*Memory, error) {
	if log == nil {
		log = zap.NewNop()
	}
	maxCost := int64(cfg.MaxSize)
	switch {
	case maxCost == 0:
		maxCost = memDefaultMaxSize
	case maxCost < memMinMaxSize:
		return nil, fmt.Errorf("kvcache.backends.%s.max_size = %s: the memory backend needs at least 1KiB (for example 64MiB)", name, cfg.MaxSize)
	}
	counters := min(max(maxCost/memAvgItemSize*10, memMinCounters), memMaxCounters)
	m := &Memory{name: name, log: log, maxCost: maxCost, seed: maphash.MakeSeed()}
	c, err := ristretto.NewCache(&ristretto.Config[string, *memEntry]{
		NumCounters:        counters,
		MaxCost:            maxCost,
		BufferItems:        64,
		IgnoreInternalCost: true,
		OnEvict:            m.onEvict,
		OnReject:           m.onReject,
	})
	if err != nil {
		return nil, fmt.Errorf("kvcache: memory backend %q: %w", name, err)
	}
	m.cache = c
	return m, nil
}

func memKeyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:6])
}

func memCost(key string, value []byte) int64 {
	return int64(len(key) + len(value) + memEntryOverhead)
}

// onEvict runs on ristretto's goroutine for entries removed by expiry,
// by capacity, or by Close. Only the capacity case is news.
func (m *Memory) onEvict(item *ristretto.Item[*memEntry]) {
	e := item.Value
	if e == nil || m.closed.Load() || e.expired(time.Now()) {
		return
	}
	m.evictions.Add(1)
	m.log.Warn("kvcache: memory backend full, evicted an unexpired entry",
		zap.String("backend", m.name),
		zap.String("key_hash", memKeyHash(e.key)),
		zap.Int64("cost", item.Cost),
		zap.Int64("max_cost", m.maxCost),
		zap.String("note", memNote))
}

// onReject runs when the admission policy refuses a new entry. The write
// is retried, and only a write that finally fails is logged at warn.
func (m *Memory) onReject(item *ristretto.Item[*memEntry]) {
	e := item.Value
	if e == nil || m.closed.Load() {
		return
	}
	m.rejections.Add(1)
	m.log.Debug("kvcache: memory backend admission policy refused an entry; retrying",
		zap.String("backend", m.name),
		zap.String("key_hash", memKeyHash(e.key)),
		zap.Int64("cost", item.Cost))
}

func (m *Memory) stripe(key string) *sync.Mutex {
	return &m.stripes[maphash.String(m.seed, key)%memStripes]
}

// enter starts an operation; the returned func ends it.
func (m *Memory) enter(ctx context.Context) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.life.RLock()
	if m.closed.Load() {
		m.life.RUnlock()
		return nil, fmt.Errorf("%w (%q)", errMemClosed, m.name)
	}
	return m.life.RUnlock, nil
}

// load returns the live entry for key. The conflict check on the key guards
// against two keys sharing both 64-bit hashes.
func (m *Memory) load(key string) (*memEntry, bool) {
	e, ok := m.cache.Get(key)
	if !ok || e == nil || e.key != key || e.expired(time.Now()) {
		return nil, false
	}
	return e, true
}

func checkTTL(key string, ttl time.Duration) error {
	if ttl < 0 {
		return fmt.Errorf("kvcache: ttl %s for key hash %s: want 0 (no expiry) or a positive duration", ttl, memKeyHash(key))
	}
	return nil
}

// store makes e durable or fails with ErrNotStored. The caller holds the
// key's stripe lock, so no other write to e.key runs meanwhile.
func (m *Memory) store(e *memEntry, ttl time.Duration) error {
	cost := memCost(e.key, e.value)
	if cost > m.maxCost {
		m.notStored.Add(1)
		return fmt.Errorf("%w: entry of %d bytes (key hash %s) exceeds memory backend %q max_size %s", ErrNotStored, cost, memKeyHash(e.key), m.name, ByteSize(m.maxCost))
	}
	if ttl > 0 {
		e.expires = time.Now().Add(ttl)
	}
	for range memSetAttempts {
		if !m.cache.SetWithTTL(e.key, e, cost, ttl) {
			// Set buffer full: the write was dropped. Wait drains the
			// buffer before the next attempt.
			m.cache.Wait()
			continue
		}
		// Apply the buffered write (admission, evictions), then check it
		// is there: the policy may have refused it. GetTTL reads without
		// counting a hit, so checking does not skew admission; under the
		// stripe lock a present key holds this entry.
		m.cache.Wait()
		if _, ok := m.cache.GetTTL(e.key); ok {
			return nil
		}
		// Refused: count the attempt as demand for the key (a Get records
		// it in the admission sketch), so a retry stands a better chance.
		m.cache.Get(e.key)
	}
	m.notStored.Add(1)
	m.log.Warn("kvcache: memory backend could not store an entry",
		zap.String("backend", m.name),
		zap.String("key_hash", memKeyHash(e.key)),
		zap.Int64("cost", cost),
		zap.Int("attempts", memSetAttempts),
		zap.String("note", memNote))
	return fmt.Errorf("%w: memory backend %q refused key hash %s (%d bytes) after %d attempts; it is at capacity (max_size %s)", ErrNotStored, m.name, memKeyHash(e.key), cost, memSetAttempts, ByteSize(m.maxCost))
}

func cloneBytes(b []byte) []byte {
	out := make([]byte, len(b))
	copy(out, b)
	return out
}

// Get returns a copy of the value and its remaining time to live.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, time.Duration, error) {
	leave, err := m.enter(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer leave()
	e, ok := m.load(key)
	if !ok {
		return nil, 0, ErrNotFound
	}
	var ttl time.Duration
	if !e.expires.IsZero() {
		ttl = time.Until(e.expires)
		if ttl <= 0 {
			return nil, 0, ErrNotFound
		}
	}
	return cloneBytes(e.value), ttl, nil
}

// Set stores a copy of value. A nil error means the value was stored and
// read back; ErrNotStored means the cache refused it.
func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL(key, ttl); err != nil {
		return err
	}
	leave, err := m.enter(ctx)
	if err != nil {
		return err
	}
	defer leave()
	mu := m.stripe(key)
	mu.Lock()
	defer mu.Unlock()
	return m.store(&memEntry{key: key, value: cloneBytes(value)}, ttl)
}

// Delete removes key; an absent key is not an error.
func (m *Memory) Delete(ctx context.Context, key string) error {
	leave, err := m.enter(ctx)
	if err != nil {
		return err
	}
	defer leave()
	mu := m.stripe(key)
	mu.Lock()
	defer mu.Unlock()
	// ristretto removes the value at once and queues the policy update
	// behind any earlier write, so a later Set cannot be undone by it.
	m.cache.Del(key)
	return nil
}

// Exists reports whether key is present and unexpired.
func (m *Memory) Exists(ctx context.Context, key string) (bool, error) {
	leave, err := m.enter(ctx)
	if err != nil {
		return false, err
	}
	defer leave()
	_, ok := m.load(key)
	return ok, nil
}

// Expire stores key's value again with a new TTL (ristretto cannot change
// a TTL in place). ErrNotFound when the key is absent.
func (m *Memory) Expire(ctx context.Context, key string, ttl time.Duration) error {
	if err := checkTTL(key, ttl); err != nil {
		return err
	}
	leave, err := m.enter(ctx)
	if err != nil {
		return err
	}
	defer leave()
	mu := m.stripe(key)
	mu.Lock()
	defer mu.Unlock()
	e, ok := m.load(key)
	if !ok {
		return ErrNotFound
	}
	return m.store(&memEntry{key: key, value: e.value}, ttl)
}

// Update replaces key's value with fn's result while holding the key's
// write lock. fn receives a copy of the current value; a nil result deletes.
func (m *Memory) Update(ctx context.Context, key string, fn UpdateFunc) error {
	leave, err := m.enter(ctx)
	if err != nil {
		return err
	}
	defer leave()
	mu := m.stripe(key)
	mu.Lock()
	defer mu.Unlock()
	var old []byte
	e, found := m.load(key)
	if found {
		old = cloneBytes(e.value)
	}
	value, ttl, err := fn(old, found)
	if err != nil {
		return err
	}
	if value == nil {
		if found {
			m.cache.Del(key)
		}
		return nil
	}
	if err := checkTTL(key, ttl); err != nil {
		return err
	}
	return m.store(&memEntry{key: key, value: cloneBytes(value)}, ttl)
}

// Scan calls fn for every live key starting with prefix. The matching keys
// are collected first: ristretto holds a shard lock while it iterates, and
// fn must be free to write to the backend.
func (m *Memory) Scan(ctx context.Context, prefix string, fn func(key string) error) error {
	leave, err := m.enter(ctx)
	if err != nil {
		return err
	}
	var keys []string
	now := time.Now()
	m.cache.IterValues(func(e *memEntry) bool {
		if e != nil && strings.HasPrefix(e.key, prefix) && !e.expired(now) {
			keys = append(keys, e.key)
		}
		return false
	})
	leave()
	for i, k := range keys {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

// CrossProcess is false: the data lives in this process only.
func (m *Memory) CrossProcess() bool { return false }

// Stats returns the capacity event counters.
func (m *Memory) Stats() MemoryStats {
	return MemoryStats{Evictions: m.evictions.Load(), Rejections: m.rejections.Load(), NotStored: m.notStored.Load()}
}

// Close releases the cache and its goroutines; later calls fail.
func (m *Memory) Close() error {
	m.life.Lock()
	defer m.life.Unlock()
	if m.closed.Swap(true) {
		return nil
	}
	m.cache.Close()
	return nil
}
