// Package backends holds the session Store contract (after session3's
// SessionStore), the value codec every store shares, a registry through which
// stores are created from configuration by name, and the stores themselves:
// kvcache (any kvcache container) and null here; gorm, cookie and others in
// sub-packages.
//
// A store knows nothing of HTTP or of the session manager. It keys sessions by
// an opaque storage id (the manager may hash the client's id before it reaches
// the store) and applies each request's changes onto what is stored.
package backends

import (
	"context"
	"errors"
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
	// ErrUnsupported is returned by optional operations a store cannot do
	// (for example Iterate on the cookie store).
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
	// Rev is the store's revision of the record (e.g. the GORM version
	// column) when it keeps one, else 0. A manager passes the loaded record
	// back as SaveOptions.Base so the store can try a compare-and-set
	// against it without reading the record again.
	Rev int64

	// raw is the encoded form a kv-style store read (KVStore), so a save
	// can compare-and-swap against it without reading again.
	raw []byte
}

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

// Info declares what a store can do.
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
	// ClientSide is true for a store that keeps the whole session in the
	// client's cookie and implements ClientSide. A decorator that forwards
	// Info must also forward Open and Seal (or expose the wrapped store
	// with an Unwrap() Store method): the manager refuses a store that
	// declares ClientSide without either.
	ClientSide bool
}

// Store is the session storage contract.
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
	// Exists reports whether a live session is stored under id.
	Exists(ctx context.Context, id string) (bool, error)
	// Touch moves an existing session's expiry without rewriting its data
	// (ErrNotFound when absent).
	Touch(ctx context.Context, id string, expires time.Time) error
	// Iterate calls fn for every live session, for admin browsing, without
	// loading all sessions at once where the engine allows it. fn returning
	// an error stops iteration with that error. ErrUnsupported when the
	// store cannot iterate.
	Iterate(ctx context.Context, fn func(Record) error) error
	// Setup prepares the store (creates tables). Safe to call repeatedly.
	Setup(ctx context.Context) error
	// DeleteOlderThan deletes sessions not saved or touched for age, and
	// expired ones; it returns how many were deleted. ErrUnsupported when
	// the store cannot.
	DeleteOlderThan(ctx context.Context, age time.Duration) (int64, error)
	// Info declares the store's abilities.
	Info() Info
	// Close releases resources the store owns.
	Close() error
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
	Renew(ctx context.Context, from, to string, ch Changes, opt SaveOptions, grace time.Duration) (*Record, error)
}

// ClientSide is implemented by stores that keep the whole session in the
// client's cookie (the cookie store). The manager then uses the sealed token
// as the cookie value instead of a session id.
type ClientSide interface {
	// Open decodes a token from the client; an expired or tampered token
	// yields ErrNotFound.
	Open(token string) (*Record, error)
	// Seal encodes a record into a token for the client.
	Seal(rec *Record) (string, error)
}
