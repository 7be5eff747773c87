// Package backends holds the session storage contracts (after session3's
// SessionStore), the value codec every store shares, a registry through which
// stores are created from configuration by name, and the stores themselves:
// kvcache (any kvcache container) and null here; gorm, cookie and others in
// sub-packages.
//
// There are two kinds of storage, and a manager runs exactly one:
//
//   - a Store keeps sessions on the server. It keys them by an opaque
//     storage id (the manager may hash the client's id before it reaches
//     the store) and applies each request's changes onto what is stored.
//     Its core is five methods (Load, Save, Delete, Touch, Close); what
//     only some stores can do is an optional capability interface:
//     Describer, Setupper, Exister, Iterator, Sweeper, Renewer.
//   - a ClientStore keeps the whole session in the client's cookie: it
//     seals a Record into a token and opens it again (the cookie store).
//
// A store knows nothing of HTTP or of the session manager.
package backends

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	// ErrNotFound is returned by Load and Touch for an id the store does not
	// hold, or whose session has expired.
	ErrNotFound = errors.New("session not found")
	// ErrCorrupt wraps a stored record that cannot be decoded. The manager
	// logs it, deletes the record and starts a fresh session.
	ErrCorrupt = errors.New("stored session is corrupt")
	// ErrKeyNotFound is returned when deleting a key the session does not have.
	ErrKeyNotFound = errors.New("session key not found")
	// ErrUnsupported is returned by an optional operation the storage
	// cannot do: by the manager when the store lacks the capability (Iterate
	// on the cookie store, which is no Iterator), and by a store whose
	// capability depends on what it wraps (a layered store over a back
	// that cannot iterate).
	ErrUnsupported = errors.New("operation not supported by this store")
	// ErrConflict is returned by Save when concurrent writers kept winning
	// and the bounded retries ran out.
	ErrConflict = errors.New("session save conflict: too many concurrent writers")
	// ErrUnknownStore is returned by the registry for an unregistered name.
	ErrUnknownStore = errors.New("unknown session store")
	// ErrTooLarge is wrapped by every error about a session too large to
	// keep (max_session_size, a sealed cookie over its limit): the client
	// made it so, and an HTTP answer is 413, not a server error.
	ErrTooLarge = errors.New("session too large")
	// ErrMoved is what a *MovedError matches with errors.Is: Save found the
	// id renewed away (RenewID) within the grace window.
	ErrMoved = errors.New("session was renewed under another id")
)

// MovedError is returned by Save (without SaveOptions.New) when the id was
// renewed away by Renewer.Renew less than the grace window ago. Nothing was
// written; the caller may apply the same changes to To, the storage id of the
// renewed session, so a write in flight across a login is carried over
// instead of lost. The old id itself never loads again.
type MovedError struct {
	// To is the storage id the session was renewed to.
	To string
}

func (e *MovedError) Error() string { return ErrMoved.Error() }

// Is makes errors.Is(err, ErrMoved) true.
func (e *MovedError) Is(target error) bool { return target == ErrMoved }

// Record is a stored session.
type Record struct {
	// ID is the storage id (as passed to Save; possibly a hash of the id
	// the client holds).
	ID string
	// Data holds the session's keys, with values in the codec's canonical
	// kinds (see Normalize).
	Data map[string]any
	// Created is when the session was first saved.
	Created time.Time
	// Updated is when the session was last saved or touched.
	Updated time.Time
	// Expires is when the session stops being returned (zero: never).
	Expires time.Time
	// Meta is what the manager recorded about the session when it was
	// created (user agent, client IP). Stores keep it beside the data: it
	// is set by the save that creates the record (SaveOptions.Meta) and
	// kept by every later save and renewal.
	Meta Meta
	// Rev is the store's revision of the record (e.g. the GORM version
	// column) when it keeps one, else 0. A manager passes the loaded record
	// back as SaveOptions.Base so the store can try a compare-and-set
	// against it without reading the record again.
	Rev int64

	// raw is the encoded form a kv-style store read (KVStore), so a save
	// can compare-and-swap against it without reading again.
	raw []byte
}

// Meta is what a session records about the client that created it, for
// the "your sessions" list. It is not session data: handlers never see it
// through the session's keys. Stores that cannot keep it (the cookie
// store) drop it.
type Meta struct {
	// UserAgent is the User-Agent header of the request that created the
	// session (truncated by the manager).
	UserAgent string
	// IP is the client address of that request, only when the manager is
	// configured to record it (personal data: off by default).
	IP string
}

// IsZero reports whether m records nothing.
func (m Meta) IsZero() bool { return m.UserAgent == "" && m.IP == "" }

// Expired reports whether the record has expired at now.
func (r *Record) Expired(now time.Time) bool {
	return !r.Expires.IsZero() && !now.Before(r.Expires)
}

// Changes is what one request did to a session: keys set (with canonical
// values), keys deleted, and whether it cleared the session first. A store
// applies them onto the stored state: Clear first, then Delete, then Set.
type Changes struct {
	Clear  bool
	Set    map[string]any
	Delete []string
}

// Empty reports whether the changes do nothing.
func (c Changes) Empty() bool { return !c.Clear && len(c.Set) == 0 && len(c.Delete) == 0 }

// Apply applies the changes onto data (which may be nil) and returns the
// result. data is not modified. Deleting an absent key is not an error here:
// a concurrent request may have deleted it first.
func (c Changes) Apply(data map[string]any) map[string]any {
	out := make(map[string]any, len(data)+len(c.Set))
	if !c.Clear {
		for k, v := range data {
			out[k] = v
		}
	}
	for _, k := range c.Delete {
		delete(out, k)
	}
	for k, v := range c.Set {
		out[k] = v
	}
	return out
}

// SaveOptions carries the manager's decisions for one save.
type SaveOptions struct {
	// Expires is the new expiry (zero: never).
	Expires time.Time
	// Created is used when the save creates the record (zero: now). It lets
	// RenewID keep the original creation time, and so the absolute lifetime.
	Created time.Time
	// Meta is written when the save creates the record; a save onto an
	// existing record keeps the stored Meta.
	Meta Meta
	// New tells the store that the id was generated by this manager and
	// never stored, so the record cannot exist yet: a store may write it
	// without reading first. A store that finds the id taken all the same
	// must still merge (or fail), never overwrite silently.
	New bool
	// Base is the record as this request loaded it (nil when unknown). A
	// store that keeps revisions may apply the changes onto Base and write
	// with a compare-and-set on Base.Rev, falling back to a fresh read when
	// the revision moved.
	Base *Record
}

// Info declares what a store can do (see Describer).
type Info struct {
	// Name is the store's registry name, e.g. "kvcache", "gorm".
	Name string
	// CrossProcess is true when several processes (app instances) may share
	// the store safely, including the per-key merge in Save.
	CrossProcess bool
	// Merges is true when Save merges concurrent changes per key; false
	// means last write wins (the cookie store).
	Merges bool
	// ExpiresNatively is true when the engine itself removes sessions
	// once their expiry passes (Redis, memory and file kvcache engines keep
	// each record under a TTL no later than its expiry): the manager's
	// periodic cleanup then does not sweep it, since every session idle or
	// old enough to be swept has already expired.
	ExpiresNatively bool
}

// Storage is what a Registration builds and what a session manager is
// given: a Store (sessions kept on the server) or a ClientStore (sessions
// sealed into the cookie). Anything else is refused by the manager.
type Storage interface {
	// Close releases resources the storage owns.
	Close() error
}

// Store is the core contract of a server-side session store: what every
// store must do. What only some can do is an optional interface the
// manager looks for (see As): Describer, Setupper, Exister, Iterator,
// Sweeper and Renewer.
type Store interface {
	// Load returns the session stored under id, or ErrNotFound when it is
	// absent or expired. A record that cannot be decoded yields an error
	// wrapping ErrCorrupt.
	Load(ctx context.Context, id string) (*Record, error)
	// Save applies ch onto the stored session, atomically per session,
	// sets its expiry and returns the resulting record.
	//
	// Only a save with SaveOptions.New may create a record. Without New, a
	// session that is no longer stored (deleted, renewed away, expired, or
	// unreadable) stays gone: Save writes nothing and returns an error
	// wrapping ErrNotFound, or a *MovedError when the id was renewed within
	// the grace window (see Renewer). This is what keeps a session ended by
	// logout or login from coming back through a request that loaded it
	// before and saves after.
	Save(ctx context.Context, id string, ch Changes, opt SaveOptions) (*Record, error)
	// Delete removes the session; an absent one is not an error.
	Delete(ctx context.Context, id string) error
	// Touch moves an existing session's expiry without rewriting its data
	// (ErrNotFound when absent).
	Touch(ctx context.Context, id string, expires time.Time) error
	// Close releases resources the store owns.
	Close() error
}

// Describer is implemented by storage that declares its abilities. Without
// it, InfoOf gives a default (see InfoOf).
type Describer interface {
	// Info declares the store's abilities.
	Info() Info
}

// Setupper is implemented by stores that must be prepared before use
// (create tables). The fx module calls it once at start-up (see Setup).
type Setupper interface {
	// Setup prepares the store (creates tables). Safe to call repeatedly.
	Setup(ctx context.Context) error
}

// Exister is implemented by stores that can tell whether a session is
// stored without loading it (admin tools, tests).
type Exister interface {
	// Exists reports whether a live session is stored under id.
	Exists(ctx context.Context, id string) (bool, error)
}

// Iterator is implemented by stores that can list their sessions, for
// admin browsing (Manager.Iterate).
type Iterator interface {
	// Iterate calls fn for every live session, without loading all
	// sessions at once where the engine allows it. fn returning an error
	// stops iteration with that error. A store whose ability depends on
	// what it wraps returns an error wrapping ErrUnsupported when it
	// cannot.
	Iterate(ctx context.Context, fn func(Record) error) error
}

// UserFinder is implemented by stores that can find one user's sessions
// without reading every session (gormstore, when the user key is a typed
// column of its model). The manager's "your sessions" API lists other
// stores by iterating them (Iterator).
type UserFinder interface {
	// FindUser returns the live sessions whose data holds user under key.
	// An error wrapping ErrUnsupported means the store cannot for this
	// key (the manager then iterates).
	FindUser(ctx context.Context, key, user string) ([]Record, error)
}

// UserIndexer is implemented by stores that keep a per-user index of
// sessions (KVStore on Redis: a sorted set per user). The manager calls
// IndexUser before a save that gives a session a user under key, so a
// live session is never missing from its user's index; FindUser drops
// the entries of sessions that have ended.
type UserIndexer interface {
	// IndexUser adds the session stored under id to user's index, which
	// then lives at least ttl (0: no expiry). A store that cannot index
	// this session returns nil and lists by iterating.
	IndexUser(ctx context.Context, key, user, id string, ttl time.Duration) error
}

// Sweeper is implemented by stores that can delete old sessions in bulk:
// the manager's periodic cleanup (Manager.Cleanup) calls it, unless the
// store expires sessions itself (Info.ExpiresNatively).
type Sweeper interface {
	// DeleteOlderThan deletes sessions not saved or touched for age, and
	// expired ones; it returns how many were deleted. A store whose ability
	// depends on what it wraps returns an error wrapping ErrUnsupported
	// when it cannot.
	DeleteOlderThan(ctx context.Context, age time.Duration) (int64, error)
}

// Renewer is implemented by stores that can move a session to a new id
// atomically against concurrent saves (RenewID, on login). The manager uses
// it when present; without it, a renewal is a Save of the whole session
// under the new id and a Delete of the old one, and a save in flight on the
// old id is dropped (logged) instead of carried over.
type Renewer interface {
	// Renew moves the live session stored under from to the new id to. It
	// applies ch onto the session's current stored state (so saves that
	// landed on from before the move are kept), writes the result under to
	// with opt.Expires (keeping the stored creation time), and leaves under
	// from a tombstone that lives for grace: Load reports from as not found
	// (an error wrapping both ErrNotFound and a *MovedError, so a manager
	// can tell "renewed" from "unknown" without ever loading to), Exists
	// reports false, a Touch never makes it load again, and a Save to from
	// returns a *MovedError naming to. Every concurrent Save on from lands either before the move (and is
	// carried into to) or after it (and gets the *MovedError).
	//
	// opt.Base, when it is the record as loaded under from, spares a read.
	// When from holds no live session (deleted, expired, already renewed)
	// Renew writes nothing and returns an error wrapping ErrNotFound.
	// A store whose ability depends on what it wraps returns an error
	// wrapping ErrUnsupported when it cannot (the manager then saves and
	// deletes).
	Renew(ctx context.Context, from, to string, ch Changes, opt SaveOptions, grace time.Duration) (*Record, error)
}

// ClientStore is the contract of a client-side store, one that keeps the
// whole session in the client's cookie (the cookie store). The manager
// opens the cookie value with Open, applies the request's changes onto the
// record itself and sends Seal's token back as the cookie value. Nothing is
// kept on the server, so there is nothing to load by id, touch, delete,
// iterate or sweep; concurrent requests do not merge (last write wins).
// It may implement Describer.
type ClientStore interface {
	// Open decodes a token from the client; an expired or tampered token
	// yields an error wrapping ErrNotFound.
	Open(token string) (*Record, error)
	// Seal encodes a record (its ID, data, timestamps and expiry) into a
	// token for the client. A token too large for a cookie is an error
	// wrapping ErrTooLarge.
	Seal(rec *Record) (string, error)
	// Close releases resources the store owns.
	Close() error
}

// maxUnwrap bounds how many decorators As looks through.
const maxUnwrap = 16

// As returns the T behind s: s itself when it is a T, else, through the
// Unwrap() Store (or Unwrap() ClientStore) methods of decorators, the
// nearest wrapped storage that is. A decorator that forwards only the core
// methods keeps its store's capabilities visible by adding such an Unwrap.
func As[T any](s Storage) (T, bool) {
	for range maxUnwrap {
		if c, ok := s.(T); ok {
			return c, true
		}
		switch u := s.(type) {
		case interface{ Unwrap() Store }:
			s = u.Unwrap()
		case interface{ Unwrap() ClientStore }:
			s = u.Unwrap()
		default:
			var zero T
			return zero, false
		}
	}
	var zero T
	return zero, false
}

// InfoOf returns what s declares through Describer (found as As finds it),
// or, for storage without it, a default: the name of its Go type (such as
// "mystore.Store"), and for a Store Merges true (the contract of Save) and
// CrossProcess false (nothing is promised), for a ClientStore CrossProcess
// true and Merges false.
func InfoOf(s Storage) Info {
	if d, ok := As[Describer](s); ok {
		return d.Info()
	}
	info := Info{Name: strings.TrimPrefix(fmt.Sprintf("%T", s), "*")}
	if _, ok := s.(ClientStore); ok {
		info.CrossProcess = true
	} else {
		info.Merges = true
	}
	return info
}

// Setup prepares s when it is (or wraps, see As) a Setupper, and does
// nothing otherwise. The fx module calls it in its OnStart hook; call it
// yourself once when you build a store without fx.
func Setup(ctx context.Context, s Storage) error {
	if st, ok := As[Setupper](s); ok {
		return st.Setup(ctx)
	}
	return nil
}
