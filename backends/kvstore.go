package backends

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/sessionfx/session/kvcache"
)

// KVStore keeps sessions in a kvcache container (memory or Redis): one key
// per session holding an EncodeRecord envelope, with the backend's TTL set
// to the session's expiry.
//
//   - Load takes Expires from the backend's remaining TTL, so Touch is a
//     cheap Expire (Redis PEXPIRE) that never rewrites the value. Record.Updated
//     is therefore the time of the last Save, not of the last Touch.
//   - Save is a Container.Update: the stored record is read, this request's
//     Changes are applied onto it and it is written back atomically (within
//     the backend's consistency domain), so concurrent requests that change
//     different keys all survive. A stored value that cannot be decoded is
//     overwritten (it is lost anyway).
//   - Save with an Expires already in the past deletes the session and
//     returns the record it computed with a nil error: the session simply
//     expired at once, and the next Load reports ErrNotFound, exactly as if
//     it had expired a moment later.
//   - Iterate and DeleteOlderThan list the container's keys first (strings
//     only) and then load sessions one at a time; values that are not
//     session records are skipped by Iterate and deleted by DeleteOlderThan.
//
// The kvcache.Cache owns the backend: Close does nothing.
type KVStore struct {
	c   *kvcache.Container
	now func() time.Time
}

var (
	_ Store     = (*KVStore)(nil)
	_ Renewer   = (*KVStore)(nil)
	_ Describer = (*KVStore)(nil)
	_ Setupper  = (*KVStore)(nil)
	_ Exister   = (*KVStore)(nil)
	_ Iterator  = (*KVStore)(nil)
	_ Sweeper   = (*KVStore)(nil)
)

// NewKVStore returns a store over c. The container should be dedicated to
// sessions: Iterate and DeleteOlderThan treat every key in it as a session.
func NewKVStore(c *kvcache.Container) *KVStore {
	return &KVStore{c: c, now: time.Now}
}

// Container returns the container the store writes to.
func (s *KVStore) Container() *kvcache.Container { return s.c }

// minTTL is the shortest TTL worth setting; an expiry closer than this is
// treated as past (Redis counts in milliseconds, and a 0 TTL would mean
// "container default").
const minTTL = time.Millisecond

// ttlUntil converts an expiry into a container TTL: negative for none, ok
// false when the expiry is (about to be) past.
func ttlUntil(expires, now time.Time) (ttl time.Duration, ok bool) {
	if expires.IsZero() {
		return -1, true
	}
	ttl = expires.Sub(now)
	if ttl < minTTL {
		return 0, false
	}
	return ttl, true
}

// Load implements Store.
func (s *KVStore) Load(ctx context.Context, id string) (*Record, error) {
	r, _, err := s.load(ctx, id)
	return r, err
}

// load also returns the expiry written by the last Save, which differs from
// r.Expires when the session was touched since.
func (s *KVStore) load(ctx context.Context, id string) (*Record, time.Time, error) {
	b, ttl, err := s.c.GetWithTTL(ctx, id)
	if errors.Is(err, kvcache.ErrNotFound) {
		return nil, time.Time{}, fmt.Errorf("%w: kvcache container %q", ErrNotFound, s.c.Name())
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("kvstore: loading session from container %q: %w", s.c.Name(), err)
	}
	if to, moved := movedTo(b); moved {
		return nil, time.Time{}, fmt.Errorf("%w: kvcache container %q: %w", ErrNotFound, s.c.Name(), &MovedError{To: to})
	}
	now := s.now()
	r, err := DecodeRecord(id, b)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("kvstore: container %q: %w", s.c.Name(), err)
	}
	if _, ok := s.c.Backend().(kvcache.Swapper); ok {
		r.raw = b // the base of a later compare-and-swap (SaveOptions.Base)
	}
	saved := r.Expires
	if ttl > 0 {
		r.Expires = now.Add(ttl).UTC()
	} else {
		r.Expires = time.Time{}
	}
	return r, saved, nil
}

// Save implements Store.
func (s *KVStore) Save(ctx context.Context, id string, ch Changes, opt SaveOptions) (*Record, error) {
	if opt.New {
		if r, err, ok := s.create(ctx, id, ch, opt); ok {
			return r, err
		}
	}
	if b := opt.Base; b != nil && b.raw != nil && b.ID == id {
		if r, err, ok := s.swap(ctx, id, ch, opt); ok {
			return r, err
		}
	}
	var out *Record
	err := s.c.Update(ctx, id, func(old []byte, found bool) ([]byte, time.Duration, error) {
		now := s.now().UTC()
		prev, err := s.current(id, old, found)
		if err != nil {
			return nil, 0, err // gone, moved or unreadable: write nothing
		}
		r := &Record{ID: id, Created: prev.Created, Updated: now, Expires: opt.Expires, Data: ch.Apply(prev.Data), Meta: prev.Meta}
		if r.Created.IsZero() {
			r.Created = now
		}
		out = r
		ttl, live := ttlUntil(opt.Expires, now)
		if !live {
			return nil, 0, nil // already expired: delete
		}
		b, err := EncodeRecord(r)
		if err != nil {
			return nil, 0, err
		}
		return b, ttl, nil
	})
	if err != nil {
		var moved *MovedError
		switch {
		case errors.As(err, &moved):
			return nil, moved
		case errors.Is(err, kvcache.ErrConflict):
			err = fmt.Errorf("%w: %w", ErrConflict, err)
		}
		return nil, fmt.Errorf("kvstore: saving session to container %q: %w", s.c.Name(), err)
	}
	return out, nil
}

// tombPrefix starts the value Renew leaves under a renewed id: the prefix,
// then the storage id the session moved to. No record starts with it.
var tombPrefix = []byte("~moved:")

func movedTo(b []byte) (string, bool) {
	if !bytes.HasPrefix(b, tombPrefix) {
		return "", false
	}
	return string(b[len(tombPrefix):]), true
}

// current decodes the stored value a save without New applies its changes
// onto. An absent, renewed or unreadable session is not re-created: the
// error says which.
func (s *KVStore) current(id string, old []byte, found bool) (*Record, error) {
	if !found {
		return nil, fmt.Errorf("%w: kvcache container %q: the session ended (deleted or expired)", ErrNotFound, s.c.Name())
	}
	if to, ok := movedTo(old); ok {
		return nil, &MovedError{To: to}
	}
	prev, err := DecodeRecord(id, old)
	if err != nil {
		return nil, fmt.Errorf("%w: kvcache container %q: %w", ErrNotFound, s.c.Name(), err)
	}
	return prev, nil
}

// errBaseMoved aborts Renew's compare-and-set when the session changed
// since it was read.
var errBaseMoved = errors.New("kvstore: session changed during renew")

// maxRenewAttempts bounds Renew's read-write-swap loop under concurrent saves.
const maxRenewAttempts = 64

// Renew implements Renewer. It writes the renewed session under to first
// (nobody else knows that id yet), then swaps from's value, if it is still
// the one the new session was computed from, for a tombstone that expires
// after grace. When a concurrent save changed from meanwhile, the new
// session is computed again from the fresh value and the swap retried.
func (s *KVStore) Renew(ctx context.Context, from, to string, ch Changes, opt SaveOptions, grace time.Duration) (*Record, error) {
	var base []byte
	found := true
	if b := opt.Base; b != nil && b.raw != nil && b.ID == from {
		base = b.raw
	} else {
		var err error
		base, _, err = s.c.GetWithTTL(ctx, from)
		switch {
		case errors.Is(err, kvcache.ErrNotFound):
			found = false
		case err != nil:
			return nil, fmt.Errorf("kvstore: renewing session in container %q: %w", s.c.Name(), err)
		}
	}
	if grace < minTTL {
		grace = minTTL
	}
	tomb := append(append([]byte(nil), tombPrefix...), to...)
	wrote := false
	drop := func() error {
		if !wrote {
			return nil
		}
		return s.c.Delete(ctx, to)
	}
	for attempt := 0; ; attempt++ {
		prev, err := s.current(from, base, found)
		if err != nil {
			if derr := drop(); derr != nil {
				return nil, fmt.Errorf("kvstore: renewing session in container %q: dropping the new id: %w", s.c.Name(), derr)
			}
			if !errors.Is(err, ErrNotFound) {
				err = fmt.Errorf("%w: %w", ErrNotFound, err) // renewed already
			}
			return nil, err
		}
		now := s.now().UTC()
		r := &Record{ID: to, Created: prev.Created, Updated: now, Expires: opt.Expires, Data: ch.Apply(prev.Data), Meta: prev.Meta}
		if r.Created.IsZero() {
			r.Created = now
		}
		ttl, live := ttlUntil(opt.Expires, now)
		if !live {
			// Expired at once: the session simply ends under both ids.
			if err := drop(); err != nil {
				return nil, err
			}
			return r, s.Delete(ctx, from)
		}
		b, err := EncodeRecord(r)
		if err != nil {
			return nil, fmt.Errorf("kvstore: renewing session in container %q: %w", s.c.Name(), err)
		}
		if !wrote {
			created, err := s.c.SetNX(ctx, to, b, ttl)
			if err != nil {
				return nil, fmt.Errorf("kvstore: renewing session in container %q: %w", s.c.Name(), err)
			}
			if !created {
				return nil, fmt.Errorf("kvstore: renewing session in container %q: the new id is taken", s.c.Name())
			}
			wrote = true
		} else if err := s.c.Set(ctx, to, b, ttl); err != nil {
			return nil, fmt.Errorf("kvstore: renewing session in container %q: %w", s.c.Name(), err)
		}
		var fresh []byte
		var freshFound bool
		err = s.c.Update(ctx, from, func(old []byte, ok bool) ([]byte, time.Duration, error) {
			if ok && bytes.Equal(old, base) {
				return tomb, grace, nil
			}
			fresh, freshFound = old, ok
			return nil, 0, errBaseMoved
		})
		if err == nil {
			if _, ok := s.c.Backend().(kvcache.Swapper); ok {
				r.raw = b
			}
			return r, nil
		}
		if !errors.Is(err, errBaseMoved) {
			_ = drop()
			return nil, fmt.Errorf("kvstore: renewing session in container %q: %w", s.c.Name(), err)
		}
		if attempt+1 >= maxRenewAttempts {
			_ = drop()
			return nil, fmt.Errorf("kvstore: renewing session in container %q: %w", s.c.Name(), ErrConflict)
		}
		base, found = fresh, freshFound
		NoteRetry(ctx)
	}
}

// create writes a session whose id was just generated (SaveOptions.New)
// with one write and no read; backends that can set only when absent (Redis
// SET NX) do so, so an id that exists after all falls back to the merge.
// ok is false when the caller must take the merge path.
func (s *KVStore) create(ctx context.Context, id string, ch Changes, opt SaveOptions) (r *Record, err error, ok bool) {
	now := s.now().UTC()
	r = &Record{ID: id, Created: opt.Created, Updated: now, Expires: opt.Expires, Data: ch.Apply(nil), Meta: opt.Meta}
	if r.Created.IsZero() {
		r.Created = now
	}
	ttl, live := ttlUntil(opt.Expires, now)
	if !live {
		return r, nil, true
	}
	b, err := EncodeRecord(r)
	if err != nil {
		return nil, fmt.Errorf("kvstore: saving session to container %q: %w", s.c.Name(), err), true
	}
	created, err := s.c.SetNX(ctx, id, b, ttl)
	if err != nil {
		return nil, fmt.Errorf("kvstore: saving session to container %q: %w", s.c.Name(), err), true
	}
	return r, nil, created
}

// swap applies ch onto SaveOptions.Base and writes the result only if the
// stored bytes are still the ones Base was decoded from: one round trip on
// Redis instead of a read and a write. ok is false when the value moved (or
// the backend cannot swap): the caller takes the read-and-merge path.
func (s *KVStore) swap(ctx context.Context, id string, ch Changes, opt SaveOptions) (r *Record, err error, ok bool) {
	base := opt.Base
	now := s.now().UTC()
	r = &Record{ID: id, Created: base.Created, Updated: now, Expires: opt.Expires, Data: ch.Apply(base.Data), Meta: base.Meta}
	if r.Created.IsZero() {
		r.Created = now
	}
	var b []byte
	ttl, live := ttlUntil(opt.Expires, now)
	if live {
		if b, err = EncodeRecord(r); err != nil {
			return nil, fmt.Errorf("kvstore: saving session to container %q: %w", s.c.Name(), err), true
		}
	}
	swapped, supported, err := s.c.CompareAndSwap(ctx, id, base.raw, b, ttl)
	if err != nil {
		return nil, fmt.Errorf("kvstore: saving session to container %q: %w", s.c.Name(), err), true
	}
	if !supported || !swapped {
		if supported {
			NoteRetry(ctx) // a concurrent save won: read and merge
		}
		return nil, nil, false
	}
	if live {
		r.raw = b
	}
	return r, nil, true
}

// Delete implements Store.
func (s *KVStore) Delete(ctx context.Context, id string) error {
	if err := s.c.Delete(ctx, id); err != nil {
		return fmt.Errorf("kvstore: deleting session from container %q: %w", s.c.Name(), err)
	}
	return nil
}

// Exists implements Exister. It reads the value: a renewed id's tombstone is
// not a session.
func (s *KVStore) Exists(ctx context.Context, id string) (bool, error) {
	b, err := s.c.Get(ctx, id)
	if errors.Is(err, kvcache.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("kvstore: checking session in container %q: %w", s.c.Name(), err)
	}
	_, moved := movedTo(b)
	return !moved, nil
}

// Touch implements Store with a backend Expire: the value is not rewritten.
// A zero expires removes the expiry; one already past deletes the session.
func (s *KVStore) Touch(ctx context.Context, id string, expires time.Time) error {
	ttl, live := ttlUntil(expires, s.now())
	if !live {
		ok, err := s.Exists(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: kvcache container %q", ErrNotFound, s.c.Name())
		}
		return s.Delete(ctx, id)
	}
	err := s.c.Expire(ctx, id, ttl)
	if errors.Is(err, kvcache.ErrNotFound) {
		return fmt.Errorf("%w: kvcache container %q", ErrNotFound, s.c.Name())
	}
	if err != nil {
		return fmt.Errorf("kvstore: touching session in container %q: %w", s.c.Name(), err)
	}
	return nil
}

func (s *KVStore) keys(ctx context.Context) ([]string, error) {
	var ids []string
	if err := s.c.Keys(ctx, func(k string) error {
		ids = append(ids, k)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("kvstore: listing container %q: %w", s.c.Name(), err)
	}
	return ids, nil
}

// Iterate implements Iterator. Keys are listed first so fn may call the store
// (e.g. Delete) without deadlocking a backend that locks while scanning.
// Sessions that vanish or expire meanwhile, and values that are not session
// records, are skipped.
func (s *KVStore) Iterate(ctx context.Context, fn func(Record) error) error {
	ids, err := s.keys(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := s.Load(ctx, id)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn(*r); err != nil {
			return err
		}
	}
	return nil
}

// Setup implements Setupper; a kvcache container needs none.
func (s *KVStore) Setup(context.Context) error { return nil }

// touchSlack is how much later than its saved expiry a session's backend
// TTL must end for DeleteOlderThan to count it as touched since its save.
const touchSlack = time.Second

// DeleteOlderThan implements Sweeper. Expired sessions are already gone (the
// backend drops them). It deletes sessions last saved more than age ago,
// except those touched since (their backend expiry is later than the one
// their last Save wrote: Touch does not rewrite Updated, so this is how a
// session kept alive by reads is recognised), and values that are not
// session records.
func (s *KVStore) DeleteOlderThan(ctx context.Context, age time.Duration) (int64, error) {
	ids, err := s.keys(ctx)
	if err != nil {
		return 0, err
	}
	cutoff := s.now().Add(-age)
	var n int64
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		r, saved, err := s.load(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case errors.Is(err, ErrCorrupt):
		case err != nil:
			return n, err
		case !r.Updated.Before(cutoff):
			continue
		case touched(r.Expires, saved):
			continue
		}
		if err := s.Delete(ctx, id); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// touched reports whether the live expiry differs from the saved one enough
// to show a Touch after the last Save.
func touched(live, saved time.Time) bool {
	switch {
	case live.IsZero() && saved.IsZero():
		return false
	case live.IsZero() || saved.IsZero():
		return true
	}
	return live.Sub(saved) > touchSlack
}

// Info implements Describer.
func (s *KVStore) Info() Info {
	// Every kvcache engine drops a value when its TTL ends, and Save and
	// Touch set the TTL to the session's expiry.
	return Info{Name: "kvcache", CrossProcess: s.c.CrossProcess(), Merges: true, ExpiresNatively: true}
}

// Close implements Store; the kvcache.Cache owns the backend, so it does nothing.
func (s *KVStore) Close() error { return nil }

// indexGrace is how long an index entry whose session is not (yet) stored
// is kept: the manager indexes a session just before saving it, so a
// listing in between must not drop the entry.
const indexGrace = time.Minute

// userIndex is the name of user's index set under key: a hash, so neither
// the user nor the key appears in the store's key names.
func userIndex(key, user string) string {
	sum := sha256.Sum256([]byte(key + "\x00" + user))
	return "u:" + hex.EncodeToString(sum[:16])
}

// IndexUser implements UserIndexer on engines that keep index sets
// (kvcache.Indexer: Redis); on others it does nothing and FindUser says so.
func (s *KVStore) IndexUser(ctx context.Context, key, user, id string, ttl time.Duration) error {
	if !s.c.Indexed() {
		return nil
	}
	if err := s.c.IndexAdd(ctx, userIndex(key, user), id, s.now(), ttl); err != nil {
		return fmt.Errorf("kvstore: indexing a session of a user in container %q: %w", s.c.Name(), err)
	}
	return nil
}

// FindUser implements UserFinder from the user's index set: each member is
// loaded and kept when it is live and still holds user; members whose
// session ended are removed from the set. Without index sets (the memory
// and file engines) it returns ErrUnsupported and the manager iterates.
func (s *KVStore) FindUser(ctx context.Context, key, user string) ([]Record, error) {
	if !s.c.Indexed() {
		return nil, fmt.Errorf("%w: kvstore: container %q keeps no index sets; listing reads every session", ErrUnsupported, s.c.Name())
	}
	name := userIndex(key, user)
	members, err := s.c.IndexMembers(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("kvstore: reading a user's index in container %q: %w", s.c.Name(), err)
	}
	cutoff := s.now().Add(-indexGrace)
	var out []Record
	var ended []string
	for _, m := range members {
		r, err := s.Load(ctx, m.Member)
		switch {
		case errors.Is(err, ErrNotFound) || errors.Is(err, ErrMoved) || errors.Is(err, ErrCorrupt):
			if !m.Added.After(cutoff) {
				ended = append(ended, m.Member)
			}
		case err != nil:
			return nil, err
		default:
			if u, _ := r.Data[key].(string); u == user {
				out = append(out, *r)
			}
		}
	}
	if len(ended) > 0 {
		if _, err := s.c.IndexRemove(ctx, name, cutoff, ended...); err != nil {
			return nil, fmt.Errorf("kvstore: pruning a user's index in container %q: %w", s.c.Name(), err)
		}
	}
	return out, nil
}
