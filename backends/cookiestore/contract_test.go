package cookiestore

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/storetest"
)

// jar plays the browser for the contract suite. The cookie store keeps
// nothing server-side, so the suite's "storage" is a cookie jar: one token
// per session id, sent back on every call and replaced by the new token
// after every save, as a browser does. Every call goes through the real
// Open/Seal (and the store's Save, Exists, Delete); only the bookkeeping of
// which cookie the client holds lives here.
type jar struct {
	s      *Store
	mu     sync.Mutex
	tokens map[string]string
}

func (j *jar) token(id string) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.tokens[id]
}

// key is what the client sends: its cookie for id if it has a live one, else
// the plain id, which Save takes as the id of a new session.
func (j *jar) key(id string) string {
	if tok := j.token(id); tok != "" {
		if _, err := j.s.Open(tok); err == nil {
			return tok
		}
	}
	return id
}

func (j *jar) Load(ctx context.Context, id string) (*backends.Record, error) {
	tok := j.token(id)
	if tok == "" {
		return nil, backends.ErrNotFound
	}
	return j.s.Load(ctx, tok)
}

func (j *jar) Save(ctx context.Context, id string, ch backends.Changes, opt backends.SaveOptions) (*backends.Record, error) {
	key := j.key(id)
	if key == id && !opt.New {
		// No live cookie and not a new session: the manager never saves
		// such a session (it would start a new one, with New).
		return nil, backends.ErrNotFound
	}
	rec, err := j.s.Save(ctx, key, ch, opt)
	if err != nil {
		return nil, err
	}
	if rec.ID != id {
		return nil, errors.New("cookie store Save changed the session id")
	}
	tok, err := j.s.Seal(rec)
	if err != nil {
		return nil, err
	}
	j.mu.Lock()
	j.tokens[id] = tok
	j.mu.Unlock()
	return rec, nil
}

func (j *jar) Delete(ctx context.Context, id string) error {
	err := j.s.Delete(ctx, j.token(id))
	j.mu.Lock()
	delete(j.tokens, id) // the manager clears the cookie
	j.mu.Unlock()
	return err
}

func (j *jar) Exists(ctx context.Context, id string) (bool, error) {
	tok := j.token(id)
	if tok == "" {
		return false, nil
	}
	return j.s.Exists(ctx, tok)
}

// Touch does what the manager does for a client-side store: open the cookie,
// move the sealed expiry, reseal (the store's own Touch is ErrUnsupported).
func (j *jar) Touch(_ context.Context, id string, expires time.Time) error {
	rec, err := j.s.Open(j.token(id))
	if err != nil {
		return err
	}
	rec.Expires = expires
	tok, err := j.s.Seal(rec)
	if err != nil {
		return err
	}
	j.mu.Lock()
	j.tokens[id] = tok
	j.mu.Unlock()
	return nil
}

func (j *jar) Iterate(ctx context.Context, fn func(backends.Record) error) error {
	return j.s.Iterate(ctx, fn)
}
func (j *jar) Setup(ctx context.Context) error { return j.s.Setup(ctx) }
func (j *jar) DeleteOlderThan(ctx context.Context, age time.Duration) (int64, error) {
	return j.s.DeleteOlderThan(ctx, age)
}
func (j *jar) Info() backends.Info { return j.s.Info() }
func (j *jar) Close() error        { return j.s.Close() }

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store {
		return &jar{s: keysStore(t, testKey(1)), tokens: map[string]string{}}
	},
		// The sessions are in the clients' cookies: nothing to iterate or sweep
		// (both return ErrUnsupported, checked in TestStoreMethodsTakeTokens).
		storetest.SkipIterate(),
		storetest.SkipDeleteOlderThan(),
		// Info().Merges is false. (Sequential saves still build on the
		// previous cookie: TestStoreMethodsTakeTokens checks that.)
		storetest.LastWriteWins(),
		// Concurrent requests each carry their own copy of the cookie; which
		// one survives is the browser's choice, not the store's. The store's
		// side of it (last write wins, no merge) is TestLastWriteWins.
		storetest.Skip("ConcurrentMerge"),
	)
}

// TestLastWriteWins: two requests open the same cookie and change different
// keys; the client keeps the cookie it receives last, with only that
// request's change (nothing merges, nothing errors).
func TestLastWriteWins(t *testing.T) {
	ctx := context.Background()
	s := keysStore(t, testKey(1))
	base, err := s.Save(ctx, "sid", backends.Changes{Set: map[string]any{"a": int64(1)}}, backends.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cookie := mustSeal(t, s, base)
	var tokens [2]string
	for i, key := range []string{"x", "y"} {
		rec, err := s.Open(cookie)
		if err != nil {
			t.Fatal(err)
		}
		rec.Data = backends.Changes{Set: map[string]any{key: true}}.Apply(rec.Data)
		tokens[i] = mustSeal(t, s, rec)
	}
	for i, want := range []map[string]any{{"a": int64(1), "x": true}, {"a": int64(1), "y": true}} {
		got, err := s.Open(tokens[i])
		if err != nil || !reflect.DeepEqual(got.Data, want) {
			t.Errorf("request %d's cookie = %+v, %v; want %v", i, got, err, want)
		}
	}
	if s.Info().Merges {
		t.Error("Info().Merges = true; the cookie store cannot merge")
	}
}
