// Package cookiestore is the session store that keeps nothing on the server:
// the whole session (its id, data, timestamps and expiry) is sealed with an
// AEAD (XChaCha20-Poly1305) into the cookie value, so the client holds the
// data but can neither read nor change it.
//
// It is a backends.ClientStore, not a backends.Store: the session manager
// opens the cookie value with Open, applies the request's changes onto the
// record's data and writes Seal's token back as the cookie value.
//
// What it cannot do (see README.md), and so does not offer: load or delete a
// session by id, touch, iterate, delete older than, revoke a session
// server-side (a copied cookie stays valid until its sealed expiry unless the
// keys rotate), merge concurrent requests (last write wins).
package cookiestore

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"go.uber.org/zap"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/internal/loghash"
)

// Name is the store's registry name (backend = cookie).
const Name = "cookie"

// DefaultMaxSize is the default limit, in bytes, of name=value of the session
// cookie: browsers drop cookies larger than about 4096 bytes.
const DefaultMaxSize = 4096

// DefaultCookieName is used for the AEAD binding when Config.CookieName is empty.
const DefaultCookieName = "session"

// KeySize is the length of a key once base64-decoded.
const KeySize = chacha20poly1305.KeySize

// version is the first byte of every sealed payload; a new format gets a new
// version, and tokens of unknown versions open as ErrNotFound.
const version byte = 1

// overhead is what sealing adds around the plaintext: version, nonce, tag.
const overhead = 1 + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

var (
	// ErrCookieTooLarge is returned by Seal when the sealed
	// session would not fit in a cookie. Nothing is truncated: the save
	// fails and the error names the size and the limit.
	ErrCookieTooLarge = fmt.Errorf("%w: the sealed cookie would be too large", backends.ErrTooLarge)
	// ErrInvalidKey is wrapped by New's errors about cookie.keys.
	ErrInvalidKey = errors.New("invalid cookie store key")
)

// Config is the [cookie] section.
type Config struct {
	// Keys are base64 keys of 32 bytes each. The first seals; all open, so
	// a new key can be put first and an old one kept until its cookies
	// have expired. In INI a comma or whitespace separated string; in YAML
	// a list or a string.
	Keys Keys `koanf:"keys"`
	// DevMode lets New run without keys: it generates an ephemeral key (all
	// sessions die when the process restarts) and logs a warning.
	DevMode bool `koanf:"dev_mode"`
	// MaxSize limits len(name)+1+len(token), the cookie's name=value, in
	// bytes (default DefaultMaxSize).
	MaxSize int `koanf:"max_size"`
	// CookieName is the name of the cookie the tokens travel in. It is bound
	// into every token (AEAD additional data), so a token copied into
	// another cookie, or sealed for another application sharing the keys
	// under another cookie name, does not open. Default: the session's
	// cookie name when the registry can read it, else DefaultCookieName.
	CookieName string `koanf:"cookie_name"`
}

// Keys is a list of base64 keys. It decodes from a list of strings or from
// one string of keys separated by commas or whitespace.
type Keys []string

// UnmarshalText splits a comma or whitespace separated string of keys.
func (k *Keys) UnmarshalText(b []byte) error {
	*k = splitKeys(string(b))
	return nil
}

func splitKeys(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) })
}

// Store seals sessions into cookie values. It is safe for concurrent use.
type Store struct {
	aeads   []cipher.AEAD // aeads[0] seals; all open
	ad      []byte        // version byte + cookie name
	name    string
	maxSize int
	log     *zap.Logger
	now     func() time.Time
}

var (
	_ backends.ClientStore = (*Store)(nil)
	_ backends.Describer   = (*Store)(nil)
)

// New returns a Store for cfg. It fails when no key is configured (unless
// cfg.DevMode) or when a key is not base64 of exactly 32 bytes; the error
// names cookie.keys and the entry's index, never the key. log may be nil.
func New(cfg Config, log *zap.Logger) (*Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("cookie")
	if cfg.MaxSize < 0 {
		return nil, fmt.Errorf("cookie.max_size = %d: want a positive number of bytes (default %d)", cfg.MaxSize, DefaultMaxSize)
	}
	if cfg.MaxSize == 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	name := cfg.CookieName
	if name == "" {
		name = DefaultCookieName
	}
	// Entries may themselves hold several keys (a YAML list of one
	// comma-separated string, or a string the config layer did not split).
	var keys []string
	for _, e := range cfg.Keys {
		keys = append(keys, splitKeys(e)...)
	}
	var raws [][]byte
	for i, k := range keys {
		raw, err := decodeKey(k)
		if err != nil {
			return nil, fmt.Errorf("cookie.keys[%d]: %w: %v; want 32 bytes, base64 (generate one with: head -c32 /dev/urandom | base64)", i, ErrInvalidKey, err)
		}
		raws = append(raws, raw)
	}
	if len(raws) == 0 {
		if !cfg.DevMode {
			return nil, fmt.Errorf("cookie.keys: %w: no key configured; want at least one key of 32 bytes, base64 (generate one with: head -c32 /dev/urandom | base64), or dev_mode = true for an ephemeral key", ErrInvalidKey)
		}
		raw := make([]byte, KeySize)
		if _, err := rand.Read(raw); err != nil {
			return nil, fmt.Errorf("cookie_store: generating an ephemeral dev_mode key: %w", err)
		}
		raws = append(raws, raw)
		log.Warn("COOKIE STORE IN DEV MODE: no cookie.keys configured, using an ephemeral random key; " +
			"every session cookie becomes invalid when this process restarts and other instances cannot open it. " +
			"Never use dev_mode in production: set cookie.keys (head -c32 /dev/urandom | base64)")
	}
	s := &Store{
		ad:      append([]byte{version}, name...),
		name:    name,
		maxSize: cfg.MaxSize,
		log:     log,
		now:     time.Now,
	}
	for _, raw := range raws {
		a, err := chacha20poly1305.NewX(raw)
		if err != nil { // unreachable: the length was checked
			return nil, fmt.Errorf("cookie.keys: %w", err)
		}
		s.aeads = append(s.aeads, a)
	}
	return s, nil
}

// decodeKey accepts standard or URL base64, padded or not, and requires 32
// bytes. Its errors never contain the key.
func decodeKey(k string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		raw, err := enc.DecodeString(k)
		if err != nil {
			continue
		}
		if len(raw) != KeySize {
			return nil, fmt.Errorf("decodes to %d bytes", len(raw))
		}
		return raw, nil
	}
	return nil, fmt.Errorf("not base64 (%d characters)", len(k))
}

// CookieName is the cookie name the tokens are bound to.
func (s *Store) CookieName() string { return s.name }

// MaxSize is the limit of the cookie's name=value in bytes.
func (s *Store) MaxSize() int { return s.maxSize }

// Seal encodes rec (its ID, data, timestamps and expiry) into a token for the
// cookie value. It fails with an error wrapping ErrCookieTooLarge when
// name=token would exceed MaxSize, and never truncates.
func (s *Store) Seal(rec *backends.Record) (string, error) {
	pt, err := s.plaintext(rec)
	if err != nil {
		return "", err
	}
	if err := s.checkSize(len(pt)); err != nil {
		return "", err
	}
	a := s.aeads[0]
	out := make([]byte, 1+a.NonceSize(), overhead+len(pt))
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		return "", fmt.Errorf("cookie store: generating a nonce: %w", err)
	}
	out = a.Seal(out, out[1:], pt, s.ad)
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// plaintext is uvarint(len(ID)) | ID | backends.EncodeRecord(rec).
func (s *Store) plaintext(rec *backends.Record) ([]byte, error) {
	if rec == nil {
		return nil, errors.New("cookie store: Seal: nil record")
	}
	if rec.ID == "" {
		return nil, errors.New("cookie store: Seal: record has an empty ID; want the session's id")
	}
	body, err := backends.EncodeRecord(rec)
	if err != nil {
		return nil, fmt.Errorf("cookie store: encoding session: %w", err)
	}
	pt := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(rec.ID)+len(body)), uint64(len(rec.ID)))
	pt = append(pt, rec.ID...)
	return append(pt, body...), nil
}

// checkSize reports ErrCookieTooLarge when a plaintext of n bytes would seal
// into a cookie over the limit.
func (s *Store) checkSize(n int) error {
	size := len(s.name) + 1 + base64.RawURLEncoding.EncodedLen(overhead+n)
	if size > s.maxSize {
		return fmt.Errorf("cookie store: %w: the sealed session cookie %q would be %d bytes (name=value), over the limit of %d bytes (cookie.max_size); store less in the session or use a server-side store",
			ErrCookieTooLarge, s.name, size, s.maxSize)
	}
	return nil
}

// Open decodes a token from the client. A token that is not base64, too
// short or too long, of an unknown version, tampered with, sealed with a key
// no longer configured, sealed for another cookie name, or expired yields an
// error wrapping backends.ErrNotFound (logged at debug level with a short
// hash of the token, never the token).
func (s *Store) Open(token string) (*backends.Record, error) {
	rec, reason := s.open(token)
	if reason != "" {
		s.log.Debug("session cookie rejected", zap.String("reason", reason), zap.String("token_hash", loghash.Of(token)))
		return nil, fmt.Errorf("%w: cookie token %s", backends.ErrNotFound, reason)
	}
	return rec, nil
}

func (s *Store) open(token string) (*backends.Record, string) {
	if token == "" {
		return nil, "is empty"
	}
	if len(token) > s.maxSize {
		return nil, fmt.Sprintf("is %d bytes, over the limit of %d", len(token), s.maxSize)
	}
	// Strict: a token has exactly one encoding (no malleable padding bits).
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil {
		return nil, "is not base64url"
	}
	if len(raw) < overhead {
		return nil, fmt.Sprintf("is too short (%d bytes decoded, want at least %d)", len(raw), overhead)
	}
	if raw[0] != version {
		return nil, fmt.Sprintf("has unknown version %d", raw[0])
	}
	nonce, ct := raw[1:1+chacha20poly1305.NonceSizeX], raw[1+chacha20poly1305.NonceSizeX:]
	var pt []byte
	for _, a := range s.aeads {
		if p, err := a.Open(nil, nonce, ct, s.ad); err == nil {
			pt = p
			break
		}
	}
	if pt == nil {
		return nil, "does not authenticate (tampered, unknown key or other cookie name)"
	}
	n, k := binary.Uvarint(pt)
	if k <= 0 || n > uint64(len(pt)-k) {
		return nil, "has a malformed payload (id length)"
	}
	id := string(pt[k : k+int(n)])
	rec, err := backends.DecodeRecord(id, pt[k+int(n):])
	if err != nil {
		return nil, "has a malformed payload: " + err.Error()
	}
	rec.ID = id
	if rec.Expired(s.now()) {
		return nil, "has expired"
	}
	return rec, ""
}

// Info implements backends.Describer: a store any number of processes can
// share (they only need the same keys) that does not merge: last write wins.
func (s *Store) Info() backends.Info {
	return backends.Info{Name: Name, CrossProcess: true, Merges: false}
}

// Close implements backends.ClientStore; it does nothing.
func (s *Store) Close() error { return nil }
