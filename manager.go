package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/ctxmember"
	"github.com/sessionfx/session/internal/loghash"
)

// ErrorHandler answers a request whose session could not be saved before
// the response headers went out.
type ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

// DefaultErrorHandler answers with ErrorStatus(err) and the status text as
// the body: never the error's own text (store names, key hashes, driver
// messages), which goes to the log instead.
func DefaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	code := ErrorStatus(err)
	http.Error(w, http.StatusText(code), code)
}

// ErrorStatus is the HTTP status for a session save error: 413 for
// ErrTooLarge and 409 for ErrRenewed (both caused by the client, which can
// act on them), 503 for ErrStore, 500 otherwise.
func ErrorStatus(err error) int {
	switch {
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrRenewed):
		return http.StatusConflict
	case errors.Is(err, ErrStore):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// logSaveError logs a failed save at a level by its cause: what a client
// can cause at will (a session too large, a write with a renewed id) is
// not an error of the server.
func (m *Manager) logSaveError(msg string, err error, fields ...zap.Field) {
	fields = append(fields, zap.Error(err))
	switch {
	case errors.Is(err, ErrRenewed):
		m.log.Info(msg, fields...)
	case errors.Is(err, ErrTooLarge):
		m.log.Warn(msg, fields...)
	default:
		m.log.Error(msg, fields...)
	}
}

// Manager loads, saves, renews and destroys sessions on one store, and
// provides the HTTP middleware and the scope member. It is usable without fx:
// NewManager, then Middleware or Run.
type Manager struct {
	cfg      Config
	storage  backends.Storage // as given to NewManager
	st       strategy         // server-side or client-side, chosen by NewManager
	info     backends.Info
	log      *zap.Logger
	onError  ErrorHandler
	now      func() time.Time
	registry *ctxmember.Registry
	idMember string
	grace    time.Duration // how long a renewed id forwards in-flight saves
	tel      *telemetry    // nil unless a MeterProvider or TracerProvider is set (telemetry.go)

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// Option configures a Manager.
type Option func(*Manager)

// WithLogger sets the logger (default: no logging).
func WithLogger(l *zap.Logger) Option { return func(m *Manager) { m.log = l } }

// WithErrorHandler sets the handler for saves that fail before the headers
// are written (default: DefaultErrorHandler).
func WithErrorHandler(h ErrorHandler) Option { return func(m *Manager) { m.onError = h } }

// DefaultRenewGrace is how long, after RenewID, a save from a request that
// loaded the session before the renewal is still carried over to the
// renewed session (see WithRenewGrace).
const DefaultRenewGrace = time.Minute

// WithRenewGrace sets how long a renewed id forwards saves of requests that
// loaded the session before the renewal (default DefaultRenewGrace; it
// should exceed your longest request). The old id never loads again, whatever
// the grace. Zero or less turns forwarding off: such saves are then dropped
// and logged like saves racing a logout, and Session.Store returns ErrEnded.
func WithRenewGrace(d time.Duration) Option { return func(m *Manager) { m.grace = d } }

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(m *Manager) { m.now = now } }

// NewManager builds a manager on store. It registers the session member
// (named cfg.Member, reading cfg.Member+"_id") in a new ctxmember registry,
// available through Registry for other members.
//
// store is a backends.Store (sessions kept on the server, the cookie
// carries their id) or a backends.ClientStore (sessions sealed into the
// cookie itself); the manager runs that one strategy, and refuses storage
// that is neither, or both. A decorator of a Store that forwards only the
// core methods keeps the wrapped store's capabilities (Renewer, Iterator,
// Sweeper, Describer) visible through an Unwrap() backends.Store method.
//
// Without fx, cfg.Store and cfg.Container may be left empty: the store is
// given, so they only name it (Backend defaults to the name its Info
// declares, see backends.InfoOf). cfg.CleanupInterval is not acted on
// here: call StartCleanup(interval) and StopCleanup yourself (the fx module
// does it in its lifecycle hooks), or run Cleanup from your own scheduler.
// Nor is the store set up: call backends.Setup once (the fx module does it
// in its start hook).
func NewManager(cfg Config, store backends.Storage, opts ...Option) (*Manager, error) {
	if store == nil {
		return nil, errors.New("session: NewManager: store is nil")
	}
	info := backends.InfoOf(store)
	if cfg.Store == "" {
		cfg.Store = info.Name
	}
	if cfg.Store == "kvcache" && cfg.Container == "" {
		cfg.Container = "session"
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, storage: store, info: info, log: zap.NewNop(), onError: DefaultErrorHandler, now: time.Now, idMember: cfg.Member + "_id", grace: DefaultRenewGrace}
	for _, o := range opts {
		o(m)
	}
	m.tel = m.tel.start(info, m.log)
	server, isServer := store.(backends.Store)
	client, isClient := store.(backends.ClientStore)
	switch {
	case isServer && isClient:
		return nil, fmt.Errorf("session: NewManager: store %q (%T) is both a backends.Store and a backends.ClientStore: a manager runs one strategy, so give it a type that is one of them", info.Name, store)
	case isServer:
		m.st = newServerSide(m, m.tel.wrap(server, m.log))
	case isClient:
		m.st = &clientSide{m: m, cs: client}
	default:
		return nil, fmt.Errorf("session: NewManager: store %q (%T) is neither a backends.Store (Load, Save, Delete, Touch, Close) nor a backends.ClientStore (Open, Seal, Close)", info.Name, store)
	}
	reg, err := ctxmember.NewRegistry(m.Member())
	if err != nil {
		return nil, err
	}
	m.registry = reg
	return m, nil
}

// Config returns the manager's configuration.
func (m *Manager) Config() Config { return m.cfg }

// Store returns the storage the manager was given (a backends.Store or a
// backends.ClientStore), for admin tasks: type-assert it to the store's
// own type for its queries (gormstore's FindWhere, say), or use
// Iterate, DestroyStored and Cleanup, which look up the capabilities.
func (m *Manager) Store() backends.Storage { return m.storage }

// Registry returns the ctxmember registry holding the session member; other
// members may be registered in it.
func (m *Manager) Registry() *ctxmember.Registry { return m.registry }

// Member returns the scope member definition of the session.
func (m *Manager) Member() ctxmember.Member {
	return ctxmember.Member{
		Name:  m.cfg.Member,
		Locks: []string{m.idMember},
		Build: func(ctx context.Context, sc *ctxmember.Scope) (any, error) {
			id, _ := sc.Value(m.idMember)
			str, _ := id.(string)
			s, err := m.Load(ctx, str)
			if rw, ok := sc.Owner().(*responseWriter); ok && err == nil {
				s.req = rw.r
			}
			return s, err
		},
		Close: func(ctx context.Context, v any, outcome error) error {
			s := v.(*Session)
			if outcome != nil {
				s.Revert()
				return nil
			}
			late := false
			if sc := ctxmember.FromContext(ctx); sc != nil {
				late = headersSent(sc)
			}
			return m.finish(ctx, s, late)
		},
	}
}

// capability returns the T of the manager's server-side store (itself, or
// through decorators' Unwrap methods, see backends.As); false for a
// client-side store, which keeps nothing on the server.
func capability[T any](m *Manager) (T, bool) {
	return backends.As[T](m.st.server())
}

// HashID returns the SHA-256 hex of a session id: what a store with
// hash_ids keeps instead of the id.
func HashID(id string) string {
	var in [64]byte // ids are 36 bytes: hashed without a heap copy
	sum := sha256.Sum256(append(in[:0], id...))
	var buf [sha256.Size * 2]byte
	hex.Encode(buf[:], sum[:])
	return string(buf[:])
}

// logName is what logs and errors show for the session a client knows as
// id: the short hash of its storage id, as the stores log it.
func (m *Manager) logName(id string) string { return loghash.Of(m.st.key(id)) }

func newID() string {
	return uuid.New().String() // crypto/rand UUIDv4
}

// ValidID reports whether id has the form of a session id (a canonical
// lowercase-or-uppercase UUIDv4). Other ids never reach the store.
func ValidID(id string) bool {
	if len(id) != 36 {
		return false
	}
	u, err := uuid.Parse(id)
	return err == nil && u.Version() == 4 && u.Variant() == uuid.RFC4122
}

// New returns a new, empty, id-less session.
func (m *Manager) New() *Session { return newSession(m) }

// Load returns the session for id (the value of the cookie, or "" for
// none). A malformed, unknown or expired id yields a fresh, id-less session
// (never adopting the client's id); a store failure is returned as an error
// wrapping ErrStore, never as an empty session that a later save would
// write over real data.
func (m *Manager) Load(ctx context.Context, id string) (*Session, error) {
	s := newSession(m)
	if id == "" {
		return s, nil
	}
	if len(id) > m.cfg.MaxCookieSize {
		s.clear = true
		return s, nil
	}
	rec, sessionID, err := m.st.open(ctx, id)
	switch {
	case err == nil:
	case errors.Is(err, backends.ErrMoved):
		// Renewed (a login) after the client sent this request: the
		// client has or is about to get the new id. The old id gives a
		// fresh session that may not write (ErrRenewed) and the cookie is
		// left alone, so this response cannot undo the login's cookie.
		s.renewed = true
		return s, nil
	case errors.Is(err, backends.ErrNotFound):
		s.clear = true
		return s, nil
	default:
		return nil, fmt.Errorf("%w: load session %s: %w", ErrStore, m.logName(id), err)
	}
	now := m.now()
	if rec.Expired(now) || m.pastLifetime(rec.Created, now) {
		m.tel.endSessions(ctx, endExpiry, 1)
		s.clear = true
		return s, nil
	}
	s.id, s.value, s.sent = sessionID, id, id
	s.rec, s.loaded = rec, true
	if rec.Data == nil {
		rec.Data = map[string]any{}
	}
	s.data, s.shared = rec.Data, true
	if m.cfg.IdleTimeout > 0 {
		// Half-life rule: refresh the idle deadline only once half of the
		// idle window has passed, so most read-only requests write nothing.
		next := m.expiry(rec.Created, now)
		s.touchDue = !rec.Expires.IsZero() && next.Sub(rec.Expires) >= m.cfg.IdleTimeout/2
	}
	return s, nil
}

func (m *Manager) pastLifetime(created, now time.Time) bool {
	return m.cfg.Lifetime > 0 && !created.IsZero() && !now.Before(created.Add(m.cfg.Lifetime))
}

// expiry is min(created+lifetime, now+idle), ignoring the limits that are
// off; zero when both are off.
func (m *Manager) expiry(created, now time.Time) time.Time {
	var exp time.Time
	if m.cfg.Lifetime > 0 {
		if created.IsZero() {
			created = now
		}
		exp = created.Add(m.cfg.Lifetime)
	}
	if m.cfg.IdleTimeout > 0 {
		idle := now.Add(m.cfg.IdleTimeout)
		if exp.IsZero() || idle.Before(exp) {
			exp = idle
		}
	}
	return exp
}

// save writes s's changes (s.mu held).
func (m *Manager) save(ctx context.Context, s *Session) error {
	if !s.changedLocked() {
		return nil
	}
	now := m.now()
	created := now
	if s.rec != nil && !s.rec.Created.IsZero() {
		created = s.rec.Created
	}
	opt := backends.SaveOptions{Expires: m.expiry(created, now), Created: created}
	if max := int(m.cfg.MaxSessionSize); max > 0 {
		if n, err := encodedSize(s.data); err != nil {
			return fmt.Errorf("session: encoding: %w", err)
		} else if n > max {
			return fmt.Errorf("%w: %d bytes encoded, max_session_size is %d", ErrTooLarge, n, max)
		}
	}
	if s.renewed && s.rec == nil {
		// This request came with an id that was renewed (a login) after
		// it was sent: its writes cannot go to the renewed session (the
		// old id must not reach it) and must not start another one (its
		// cookie would replace the login's).
		return ErrRenewed
	}
	isNew, renewing := s.rec == nil, s.prev != ""
	err := m.st.save(ctx, s, opt, now)
	if err == nil {
		m.tel.saved(ctx, isNew, renewing)
	}
	return err
}

// encodedSize is the size of d encoded, measured in a pooled buffer (the
// store encodes the merged session again: this is only the limit's check).
func encodedSize(d map[string]any) (int, error) {
	bp := sizeBufs.Get().(*[]byte)
	b, err := backends.AppendData((*bp)[:0], d)
	n := len(b)
	if err == nil && cap(b) <= 64<<10 {
		*bp = b
	}
	sizeBufs.Put(bp)
	return n, err
}

var sizeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// destroy deletes s from the store now (s.mu held).
func (m *Manager) destroy(ctx context.Context, s *Session) error {
	if err := m.st.destroy(ctx, s); err != nil {
		return err
	}
	if s.rec != nil {
		m.tel.endSessions(ctx, endLogout, 1)
	}
	s.resetLocked()
	s.clear, s.renewed = true, false
	return nil
}

// commit saves s and refreshes its idle deadline when due; it runs before
// the response headers go out, and again (for late changes) when the scope
// ends.
//
// A write outlives the request: the client hanging up does not cancel it.
// The context is wrapped only when there is something to write.
func (m *Manager) commit(ctx context.Context, s *Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changedLocked() {
		if err := m.save(context.WithoutCancel(ctx), s); !errors.Is(err, ErrEnded) {
			return err
		}
		return nil // dropped and logged: the user ended the session
	}
	if s.touchDue && s.rec != nil {
		s.touchDue = false
		return m.st.touch(context.WithoutCancel(ctx), s, m.expiry(s.rec.Created, m.now()))
	}
	return nil
}

// finish runs when the scope ends successfully: changes made after the
// response headers were sent are still saved when the strategy can keep
// them (the cookie can no longer change, which is logged as an error).
func (m *Manager) finish(ctx context.Context, s *Session, headersOut bool) error {
	s.mu.Lock()
	discard := (s.cookieSent || headersOut) && s.changedLocked() && !m.st.late(s)
	s.mu.Unlock()
	if discard {
		s.Revert()
		return nil
	}
	if err := m.commit(ctx, s); err != nil {
		m.logSaveError("session: save at end of scope failed", err)
		return err
	}
	return nil
}

// Run runs fn in a new scope (for jobs and CLIs): From(ctx) works inside fn,
// and the session is saved when fn returns nil, discarded when it returns
// an error or panics. Set the id with SetID before the first From.
func (m *Manager) Run(ctx context.Context, fn func(ctx context.Context) error) error {
	return m.registry.Run(withManager(ctx, m), fn)
}

// Iterate calls fn for every stored session (admin browsing). Record.ID is
// the storage id: with hash_ids on it is the SHA-256 of the session id, so
// pass it to DestroyStored, never to Load. A store that cannot list its
// sessions (no backends.Iterator, such as the cookie store) yields an
// error wrapping backends.ErrUnsupported.
func (m *Manager) Iterate(ctx context.Context, fn func(backends.Record) error) error {
	it, ok := capability[backends.Iterator](m)
	if !ok {
		return m.unsupported("iterate", "backends.Iterator")
	}
	return it.Iterate(ctx, fn)
}

// unsupported is the error of an operation the store lacks the capability
// for.
func (m *Manager) unsupported(op, iface string) error {
	return fmt.Errorf("session: %s: %w: store %q (%T) is no server-side %s", op, backends.ErrUnsupported, m.cfg.Store, m.storage, iface)
}

// DestroyStored deletes the session stored under a storage id, as Iterate
// yields it (no hashing is applied again). Use it for "log out everywhere".
// A client-side store, which keeps nothing on the server, yields an error
// wrapping backends.ErrUnsupported.
func (m *Manager) DestroyStored(ctx context.Context, storageID string) error {
	store := m.st.server()
	if store == nil {
		return m.unsupported("destroy stored session", "backends.Store")
	}
	if err := store.Delete(ctx, storageID); err != nil {
		return fmt.Errorf("%w: destroy stored session %s: %w", ErrStore, loghash.Of(storageID), err)
	}
	m.tel.endSessions(ctx, endRevoked, 1)
	return nil
}

// StorageID returns the id under which the store keeps the session with the
// given client id (its SHA-256 hex when hash_ids is on).
func (m *Manager) StorageID(id string) string { return m.st.key(id) }

// Cleanup deletes expired sessions and sessions idle longer than the idle
// timeout (or the lifetime when there is no idle timeout). A store whose
// engine expires sessions itself (Info().ExpiresNatively: the kvcache
// engines) is not swept: it costs nothing, not one round trip. A store
// that cannot sweep (no backends.Sweeper, such as the cookie store, whose
// tokens expire by themselves) yields an error wrapping
// backends.ErrUnsupported.
func (m *Manager) Cleanup(ctx context.Context) (int64, error) {
	if m.info.ExpiresNatively {
		return 0, nil
	}
	sw, ok := capability[backends.Sweeper](m)
	if !ok {
		return 0, m.unsupported("cleanup", "backends.Sweeper")
	}
	age := m.cfg.IdleTimeout
	if age == 0 || (m.cfg.Lifetime > 0 && m.cfg.Lifetime < age) {
		age = m.cfg.Lifetime
	}
	if age == 0 {
		return 0, nil
	}
	n, err := sw.DeleteOlderThan(ctx, age)
	m.tel.cleaned(ctx, n, err)
	return n, err
}

// StartCleanup runs Cleanup every interval in a goroutine until
// StopCleanup. The fx module calls both from lifecycle hooks. Nothing is
// started for a store that expires sessions itself (Info().ExpiresNatively)
// or cannot sweep (no backends.Sweeper); the loop ends, logged at info,
// when the store reports that it cannot (backends.ErrUnsupported).
func (m *Manager) StartCleanup(interval time.Duration) {
	if interval <= 0 || m.stop != nil || m.info.ExpiresNatively {
		return
	}
	if _, ok := capability[backends.Sweeper](m); !ok {
		return
	}
	m.stop, m.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(m.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), interval)
				n, err := m.Cleanup(ctx)
				cancel()
				switch {
				case errors.Is(err, backends.ErrUnsupported):
					m.log.Info("session: periodic cleanup stopped: the store cannot delete old sessions", zap.Error(err))
					return
				case err != nil:
					m.log.Warn("session: periodic cleanup failed", zap.Error(err))
				case n > 0:
					m.log.Info("session: periodic cleanup", zap.Int64("deleted", n))
				}
			}
		}
	}()
}

// StopCleanup stops the periodic cleanup and waits for it.
func (m *Manager) StopCleanup() {
	if m.stop == nil {
		return
	}
	m.stopOnce.Do(func() { close(m.stop) })
	<-m.done
}

type managerKey struct{}

func withManager(ctx context.Context, m *Manager) context.Context {
	return context.WithValue(ctx, managerKey{}, m)
}

// From returns the request's session, loading it on first use: the id
// member is read then, once. Later calls return the same session.
//
// Errors: one wrapping ErrStore when the store failed (answer 503: the
// store is down, the session may well exist); ErrNoScope when ctx carries
// no scope (the middleware or Manager.Run is not in place: a programming
// error, answer 500).
func From(ctx context.Context) (*Session, error) {
	sc := ctxmember.FromContext(ctx)
	if sc == nil {
		return nil, ErrNoScope
	}
	name := "session"
	if m := ownerManager(ctx, sc); m != nil {
		name = m.cfg.Member
	}
	v, err := sc.Get(name)
	if err != nil {
		return nil, err
	}
	return v.(*Session), nil
}

// SetID sets the id of the session to load in this scope (the member
// "session_id"). It must come before the first From: afterwards it returns
// an error wrapping ErrAlreadyLoaded. An id that is not a session id (a
// UUIDv4; for the cookie store, a sealed token) is refused with an error
// wrapping ErrInvalidID. An id the store does not know gives a new session
// on From, as for a request: a job that must work on an existing session
// checks Session.IsNew.
func SetID(ctx context.Context, id string) error {
	sc := ctxmember.FromContext(ctx)
	if sc == nil {
		return ErrNoScope
	}
	name := "session_id"
	m := ownerManager(ctx, sc)
	if m != nil {
		name = m.idMember
	}
	switch {
	case id == "":
	case m != nil:
		if err := m.st.check(id); err != nil {
			return err
		}
	case !ValidID(id):
		return invalidUUID(id)
	}
	if err := sc.Set(name, id); err != nil {
		return fmt.Errorf("session: set id: %w", err)
	}
	return nil
}
