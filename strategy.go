package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/internal/loghash"
)

// strategy is how a manager keeps sessions: on a server-side store
// (serverSide) or sealed into the cookie (clientSide). NewManager chooses it
// once, from what it is given; the request path only calls it. The methods
// that take a *Session run with s.mu held.
type strategy interface {
	// key maps a session id to the id the storage keys it by.
	key(id string) string
	// check reports why value (SetID's argument) cannot name a session, or
	// nil when it can.
	check(value string) error
	// open returns the stored state the client's cookie value names and
	// its session id. An unknown, ended or malformed value is an error
	// wrapping backends.ErrNotFound; one renewed away also wraps
	// backends.ErrMoved; any other error is a failure of the storage.
	open(ctx context.Context, value string) (rec *backends.Record, id string, err error)
	// save writes s's changes with opt (Expires and Created decided by the
	// manager) and, when done, records the saved state (s.savedLocked).
	save(ctx context.Context, s *Session, opt backends.SaveOptions, now time.Time) error
	// touch moves the idle deadline of s's stored state to exp.
	touch(ctx context.Context, s *Session, exp time.Time) error
	// destroy ends s's stored state (and the one RenewID left) now.
	destroy(ctx context.Context, s *Session) error
	// late is told that s changed after the response headers went out
	// (and logs it); it reports whether the changes can still be kept.
	late(s *Session) bool
	// server returns the server-side store, nil for a client-side one:
	// the optional capabilities (Iterator, Sweeper) are looked up on it.
	server() backends.Store
}

// errMalformed is what open reports for a value that cannot name a session.
var errMalformed = fmt.Errorf("%w: malformed session id", backends.ErrNotFound)

// invalidUUID is SetID's error for an id that is not a UUIDv4.
func invalidUUID(id string) error {
	return fmt.Errorf("session: set id: %d bytes that are not a UUIDv4: %w", len(id), ErrInvalidID)
}

// serverSide keeps sessions in a backends.Store, keyed by the session id
// or, with hash_ids, by its SHA-256. The cookie carries the id.
type serverSide struct {
	m       *Manager
	store   backends.Store
	renewer backends.Renewer     // nil when the store has none
	indexer backends.UserIndexer // nil when the store keeps no user index or no user_key is set
	hash    bool
}

func newServerSide(m *Manager, store backends.Store) *serverSide {
	rn, _ := backends.As[backends.Renewer](store)
	st := &serverSide{m: m, store: store, renewer: rn, hash: m.cfg.HashIDs}
	if m.cfg.UserKey != "" {
		st.indexer, _ = backends.As[backends.UserIndexer](store)
	}
	return st
}

func (st *serverSide) key(id string) string {
	if !st.hash {
		return id
	}
	return HashID(id)
}

func (st *serverSide) check(value string) error {
	if !ValidID(value) {
		return invalidUUID(value)
	}
	return nil
}

func (st *serverSide) server() backends.Store { return st.store }

func (st *serverSide) open(ctx context.Context, value string) (*backends.Record, string, error) {
	m := st.m
	if !ValidID(value) {
		m.log.Debug("session: malformed id ignored", zap.Int("len", len(value)))
		return nil, "", errMalformed
	}
	sid := st.key(value)
	rec, err := st.store.Load(ctx, sid)
	if errors.Is(err, backends.ErrCorrupt) {
		m.log.Error("session: stored session is corrupt; deleting it and starting a fresh session",
			zap.String("session", loghash.Of(sid)), zap.Error(err))
		if derr := st.store.Delete(ctx, sid); derr != nil {
			m.log.Warn("session: deleting corrupt session failed", zap.String("session", loghash.Of(sid)), zap.Error(derr))
		}
		return nil, "", fmt.Errorf("%w: %w", backends.ErrNotFound, err)
	}
	return rec, value, err
}

func (st *serverSide) save(ctx context.Context, s *Session, opt backends.SaveOptions, now time.Time) error {
	m := st.m
	ch := s.changesLocked()
	sid := st.key(s.id)
	// A session never stored has an id generated here: the store may write
	// it without reading first. A loaded one is the base of a
	// compare-and-set for stores that keep revisions.
	opt.New = s.rec == nil
	if opt.New {
		opt.Meta = m.metaOf(s.req)
	}
	if s.rec != nil && s.rec.ID == sid {
		opt.Base = s.rec
	}
	if err := st.indexUser(ctx, s, sid); err != nil {
		return fmt.Errorf("%w: save session %s: %w", ErrStore, loghash.Of(sid), err)
	}
	var rec *backends.Record
	var err error
	forwarded := false
	if s.prev != "" {
		rec, err = st.renew(ctx, s, sid, ch, opt)
	} else {
		rec, err = st.store.Save(ctx, sid, ch, opt)
		// A login renewed the id after this request loaded it: carry the
		// changes over to the renewed session (following a chain of
		// renewals), without ever loading it here.
		var moved *backends.MovedError
		for hop := 0; hop < maxForwards && errors.As(err, &moved); hop++ {
			rec, err = st.store.Save(ctx, moved.To, ch, backends.SaveOptions{Expires: opt.Expires, Created: opt.Created})
			forwarded = true
		}
	}
	if err != nil && !opt.New && errors.Is(err, backends.ErrNotFound) && !errors.Is(err, backends.ErrMoved) {
		// Ended by another request (logout), by expiry, or renewed longer
		// than the grace ago: the changes are dropped, nothing is
		// re-created. The cookie is left alone: the client may already
		// hold a newer one.
		m.log.Info("session: ended (logout, renewal or expiry) while this request was in flight; its changes are dropped",
			zap.String("session", loghash.Of(sid)), zap.Bool("forwarded", forwarded))
		s.resetLocked()
		return ErrEnded
	}
	if err != nil {
		return fmt.Errorf("%w: save session %s: %w", ErrStore, loghash.Of(sid), err)
	}
	if forwarded {
		m.log.Debug("session: changes carried over to the session renewed by a concurrent login", zap.String("session", loghash.Of(sid)))
		// The changes are stored; this request keeps its own view (it
		// must not read the renewed session) and has nothing left to save.
		s.set, s.deleted, s.cleared, s.touchDue = nil, nil, false, false
		return nil
	}
	if rec == nil {
		rec = &backends.Record{ID: sid, Data: copyData(s.data), Created: opt.Created, Updated: now, Expires: opt.Expires, Meta: opt.Meta}
	}
	s.savedLocked(rec, s.id)
	return nil
}

// maxForwards bounds how many renewals in a row a save follows.
const maxForwards = 8

// renew writes s under its new storage id sid and ends the old one. On a
// store that can (backends.Renewer) the move is atomic against concurrent
// saves on the old id, which land before it (and are kept) or are
// forwarded for the grace window; otherwise the whole session is saved
// under the new id and the old one deleted.
func (st *serverSide) renew(ctx context.Context, s *Session, sid string, ch backends.Changes, opt backends.SaveOptions) (*backends.Record, error) {
	m := st.m
	from := st.key(s.prev)
	if st.renewer != nil && m.grace > 0 {
		ropt := backends.SaveOptions{Expires: opt.Expires, Created: opt.Created}
		if s.rec != nil && s.rec.ID == from {
			ropt.Base = s.rec
		}
		rec, err := st.renewer.Renew(ctx, from, sid, ch, ropt, m.grace)
		switch {
		case err == nil:
			return rec, nil
		case errors.Is(err, backends.ErrNotFound):
			// Ended meanwhile (a logout, or another login renewed it):
			// the new id starts from this request's copy; the old id
			// stays ended.
			m.log.Info("session: the session being renewed ended meanwhile; the renewed session starts from this request's copy",
				zap.String("session", loghash.Of(from)))
			return st.store.Save(ctx, sid, backends.Changes{Clear: true, Set: copyData(s.data)},
				backends.SaveOptions{Expires: opt.Expires, Created: opt.Created, New: true, Meta: st.keptMeta(s)})
		case !errors.Is(err, backends.ErrUnsupported):
			return nil, err
		}
	}
	// The new id gets the whole current state; then the old one goes.
	rec, err := st.store.Save(ctx, sid, backends.Changes{Clear: true, Set: copyData(s.data)},
		backends.SaveOptions{Expires: opt.Expires, Created: opt.Created, New: true, Meta: st.keptMeta(s)})
	if err != nil {
		return nil, err
	}
	if err := st.store.Delete(ctx, from); err != nil {
		return nil, fmt.Errorf("delete renewed session %s: %w", loghash.Of(from), err)
	}
	return rec, nil
}

// indexUser adds the session, about to be saved under sid, to its user's
// index when the store keeps one and the session gains that user here: a
// new id (first save, login) or a changed user. Saves that leave the user
// as loaded cost nothing more.
func (st *serverSide) indexUser(ctx context.Context, s *Session, sid string) error {
	if st.indexer == nil {
		return nil
	}
	key := st.m.cfg.UserKey
	user, _ := s.data[key].(string)
	if user == "" {
		return nil
	}
	if s.rec != nil && s.rec.ID == sid {
		if was, _ := s.rec.Data[key].(string); was == user {
			return nil
		}
	}
	return st.indexer.IndexUser(ctx, key, user, sid, st.m.cfg.Lifetime)
}

// keptMeta is the Meta a session renewed by rewriting it keeps: the stored
// one, or this request's when it was never stored.
func (st *serverSide) keptMeta(s *Session) backends.Meta {
	if s.rec != nil {
		return s.rec.Meta
	}
	return st.m.metaOf(s.req)
}

func (st *serverSide) touch(ctx context.Context, s *Session, exp time.Time) error {
	m := st.m
	sid := st.key(s.id)
	if err := st.store.Touch(ctx, sid, exp); err != nil {
		if errors.Is(err, backends.ErrNotFound) {
			// Ended meanwhile (logout, login): nothing to refresh.
			m.log.Debug("session: idle refresh of an ended session skipped", zap.String("session", loghash.Of(sid)))
			return nil
		}
		// The data is intact; only the idle deadline was not moved.
		m.log.Warn("session: refreshing idle deadline failed", zap.String("session", loghash.Of(sid)), zap.Error(err))
		return nil
	}
	s.rec.Expires = exp
	return nil
}

func (st *serverSide) destroy(ctx context.Context, s *Session) error {
	for _, id := range []string{s.id, s.prev} {
		if id == "" {
			continue
		}
		if err := st.store.Delete(ctx, st.key(id)); err != nil {
			return fmt.Errorf("%w: destroy session %s: %w", ErrStore, loghash.Of(st.key(s.id)), err)
		}
	}
	return nil
}

func (st *serverSide) late(s *Session) bool {
	session := zap.String("session", loghash.Of(st.key(s.id)))
	if s.id != "" && s.id != s.sent {
		st.m.log.Error("session: changed after the response headers were sent; saved, but the client never received the new session id", session)
	} else {
		st.m.log.Error("session: changed after the response headers were sent; saved late", session)
	}
	return true
}

// clientSide keeps the whole session in the cookie: the cookie carries a
// token that a backends.ClientStore sealed, nothing is kept on the server,
// and the session id is only sealed inside the token.
type clientSide struct {
	m  *Manager
	cs backends.ClientStore
}

func (st *clientSide) key(id string) string { return id }

func (st *clientSide) check(value string) error {
	if len(value) > st.m.cfg.MaxCookieSize || !validCookieValue(value) {
		return fmt.Errorf("session: set id: a token of %d bytes that no cookie could carry: %w", len(value), ErrInvalidID)
	}
	return nil
}

func (st *clientSide) server() backends.Store { return nil }

func (st *clientSide) open(_ context.Context, value string) (*backends.Record, string, error) {
	rec, err := st.cs.Open(value)
	if err != nil {
		return nil, "", err
	}
	if !ValidID(rec.ID) {
		return nil, "", errMalformed
	}
	return rec, rec.ID, nil
}

func (st *clientSide) save(_ context.Context, s *Session, opt backends.SaveOptions, now time.Time) error {
	rec := &backends.Record{ID: s.id, Data: copyData(s.data), Created: opt.Created, Updated: now, Expires: opt.Expires}
	tok, err := st.cs.Seal(rec)
	if err != nil {
		return fmt.Errorf("session: sealing cookie: %w", err)
	}
	s.savedLocked(rec, tok)
	return nil
}

// touch reseals the state with the new expiry: the deadline lives in the
// token.
func (st *clientSide) touch(_ context.Context, s *Session, exp time.Time) error {
	rec := *s.rec
	rec.Expires = exp
	tok, err := st.cs.Seal(&rec)
	if err != nil {
		return fmt.Errorf("session: sealing cookie: %w", err)
	}
	s.rec, s.value = &rec, tok
	return nil
}

// destroy has nothing to delete: the response expires the cookie. A copy
// of the token stays valid until its sealed expiry.
func (st *clientSide) destroy(context.Context, *Session) error { return nil }

func (st *clientSide) late(*Session) bool {
	st.m.log.Error("session: changed after the response headers were sent; the cookie store cannot keep these changes")
	return false
}
