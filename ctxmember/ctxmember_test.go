package ctxmember_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sessionfx/session/ctxmember"
)

func TestLazyOnceAndReverseClose(t *testing.T) {
	var builds atomic.Int32
	var closed []string
	var outcomes []error
	var mu sync.Mutex
	mk := func(name string) ctxmember.Member {
		return ctxmember.Member{
			Name: name,
			Build: func(ctx context.Context, s *ctxmember.Scope) (any, error) {
				builds.Add(1)
				return name + "-value", nil
			},
			Close: func(ctx context.Context, v any, outcome error) error {
				mu.Lock()
				closed = append(closed, v.(string))
				outcomes = append(outcomes, outcome)
				mu.Unlock()
				return nil
			},
		}
	}
	reg, err := ctxmember.NewRegistry(mk("a"), mk("b"), mk("unused"))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := reg.NewScope(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := s.Get("a"); err != nil || v != "a-value" {
				t.Errorf("Get a: %v %v", v, err)
			}
		}()
	}
	wg.Wait()
	if _, err := s.Get("b"); err != nil {
		t.Fatal(err)
	}
	if builds.Load() != 2 {
		t.Fatalf("want each used member built once (2 builds), got %d", builds.Load())
	}
	boom := errors.New("failed")
	if err := s.End(boom); err != nil {
		t.Fatal(err)
	}
	if len(closed) != 2 || closed[0] != "b-value" || closed[1] != "a-value" {
		t.Fatalf("want reverse build order [b a], got %v (unused members must not be built or closed)", closed)
	}
	for _, o := range outcomes {
		if !errors.Is(o, boom) {
			t.Fatalf("close must receive the outcome, got %v", o)
		}
	}
	if _, err := s.Get("a"); !errors.Is(err, ctxmember.ErrEnded) {
		t.Fatalf("Get after End: want ErrEnded, got %v", err)
	}
	_ = s.End(nil) // idempotent
	if len(closed) != 2 {
		t.Fatal("End closed members twice")
	}
}

func TestLockedValue(t *testing.T) {
	reg, _ := ctxmember.NewRegistry(ctxmember.Member{
		Name:  "session",
		Locks: []string{"session_id"},
		Build: func(ctx context.Context, s *ctxmember.Scope) (any, error) {
			v, _ := s.Value("session_id")
			return v, nil
		},
	})
	s, _ := reg.NewScope(context.Background())
	if err := s.Set("session_id", "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("session_id", "y"); err != nil {
		t.Fatal("values may change before the member is built")
	}
	if v, _ := s.Get("session"); v != "y" {
		t.Fatalf("member read %v, want y", v)
	}
	if err := s.Set("session_id", "z"); !errors.Is(err, ctxmember.ErrLocked) {
		t.Fatalf("Set after build: want ErrLocked, got %v", err)
	}
	if err := s.Set("other", 1); err != nil {
		t.Fatalf("unlocked values stay settable: %v", err)
	}
}

func TestErrors(t *testing.T) {
	if _, err := ctxmember.NewRegistry(ctxmember.Member{Name: "a", Build: func(context.Context, *ctxmember.Scope) (any, error) { return 1, nil }},
		ctxmember.Member{Name: "a", Build: func(context.Context, *ctxmember.Scope) (any, error) { return 1, nil }}); !errors.Is(err, ctxmember.ErrDuplicateMember) {
		t.Fatalf("duplicate: %v", err)
	}
	reg, _ := ctxmember.NewRegistry(
		ctxmember.Member{Name: "self", Build: func(ctx context.Context, s *ctxmember.Scope) (any, error) { return s.Get("self") }},
		ctxmember.Member{Name: "panics", Build: func(context.Context, *ctxmember.Scope) (any, error) { panic("oops") }},
	)
	s, _ := reg.NewScope(context.Background())
	if _, err := s.Get("nope"); !errors.Is(err, ctxmember.ErrUnknownMember) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := s.Get("self"); !errors.Is(err, ctxmember.ErrCycle) {
		t.Fatalf("cycle: %v", err)
	}
	reg2, _ := ctxmember.NewRegistry(
		ctxmember.Member{Name: "a", Build: func(ctx context.Context, s *ctxmember.Scope) (any, error) { return s.Get("b") }},
		ctxmember.Member{Name: "b", Build: func(ctx context.Context, s *ctxmember.Scope) (any, error) { return s.Get("a") }},
	)
	s2, _ := reg2.NewScope(context.Background())
	if _, err := s2.Get("a"); !errors.Is(err, ctxmember.ErrCycle) {
		t.Fatalf("cycle through another member: %v", err)
	}
	var pe *ctxmember.PanicError
	if _, err := s.Get("panics"); !errors.As(err, &pe) {
		t.Fatalf("a panicking constructor must give a PanicError, got %v", err)
	}
}

func TestRunOutcome(t *testing.T) {
	var got error
	var closes int
	reg, _ := ctxmember.NewRegistry(ctxmember.Member{
		Name:  "m",
		Build: func(context.Context, *ctxmember.Scope) (any, error) { return 1, nil },
		Close: func(ctx context.Context, v any, outcome error) error { closes++; got = outcome; return nil },
	})
	use := func(ctx context.Context) { _, _ = ctxmember.FromContext(ctx).Get("m") }
	if err := reg.Run(context.Background(), func(ctx context.Context) error { use(ctx); return nil }); err != nil || got != nil || closes != 1 {
		t.Fatalf("success: err %v outcome %v closes %d", err, got, closes)
	}
	boom := errors.New("boom")
	if err := reg.Run(context.Background(), func(ctx context.Context) error { use(ctx); return boom }); !errors.Is(err, boom) || !errors.Is(got, boom) {
		t.Fatalf("failure: err %v outcome %v", err, got)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Run must re-raise a panic")
			}
		}()
		_ = reg.Run(context.Background(), func(ctx context.Context) error { use(ctx); panic("job panicked") })
	}()
	var pe *ctxmember.PanicError
	if !errors.As(got, &pe) || pe.Value != "job panicked" {
		t.Fatalf("panic outcome: %v", got)
	}
}

func TestMiddleware(t *testing.T) {
	var outcome error
	ended := false
	reg, _ := ctxmember.NewRegistry(ctxmember.Member{
		Name:  "m",
		Build: func(context.Context, *ctxmember.Scope) (any, error) { return 1, nil },
		Close: func(ctx context.Context, v any, o error) error { ended, outcome = true, o; return nil },
	})
	h := reg.Middleware(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = ctxmember.FromContext(r.Context()).Get("m")
		if r.URL.Path == "/panic" {
			panic("handler panicked")
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if !ended || outcome != nil {
		t.Fatalf("success: ended %v outcome %v", ended, outcome)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the middleware must re-raise the panic")
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/panic", nil))
	}()
	var pe *ctxmember.PanicError
	if !errors.As(outcome, &pe) {
		t.Fatalf("panic must end the scope as a failure, got %v", outcome)
	}
}

func BenchmarkScopeUnused(b *testing.B) {
	reg, _ := ctxmember.NewRegistry(ctxmember.Member{Name: "m", Build: func(context.Context, *ctxmember.Scope) (any, error) { return 1, nil }})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s, _ := reg.NewScope(context.Background())
		_ = s.End(nil)
	}
}
