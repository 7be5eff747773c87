package gormstore_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/gormstore"
)

// benchDBs are the databases the benchmarks run on.
var benchDBs = []dbCase{dbCases[0], dbCases[1]}

// tenKeys is a session with 10 keys of the usual kinds.
func tenKeys() map[string]any {
	return map[string]any{
		"visits": int64(42), "user": "ann", "admin": false, "score": 3.5,
		"login": time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), "csrf": "0123456789abcdef0123456789abcdef",
		"cart": map[string]any{"items": int64(3), "total": 19.99}, "flash": "saved",
		"theme": "dark", "lang": "en",
	}
}

const bigRows = 1_000_000

// benchStore returns a store holding one 10-key session "bench", on a table
// that also holds bigRows other sessions when big.
func benchStore(b *testing.B, c dbCase, big bool) *gormstore.Store {
	s := storeOn(b, c)
	if big {
		fill(b, s, c)
	}
	if _, err := s.Save(b.Context(), "bench", backends.Changes{Set: tenKeys()}, backends.SaveOptions{Expires: time.Now().Add(time.Hour), New: true}); err != nil {
		b.Fatal(err)
	}
	return s
}

// fill inserts bigRows sessions with one bulk INSERT ... SELECT.
func fill(b *testing.B, s *gormstore.Store, c dbCase) {
	start := time.Now()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var sql string
	switch c.driver {
	case "postgres":
		sql = fmt.Sprintf(`INSERT INTO %s (session_id, data, version, created_at, updated_at)
			SELECT 'bulk-' || g, '{"visits":1,"user":"u' || g || '"}', 1, ?, ? FROM generate_series(1, %d) g`, s.Table(), bigRows)
	case "sqlite":
		sql = fmt.Sprintf(`WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %d)
			INSERT INTO %s (session_id, data, version, created_at, updated_at)
			SELECT 'bulk-' || n, '{"visits":1,"user":"u' || n || '"}', 1, ?, ? FROM g`, bigRows, s.Table())
	default:
		b.Skipf("no bulk fill for %s", c.name)
	}
	if err := s.DB().Exec(sql, now, now).Error; err != nil {
		b.Fatalf("filling %d rows: %v", bigRows, err)
	}
	b.Logf("%s: filled %d rows in %v", c.name, bigRows, time.Since(start).Round(time.Millisecond))
}

func benchBig(b *testing.B) {
	if os.Getenv("SESSIONFX_BENCH_BIG") != "1" {
		b.Skip("set SESSIONFX_BENCH_BIG=1 to run the benchmarks on a table of 1,000,000 sessions")
	}
}

func benchLoad(b *testing.B, big bool) {
	for _, c := range benchDBs {
		b.Run(c.name, func(b *testing.B) {
			s := benchStore(b, c, big)
			ctx := b.Context()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rec, err := s.Load(ctx, "bench")
				if err != nil || len(rec.Data) != 10 {
					b.Fatalf("Load = %v, %v", rec, err)
				}
			}
		})
	}
}

// benchSave measures a typical request's save: one key changed, merged onto
// the stored 10 keys (a read and a compare-and-set update).
func benchSave(b *testing.B, big bool) {
	for _, c := range benchDBs {
		b.Run(c.name, func(b *testing.B) {
			s := benchStore(b, c, big)
			ctx := b.Context()
			opt := backends.SaveOptions{Expires: time.Now().Add(time.Hour)}
			b.ReportAllocs()
			b.ResetTimer()
			i := int64(0)
			for b.Loop() {
				i++
				if _, err := s.Save(ctx, "bench", backends.Changes{Set: map[string]any{"visits": i}}, opt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLoad(b *testing.B)    { benchLoad(b, false) }
func BenchmarkSave(b *testing.B)    { benchSave(b, false) }
func BenchmarkLoadBig(b *testing.B) { benchBig(b); benchLoad(b, true) }
func BenchmarkSaveBig(b *testing.B) { benchBig(b); benchSave(b, true) }
