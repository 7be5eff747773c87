package kvcache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/sessionfx/session/internal/loghash"
	"go.uber.org/zap"
)

const (
	// memDefaultMaxSize is the capacity of a memory backend configured without max_size.
	memDefaultMaxSize = 64 << 20
	// memMinMaxSize is the smallest capacity accepted: below it a handful of
	// entries would already fill the cache.
	memMinMaxSize = 1 << 10
	// memEntryOverhead is what one entry costs the heap beyond its key and
	// value, measured with BenchmarkMemoryBytesPerEntry (about 185 bytes
	// for a 44-byte key, a 200-byte value and a TTL): the memEntry, one
	// allocation for key and value together, ristretto's store item, its
	// policy and expiry map slots, and this backend's index slot. With it,
	// max_size bounds the heap the entries take.
	memEntryOverhead = 184
	// memAvgItemSize is the assumed average entry size used to size
	// ristretto's admission counters: one counter per expected entry (not
	// the ten ristretto suggests, which cost about 12MiB at 64MiB): the
	// backend makes room itself before ristretto has to choose, so the
	// admission policy only matters when that fails.
	memAvgItemSize = 256
	memMinCounters = 1 << 10
	memMaxCounters = 1 << 22
	// memSetAttempts bounds how often a write is retried when ristretto
	// drops it (set buffer full) or its admission policy refuses it.
	memSetAttempts = 8
	memStripes     = 256
	// memSample is how many entries are sampled to choose one victim, and
	// memEvictTries how many victims one write may try to evict.
	memSample     = 8
	memEvictTries = 16
	// memHighWaterDiv: the backend evicts before a write would take the
	// accounted cost above max_size - max_size/memHighWaterDiv (~94%), so
	// ristretto always has room and admits every write.
	memHighWaterDiv = 16
	// memSummaryInterval is how often evictions and refusals are summed up
	// in one warning.
	memSummaryInterval = time.Minute
	// memReadBit marks, in memEntry.meta, an entry read since it was written.
	memReadBit   = 1 << 31
	memMaxKeyLen = memReadBit - 1
	// memNote is appended to every capacity warning.
	memNote = "the memory backend is a cache: data that must survive capacity pressure or a restart belongs on the GORM or Redis backend"
)

var errMemClosed = errors.New("kvcache: memory backend is closed")

// memEntry is what the memory backend stores: 32 bytes and one allocation
// for key and value. The key is kept so Scan can walk values and eviction
// logs can name the key's hash.
type memEntry struct {
	kv   string // the key followed by the value
	exp  int64  // expiry on the backend's monotonic clock (Memory.now); 0: none
	slot int32  // position in its index stripe, -1 when not indexed; guarded by the stripe's mutex
	meta atomic.Uint32
}

func newMemEntry(key string, value []byte, exp int64, read bool) *memEntry {
	var b strings.Builder
	b.Grow(len(key) + len(value))
	b.WriteString(key)
	b.Write(value)
	e := &memEntry{kv: b.String(), exp: exp, slot: -1}
	meta := uint32(len(key))
	if read {
		meta |= memReadBit
	}
	e.meta.Store(meta)
	return e
}

func (e *memEntry) keyLen() int { return int(e.meta.Load() &^ memReadBit) }
func (e *memEntry) key() string { return e.kv[:e.keyLen()] }

// value returns a copy of the value.
func (e *memEntry) value() []byte { return []byte(e.kv[e.keyLen():]) }
func (e *memEntry) cost() int64   { return int64(len(e.kv)) + memEntryOverhead }
func (e *memEntry) read() bool    { return e.meta.Load()&memReadBit != 0 }

// markRead records a read; the atomic write happens once per entry.
func (e *memEntry) markRead() {
	if !e.read() {
		e.meta.Or(memReadBit)
	}
}

func (e *memEntry) expired(now int64) bool { return e.exp != 0 && now >= e.exp }

// evictBefore reports whether e is a better victim than o: expired entries
// first, then entries never read since they were written, then the one
// closest to expiry (no expiry counts as farthest).
func (e *memEntry) evictBefore(o *memEntry, now int64) bool {
	if ee, oe := e.expired(now), o.expired(now); ee != oe {
		return ee
	}
	if er, or := e.read(), o.read(); er != or {
		return !er
	}
	switch {
	case e.exp == 0:
		return false
	case o.exp == 0:
		return true
	}
	return e.exp < o.exp
}

// memIndex is one stripe of the backend's own list of its entries, from
// which victims are sampled.
type memIndex struct {
	mu      sync.Mutex
	entries []*memEntry
	_       [32]byte // keep neighbouring stripes off one cache line
}

// MemoryStats counts the memory backend's capacity events since it was
// built, and what it holds now.
type MemoryStats struct {
	// Evictions counts unexpired entries removed to make room: MadeRoom
	// plus CapacityEvictions.
	Evictions uint64
	// MadeRoom counts entries the backend evicted itself before a write
	// would have filled the cache (entries never read since they were
	// written first, then those closest to expiry).
	MadeRoom uint64
	// CapacityEvictions counts unexpired entries ristretto's own policy
	// evicted (rare: only when making room fell behind).
	CapacityEvictions uint64
	// Rejections counts writes ristretto's admission policy refused
	// (each may have been retried successfully).
	Rejections uint64
	// NotStored counts writes that failed with ErrNotStored.
	NotStored uint64
	// Entries and UsedBytes are what the backend holds now (UsedBytes as
	// counted against MaxSize: keys, values and a fixed overhead per entry).
	Entries   int64
	UsedBytes int64
	MaxSize   int64
}

// Memory is the in-process backend on ristretto. Unlike a bare ristretto
// cache it never reports success for a write it did not keep: every write is
// retried while ristretto drops it, flushed, and read back; a write that
// still is not there fails with ErrNotStored.
//
// At capacity a write first makes room: the backend keeps its own count of
// the bytes it holds and, before a write would take it past ~94% of
// max_size, evicts sampled entries — those never read since they were
// written first, then those closest to expiry — so ristretto's admission
// policy never has to refuse a new key. Each eviction is logged at warn
// level, and a warning sums up evictions and refusals once a minute (and at
// Close), so they show even in a sampled log.
//
// Writes to one key (Set, Update, Expire, Delete) are serialised, so Update
// is atomic within the process. The data is not shared between processes.
type Memory struct {
	name    string
	log     *zap.Logger
	maxCost int64
	high    int64 // make room above this accounted cost
	cache   *ristretto.Cache[string, *memEntry]
	seed    maphash.Seed
	epoch   time.Time
	stripes [memStripes]sync.Mutex
	index   [memStripes]memIndex
	sets    memSets // index sets (Indexer), beside the cache

	used, entries atomic.Int64

	// life guards against use during and after Close: ristretto panics
	// when a write races its Close.
	life   sync.RWMutex
	closed atomic.Bool
	stop   chan struct{}
	done   chan struct{}

	madeRoom, capEvictions, rejections, notStored atomic.Uint64
}

var (
	_ Backend = (*Memory)(nil)
	_ Adder   = (*Memory)(nil)
	_ Swapper = (*Memory)(nil)
)

// NewMemory builds the in-process memory backend (ristretto) named name.
// cfg.MaxSize is its capacity in bytes (default 64MiB, at least 1KiB); an
// entry costs len(key)+len(value)+184 bytes.
func NewMemory(name string, cfg BackendConfig, log *zap.Logger) (Backend, error) {
	return newMemory(name, cfg, log, memSummaryInterval)
}

func newMemory(name string, cfg BackendConfig, log *zap.Logger, summaryEvery time.Duration) (*Memory, error) {
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
	counters := min(max(maxCost/memAvgItemSize, memMinCounters), memMaxCounters)
	m := &Memory{
		name: name, log: log, maxCost: maxCost, high: maxCost - maxCost/memHighWaterDiv,
		seed: maphash.MakeSeed(), epoch: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, *memEntry]{
		NumCounters:        counters,
		MaxCost:            maxCost,
		BufferItems:        64,
		IgnoreInternalCost: true,
		OnEvict:            m.onEvict,
		OnReject:           m.onReject,
		OnExit:             m.onExit,
	})
	if err != nil {
		return nil, fmt.Errorf("kvcache: memory backend %q: %w", name, err)
	}
	m.cache = c
	go m.summarize(summaryEvery)
	return m, nil
}

// now reads the backend's monotonic clock (immune to wall-clock steps).
func (m *Memory) now() int64 { return int64(time.Since(m.epoch)) }

func (m *Memory) expiry(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return m.now() + int64(ttl)
}

func (m *Memory) stripeOf(key string) int {
	return int(maphash.String(m.seed, key) % memStripes)
}

// track adds e to the index and its cost to the used bytes, unless it is
// indexed already.
func (m *Memory) track(e *memEntry, stripe int) {
	ix := &m.index[stripe]
	ix.mu.Lock()
	if e.slot < 0 {
		e.slot = int32(len(ix.entries))
		ix.entries = append(ix.entries, e)
		m.used.Add(e.cost())
		m.entries.Add(1)
	}
	ix.mu.Unlock()
}

// untrack removes e from the index and reports whether it was there.
func (m *Memory) untrack(e *memEntry, stripe int) bool {
	ix := &m.index[stripe]
	ix.mu.Lock()
	defer ix.mu.Unlock()
	i := int(e.slot)
	if i < 0 || i >= len(ix.entries) || ix.entries[i] != e {
		return false
	}
	last := len(ix.entries) - 1
	ix.entries[i] = ix.entries[last]
	ix.entries[i].slot = int32(i)
	ix.entries[last] = nil
	ix.entries = ix.entries[:last]
	if cap(ix.entries) > 64 && len(ix.entries) < cap(ix.entries)/4 {
		ix.entries = append([]*memEntry(nil), ix.entries...)
	}
	e.slot = -1
	m.used.Add(-e.cost())
	m.entries.Add(-1)
	return true
}

// onExit runs whenever a value leaves ristretto (replaced, deleted,
// evicted, expired or refused): it is no longer held.
func (m *Memory) onExit(e *memEntry) {
	if e == nil || m.closed.Load() {
		return
	}
	m.untrack(e, m.stripeOf(e.key()))
}

// onEvict runs on ristretto's goroutine for entries removed by expiry,
// by capacity, or by Close. Only the capacity case is news.
func (m *Memory) onEvict(item *ristretto.Item[*memEntry]) {
	e := item.Value
	if e == nil || m.closed.Load() || e.expired(m.now()) {
		return
	}
	m.capEvictions.Add(1)
	m.logEviction(e, "ristretto")
}

func (m *Memory) logEviction(e *memEntry, by string) {
	ce := m.log.Check(zap.WarnLevel, "kvcache: memory backend full, evicted an unexpired entry")
	if ce == nil {
		return // not logged: skip hashing the key
	}
	ce.Write(
		zap.String("backend", m.name),
		zap.String("key_hash", loghash.Of(e.key())),
		zap.Int64("cost", e.cost()),
		zap.Bool("read_since_write", e.read()),
		zap.String("by", by),
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
		zap.String("key_hash", loghash.Of(e.key())),
		zap.Int64("cost", item.Cost))
}

// makeRoom evicts entries while the used bytes (self already counted,
// credit — the cost of the entry self replaces — not) are above the high
// water mark. The caller holds the lock of stripe.
func (m *Memory) makeRoom(self *memEntry, stripe int, credit int64) {
	for range memEvictTries {
		if m.used.Load()-credit <= m.high {
			return
		}
		m.evictOne(self, stripe)
	}
}

// evictOne samples memSample entries and evicts the best victim among them
// (see memEntry.evictBefore), unless another write holds its key's lock.
func (m *Memory) evictOne(self *memEntry, stripe int) {
	now := m.now()
	var victim *memEntry
	vs := 0
	for range memSample {
		// A random entry of the first non-empty stripe from a random one
		// on (in a small cache most stripes are empty).
		start := rand.IntN(memStripes)
		for j := range memStripes {
			s := (start + j) % memStripes
			ix := &m.index[s]
			ix.mu.Lock()
			n := len(ix.entries)
			if n > 0 {
				if c := ix.entries[rand.IntN(n)]; c != self && (victim == nil || c.evictBefore(victim, now)) {
					victim, vs = c, s
				}
			}
			ix.mu.Unlock()
			if n > 0 {
				break
			}
		}
	}
	if victim == nil {
		return
	}
	key := victim.key()
	if key == self.key() {
		return // the entry self replaces; its cost is credited already
	}
	if vs != stripe {
		mu := &m.stripes[vs]
		if !mu.TryLock() {
			return // being written: try another
		}
		defer mu.Unlock()
	}
	// Under the key's lock an indexed entry is the key's current value.
	if !m.untrack(victim, vs) {
		return
	}
	m.cache.Del(key)
	if victim.expired(now) {
		return // dead already: reclaiming it is not news
	}
	m.madeRoom.Add(1)
	m.logEviction(victim, "make_room")
}

// enter starts an operation; leave ends it (unless enter failed).
func (m *Memory) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.life.RLock()
	if m.closed.Load() {
		m.life.RUnlock()
		return fmt.Errorf("%w (%q)", errMemClosed, m.name)
	}
	return nil
}

// leave ends an operation enter started.
func (m *Memory) leave() { m.life.RUnlock() }

// locked runs fn within an operation and under key's write lock, with the
// key's stripe: writes to one key never overlap.
func (m *Memory) locked(ctx context.Context, key string, fn func(stripe int) error) error {
	if err := m.enter(ctx); err != nil {
		return err
	}
	defer m.leave()
	s := m.stripeOf(key)
	mu := &m.stripes[s]
	mu.Lock()
	defer mu.Unlock()
	return fn(s)
}

// load returns the live entry for key. The conflict check on the key guards
// against two keys sharing both 64-bit hashes.
func (m *Memory) load(key string) (*memEntry, bool) {
	e, ok := m.cache.Get(key)
	if !ok || e == nil || e.key() != key || e.expired(m.now()) {
		return nil, false
	}
	return e, true
}

func checkTTL(key string, ttl time.Duration) error {
	if ttl < 0 {
		return fmt.Errorf("kvcache: ttl %s for key hash %s: want 0 (no expiry) or a positive duration", ttl, loghash.Of(key))
	}
	return nil
}

// store makes e durable or fails with ErrNotStored. The caller holds the
// lock of stripe (e's key's), so no other write to the key runs meanwhile;
// old is the key's current entry, if any.
func (m *Memory) store(e *memEntry, old *memEntry, stripe int, ttl time.Duration) error {
	key := e.key()
	cost := e.cost()
	if cost > m.maxCost || len(key) > memMaxKeyLen {
		m.notStored.Add(1)
		return fmt.Errorf("%w: entry of %d bytes (key hash %s) exceeds memory backend %q max_size %s", ErrNotStored, cost, loghash.Of(key), m.name, ByteSize(m.maxCost))
	}
	var credit int64
	if old != nil {
		credit = old.cost()
	}
	for range memSetAttempts {
		// Count e before making room, so concurrent writes see each
		// other's bytes and ristretto always has room for what they add.
		m.track(e, stripe)
		m.makeRoom(e, stripe, credit)
		if !m.cache.SetWithTTL(key, e, cost, ttl) {
			// Set buffer full: the write was dropped. Wait drains the
			// buffer before the next attempt.
			m.cache.Wait()
			continue
		}
		// A key ristretto holds is replaced in place at once (its policy
		// only updates the cost later, and cannot refuse it): no need to
		// wait when the key already shows this entry.
		if old != nil {
			if cur, ok := m.cache.Get(key); ok && cur == e {
				return nil
			}
		}
		// Apply the buffered write (admission, evictions), then check it
		// is there: the policy may have refused it. GetTTL reads without
		// counting a hit, so checking does not skew admission; under the
		// stripe lock a present key holds this entry.
		m.cache.Wait()
		if _, ok := m.cache.GetTTL(key); ok {
			return nil
		}
		// Refused: count the attempt as demand for the key (a Get records
		// it in the admission sketch), so a retry stands a better chance.
		m.cache.Get(key)
	}
	m.untrack(e, stripe)
	m.notStored.Add(1)
	m.log.Warn("kvcache: memory backend could not store an entry",
		zap.String("backend", m.name),
		zap.String("key_hash", loghash.Of(key)),
		zap.Int64("cost", cost),
		zap.Int("attempts", memSetAttempts),
		zap.String("note", memNote))
	return fmt.Errorf("%w: memory backend %q refused key hash %s (%d bytes) after %d attempts; it is at capacity (max_size %s)", ErrNotStored, m.name, loghash.Of(key), cost, memSetAttempts, ByteSize(m.maxCost))
}

// Get returns a copy of the value and its remaining time to live.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, time.Duration, error) {
	if err := m.enter(ctx); err != nil {
		return nil, 0, err
	}
	defer m.leave()
	e, ok := m.load(key)
	if !ok {
		return nil, 0, ErrNotFound
	}
	var ttl time.Duration
	if e.exp != 0 {
		ttl = time.Duration(e.exp - m.now())
		if ttl <= 0 {
			return nil, 0, ErrNotFound
		}
	}
	e.markRead()
	return e.value(), ttl, nil
}

// Set stores a copy of value. A nil error means the value was stored and
// read back; ErrNotStored means the cache refused it.
func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL(key, ttl); err != nil {
		return err
	}
	return m.locked(ctx, key, func(s int) error {
		old, _ := m.load(key)
		return m.store(newMemEntry(key, value, m.expiry(ttl), false), old, s, ttl)
	})
}

// Delete removes key; an absent key is not an error.
func (m *Memory) Delete(ctx context.Context, key string) error {
	return m.locked(ctx, key, func(int) error {
		// ristretto removes the value at once and queues the policy update
		// behind any earlier write, so a later Set cannot be undone by it.
		m.cache.Del(key)
		return nil
	})
}

// Exists reports whether key is present and unexpired.
func (m *Memory) Exists(ctx context.Context, key string) (bool, error) {
	if err := m.enter(ctx); err != nil {
		return false, err
	}
	defer m.leave()
	e, ok := m.load(key)
	if ok {
		e.markRead()
	}
	return ok, nil
}

// Expire stores key's value again with a new TTL (ristretto cannot change
// a TTL in place). ErrNotFound when the key is absent. The key counts as
// read: a refresh is a sign of use.
func (m *Memory) Expire(ctx context.Context, key string, ttl time.Duration) error {
	if err := checkTTL(key, ttl); err != nil {
		return err
	}
	return m.locked(ctx, key, func(s int) error {
		e, ok := m.load(key)
		if !ok {
			return ErrNotFound
		}
		n := &memEntry{kv: e.kv, exp: m.expiry(ttl), slot: -1}
		n.meta.Store(uint32(len(key)) | memReadBit)
		return m.store(n, e, s, ttl)
	})
}

// Update replaces key's value with fn's result while holding the key's
// write lock. fn receives a copy of the current value; a nil result deletes.
// A key updated over an existing value counts as read.
func (m *Memory) Update(ctx context.Context, key string, fn UpdateFunc) error {
	return m.locked(ctx, key, func(s int) error {
		var old []byte
		e, found := m.load(key)
		if found {
			old = e.value()
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
		return m.store(newMemEntry(key, value, m.expiry(ttl), found), e, s, ttl)
	})
}

// SetNX stores value only when key is absent (or expired) and reports
// whether it did (kvcache.Adder).
func (m *Memory) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL(key, ttl); err != nil {
		return false, err
	}
	stored := false
	err := m.locked(ctx, key, func(s int) error {
		if _, found := m.load(key); found {
			return nil
		}
		stored = true
		return m.store(newMemEntry(key, value, m.expiry(ttl), false), nil, s, ttl)
	})
	return stored, err
}

// CompareAndSwap replaces key's value with value (nil deletes) only if it
// still equals old, and reports whether it did (kvcache.Swapper): a save
// onto the value it loaded needs no second decode.
func (m *Memory) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL(key, ttl); err != nil {
		return false, err
	}
	swapped := false
	err := m.locked(ctx, key, func(s int) error {
		e, found := m.load(key)
		if !found || e.kv[e.keyLen():] != string(old) {
			return nil
		}
		swapped = true
		if value == nil {
			m.cache.Del(key)
			return nil
		}
		return m.store(newMemEntry(key, value, m.expiry(ttl), true), e, s, ttl)
	})
	return swapped, err
}

// Scan calls fn for every live key starting with prefix. The matching keys
// are collected first: ristretto holds a shard lock while it iterates, and
// fn must be free to write to the backend.
func (m *Memory) Scan(ctx context.Context, prefix string, fn func(key string) error) error {
	if err := m.enter(ctx); err != nil {
		return err
	}
	var keys []string
	now := m.now()
	m.cache.IterValues(func(e *memEntry) bool {
		if e != nil && strings.HasPrefix(e.kv, prefix) && len(prefix) <= e.keyLen() && !e.expired(now) {
			keys = append(keys, e.key())
		}
		return false
	})
	m.leave()
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

// Stats returns the capacity event counters and the current fill.
func (m *Memory) Stats() MemoryStats {
	made, capEv := m.madeRoom.Load(), m.capEvictions.Load()
	return MemoryStats{
		Evictions: made + capEv, MadeRoom: made, CapacityEvictions: capEv,
		Rejections: m.rejections.Load(), NotStored: m.notStored.Load(),
		Entries: m.entries.Load(), UsedBytes: m.used.Load(), MaxSize: m.maxCost,
	}
}

// summarize logs, every interval and once more when the backend closes,
// one warning with the evictions and refusals since the last one, if any:
// a single line per interval survives a sampled logger, where one line per
// eviction mostly does not.
func (m *Memory) summarize(every time.Duration) {
	defer close(m.done)
	t := time.NewTicker(every)
	defer t.Stop()
	var last MemoryStats
	since := time.Now()
	emit := func() {
		s := m.Stats()
		ev, ms := s.Evictions-last.Evictions, s.NotStored-last.NotStored
		rj := s.Rejections - last.Rejections
		if ev == 0 && ms == 0 && rj == 0 {
			return
		}
		d := time.Since(since).Round(time.Second)
		m.log.Warn(fmt.Sprintf("kvcache: memory backend %q: %d evictions, %d refused writes in the last %s", m.name, ev, ms, d),
			zap.String("backend", m.name),
			zap.Uint64("evictions", ev),
			zap.Uint64("made_room", s.MadeRoom-last.MadeRoom),
			zap.Uint64("capacity_evictions", s.CapacityEvictions-last.CapacityEvictions),
			zap.Uint64("not_stored", ms),
			zap.Uint64("admission_rejections", rj),
			zap.Duration("interval", d),
			zap.Int64("entries", s.Entries),
			zap.Int64("used_bytes", s.UsedBytes),
			zap.Int64("max_size", s.MaxSize),
			zap.String("note", memNote))
		last = s
		since = time.Now()
	}
	for {
		select {
		case <-t.C:
			emit()
		case <-m.stop:
			emit()
			return
		}
	}
}

// Close releases the cache and its goroutines; later calls fail. Counts
// not yet summed up are logged first.
func (m *Memory) Close() error {
	m.life.Lock()
	defer m.life.Unlock()
	if m.closed.Load() {
		return nil
	}
	close(m.stop)
	<-m.done
	m.closed.Store(true)
	m.cache.Close()
	return nil
}
