package session_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/kvcache"
)

// canonicalV4 is the specification ValidID must meet, written out byte by
// byte (no uuid package): 8-4-4-4-12 hex digits of either case, version
// nibble 4, RFC 4122 variant (8, 9, a or b). Nothing else — braces, urn:
// prefixes, no dashes, other versions or variants, spaces, non-ASCII — is
// a session id.
func canonicalV4(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		hex := '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		case 14:
			if c != '4' {
				return false
			}
		case 19:
			if !strings.ContainsRune("89abAB", rune(c)) {
				return false
			}
		default:
			if !hex {
				return false
			}
		}
	}
	return true
}

// FuzzValidID checks ValidID against canonicalV4 in both directions, that
// an accepted id parses as a version 4, RFC 4122 UUID whose canonical text
// is the id (up to case), and that Manager.Load with any string never
// panics, never fails on a healthy store and never adopts an id the store
// does not hold (with and without hash_ids).
func FuzzValidID(f *testing.F) {
	for _, s := range []string{
		"",
		"0b6f5bd0-8b7f-4c1e-9a53-1f1a4f6f4b9a",          // valid
		"0B6F5BD0-8B7F-4C1E-9A53-1F1A4F6F4B9A",          // valid, upper case
		"0b6f5bd0-8b7f-4c1e-Ba53-1f1a4f6f4b9a",          // valid, mixed case
		"0b6f5bd0-8b7f-1c1e-9a53-1f1a4f6f4b9a",          // version 1
		"0b6f5bd0-8b7f-4c1e-ca53-1f1a4f6f4b9a",          // Microsoft variant
		"0b6f5bd0-8b7f-4c1e-7a53-1f1a4f6f4b9a",          // NCS variant
		"0b6f5bd08b7f4c1e9a531f1a4f6f4b9a",              // no dashes
		"0b6f5bd0-8b7f-4c1e-9a53-1f1a4f6f4b9",           // 35 characters
		"0b6f5bd0-8b7f-4c1e-9a53-1f1a4f6f4b9a ",         // trailing space
		"0b6f5bd0_8b7f-4c1e-9a53-1f1a4f6f4b9a",          // wrong separator
		"0b6f5bd0-8b7f-4c1e-9a53-1f1a4f6f4b\u00e9",      // non-ASCII tail, 36 bytes
		"{0b6f5bd0-8b7f-4c1e-9a53-1f1a4f6f4b9a}",        // braces
		"urn:uuid:0b6f5bd0-8b7f-4c1e-9a53-1f1a4f6f4b9a", // urn form
		"zzzzzzzz-zzzz-4zzz-zzzz-zzzzzzzzzzzz",          // not hex
		"00000000-0000-4000-8000-000000000000",          // valid, all zero
	} {
		f.Add(s)
	}
	ctx := context.Background()
	type instance struct {
		name  string
		m     *session.Manager
		known string // the one id this manager's store holds
	}
	var instances []instance
	for _, hashed := range []bool{true, false} {
		kv, err := kvcache.New(kvcache.DefaultConfig(), nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { _ = kv.Close() })
		c, err := kv.Container("session")
		if err != nil {
			f.Fatal(err)
		}
		cfg := session.DefaultConfig()
		cfg.HashIDs = hashed
		m, err := session.NewManager(cfg, backends.NewKVStore(c))
		if err != nil {
			f.Fatal(err)
		}
		var known string
		if err := m.Run(ctx, func(ctx context.Context) error {
			s, err := session.From(ctx)
			if err != nil {
				return err
			}
			err = s.Set("a", 1) // the first write gives the session its id
			known = s.ID()
			return err
		}); err != nil {
			f.Fatal(err)
		}
		if s, err := m.Load(ctx, known); err != nil || s.ID() != known || s.GetInt("a") != 1 {
			f.Fatalf("hash_ids=%v: Load of the stored id %q = %q, %v; want the stored session", hashed, known, s.ID(), err)
		}
		if !session.ValidID(known) || !canonicalV4(known) {
			f.Fatalf("a new session id %q is not a canonical UUIDv4", known)
		}
		instances = append(instances, instance{name: fmt.Sprintf("hash_ids=%v", hashed), m: m, known: known})
	}
	f.Fuzz(func(t *testing.T, id string) {
		valid := session.ValidID(id)
		if want := canonicalV4(id); valid != want {
			t.Fatalf("ValidID(%q) = %v; want %v (canonical 8-4-4-4-12 hex, version 4, variant 8/9/a/b)", id, valid, want)
		}
		if valid {
			u, err := uuid.Parse(id)
			switch {
			case err != nil:
				t.Fatalf("ValidID(%q) but uuid.Parse fails: %v", id, err)
			case u.Version() != 4:
				t.Fatalf("ValidID(%q) but the version is %d", id, u.Version())
			case u.Variant() != uuid.RFC4122:
				t.Fatalf("ValidID(%q) but the variant is %v", id, u.Variant())
			case !strings.EqualFold(u.String(), id):
				t.Fatalf("ValidID(%q) but its canonical form is %q", id, u.String())
			}
		}
		for _, in := range instances {
			s, err := in.m.Load(ctx, id)
			if err != nil {
				t.Fatalf("%s: Load(%q) on a healthy store: %v", in.name, id, err)
			}
			if id == in.known {
				continue
			}
			if s.ID() != "" || s.Len() != 0 {
				t.Fatalf("%s: Load(%q) adopted an id the store does not hold: ID %q, %d keys", in.name, id, s.ID(), s.Len())
			}
		}
	})
}

// FuzzCookieHeader sends arbitrary Cookie headers through the middleware to
// a handler that reads and writes the session: never a panic, never a 5xx.
func FuzzCookieHeader(f *testing.F) {
	for _, s := range []string{"", "session=", "session=0b6f5bd0-8b7f-4c1e-9a53-1f1a4f6f4b9a", "session=\x00\xff", "session=a; session=b", "session=\"quoted\"", "a=b; session=../../x"} {
		f.Add(s)
	}
	kv, err := kvcache.New(kvcache.DefaultConfig(), nil)
	if err != nil {
		f.Fatal(err)
	}
	c, _ := kv.Container("session")
	cfg := session.DefaultConfig()
	m, err := session.NewManager(cfg, backends.NewKVStore(c))
	if err != nil {
		f.Fatal(err)
	}
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := session.From(r.Context())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_ = s.Set("n", s.GetInt("n")+1)
	}))
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "/", nil).WithContext(context.Background())
		req.Header.Set("Cookie", header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("cookie header %q: status %d %s", header, rec.Code, rec.Body.String())
		}
	})
}
