package cookiestore

import (
	"encoding/base64"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionfx/session/backends"
)

// fuzzStore is a store with a fixed key, so the committed corpus under
// testdata/fuzz holds tokens that really open.
func fuzzStore(t testing.TB) *Store {
	t.Helper()
	s, err := New(Config{Keys: Keys{testKey(1), testKey(2)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return t0 }
	return s
}

func fuzzRecord() *backends.Record {
	return &backends.Record{
		ID:      "6f1c2a52-6a0e-4c1b-9f6b-2f4b1f0e9a11",
		Data:    map[string]any{"user": "alice", "n": int64(7), "b": []byte{1, 2}, "t": t0, "l": []any{1.5, nil}},
		Created: t0,
		Updated: t0,
		Expires: t0.Add(time.Hour),
	}
}

// checkOpen is the property every target checks: Open never panics, fails
// only with ErrNotFound, and what it opens seals and opens again unchanged.
func checkOpen(t *testing.T, s *Store, token string) {
	rec, err := s.Open(token)
	if err != nil {
		if !errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("Open error %v does not wrap ErrNotFound", err)
		}
		return
	}
	if rec.ID == "" || rec.Data == nil {
		t.Fatalf("Open returned a record without ID or Data: %+v", rec)
	}
	again, err := s.Seal(rec)
	if err != nil {
		if errors.Is(err, ErrCookieTooLarge) {
			return
		}
		t.Fatalf("opened record does not seal again: %v", err)
	}
	if _, err := s.Open(again); err != nil {
		t.Fatalf("resealed record does not open: %v", err)
	}
}

// FuzzOpen feeds arbitrary cookie values to Open.
func FuzzOpen(f *testing.F) {
	s := fuzzStore(f)
	valid := mustSeal(f, s, fuzzRecord())
	other := mustSeal(f, keysStore(f, testKey(3)), fuzzRecord())
	for _, seed := range []string{valid, valid[:len(valid)-1], valid + "A", other, "", "A", "AQ", "!!", "null", base64.RawURLEncoding.EncodeToString(make([]byte, overhead))} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) { checkOpen(t, s, token) })
}

// FuzzOpenAuthenticated seals arbitrary plaintexts with the store's key, so
// the fuzzer reaches the payload parsing (id length, record decoding) that
// only an authentic token gets to.
func FuzzOpenAuthenticated(f *testing.F) {
	s := fuzzStore(f)
	pt, err := s.plaintext(fuzzRecord())
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{pt, pt[:len(pt)/2], {}, {0}, {0xff, 0xff, 0xff}, {2, 'i', 'd', '{', '}'}, append([]byte{2, 'i', 'd'}, `{"v":1,"c":0,"u":0,"e":0,"d":{}}`...)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, pt []byte) {
		a := s.aeads[0]
		out := make([]byte, 1+a.NonceSize())
		out[0] = version
		out = a.Seal(out, out[1:], pt, s.ad) // a zero nonce is fine for a test
		checkOpen(t, s, base64.RawURLEncoding.EncodeToString(out))
	})
}

// TestCommittedTokenStillOpens guards the token format: a cookie sealed by an
// earlier build (committed in the fuzz corpus) must still open, or every
// user would be logged out by an upgrade.
func TestCommittedTokenStillOpens(t *testing.T) {
	b, err := os.ReadFile("testdata/fuzz/FuzzOpen/valid_token")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	tok, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[len(lines)-1], "string("), ")"))
	if err != nil {
		t.Fatalf("corpus file: %v", err)
	}
	rec, err := fuzzStore(t).Open(tok)
	if err != nil {
		t.Fatalf("committed token does not open: %v", err)
	}
	if want := fuzzRecord(); rec.ID != want.ID || !reflect.DeepEqual(rec.Data, want.Data) || !rec.Expires.Equal(want.Expires) {
		t.Errorf("committed token opened to %+v; want %+v", rec, want)
	}
}
