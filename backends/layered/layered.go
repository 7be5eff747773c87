// Package layered is a session store that keeps a short-lived copy of
// sessions in a fast front kvcache container (normally the in-process
// memory backend) in front of a durable back store (GORM, or a kvcache
// container on Redis): Django's cached_db.
//
//   - Load reads the front first; a miss (or an expired or undecodable
//     copy) goes to the back and fills the front.
//   - Save, Delete and Touch go to the back first (the back does the atomic
//     per-key merge), then update or drop the front copy.
//   - Exists, Iterate, Setup, DeleteOlderThan and Renew go to the back, when
//     it has the capability (backends.Exister, Iterator, Setupper, Sweeper,
//     Renewer); without it Setup does nothing, Exists loads, and the others
//     report backends.ErrUnsupported.
//   - A failure of the front (get, set, delete) is logged at Warn and never
//     fails the request: the store falls through to the back.
//
// Consistency: each instance's front is its own memory, so a write through
// instance A leaves instance B's copy stale until B hears of it or the copy
// expires. Within one instance reads see its own writes at once.
//
//   - When the back pushes its changes (it is, or wraps, a backends.Watcher:
//     gormstore on PostgreSQL, through LISTEN/NOTIFY), the store subscribes
//     on first use and drops a front copy as soon as the back reports the
//     session changed, deleted (logout) or renewed away (login); a report of
//     a revision the copy already has (this instance's own save) is
//     ignored. The cross-instance bound is then the notification delay
//     (milliseconds), and a copy lives up to InvalidatedTTL (default 1m).
//     When the watch loses its connection every front copy is dropped, and
//     until it listens again copies live LocalTTL at most; when it listens
//     (at first, or again) every copy taken meanwhile is dropped too.
//   - Otherwise (no watch, WithInvalidation(false), or while the watch is
//     down) a front copy lives at most LocalTTL (default 5s), so LocalTTL is
//     the bound on how long another instance may serve an older version of
//     a session — including one that was deleted (logout) or renewed away
//     (login). Choose a small LocalTTL (or no layered store) when that bound
//     is too loose.
//
// A front copy never outlives the session's own expiry.
package layered

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/internal/loghash"
	"github.com/sessionfx/session/kvcache"
)

// DefaultLocalTTL is how long a front copy is trusted when no LocalTTL is
// given: the staleness bound between instances.
const DefaultLocalTTL = 5 * time.Second

// DefaultInvalidatedTTL is how long a front copy is trusted, when no
// InvalidatedTTL is given, while the back pushes its changes: a safety net,
// since the copy is dropped as soon as the session changes.
const DefaultInvalidatedTTL = time.Minute

// minFrontTTL is the shortest front lifetime worth storing.
const minFrontTTL = time.Millisecond

// stripes is the number of lock stripes that order front writes per id.
const stripes = 256

// Option configures New.
type Option func(*Store)

// WithLocalTTL sets how long a front copy lives (default 5s): the bound on
// how long another instance may serve a stale copy. Zero or less means the
// default.
func WithLocalTTL(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.ttl = d
		}
	}
}

// WithInvalidatedTTL sets how long a front copy lives while the back store
// pushes its changes (default 1m; see the package doc). Zero or less means
// the default; a value below LocalTTL counts as LocalTTL.
func WithInvalidatedTTL(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.invalidatedTTL = d
		}
	}
}

// WithInvalidation turns the subscription to the back's changes on (the
// default: used when the back is a backends.Watcher) or off (front copies
// then always live LocalTTL at most).
func WithInvalidation(on bool) Option {
	return func(s *Store) { s.invalidation = on }
}

// WithLogger sets the logger for front-layer failures (default: none).
func WithLogger(l *zap.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.log = l
		}
	}
}

// Store is the layered store. It owns the back store: Close closes it.
type Store struct {
	front          *kvcache.Container
	back           backends.Store
	ttl            time.Duration
	invalidatedTTL time.Duration
	invalidation   bool
	log            *zap.Logger
	now            func() time.Time

	// wstate counts the back watch's transitions: odd while it is synced
	// (every change is reported), even before and while it is lost. A
	// front copy gets InvalidatedTTL only when the watch was synced from
	// before its back call to its front write.
	wstate    atomic.Uint64
	watchOnce sync.Once
	watchMu   sync.Mutex
	stopWatch func() error // set once subscribed
	closed    bool

	// gen counts the writes per stripe of ids. A front write after a back
	// call (a Load's fill, a Save's result) is skipped when another write
	// to the stripe finished since the call began, so an older copy never
	// lands over a newer one on this instance. locks order front writes.
	seed  maphash.Seed
	gen   [stripes]atomic.Uint64
	locks [stripes]sync.Mutex
	// notes[i] is the last change report that moved gen[i] (guarded by
	// locks[i]): a front write whose record is at least that revision of
	// that id is not stale because of it (see covered).
	notes [stripes]note
}

// note is a change report as a stripe remembers it.
type note struct {
	id  string
	rev int64
	gen uint64 // the stripe's generation the report moved it to
}

var (
	_ backends.Store     = (*Store)(nil)
	_ backends.Renewer   = (*Store)(nil)
	_ backends.Describer = (*Store)(nil)
	_ backends.Setupper  = (*Store)(nil)
	_ backends.Exister   = (*Store)(nil)
	_ backends.Iterator  = (*Store)(nil)
	_ backends.Sweeper   = (*Store)(nil)
)

// New returns a store with front caching back. The front container should
// be dedicated to this store (DeleteOlderThan scans it).
func New(front *kvcache.Container, back backends.Store, opts ...Option) *Store {
	s := &Store{front: front, back: back, ttl: DefaultLocalTTL, invalidatedTTL: DefaultInvalidatedTTL, invalidation: true,
		log: zap.NewNop(), now: time.Now, seed: maphash.MakeSeed()}
	for _, o := range opts {
		o(s)
	}
	s.invalidatedTTL = max(s.invalidatedTTL, s.ttl)
	return s
}

// FindUser implements backends.UserFinder through the back (its indexed
// query or index set): the back is the truth, and the front only caches.
// ErrUnsupported when the back cannot, so the caller iterates.
func (s *Store) FindUser(ctx context.Context, key, user string) ([]backends.Record, error) {
	f, ok := backends.As[backends.UserFinder](s.back)
	if !ok {
		return nil, fmt.Errorf("%w: layered: the back store (%T) cannot find a user's sessions", backends.ErrUnsupported, s.back)
	}
	return f.FindUser(ctx, key, user)
}

// IndexUser implements backends.UserIndexer through the back: saves go
// there, so its index is the one to keep.
func (s *Store) IndexUser(ctx context.Context, key, user, id string, ttl time.Duration) error {
	if ix, ok := backends.As[backends.UserIndexer](s.back); ok {
		return ix.IndexUser(ctx, key, user, id, ttl)
	}
	return nil
}

// Front returns the front container.
func (s *Store) Front() *kvcache.Container { return s.front }

// Back returns the back store.
func (s *Store) Back() backends.Store { return s.back }

// LocalTTL returns the longest life of a front copy while no watch of the
// back's changes is synced.
func (s *Store) LocalTTL() time.Duration { return s.ttl }

// InvalidatedTTL returns the longest life of a front copy while the back's
// changes are pushed.
func (s *Store) InvalidatedTTL() time.Duration { return s.invalidatedTTL }

// Invalidated reports whether the store is subscribed to the back's changes
// and hears them now: another instance's write then reaches this front
// within the notification delay, not LocalTTL.
func (s *Store) Invalidated() bool { return s.wstate.Load()&1 == 1 }

func (s *Store) stripe(id string) int {
	return int(maphash.String(s.seed, id) % stripes)
}

func (s *Store) warn(msg, id string, err error) {
	s.log.Warn("layered session store: "+msg+"; falling through to the back store",
		zap.String("front", s.front.Name()), zap.String("session", loghash.Of(id)), zap.Error(err))
}

// frontTTL is the life of a front copy of r: InvalidatedTTL when pushed
// (the back's watch was synced throughout, see pushed), else LocalTTL, but
// never past the session's expiry. ok is false when it is not worth storing.
func (s *Store) frontTTL(r *backends.Record, pushed bool) (time.Duration, bool) {
	ttl := s.ttl
	if pushed {
		ttl = s.invalidatedTTL
	}
	if !r.Expires.IsZero() {
		if left := r.Expires.Sub(s.now()); left < ttl {
			ttl = left
		}
	}
	return ttl, ttl >= minFrontTTL
}

// pushed reports whether the back's watch has been synced without a break
// since wstate read ws: every change since then has been or will be
// reported.
func (s *Store) pushed(ws uint64) bool { return ws&1 == 1 && s.wstate.Load() == ws }

// encodeFront is the front copy of r: the encoded record, then '#' and its
// revision when it has one (the record codec keeps none), so a hit returns
// the revision a compare-and-set save needs, and a change report can be
// matched against the copy without decoding it.
func encodeFront(r *backends.Record) ([]byte, error) {
	b, err := backends.EncodeRecord(r)
	if err != nil || r.Rev == 0 {
		return b, err
	}
	b = append(b, '#')
	return strconv.AppendInt(b, r.Rev, 10), nil
}

// splitFront splits a front copy into the encoded record and its revision
// (0 when it has none). An encoded record ends with '}', never a digit.
func splitFront(b []byte) ([]byte, int64) {
	i := len(b)
	for i > 0 && b[i-1] >= '0' && b[i-1] <= '9' {
		i--
	}
	if i == len(b) || i == 0 || b[i-1] != '#' {
		return b, 0
	}
	rev, err := strconv.ParseInt(string(b[i:]), 10, 64)
	if err != nil {
		return b, 0
	}
	return b[:i-1], rev
}

// decodeFront decodes a front copy.
func decodeFront(id string, b []byte) (*backends.Record, error) {
	enc, rev := splitFront(b)
	r, err := backends.DecodeRecord(id, enc)
	if err != nil {
		return nil, err
	}
	r.Rev = rev
	return r, nil
}

// put writes r into the front, or drops the front copy when r is nil or
// (nearly) expired. pushed says whether the back's watch was synced
// throughout. The caller holds the id's stripe lock.
func (s *Store) put(ctx context.Context, id string, r *backends.Record, pushed bool) {
	if r != nil {
		if ttl, ok := s.frontTTL(r, pushed); ok {
			b, err := encodeFront(r)
			if err == nil {
				err = s.front.Set(ctx, id, b, ttl)
			}
			if err == nil {
				return
			}
			s.warn("cannot write the front copy", id, err)
		}
	}
	if err := s.front.Delete(ctx, id); err != nil {
		s.warn("cannot drop the front copy", id, err)
	}
}

// written updates the front after a write to the back that began when the
// id's stripe was at generation gen and the watch state at ws: it stores r
// only when no other write to the stripe finished meanwhile (else the two
// writes' front copies could land in the wrong order, so it drops the copy
// and the next Load reads the back) — a change report of r's own revision
// (or an older one) excepted —, and drops the copy when r is nil.
func (s *Store) written(ctx context.Context, id string, gen, ws uint64, r *backends.Record) {
	i := s.stripe(id)
	s.locks[i].Lock()
	defer s.locks[i].Unlock()
	if cur := s.gen[i].Add(1); cur != gen+1 && (cur != gen+2 || !s.covered(i, gen+1, id, r)) {
		r = nil
	}
	s.put(ctx, id, r, s.pushed(ws))
}

// covered reports whether the only change to stripe i since generation
// gen-1 was a change report that r is at least as new as: the report of the
// save that r is the result of, or of an older one. The caller holds the
// stripe lock.
func (s *Store) covered(i int, gen uint64, id string, r *backends.Record) bool {
	n := s.notes[i]
	return r != nil && n.gen == gen && n.id == id && n.rev > 0 && r.Rev >= n.rev
}

// generation returns the id's stripe generation, taken before a back call.
func (s *Store) generation(id string) uint64 { return s.gen[s.stripe(id)].Load() }

// Load implements backends.Store.
func (s *Store) Load(ctx context.Context, id string) (*backends.Record, error) {
	s.startWatch()
	i := s.stripe(id)
	ws := s.wstate.Load()
	gen := s.gen[i].Load()
	b, err := s.front.Get(ctx, id)
	switch {
	case err == nil:
		r, derr := decodeFront(id, b)
		if derr == nil && !r.Expired(s.now()) {
			return r, nil
		}
		if derr != nil {
			s.warn("front copy is undecodable", id, derr)
		}
	case errors.Is(err, kvcache.ErrNotFound):
	default:
		s.warn("cannot read the front copy", id, err)
	}
	r, err := s.back.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	s.locks[i].Lock()
	if g := s.gen[i].Load(); g == gen || (g == gen+1 && s.covered(i, g, id, r)) {
		s.put(ctx, id, r, s.pushed(ws))
	}
	s.locks[i].Unlock()
	return r, nil
}

// Save implements backends.Store: the back applies the changes, the front
// gets the result.
func (s *Store) Save(ctx context.Context, id string, ch backends.Changes, opt backends.SaveOptions) (*backends.Record, error) {
	s.startWatch()
	ws := s.wstate.Load()
	gen := s.generation(id)
	r, err := s.back.Save(ctx, id, ch, opt)
	if err != nil {
		// The back may or may not have applied it: drop the copy.
		s.written(ctx, id, gen, ws, nil)
		return nil, err
	}
	if r.Expired(s.now()) {
		s.written(ctx, id, gen, ws, nil)
	} else {
		s.written(ctx, id, gen, ws, r)
	}
	return r, nil
}

// Renew implements backends.Renewer when the back store does (else it
// reports backends.ErrUnsupported, and the manager falls back to a save and
// a delete): the back moves the session, this instance's front drops the
// old id's copy and keeps the new one. Other instances may serve their
// front copy of the old id for reads until they hear of the renewal, or
// else until it expires (LocalTTL); their saves go to the back, which
// forwards or refuses them.
func (s *Store) Renew(ctx context.Context, from, to string, ch backends.Changes, opt backends.SaveOptions, grace time.Duration) (*backends.Record, error) {
	rn, ok := backends.As[backends.Renewer](s.back)
	if !ok {
		return nil, s.unsupported("renew")
	}
	ws := s.wstate.Load()
	genTo := s.generation(to)
	r, err := rn.Renew(ctx, from, to, ch, opt, grace)
	s.written(ctx, from, 0, ws, nil)
	if err != nil {
		s.written(ctx, to, genTo, ws, nil)
		return nil, err
	}
	front := r
	if r.Expired(s.now()) {
		front = nil
	}
	s.written(ctx, to, genTo, ws, front)
	return r, nil
}

// Delete implements backends.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	err := s.back.Delete(ctx, id)
	s.written(ctx, id, 0, 0, nil)
	return err
}

// Touch implements backends.Store: the back moves the expiry, the front
// copy is dropped (the next Load reads the new expiry).
func (s *Store) Touch(ctx context.Context, id string, expires time.Time) error {
	err := s.back.Touch(ctx, id, expires)
	s.written(ctx, id, 0, 0, nil)
	return err
}

// unsupported is the error of an operation the back store cannot do.
func (s *Store) unsupported(op string) error {
	return fmt.Errorf("layered session store: the back store %q cannot %s: %w", backends.InfoOf(s.back).Name, op, backends.ErrUnsupported)
}

// Exists implements backends.Exister: it asks the back (a Load of the back
// when the back is no Exister).
func (s *Store) Exists(ctx context.Context, id string) (bool, error) {
	if ex, ok := backends.As[backends.Exister](s.back); ok {
		return ex.Exists(ctx, id)
	}
	_, err := s.back.Load(ctx, id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, backends.ErrNotFound):
		return false, nil
	}
	return false, err
}

// Iterate implements backends.Iterator: it iterates the back
// (backends.ErrUnsupported when the back is no Iterator).
func (s *Store) Iterate(ctx context.Context, fn func(backends.Record) error) error {
	it, ok := backends.As[backends.Iterator](s.back)
	if !ok {
		return s.unsupported("iterate")
	}
	return it.Iterate(ctx, fn)
}

// Setup implements backends.Setupper: it sets the back up (nothing to do
// when the back is no Setupper), then subscribes to the back's changes
// when it pushes them.
func (s *Store) Setup(ctx context.Context) error {
	if err := backends.Setup(ctx, s.back); err != nil {
		return err
	}
	s.startWatch()
	return nil
}

// DeleteOlderThan implements backends.Sweeper. The back deletes
// (backends.ErrUnsupported when the back is no Sweeper); when it deleted
// anything, front copies not saved within age are dropped too, so this
// instance stops serving them at once (other instances' copies expire
// within LocalTTL).
func (s *Store) DeleteOlderThan(ctx context.Context, age time.Duration) (int64, error) {
	sw, ok := backends.As[backends.Sweeper](s.back)
	if !ok {
		return 0, s.unsupported("delete old sessions")
	}
	cutoff := s.now().Add(-age)
	n, err := sw.DeleteOlderThan(ctx, age)
	if err != nil || n == 0 {
		return n, err
	}
	var ids []string
	if kerr := s.front.Keys(ctx, func(k string) error {
		ids = append(ids, k)
		return nil
	}); kerr != nil {
		s.log.Warn("layered session store: cannot list the front after DeleteOlderThan; its copies expire within local_ttl",
			zap.String("front", s.front.Name()), zap.Duration("local_ttl", s.ttl), zap.Error(kerr))
		return n, nil
	}
	for _, id := range ids {
		b, gerr := s.front.Get(ctx, id)
		if gerr != nil {
			continue
		}
		if r, derr := decodeFront(id, b); derr == nil && !r.Updated.Before(cutoff) {
			continue
		}
		s.written(ctx, id, 0, 0, nil)
	}
	return n, nil
}

// Info implements backends.Describer: named "layered", with the back's
// abilities.
func (s *Store) Info() backends.Info {
	bi := backends.InfoOf(s.back)
	return backends.Info{Name: "layered", CrossProcess: bi.CrossProcess, Merges: bi.Merges, ExpiresNatively: bi.ExpiresNatively}
}

// Close stops the subscription to the back's changes and closes the back
// store (the kvcache.Cache owns the front).
func (s *Store) Close() error {
	s.watchMu.Lock()
	s.closed = true
	stop := s.stopWatch
	s.stopWatch = nil
	s.watchMu.Unlock()
	if stop != nil {
		if err := stop(); err != nil {
			s.log.Warn("layered session store: stopping the watch of the back store's changes", zap.Error(err))
		}
	}
	if err := s.back.Close(); err != nil {
		return fmt.Errorf("layered session store: closing the back store: %w", err)
	}
	return nil
}
