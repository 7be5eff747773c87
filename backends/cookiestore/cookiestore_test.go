package cookiestore

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessionfx/session/backends"
)

// testKey returns a deterministic base64 key; different n, different key.
func testKey(n byte) string {
	raw := make([]byte, KeySize)
	for i := range raw {
		raw[i] = n*31 + byte(i)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// fakeClock is a settable clock for the store's expiry checks.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func keysStore(t testing.TB, keys ...string) *Store {
	t.Helper()
	return newStore(t, Config{Keys: keys})
}

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)

func sampleRecord() *backends.Record {
	return &backends.Record{
		ID:      "6f1c2a52-6a0e-4c1b-9f6b-2f4b1f0e9a11",
		Data:    map[string]any{"user": "alice", "n": int64(7)},
		Created: t0,
		Updated: t0.Add(time.Minute),
		Expires: t0.AddDate(100, 0, 0), // far future: tests that need expiry set their own
	}
}

func mustSeal(t testing.TB, s *Store, rec *backends.Record) string {
	t.Helper()
	tok, err := s.Seal(rec)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return tok
}

func wantNotFound(t *testing.T, s *Store, token, what string) {
	t.Helper()
	rec, err := s.Open(token)
	if !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("%s: Open = %+v, %v; want ErrNotFound", what, rec, err)
	}
}

func TestRoundTripEveryValueKind(t *testing.T) {
	s := keysStore(t, testKey(1))
	s.now = func() time.Time { return t0 }
	rec := sampleRecord()
	rec.Data = map[string]any{
		"nil":      nil,
		"true":     true,
		"false":    false,
		"int":      int64(-42),
		"intmax":   int64(math.MaxInt64),
		"intmin":   int64(math.MinInt64),
		"float":    3.25,
		"floatint": 5.0,
		"tiny":     math.SmallestNonzeroFloat64,
		"string":   "héllo \"wörld\"\n<script>",
		"empty":    "",
		"bytes":    []byte{0, 1, 2, 0xff, '"'},
		"nobytes":  []byte{},
		"time":     time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
		"list":     []any{int64(1), "two", 3.5, nil, []any{true}, map[string]any{"k": "v"}},
		"map":      map[string]any{"nested": map[string]any{"deep": int64(1)}, "empty": map[string]any{}},
		"dollar":   map[string]any{"$t": "not a time"},
		"$key":     "top-level dollar key",
	}
	tok := mustSeal(t, s, rec)
	got, err := s.Open(tok)
	if err != nil {
		t.Fatalf("Open(Seal(rec)): %v", err)
	}
	if got.ID != rec.ID {
		t.Errorf("ID = %q, want %q", got.ID, rec.ID)
	}
	if !reflect.DeepEqual(got.Data, rec.Data) {
		t.Errorf("Data round trip:\n got %#v\nwant %#v", got.Data, rec.Data)
	}
	for name, pair := range map[string][2]time.Time{
		"Created": {got.Created, rec.Created},
		"Updated": {got.Updated, rec.Updated},
		"Expires": {got.Expires, rec.Expires},
	} {
		if !pair[0].Equal(pair[1]) {
			t.Errorf("%s = %v, want %v", name, pair[0], pair[1])
		}
	}
}

func TestRoundTripEmptyAndNoExpiry(t *testing.T) {
	s := keysStore(t, testKey(1))
	rec := &backends.Record{ID: "x", Created: t0, Updated: t0}
	got, err := s.Open(mustSeal(t, s, rec))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if len(got.Data) != 0 || !got.Expires.IsZero() || got.ID != "x" {
		t.Errorf("got %+v, want empty data, no expiry, ID x", got)
	}
}

func TestTokenHidesDataAndNeverRepeats(t *testing.T) {
	s := keysStore(t, testKey(1))
	rec := sampleRecord()
	rec.Data["secret"] = "hunter2-very-secret"
	a, b := mustSeal(t, s, rec), mustSeal(t, s, rec)
	if a == b {
		t.Error("two seals of the same record gave the same token; want a fresh nonce each time")
	}
	raw, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil {
		t.Fatalf("token is not base64url: %v", err)
	}
	for _, plain := range []string{"hunter2", "alice", rec.ID} {
		if strings.Contains(string(raw), plain) || strings.Contains(a, plain) {
			t.Errorf("token reveals %q", plain)
		}
	}
}

func TestTamperedTokenIsNotFound(t *testing.T) {
	s := keysStore(t, testKey(1))
	s.now = func() time.Time { return t0 }
	tok := mustSeal(t, s, sampleRecord())
	if _, err := s.Open(tok); err != nil {
		t.Fatalf("untampered token: %v", err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	// Every character position replaced by another base64url character.
	for i := range len(tok) {
		c := alphabet[(strings.IndexByte(alphabet, tok[i])+1)%len(alphabet)]
		bad := tok[:i] + string(c) + tok[i+1:]
		wantNotFound(t, s, bad, fmt.Sprintf("char %d replaced", i))
	}
	// Every byte of the sealed payload flipped (low and high bit).
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for i := range raw {
		for _, bit := range []byte{0x01, 0x80} {
			b := append([]byte(nil), raw...)
			b[i] ^= bit
			wantNotFound(t, s, base64.RawURLEncoding.EncodeToString(b), "byte flip")
		}
	}
	// Truncated at every length, and extended.
	for n := range len(tok) {
		wantNotFound(t, s, tok[:n], "truncated")
	}
	for _, bad := range []string{tok + "A", tok + "AAAA", tok + "=", " " + tok, tok + "\x00", strings.ToUpper(tok)} {
		wantNotFound(t, s, bad, "extended")
	}
}

func TestGarbageTokensAreNotFound(t *testing.T) {
	s := keysStore(t, testKey(1))
	big := strings.Repeat("A", 5000)
	for _, tok := range []string{"", "a", "!!!!", "%%%", "null", "AQ", big, "\xff\xfe", base64.RawURLEncoding.EncodeToString(make([]byte, overhead))} {
		wantNotFound(t, s, tok, "garbage")
	}
	// Authentic version byte but nothing valid after it.
	b := make([]byte, overhead+10)
	b[0] = version
	wantNotFound(t, s, base64.RawURLEncoding.EncodeToString(b), "zero payload")
}

func TestExpiredTokenIsNotFound(t *testing.T) {
	clock := &fakeClock{t: t0}
	s := keysStore(t, testKey(1))
	s.now = clock.now
	rec := sampleRecord()
	rec.Expires = t0.Add(time.Hour)
	tok := mustSeal(t, s, rec)
	clock.add(59 * time.Minute)
	if _, err := s.Open(tok); err != nil {
		t.Fatalf("Open before expiry: %v", err)
	}
	clock.add(time.Minute) // exactly at Expires: expired
	wantNotFound(t, s, tok, "at expiry")
	// A record with no expiry does not expire.
	rec.Expires = time.Time{}
	tok = mustSeal(t, s, rec)
	clock.add(100 * 365 * 24 * time.Hour)
	if _, err := s.Open(tok); err != nil {
		t.Errorf("Open(no expiry) a century later: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	oldK, newK := testKey(1), testKey(2)
	before := keysStore(t, oldK)
	s := func(keys ...string) *Store {
		st := keysStore(t, keys...)
		st.now = func() time.Time { return t0 }
		return st
	}
	before.now = func() time.Time { return t0 }
	oldTok := mustSeal(t, before, sampleRecord())

	rotating := s(newK, oldK) // new key seals, old still opens
	if got, err := rotating.Open(oldTok); err != nil || got.Data["user"] != "alice" {
		t.Fatalf("after adding a new first key, old token: %+v, %v; want it to open", got, err)
	}
	newTok := mustSeal(t, rotating, sampleRecord())
	wantNotFound(t, before, newTok, "new token under the old key only: it must be sealed with the new first key")
	if _, err := s(newK).Open(newTok); err != nil {
		t.Errorf("new token under the new key alone: %v", err)
	}

	after := s(newK) // old key removed
	wantNotFound(t, after, oldTok, "old token after the old key was removed")
}

func TestTokenBoundToCookieName(t *testing.T) {
	k := testKey(1)
	a := newStore(t, Config{Keys: Keys{k}, CookieName: "session"})
	b := newStore(t, Config{Keys: Keys{k}, CookieName: "admin_session"})
	a.now = func() time.Time { return t0 }
	b.now = a.now
	tok := mustSeal(t, a, sampleRecord())
	if _, err := a.Open(tok); err != nil {
		t.Fatalf("same cookie name: %v", err)
	}
	wantNotFound(t, b, tok, "token from cookie 'session' presented as 'admin_session'")
	if a.CookieName() != "session" || newStore(t, Config{Keys: Keys{k}}).CookieName() != DefaultCookieName {
		t.Error("CookieName: want the configured name, else DefaultCookieName")
	}
}

func TestTooLarge(t *testing.T) {
	s := keysStore(t, testKey(1))
	rec := sampleRecord()
	// Grow the session until Seal refuses; the last accepted cookie must fit.
	lastFit := 0
	var tooBig error
	for n := 2000; n < 5000; n++ {
		rec.Data["blob"] = strings.Repeat("x", n)
		tok, err := s.Seal(rec)
		if err != nil {
			tooBig = err
			break
		}
		lastFit = len(s.CookieName()) + 1 + len(tok)
	}
	if lastFit > DefaultMaxSize || lastFit < DefaultMaxSize-4 {
		t.Errorf("largest accepted name=value = %d bytes; want just under or at %d", lastFit, DefaultMaxSize)
	}
	if !errors.Is(tooBig, ErrCookieTooLarge) {
		t.Fatalf("Seal of an oversized session = %v; want ErrCookieTooLarge", tooBig)
	}
	if msg := tooBig.Error(); !strings.Contains(msg, "4096") || !strings.Contains(msg, "bytes") || !strings.Contains(msg, "max_size") {
		t.Errorf("error %q: want the size, the 4096 limit and the setting's name", msg)
	}
	// The manager surfaces it as a too-large session (413).
	if !errors.Is(tooBig, backends.ErrTooLarge) {
		t.Errorf("Seal of an oversized session = %v; want it to match backends.ErrTooLarge", tooBig)
	}
	// A configured limit applies.
	small := newStore(t, Config{Keys: Keys{testKey(1)}, MaxSize: 200})
	rec.Data = map[string]any{"blob": strings.Repeat("z", 200)}
	if _, err := small.Seal(rec); !errors.Is(err, ErrCookieTooLarge) || !strings.Contains(err.Error(), "200") {
		t.Errorf("max_size 200: Seal = %v; want ErrCookieTooLarge naming 200", err)
	}
}

func TestSealRejectsBadRecords(t *testing.T) {
	s := keysStore(t, testKey(1))
	if _, err := s.Seal(nil); err == nil {
		t.Error("Seal(nil): want an error")
	}
	if _, err := s.Seal(&backends.Record{}); err == nil || !strings.Contains(err.Error(), "ID") {
		t.Errorf("Seal(no ID) = %v; want an error naming the ID", err)
	}
	rec := sampleRecord()
	rec.Data["ch"] = make(chan int)
	if _, err := s.Seal(rec); !errors.Is(err, backends.ErrUnsupportedValue) {
		t.Errorf("Seal(chan value) = %v; want ErrUnsupportedValue", err)
	}
}

func TestConfigErrors(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	long := base64.StdEncoding.EncodeToString(make([]byte, 33))
	notB64 := "this is%not*base64-at-all!!"
	for _, tc := range []struct {
		name    string
		cfg     Config
		want    []string
		secrets []string
	}{
		{"missing", Config{}, []string{"cookie.keys", "32 bytes, base64", "head -c32 /dev/urandom | base64"}, nil},
		{"blank", Config{Keys: Keys{" ", ","}}, []string{"cookie.keys", "no key"}, nil},
		{"not base64 at index 1", Config{Keys: Keys{testKey(1), "%%%%notbase64%%%%"}}, []string{"cookie.keys[1]", "not base64", "32 bytes, base64"}, []string{"notbase64", testKey(1)}},
		{"short", Config{Keys: Keys{short}}, []string{"cookie.keys[0]", "16 bytes", "32 bytes, base64"}, []string{short}},
		{"long", Config{Keys: Keys{testKey(1), testKey(2), long}}, []string{"cookie.keys[2]", "33 bytes"}, []string{long}},
		{"garbage", Config{Keys: Keys{notB64}}, []string{"cookie.keys[0]"}, []string{"base64-at-all"}},
		{"bad key even in dev mode", Config{DevMode: true, Keys: Keys{short}}, []string{"cookie.keys[0]"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, nil)
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("New = %v; want ErrInvalidKey", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q: want it to mention %q", err, w)
				}
			}
			for _, sec := range tc.secrets {
				if strings.Contains(err.Error(), sec) {
					t.Errorf("error %q reveals the key material %q", err, sec)
				}
			}
		})
	}
	if _, err := New(Config{Keys: Keys{testKey(1)}, MaxSize: -1}, nil); err == nil || !strings.Contains(err.Error(), "max_size") {
		t.Errorf("negative max_size: %v; want an error naming cookie.max_size", err)
	}
}

func TestKeysAcceptEveryBase64Form(t *testing.T) {
	raw := make([]byte, KeySize)
	raw[0], raw[31] = 0xfb, 0xff // '+' '/' vs '-' '_' differ
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		k := enc.EncodeToString(raw)
		s, err := New(Config{Keys: Keys{k}}, nil)
		if err != nil {
			t.Fatalf("key %q: %v", k, err)
		}
		ref := keysStore(t, base64.StdEncoding.EncodeToString(raw))
		if _, err := ref.Open(mustSeal(t, s, sampleRecord())); err != nil {
			t.Errorf("key in form %q is not the same key: %v", k, err)
		}
	}
}

// keysFromYAML loads keys the way the config layer does (koanf + mapstructure
// with its default hooks).
func keysFromYAML(t *testing.T, doc string) Keys {
	t.Helper()
	k := koanf.New(".")
	if err := k.Load(rawbytes.Provider([]byte(doc)), yaml.Parser()); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	var cfg Config
	if err := k.Unmarshal("cookie_store", &cfg); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	return cfg.Keys
}

func TestKeysFromConfigForms(t *testing.T) {
	a, b, c := testKey(1), testKey(2), testKey(3)
	ref := keysStore(t, a)
	ref.now = func() time.Time { return t0 }
	for name, doc := range map[string]string{
		"yaml list":          "cookie_store:\n  keys:\n    - " + b + "\n    - " + c + "\n    - " + a + "\n",
		"comma string":       "cookie_store:\n  keys: \"" + b + "," + c + ", " + a + "\"\n",
		"whitespace string":  "cookie_store:\n  keys: \"" + b + " " + c + "\\n\\t" + a + "\"\n",
		"list of one string": "cookie_store:\n  keys: [\"" + b + " , " + c + "\", " + a + "]\n",
	} {
		t.Run(name, func(t *testing.T) {
			s, err := New(Config{Keys: keysFromYAML(t, doc)}, nil)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			s.now = ref.now
			if len(s.aeads) != 3 {
				t.Fatalf("got %d keys, want 3", len(s.aeads))
			}
			// Key a (third) opens; key b (first) seals.
			if _, err := s.Open(mustSeal(t, ref, sampleRecord())); err != nil {
				t.Errorf("third key does not open: %v", err)
			}
			if _, err := keysStore(t, b).Open(mustSeal(t, s, sampleRecord())); err != nil {
				t.Errorf("first key does not seal: %v", err)
			}
		})
	}
	var ks Keys
	if err := ks.UnmarshalText([]byte(" k1,k2\tk3\nk4 ; k5,, ")); err != nil || !reflect.DeepEqual(ks, Keys{"k1", "k2", "k3", "k4", "k5"}) {
		t.Errorf("UnmarshalText = %q, %v", ks, err)
	}
}

func TestDevModeWarnsAndUsesEphemeralKey(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s, err := New(Config{DevMode: true}, zap.New(core))
	if err != nil {
		t.Fatalf("New(dev mode, no keys): %v", err)
	}
	warns := logs.FilterLevelExact(zapcore.WarnLevel).All()
	if len(warns) != 1 || !strings.Contains(warns[0].Message, "ephemeral") || !strings.Contains(warns[0].Message, "restart") {
		t.Fatalf("want one warning about an ephemeral key lost on restart, got %+v", logs.All())
	}
	tok := mustSeal(t, s, sampleRecord())
	s.now = func() time.Time { return t0 }
	if _, err := s.Open(tok); err != nil {
		t.Errorf("dev store cannot open its own token: %v", err)
	}
	other, _ := New(Config{DevMode: true}, nil) // "after a restart"
	other.now = s.now
	wantNotFound(t, other, tok, "another dev-mode store (a restart)")

	core2, logs2 := observer.New(zapcore.DebugLevel)
	if _, err := New(Config{DevMode: true, Keys: Keys{testKey(1)}}, zap.New(core2)); err != nil {
		t.Fatal(err)
	}
	if logs2.FilterLevelExact(zapcore.WarnLevel).Len() != 0 {
		t.Errorf("dev mode with keys configured: want no warning, got %+v", logs2.All())
	}
}

func TestOpenLogsAtDebugWithoutTheToken(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s, err := New(Config{Keys: Keys{testKey(1)}}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	tok := mustSeal(t, keysStore(t, testKey(2)), sampleRecord())
	wantNotFound(t, s, tok, "other key")
	if logs.Len() != 1 {
		t.Fatalf("want one log entry, got %+v", logs.All())
	}
	e := logs.All()[0]
	if e.Level != zapcore.DebugLevel {
		t.Errorf("rejected token logged at %v; want debug", e.Level)
	}
	for _, f := range e.Context {
		if strings.Contains(f.String, tok[:20]) {
			t.Errorf("log field %s reveals the token", f.Key)
		}
	}
}

// TestClientStoreOnly: the cookie store is a backends.ClientStore and
// nothing more. It offers none of the server-side methods it could not
// honour (load or delete by id, touch, iterate, sweep), so a manager given
// it can only run the client-side strategy.
func TestClientStoreOnly(t *testing.T) {
	var st backends.Storage = keysStore(t, testKey(1))
	if _, ok := st.(backends.ClientStore); !ok {
		t.Fatal("the cookie store is not a backends.ClientStore")
	}
	if _, ok := st.(backends.Store); ok {
		t.Error("the cookie store is a backends.Store: a manager could treat it as server-side")
	}
	for name, ok := range map[string]bool{
		"Exister":  is[backends.Exister](st),
		"Iterator": is[backends.Iterator](st),
		"Sweeper":  is[backends.Sweeper](st),
		"Setupper": is[backends.Setupper](st),
		"Renewer":  is[backends.Renewer](st),
	} {
		if ok {
			t.Errorf("the cookie store implements backends.%s; it keeps nothing server-side", name)
		}
	}
	if got := backends.InfoOf(st); got != (backends.Info{Name: "cookie", CrossProcess: true, Merges: false}) {
		t.Errorf("Info = %+v", got)
	}
	if err := st.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func is[T any](v any) bool {
	_, ok := v.(T)
	return ok
}

func TestConcurrentSealOpen(t *testing.T) {
	s := keysStore(t, testKey(1), testKey(2))
	s.now = func() time.Time { return t0 }
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				rec := sampleRecord()
				rec.Data["i"] = int64(g*1000 + i)
				tok, err := s.Seal(rec)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := s.Open(tok)
				if err != nil || got.Data["i"] != int64(g*1000+i) {
					t.Errorf("Open = %+v, %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
