package session

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sessionfx/session/backends"
)

// The "your sessions" API: a logged-in user lists their own sessions (each
// by an opaque handle, with when it was created and last seen and the user
// agent that created it) and ends one of them, or all but the current one.
// It needs [session] user_key, the session key that names the user.

var (
	// ErrNoUserKey is returned by the "your sessions" API when the config
	// has no [session] user_key.
	ErrNoUserKey = errors.New(`session: the "your sessions" API needs [session] user_key (the session key naming the logged-in user, e.g. user_id)`)
	// ErrNotLoggedIn is returned by the self-service calls for a session
	// whose user_key value is empty.
	ErrNotLoggedIn = errors.New("session: the session has no logged-in user")
	// ErrNoSuchSession is returned for a handle that names no live session
	// (of that user, for the self-service calls): unknown, ended, expired
	// and another user's handles are not told apart.
	ErrNoSuchSession = errors.New("session: no such session")
)

// SessionInfo is one session as the "your sessions" API shows it: never
// its id, nor the hash it is stored under.
type SessionInfo struct {
	// Handle names the session for RevokeSession and the admin calls:
	// 32 hex characters, the same on every app instance, from which
	// neither the session id nor its storage hash can be recovered.
	Handle string `json:"handle"`
	// User is the value under user_key ("" for an anonymous session).
	User string `json:"user"`
	// Current marks the calling request's own session (UserSessions).
	Current bool `json:"current"`
	// Created is when the session was first stored.
	Created time.Time `json:"created"`
	// LastSeen is when it was last saved or had its idle deadline
	// refreshed: the idle refresh's granularity (half the idle window),
	// so recording it costs no extra write.
	LastSeen time.Time `json:"last_seen"`
	// Expires is when it ends unless used (zero: never).
	Expires time.Time `json:"expires,omitzero"`
	// UserAgent is the User-Agent of the request that created it.
	UserAgent string `json:"user_agent,omitempty"`
	// IP is that request's client address, with record_ip only.
	IP string `json:"ip,omitempty"`
	// Keys is how many keys the session holds.
	Keys int `json:"keys"`
}

// handlePrefix separates handles from every other SHA-256 over a storage id
// (HashID is SHA-256 of the id itself).
const handlePrefix = "sessionfx-handle\x00"

// HandleOf returns the handle of the session stored under storageID (as
// Iterate yields it): hex of SHA-256 over a domain prefix and the storage
// id, cut to 128 bits.
func (m *Manager) HandleOf(storageID string) string {
	sum := sha256.Sum256([]byte(handlePrefix + storageID))
	return hex.EncodeToString(sum[:16])
}

// Handle returns the session's handle (see SessionInfo.Handle), or "" while
// it has never been stored.
func (s *Session) Handle() string {
	if id := s.m.currentStorageID(s); id != "" {
		return s.m.HandleOf(id)
	}
	return ""
}

// maxUserAgent bounds the user agent kept with a session, in bytes.
const maxUserAgent = 256

// metaOf is what a new session records about the request that creates it.
func (m *Manager) metaOf(r *http.Request) backends.Meta {
	if r == nil {
		return backends.Meta{}
	}
	meta := backends.Meta{UserAgent: clipUTF8(r.Header.Get("User-Agent"), maxUserAgent)}
	if m.cfg.RecordIP {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			meta.IP = host
		} else {
			meta.IP = clipUTF8(r.RemoteAddr, 64)
		}
	}
	return meta
}

// clipUTF8 returns s as valid UTF-8 of at most n bytes, cut at a rune
// boundary.
func clipUTF8(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// sessionInfo is what SessionInfo shows of rec.
func (m *Manager) sessionInfo(rec *backends.Record) SessionInfo {
	user, _ := rec.Data[m.cfg.UserKey].(string)
	if m.cfg.UserKey == "" {
		user = ""
	}
	// The idle refresh moves the expiry, not always Updated (kvcache
	// engines only move the TTL): a session whose expiry is at most
	// idle_timeout away was last seen idle_timeout before it.
	last := rec.Updated
	if idle := m.cfg.IdleTimeout; idle > 0 && !rec.Expires.IsZero() {
		if t := rec.Expires.Add(-idle); t.After(last) {
			last = t
		}
	}
	return SessionInfo{
		Handle:    m.HandleOf(rec.ID),
		User:      user,
		Created:   rec.Created.UTC(),
		LastSeen:  last.UTC(),
		Expires:   rec.Expires.UTC(),
		UserAgent: rec.Meta.UserAgent,
		IP:        rec.Meta.IP,
		Keys:      len(rec.Data),
	}
}

// live reports whether rec is a session a client could still use.
func (m *Manager) live(rec *backends.Record, now time.Time) bool {
	return !rec.Expired(now) && !m.pastLifetime(rec.Created, now)
}

// each calls fn for every live session (user == "") or every live session
// of user.
func (m *Manager) each(ctx context.Context, user string, fn func(*backends.Record) error) error {
	now := m.now()
	if user != "" {
		if m.cfg.UserKey == "" {
			return ErrNoUserKey
		}
		if ul, ok := capability[backends.UserFinder](m); ok {
			recs, err := ul.FindUser(ctx, m.cfg.UserKey, user)
			switch {
			case err == nil:
				for i := range recs {
					if u, _ := recs[i].Data[m.cfg.UserKey].(string); u == user && m.live(&recs[i], now) {
						if err := fn(&recs[i]); err != nil {
							return err
						}
					}
				}
				return nil
			case !errors.Is(err, backends.ErrUnsupported):
				return fmt.Errorf("%w: listing a user's sessions: %w", ErrStore, err)
			}
		}
	}
	it, ok := capability[backends.Iterator](m)
	if !ok {
		return m.unsupported("list sessions", "backends.Iterator")
	}
	var stop error
	err := it.Iterate(ctx, func(rec backends.Record) error {
		if !m.live(&rec, now) {
			return nil
		}
		if user != "" {
			if u, _ := rec.Data[m.cfg.UserKey].(string); u != user {
				return nil
			}
		}
		if err := fn(&rec); err != nil {
			stop = err
			return err
		}
		return nil
	})
	switch {
	case stop != nil && errors.Is(err, stop):
		return stop
	case errors.Is(err, backends.ErrUnsupported):
		return fmt.Errorf("session: list sessions: %w", err)
	case err != nil:
		return fmt.Errorf("%w: listing sessions: %w", ErrStore, err)
	}
	return nil
}

// userOf is the logged-in user of s.
func (m *Manager) userOf(s *Session) (string, error) {
	if m.cfg.UserKey == "" {
		return "", ErrNoUserKey
	}
	user := s.GetString(m.cfg.UserKey)
	if user == "" {
		return "", ErrNotLoggedIn
	}
	return user, nil
}

// currentStorageID is the storage id of s ("" when never stored).
func (m *Manager) currentStorageID(s *Session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rec == nil || s.id == "" {
		return ""
	}
	return m.st.key(s.id)
}

// UserSessions returns the live sessions of the user logged in to s, oldest
// first, the current one marked. On gormstore with user_key as a typed
// column of the model it is one indexed query; on other stores it reads
// every session (backends.Iterator). A store that can do neither (the
// cookie store) yields an error wrapping backends.ErrUnsupported.
func (m *Manager) UserSessions(ctx context.Context, s *Session) ([]SessionInfo, error) {
	user, err := m.userOf(s)
	if err != nil {
		return nil, err
	}
	cur := m.currentStorageID(s)
	var out []SessionInfo
	err = m.each(ctx, user, func(rec *backends.Record) error {
		in := m.sessionInfo(rec)
		in.Current = cur != "" && rec.ID == cur
		out = append(out, in)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].Handle < out[j].Handle
	})
	return out, nil
}

// RevokeSession ends the session named by handle if it belongs to the user
// logged in to s (ErrNoSuchSession otherwise). When it is s itself, s is
// destroyed as on logout (the response expires the cookie) and current is
// true.
func (m *Manager) RevokeSession(ctx context.Context, s *Session, handle string) (current bool, err error) {
	user, err := m.userOf(s)
	if err != nil {
		return false, err
	}
	if cur := m.currentStorageID(s); cur != "" && sameHandle(m.HandleOf(cur), handle) {
		return true, s.Destroy(ctx)
	}
	id, err := m.find(ctx, user, handle)
	if err != nil {
		return false, err
	}
	return false, m.DestroyStored(ctx, id)
}

// RevokeOthers ends every session of the user logged in to s except s
// ("log out everywhere else") and returns how many it ended.
func (m *Manager) RevokeOthers(ctx context.Context, s *Session) (int, error) {
	user, err := m.userOf(s)
	if err != nil {
		return 0, err
	}
	return m.revokeAll(ctx, user, m.currentStorageID(s))
}

// RevokeUser ends every session of user (an admin's "log out everywhere")
// and returns how many it ended.
func (m *Manager) RevokeUser(ctx context.Context, user string) (int, error) {
	if user == "" {
		return 0, fmt.Errorf("session: revoke user: %w", ErrNotLoggedIn)
	}
	return m.revokeAll(ctx, user, "")
}

func (m *Manager) revokeAll(ctx context.Context, user, keep string) (int, error) {
	var ids []string
	if err := m.each(ctx, user, func(rec *backends.Record) error {
		if rec.ID != keep {
			ids = append(ids, rec.ID)
		}
		return nil
	}); err != nil {
		return 0, err
	}
	for i, id := range ids {
		if err := m.DestroyStored(ctx, id); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}

// Sessions calls fn for every live session (user "") or every live session
// of user, for admin tools: see UserSessions for what it costs.
func (m *Manager) Sessions(ctx context.Context, user string, fn func(SessionInfo) error) error {
	return m.each(ctx, user, func(rec *backends.Record) error { return fn(m.sessionInfo(rec)) })
}

// SessionByHandle returns the live session named by handle, whoever's it
// is (ErrNoSuchSession when none). It reads every session: an admin call.
func (m *Manager) SessionByHandle(ctx context.Context, handle string) (SessionInfo, error) {
	var found *SessionInfo
	err := m.each(ctx, "", func(rec *backends.Record) error {
		if sameHandle(m.HandleOf(rec.ID), handle) {
			in := m.sessionInfo(rec)
			found = &in
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return SessionInfo{}, err
	}
	if found == nil {
		return SessionInfo{}, ErrNoSuchSession
	}
	return *found, nil
}

// RevokeHandle ends the live session named by handle, whoever's it is
// (ErrNoSuchSession when none).
func (m *Manager) RevokeHandle(ctx context.Context, handle string) error {
	id, err := m.find(ctx, "", handle)
	if err != nil {
		return err
	}
	return m.DestroyStored(ctx, id)
}

var errFound = errors.New("found")

// find returns the storage id of the live session named by handle (of user,
// unless user is "").
func (m *Manager) find(ctx context.Context, user, handle string) (string, error) {
	if !validHandle(handle) {
		return "", ErrNoSuchSession
	}
	var id string
	err := m.each(ctx, user, func(rec *backends.Record) error {
		if sameHandle(m.HandleOf(rec.ID), handle) {
			id = rec.ID
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return "", err
	}
	if id == "" {
		return "", ErrNoSuchSession
	}
	return id, nil
}

func validHandle(h string) bool {
	if len(h) != 32 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

func sameHandle(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
