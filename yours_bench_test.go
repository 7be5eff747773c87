package session_test

import (
	"context"
	"fmt"
	"testing"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
)

// BenchmarkUserSessions: what one "your sessions" listing costs, for a user
// with 3 sessions among n others. The memory engine reads every session
// (Iterate); Redis reads only the user's index set; gorm with a typed
// column runs one indexed query.
//
//	SESSIONFX_TEST_REDIS_URL=redis://127.0.0.1:6379/0 \
//	  go test -run '^$' -bench UserSessions -benchmem -benchtime 20x .
func BenchmarkUserSessions(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("memory/sessions=%d", n), func(b *testing.B) {
			_, st := newKV(b)
			benchUserSessions(b, st, n)
		})
	}
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("redis/sessions=%d", n), func(b *testing.B) {
			benchUserSessions(b, yoursRedis(b), n)
		})
		b.Run(fmt.Sprintf("sqlite-typed/sessions=%d", n), func(b *testing.B) {
			benchUserSessions(b, yoursGorm(b, "sqlite", b.TempDir()+"/s.sqlite3", true), n)
		})
	}
}

func benchUserSessions(b *testing.B, st backends.Store, n int) {
	m := newManager(b, st, func(c *session.Config) { c.UserKey = "user_id" })
	ctx := context.Background()
	for i := 0; i < n; i++ {
		user := fmt.Sprintf("other%d", i)
		if i < 3 {
			user = "me"
		}
		if err := m.Run(ctx, func(ctx context.Context) error {
			s, err := session.From(ctx)
			if err != nil {
				return err
			}
			return s.Set("user_id", user)
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		got := 0
		if err := m.Sessions(ctx, "me", func(session.SessionInfo) error { got++; return nil }); err != nil {
			b.Fatal(err)
		}
		if got != 3 {
			b.Fatalf("listed %d sessions of the user, want 3", got)
		}
	}
}
