package cookiestore

import (
	"fmt"
	"testing"
	"time"

	"github.com/sessionfx/session/backends"
)

// benchRecord is a typical 10-key session.
func benchRecord() *backends.Record {
	data := map[string]any{
		"user_id":    int64(123456),
		"user_name":  "alice@example.com",
		"roles":      []any{"admin", "editor"},
		"csrf":       []byte("0123456789abcdef0123456789abcdef"),
		"login_at":   t0,
		"theme":      "dark",
		"cart_items": int64(3),
		"ratio":      0.75,
		"flash":      map[string]any{"level": "info", "msg": "saved"},
		"remember":   true,
	}
	return &backends.Record{ID: "6f1c2a52-6a0e-4c1b-9f6b-2f4b1f0e9a11", Data: data, Created: t0, Updated: t0, Expires: t0.Add(time.Hour)}
}

func BenchmarkSeal(b *testing.B) {
	s := keysStore(b, testKey(1))
	rec := benchRecord()
	tok := mustSeal(b, s, rec)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(tok)), "token-bytes")
}

func BenchmarkOpen(b *testing.B) {
	for _, nkeys := range []int{1, 3} {
		b.Run(fmt.Sprintf("keys=%d", nkeys), func(b *testing.B) {
			// The token is sealed with the last key: the worst case of a
			// rotation, every other key is tried first.
			keys := make([]string, nkeys)
			for i := range keys {
				keys[i] = testKey(byte(10 + i))
			}
			tok := mustSeal(b, keysStore(b, keys[nkeys-1]), benchRecord())
			s := keysStore(b, keys...)
			s.now = func() time.Time { return t0 }
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Open(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpenRejectTampered(b *testing.B) {
	s := keysStore(b, testKey(1))
	tok := []byte(mustSeal(b, s, benchRecord()))
	tok[len(tok)/2] ^= 1
	bad := string(tok)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Open(bad); err == nil {
			b.Fatal("tampered token opened")
		}
	}
}
