// Package kvcache is a key-value cache with named backends and named
// containers mapped onto them: the Go form of score.kvcache.
//
// A Backend is a storage engine (memory = ristretto, redis). A Container is a
// named view onto a backend with its own key prefix and default TTL; code
// asks for a container by name and never needs to know which engine holds it.
package kvcache

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound is returned when a key is absent or expired.
	ErrNotFound = errors.New("kvcache: key not found")
	// ErrNotStored is returned when a backend could not make a write durable
	// (for example ristretto refused it at capacity).
	ErrNotStored = errors.New("kvcache: value not stored")
	// ErrUnknownContainer is returned for a container name that is not configured.
	ErrUnknownContainer = errors.New("kvcache: unknown container")
	// ErrUnknownBackend is returned for a backend name or type that is not configured/registered.
	ErrUnknownBackend = errors.New("kvcache: unknown backend")
	// ErrConflict is returned by Update when optimistic retries are exhausted.
	ErrConflict = errors.New("kvcache: too many concurrent updates")
	// ErrUnsupported is returned by a container operation its engine
	// cannot do (index sets on an engine that is no Indexer).
	ErrUnsupported = errors.New("kvcache: operation not supported by this engine")
)

// UpdateFunc computes a key's new value from its current one. found is false
// when the key is absent. Returning a nil value deletes the key. ttl is the
// new time to live (0 = none). The function may run more than once when the
// backend retries optimistically, so it must not have side effects.
type UpdateFunc func(old []byte, found bool) (value []byte, ttl time.Duration, err error)

// Backend is a storage engine. Keys are full keys (the container prefix is
// already applied). All methods must be safe for concurrent use.
type Backend interface {
	// Get returns the value and its remaining time to live (0: no expiry),
	// or ErrNotFound.
	Get(ctx context.Context, key string) (value []byte, ttl time.Duration, err error)
	// Set stores value; ttl 0 means no expiry. A nil error means the value
	// is readable by the next Get (until it expires or is evicted).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key; an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Exists reports whether key is present and unexpired.
	Exists(ctx context.Context, key string) (bool, error)
	// Expire sets a new TTL on an existing key without rewriting its value;
	// ErrNotFound when absent.
	Expire(ctx context.Context, key string, ttl time.Duration) error
	// Update atomically replaces key's value with fn's result (atomic at
	// least within the backend's consistency domain: a process for memory,
	// the server for redis).
	Update(ctx context.Context, key string, fn UpdateFunc) error
	// Scan calls fn for every live key that starts with prefix, in no
	// particular order, without loading all keys at once where the engine
	// allows it. fn returning an error stops the scan with that error.
	Scan(ctx context.Context, prefix string, fn func(key string) error) error
	// CrossProcess reports whether several processes share this backend's data.
	CrossProcess() bool
	// Close releases the backend's resources.
	Close() error
}

// Indexer is implemented by engines that can keep a set of members under an
// index key beside their values (Redis: a sorted set), for secondary
// indexes such as a user's sessions. Index keys are given in full by the
// Container, outside every container's key space, so Scan never yields
// them.
type Indexer interface {
	// IndexAdd adds member to the set under key (or refreshes it) with
	// the time at; the set then lives at least ttl (0: no expiry).
	IndexAdd(ctx context.Context, key, member string, at time.Time, ttl time.Duration) error
	// IndexMembers returns the set's members with the time each was last
	// added (none when the set is absent).
	IndexMembers(ctx context.Context, key string) ([]IndexMember, error)
	// IndexRemove removes those of members last added at or before
	// cutoff (a member added again since stays), and returns how many.
	IndexRemove(ctx context.Context, key string, cutoff time.Time, members ...string) (int, error)
}

// IndexMember is a member of an index set and when it was last added.
type IndexMember struct {
	Member string
	Added  time.Time
}
