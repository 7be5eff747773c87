// Package session is sessionfx: an uber-go/fx module that gives every
// request (or job) a lazily loaded session.
//
// Nothing touches the store until a handler first calls From(ctx). At that
// moment the session id (from the cookie, or set with SetID) is read, once,
// and the session is loaded. A new session has no id; it gains a random
// UUIDv4 on its first write. When the request ends successfully, the keys it
// changed are saved onto what is stored (so concurrent requests that change
// different keys both survive) and the cookie is set; unchanged sessions
// cost nothing. When the request fails (a panic, or Run's function returns an
// error) its changes are discarded.
package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/ctxmember"
)

var (
	// ErrAlreadyLoaded is returned by SetID when the session was already
	// loaded in this scope: the id member is read only once.
	ErrAlreadyLoaded = ctxmember.ErrLocked
	// ErrKeyNotFound is returned by Delete for a key the session does not have.
	ErrKeyNotFound = backends.ErrKeyNotFound
	// ErrUnsupportedValue is returned by Set for a value the codec cannot store.
	ErrUnsupportedValue = backends.ErrUnsupportedValue
	// ErrNoScope is returned by From when the context carries no scope: the
	// middleware (or Manager.Run) is not in place.
	ErrNoScope = ctxmember.ErrNoScope
	// ErrStore wraps every failure of the session store (load, save,
	// delete), so an error handler can answer 503 for them.
	ErrStore = errors.New("session store failed")
	// ErrTooLarge is returned by a save when the encoded session exceeds
	// the configured max_session_size, and wrapped by the cookie store's
	// ErrCookieTooLarge (it is backends.ErrTooLarge).
	ErrTooLarge = backends.ErrTooLarge
	// ErrTypeMismatch is returned by Value when a stored value cannot be
	// converted to the requested type.
	ErrTypeMismatch = errors.New("session value has another type")
	// ErrEnded is returned by Session.Store when another request ended the
	// session (logout, or a login longer than the renew grace ago) or it
	// expired after this request loaded it: the changes were dropped and
	// nothing was re-created. At the end of a request the same case is
	// logged at info and the response goes out as the handler wrote it.
	ErrEnded = errors.New("session ended while this request was in flight; its changes were dropped")
	// ErrRenewed is returned by a save of a request whose session id had
	// been renewed (a login) by the time it was loaded: the request got a
	// fresh session that may not be written, because its cookie would
	// replace the login's and the old id must never reach the renewed
	// session. The default error handler answers 409; the client retries
	// with its new cookie.
	ErrRenewed = errors.New("session id was renewed by a concurrent login; retry with the new cookie")
	// ErrInvalidID is returned by SetID for an id that is not a session
	// id (a UUIDv4, or a sealed token for the cookie store).
	ErrInvalidID = errors.New("not a session id")
)

// Session is one client's session as seen by one request. It is map-like:
// values are normalised on Set to the codec's canonical kinds (see Set), so
// what Get returns in this request is what a later request gets back.
//
// A Session is safe for concurrent use by the goroutines of one request.
type Session struct {
	m *Manager
	// req is the HTTP request whose scope built the session (nil for Run
	// and outer scopes): what a new session's Meta is taken from.
	req *http.Request

	mu    sync.Mutex
	id    string // the session id (a UUIDv4); "" until the first write
	prev  string // the id RenewID replaced: ended by the next save, restored by Revert
	value string // the cookie value naming the stored state (the id, or a client-side store's sealed token); "" when none
	sent  string // the cookie value the client holds: as it sent it, or as this response set it
	data  map[string]any
	// shared is true while data is rec.Data itself (reads cost no copy);
	// the first change copies it (own).
	shared bool
	rec    *backends.Record // as loaded or last saved; nil when never stored

	set     map[string]any
	deleted map[string]struct{}
	cleared bool

	clear      bool // the client's cookie was unusable, or Destroy was called: expire it unless a new one is set
	cookieSent bool // the response headers (and any cookie) went out
	touchDue   bool // idle deadline needs a refresh at the end of the request
	renewed    bool // the client's id was renewed away before this load: no writes
	loaded     bool // loaded from the store in this scope (and not ended since)
}

// IsNew reports whether the session was not in the store when this scope
// loaded it — no id, or an unknown, expired, ended or malformed one — or
// was destroyed since. A job that sets an id with SetID and must work on an
// existing session checks it:
//
//	s, err := session.From(ctx)
//	if err != nil { return err }
//	if s.IsNew() { return fmt.Errorf("session %s: gone", id) }
func (s *Session) IsNew() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.loaded
}

func newSession(m *Manager) *Session {
	return &Session{m: m} // data is allocated on first write or load
}

// ID returns the session id: empty until the session is first written, then
// a random UUIDv4.
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// Get returns the value stored under key. Values come back in the canonical
// kinds Set normalised them to: int64 for every integer, float64, string,
// bool, time.Time, []byte, []any, map[string]any, or nil.
func (s *Session) Get(key string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[key]
	return v, ok
}

// Has reports whether key is present.
func (s *Session) Has(key string) bool {
	_, ok := s.Get(key)
	return ok
}

// GetString returns the string under key, or "" when absent or not a string.
func (s *Session) GetString(key string) string {
	v, _ := s.Get(key)
	str, _ := v.(string)
	return str
}

// GetInt returns the integer under key, or 0 when absent or not an integer.
func (s *Session) GetInt(key string) int {
	return int(s.GetInt64(key))
}

// GetInt64 returns the integer under key, or 0 when absent or not an integer.
func (s *Session) GetInt64(key string) int64 {
	v, _ := s.Get(key)
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		if n == float64(int64(n)) {
			return int64(n)
		}
	}
	return 0
}

// GetFloat returns the number under key as float64, or 0.
func (s *Session) GetFloat(key string) float64 {
	v, _ := s.Get(key)
	switch n := v.(type) {
	case float64:
		return n
	case int64:
		return float64(n)
	}
	return 0
}

// GetBool returns the bool under key, or false.
func (s *Session) GetBool(key string) bool {
	v, _ := s.Get(key)
	b, _ := v.(bool)
	return b
}

// GetTime returns the time under key, or the zero time.
func (s *Session) GetTime(key string) time.Time {
	v, _ := s.Get(key)
	t, _ := v.(time.Time)
	return t
}

// GetBytes returns the []byte under key, or nil.
func (s *Session) GetBytes(key string) []byte {
	v, _ := s.Get(key)
	b, _ := v.([]byte)
	return b
}

// GetMap returns the map under key, or nil.
func (s *Session) GetMap(key string) map[string]any {
	v, _ := s.Get(key)
	mp, _ := v.(map[string]any)
	return mp
}

// GetSlice returns the slice under key, or nil.
func (s *Session) GetSlice(key string) []any {
	v, _ := s.Get(key)
	sl, _ := v.([]any)
	return sl
}

// Value returns the value under key converted to T: directly when it
// already is a T (or a numeric kind convertible to T), else through
// encoding/json (so a struct stored with Set comes back as that struct). It
// returns ErrKeyNotFound when absent and ErrTypeMismatch when the value does
// not fit T.
func Value[T any](s *Session, key string) (T, error) {
	var zero T
	v, ok := s.Get(key)
	if !ok {
		return zero, fmt.Errorf("%w: %q", ErrKeyNotFound, key)
	}
	if t, ok := v.(T); ok {
		return t, nil
	}
	if v == nil {
		return zero, nil
	}
	switch p := any(&zero).(type) {
	case *int:
		if n, ok := v.(int64); ok {
			*p = int(n)
			return zero, nil
		}
	case *int32:
		if n, ok := v.(int64); ok && int64(int32(n)) == n {
			*p = int32(n)
			return zero, nil
		}
	case *uint:
		if n, ok := v.(int64); ok && n >= 0 {
			*p = uint(n)
			return zero, nil
		}
	case *float32:
		if f, ok := v.(float64); ok {
			*p = float32(f)
			return zero, nil
		}
	case *time.Duration:
		if n, ok := v.(int64); ok {
			*p = time.Duration(n)
			return zero, nil
		}
	}
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, &zero)
	}
	if err != nil {
		return zero, fmt.Errorf("%w: key %q holds %T, want %T: %v", ErrTypeMismatch, key, v, zero, err)
	}
	return zero, nil
}

// Set stores value under key. The value is normalised now (so an
// unencodable value fails here, not at the next request): every integer
// becomes int64, float32 becomes float64, slices become []any, maps with
// string keys become map[string]any, structs and json.Marshalers go through
// encoding/json (read them back with Value[T]). Channels, functions, complex
// numbers, NaN and ±Inf fail with ErrUnsupportedValue. The first write of a
// new session gives it its id.
func (s *Session) Set(key string, value any) error {
	if !utf8.ValidString(key) {
		// Stores keep keys as text: fail here, like an invalid value,
		// rather than at the save.
		return fmt.Errorf("session: set %q: the key is not valid UTF-8: %w", key, ErrUnsupportedValue)
	}
	v, err := backends.Normalize(value)
	if err != nil {
		return fmt.Errorf("session: set %q: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureID()
	s.own()
	s.data[key] = v
	if s.set == nil {
		s.set = map[string]any{}
	}
	s.set[key] = v
	delete(s.deleted, key)
	return nil
}

// Delete removes key. It returns ErrKeyNotFound when the session has no such
// key (a GORM column key is always present, nil when NULL: deleting it sets
// the column to NULL and leaves the key with a nil value).
func (s *Session) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.data[key]; !ok {
		return fmt.Errorf("session: delete %q: %w", key, ErrKeyNotFound)
	}
	s.deleteLocked(key)
	return nil
}

// own makes data safe to change: a private copy of what was loaded.
func (s *Session) own() {
	if s.shared || s.data == nil {
		s.data = copyData(s.data)
		s.shared = false
	}
}

func (s *Session) deleteLocked(key string) {
	s.ensureID()
	s.own()
	delete(s.data, key)
	delete(s.set, key)
	if s.deleted == nil {
		s.deleted = map[string]struct{}{}
	}
	s.deleted[key] = struct{}{}
}

// Pop returns and deletes the value under key: the flash-message pattern.
func (s *Session) Pop(key string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[key]
	if ok {
		s.deleteLocked(key)
	}
	return v, ok
}

// PopString pops a string value ("" when absent or not a string).
func (s *Session) PopString(key string) string {
	v, _ := s.Pop(key)
	str, _ := v.(string)
	return str
}

// Keys returns the session's keys, sorted.
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.data))
}

// Len returns the number of keys.
func (s *Session) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.data)
}

// Clear removes every key (the id stays).
func (s *Session) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.data) == 0 && s.rec == nil {
		return
	}
	s.ensureID()
	s.data, s.shared = map[string]any{}, false
	s.set = nil
	s.deleted = nil
	s.cleared = true
}

// Changed reports whether the session has changes that are not saved yet.
func (s *Session) Changed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changedLocked()
}

func (s *Session) changedLocked() bool {
	return s.cleared || len(s.set) > 0 || len(s.deleted) > 0 || s.prev != ""
}

// Revert drops the changes made since the session was loaded or last saved.
func (s *Session) Revert() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revertLocked()
}

func (s *Session) revertLocked() {
	s.set, s.deleted, s.cleared = nil, nil, false
	if s.rec == nil {
		s.data, s.shared = nil, false
		s.id, s.prev = "", ""
		return
	}
	s.data, s.shared = s.rec.Data, true
	if s.prev != "" {
		s.id, s.prev = s.prev, ""
	}
}

// Store saves the session's changes now (normally this happens when the
// request ends). It is a no-op for an unchanged session.
func (s *Session) Store(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.save(ctx, s)
}

// Destroy deletes the session from the store now and leaves this request
// with an empty, id-less session; the response expires the cookie. Use it
// on logout: it removes the server-side state, not only the cookie.
func (s *Session) Destroy(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.destroy(ctx, s)
}

// RenewID gives the session a new id, keeping its data; the old id stops
// working when the request ends. Call it whenever privileges change (login)
// so an id planted or seen before cannot be used afterwards.
func (s *Session) RenewID() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.renewed = false // a new identity on purpose (a login): it may be written
	if s.rec == nil {
		// Never stored: a new id is enough (and happens on first write).
		if s.id != "" {
			s.id = ""
			s.ensureID()
		}
		return nil
	}
	if s.prev == "" {
		s.prev = s.id
	}
	s.id = ""
	s.ensureID()
	return nil
}

// ensureID gives the session an id on its first write.
func (s *Session) ensureID() {
	if s.id == "" {
		s.id = newID()
	}
}

// savedLocked records rec as the stored state, named in the cookie by
// value: nothing is left to save.
func (s *Session) savedLocked(rec *backends.Record, value string) {
	s.rec, s.value, s.prev = rec, value, ""
	s.set, s.deleted, s.cleared, s.touchDue = nil, nil, false, false
}

// resetLocked leaves s empty and id-less, as after Destroy, without touching
// the store.
func (s *Session) resetLocked() {
	s.rec, s.loaded = nil, false
	s.id, s.prev, s.value = "", "", ""
	s.data, s.shared = nil, false
	s.set, s.deleted, s.cleared, s.touchDue = nil, nil, false, false
}

// changes returns this request's changes.
func (s *Session) changesLocked() backends.Changes {
	ch := backends.Changes{Clear: s.cleared, Set: s.set}
	if len(s.deleted) > 0 {
		ch.Delete = slices.Sorted(maps.Keys(s.deleted))
	}
	return ch
}

func copyData(d map[string]any) map[string]any {
	out := make(map[string]any, len(d))
	for k, v := range d {
		out[k] = v
	}
	return out
}
