package gormstore_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkSweepBig measures DeleteOlderThan on a PostgreSQL table of
// 1,000,000 live sessions of which 10,000 have expired (inserted anew for
// each iteration, untimed): its cost must follow the expired rows, not the
// table. It also logs the plans of the sweep's queries (rows examined).
//
//	SESSIONFX_BENCH_BIG=1 go test -run '^$' -bench SweepBig -benchtime 5x ./backends/gormstore/
func BenchmarkSweepBig(b *testing.B) {
	benchBig(b)
	const live, expired = bigRows, 10_000
	for _, c := range benchDBs {
		if c.driver != "postgres" {
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			s := storeOn(b, c)
			db := s.DB()
			now := time.Now().UTC().Truncate(time.Millisecond)
			start := time.Now()
			if err := db.Exec(fmt.Sprintf(`INSERT INTO %s (session_id, data, version, created_at, updated_at, expires_at)
				SELECT 'live-' || g, '{"visits":1}', 1, ?, ?, ? FROM generate_series(1, %d) g`, s.Table(), live),
				now, now, now.Add(time.Hour)).Error; err != nil {
				b.Fatal(err)
			}
			b.Logf("filled %d live rows in %v", live, time.Since(start).Round(time.Millisecond))
			expire := func(round int) {
				// Expired 1 minute ago, saved 40 minutes ago: older than
				// the 30 minute idle timeout too.
				if err := db.Exec(fmt.Sprintf(`INSERT INTO %s (session_id, data, version, created_at, updated_at, expires_at)
					SELECT 'exp-%d-' || g, '{"visits":1}', 1, ?, ?, ? FROM generate_series(1, %d) g`, s.Table(), round, expired),
					now.Add(-time.Hour), time.Now().Add(-40*time.Minute), time.Now().Add(-time.Minute)).Error; err != nil {
					b.Fatal(err)
				}
			}
			if err := db.Exec("ANALYZE " + s.Table()).Error; err != nil {
				b.Fatal(err)
			}
			expire(-1)
			for _, q := range []string{
				// the sweep's queries, as GORM writes them
				`SELECT id FROM %s WHERE expires_at IS NOT NULL AND expires_at <= now() ORDER BY expires_at LIMIT 1000`,
				`SELECT id FROM %s WHERE updated_at < now() - interval '30 minutes' ORDER BY updated_at LIMIT 1000`,
				`SELECT id FROM %s WHERE updated_at < now() - interval '30 minutes' OR (expires_at IS NOT NULL AND expires_at <= now()) ORDER BY id LIMIT 1000`,
			} {
				var plan []string
				if err := db.Raw("EXPLAIN (ANALYZE, BUFFERS) " + fmt.Sprintf(q, s.Table())).Scan(&plan).Error; err != nil {
					b.Fatal(err)
				}
				b.Logf("%s\n  %s", fmt.Sprintf(q, "t"), strings.Join(plan, "\n  "))
			}
			if _, err := s.DeleteOlderThan(b.Context(), 30*time.Minute); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				expire(i)
				b.StartTimer()
				n, err := s.DeleteOlderThan(b.Context(), 30*time.Minute)
				if err != nil || n != expired {
					b.Fatalf("DeleteOlderThan = %d, %v; want %d", n, err, expired)
				}
			}
		})
	}
}
