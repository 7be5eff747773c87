package kvcache_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/sessionfx/session/kvcache"
)

// closeRecorder is a memory backend that remembers being closed.
type closeRecorder struct {
	kvcache.Backend
	closed *[]string
	name   string
}

func (c closeRecorder) Close() error {
	*c.closed = append(*c.closed, c.name)
	return c.Backend.Close()
}

func recordingType(closed *[]string) kvcache.TypeFactory {
	return func(name string, cfg kvcache.BackendConfig, log *zap.Logger) (kvcache.Backend, error) {
		b, err := kvcache.NewMemory(name, kvcache.BackendConfig{MaxSize: 1 << 20}, log)
		if err != nil {
			return nil, err
		}
		return closeRecorder{Backend: b, closed: closed, name: name}, nil
	}
}

func newCache(t *testing.T, cfg kvcache.Config, opts ...kvcache.Option) *kvcache.Cache {
	t.Helper()
	c, err := kvcache.New(cfg, nil, opts...)
	if err != nil {
		t.Fatalf("kvcache.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestCacheContainersMapToBackends(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, kvcache.Config{
		Backends: map[string]kvcache.BackendConfig{
			"default": {Type: "memory", MaxSize: 1 << 20},
			"big":     {Type: "memory", MaxSize: 4 << 20},
		},
		Containers: map[string]kvcache.ContainerConfig{
			"session": {Backend: "big", Prefix: "s/"},
			"pages":   {},
		},
	})
	big, _ := c.Backend("big")
	dflt, _ := c.Backend("default")
	sess, err := c.Container("session")
	if err != nil {
		t.Fatal(err)
	}
	if sess.Backend() != big || sess.Prefix() != "s/" {
		t.Errorf("container session: backend %v, prefix %q; want backend big, prefix s/", sess.Backend(), sess.Prefix())
	}
	if err := sess.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if v, _, err := big.Get(ctx, "s/k"); err != nil || string(v) != "v" {
		t.Errorf("backend big, key s/k = %q, %v; want the container's value", v, err)
	}
	if _, _, err := dflt.Get(ctx, "s/k"); !errors.Is(err, kvcache.ErrNotFound) {
		t.Errorf("backend default holds s/k (%v); the container maps to big only", err)
	}
	pages, _ := c.Container("pages")
	if pages.Backend() != dflt || pages.Prefix() != "pages:" {
		t.Errorf("container pages: prefix %q; want the default backend and prefix pages:", pages.Prefix())
	}
	if _, err := c.Backend("nope"); !errors.Is(err, kvcache.ErrUnknownBackend) {
		t.Errorf("Backend(nope) = %v; want ErrUnknownBackend", err)
	}
}

func TestCacheUnknownBackendType(t *testing.T) {
	var closed []string
	_, err := kvcache.New(kvcache.Config{Backends: map[string]kvcache.BackendConfig{
		"a":      {Type: "fake"},
		"shared": {Type: "memcached"},
	}}, nil, kvcache.WithType("fake", recordingType(&closed)))
	if !errors.Is(err, kvcache.ErrUnknownBackend) {
		t.Fatalf("New with type memcached = %v; want ErrUnknownBackend", err)
	}
	for _, want := range []string{"kvcache.backends.shared.type", `"memcached"`, "fake, memory"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if !slices.Equal(closed, []string{"a"}) {
		t.Errorf("backends closed after the failed New: %q; want the already built one, a", closed)
	}
}

func TestCacheContainerOnUnknownBackend(t *testing.T) {
	_, err := kvcache.New(kvcache.Config{
		Backends:   map[string]kvcache.BackendConfig{"default": {Type: "memory", MaxSize: 1 << 20}},
		Containers: map[string]kvcache.ContainerConfig{"session": {Backend: "shared"}},
	}, nil)
	if !errors.Is(err, kvcache.ErrUnknownBackend) || !strings.Contains(err.Error(), "kvcache.containers.session.backend") || !strings.Contains(err.Error(), `"shared"`) {
		t.Fatalf("container on unknown backend: %v; want ErrUnknownBackend naming kvcache.containers.session.backend and \"shared\"", err)
	}
}

func TestCacheBackendBuildErrorNamesTheBackend(t *testing.T) {
	_, err := kvcache.New(kvcache.Config{Backends: map[string]kvcache.BackendConfig{
		"default": {Type: "memory", MaxSize: 10},
	}}, nil)
	if err == nil || !strings.Contains(err.Error(), "kvcache.backends.default.max_size") {
		t.Fatalf("memory backend of 10 bytes: %v; want an error naming kvcache.backends.default.max_size", err)
	}
}

func TestCacheDefaultsAndUnconfiguredContainer(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, kvcache.Config{}) // no backends: one 64MiB memory "default"
	dflt, err := c.Backend("default")
	if err != nil {
		t.Fatalf("empty config has no default backend: %v", err)
	}
	ct, err := c.Container("thumbs")
	if err != nil {
		t.Fatal(err)
	}
	if ct.Name() != "thumbs" || ct.Prefix() != "thumbs:" || ct.CrossProcess() {
		t.Errorf("unconfigured container: name %q prefix %q crossProcess %v", ct.Name(), ct.Prefix(), ct.CrossProcess())
	}
	if err := ct.Set(ctx, "a", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if v, _, err := dflt.Get(ctx, "thumbs:a"); err != nil || string(v) != "1" {
		t.Errorf("default backend key thumbs:a = %q, %v", v, err)
	}
	again, _ := c.Container("thumbs")
	if again != ct {
		t.Error("Container(thumbs) twice returned two containers")
	}
}

func TestContainerKeysAndClear(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, kvcache.Config{})
	a, _ := c.Container("a")
	ab, _ := c.Container("ab")
	for _, k := range []string{"x", "y", "z:1"} {
		if err := a.Set(ctx, k, []byte(k), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := ab.Set(ctx, "x", []byte("other"), 0); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := a.Keys(ctx, func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	if want := []string{"x", "y", "z:1"}; !slices.Equal(keys, want) {
		t.Errorf("a.Keys = %q; want %q (prefix stripped, other containers' keys absent)", keys, want)
	}
	if err := a.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Exists(ctx, "x"); ok {
		t.Error("a.Clear left a:x")
	}
	if v, err := ab.Get(ctx, "x"); err != nil || string(v) != "other" {
		t.Errorf("a.Clear touched container ab: ab.Get(x) = %q, %v", v, err)
	}
}

func TestContainerDefaultTTL(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, kvcache.Config{
		Backends:   map[string]kvcache.BackendConfig{"default": {Type: "memory", MaxSize: 1 << 20}},
		Containers: map[string]kvcache.ContainerConfig{"s": {TTL: time.Hour}},
	})
	s, _ := c.Container("s")
	about := func(key string, want time.Duration) {
		t.Helper()
		_, ttl, err := s.GetWithTTL(ctx, key)
		if err != nil {
			t.Fatalf("GetWithTTL(%s): %v", key, err)
		}
		if want == 0 && ttl != 0 || want != 0 && (ttl > want || ttl < want-time.Minute) {
			t.Errorf("%s ttl = %s; want about %s", key, ttl, want)
		}
	}
	_ = s.Set(ctx, "default", []byte("v"), 0)
	about("default", time.Hour)
	_ = s.Set(ctx, "explicit", []byte("v"), 5*time.Minute)
	about("explicit", 5*time.Minute)
	_ = s.Set(ctx, "forever", []byte("v"), -1)
	about("forever", 0)
	_ = s.Update(ctx, "updated", func([]byte, bool) ([]byte, time.Duration, error) { return []byte("v"), 0, nil })
	about("updated", time.Hour)
	_ = s.Expire(ctx, "forever", 0)
	about("forever", time.Hour)
	_ = s.Expire(ctx, "explicit", -1)
	about("explicit", 0)
	if s.DefaultTTL() != time.Hour {
		t.Errorf("DefaultTTL = %s; want 1h", s.DefaultTTL())
	}
}

func TestCacheCloseClosesEveryBackend(t *testing.T) {
	var closed []string
	c, err := kvcache.New(kvcache.Config{Backends: map[string]kvcache.BackendConfig{
		"default": {Type: "fake"}, "other": {Type: "fake"},
	}}, nil, kvcache.WithType("fake", recordingType(&closed)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	sort.Strings(closed)
	if !slices.Equal(closed, []string{"default", "other"}) {
		t.Errorf("closed backends %q; want default and other once each", closed)
	}
	if _, err := c.Container("x"); err == nil {
		t.Error("Container after Close = nil error; want an error")
	}
}

func TestModuleProvidesCacheAndClosesIt(t *testing.T) {
	var closed []string
	var cache *kvcache.Cache
	app := fxtest.New(t,
		fx.Supply(kvcache.Config{
			Backends:   map[string]kvcache.BackendConfig{"default": {Type: "memory", MaxSize: 1 << 20}, "plug": {Type: "fake"}},
			Containers: map[string]kvcache.ContainerConfig{"s": {Backend: "plug"}},
		}, zap.NewNop()),
		fx.Provide(fx.Annotate(func() kvcache.TypeRegistration {
			return kvcache.TypeRegistration{Name: "fake", New: recordingType(&closed)}
		}, fx.ResultTags(`group:"kvcache_types"`))),
		kvcache.Module,
		fx.Populate(&cache),
	)
	app.RequireStart()
	s, err := cache.Container("s")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(context.Background(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	app.RequireStop()
	if !slices.Equal(closed, []string{"plug"}) {
		t.Errorf("after app stop, closed plugin backends = %q; want [plug]", closed)
	}
	if _, err := cache.Container("s"); err == nil {
		t.Error("cache still open after the app stopped")
	}
}

func TestModuleReportsBadConfig(t *testing.T) {
	app := fx.New(
		fx.NopLogger,
		fx.Supply(kvcache.Config{Backends: map[string]kvcache.BackendConfig{"default": {Type: "redis"}}}, zap.NewNop()),
		kvcache.Module,
		fx.Invoke(func(*kvcache.Cache) {}),
	)
	if err := app.Err(); !errors.Is(err, kvcache.ErrUnknownBackend) || !strings.Contains(err.Error(), "kvcache.backends.default.type") {
		t.Fatalf("app with an unregistered redis type: %v; want ErrUnknownBackend naming kvcache.backends.default.type", err)
	}
}

// A backend type registered twice must fail New and name the type, never
// let the second registration silently replace the first; the same holds
// for the built-in "memory" type and for the fx value group.
func TestCacheTypeRegisteredTwice(t *testing.T) {
	var closed []string
	cfg := kvcache.Config{Backends: map[string]kvcache.BackendConfig{"default": {Type: "fake"}}}
	for _, tc := range []struct {
		name, want string
		opts       []kvcache.Option
	}{
		{"WithType twice", `backend type "fake" is registered twice`,
			[]kvcache.Option{kvcache.WithType("fake", recordingType(&closed)), kvcache.WithType("fake", recordingType(&closed))}},
		{"memory again", `backend type "memory" is built in`,
			[]kvcache.Option{kvcache.WithType("fake", recordingType(&closed)), kvcache.WithType("memory", recordingType(&closed))}},
		{"empty name", "empty name", []kvcache.Option{kvcache.WithType("", recordingType(&closed))}},
		{"nil factory", `backend type "fake" is registered with a nil factory`, []kvcache.Option{kvcache.WithType("fake", nil)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := kvcache.New(cfg, nil, tc.opts...)
			if err == nil {
				_ = c.Close()
				t.Fatalf("New = nil error; want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v; want an error containing %q", err, tc.want)
			}
		})
	}
	if len(closed) != 0 {
		t.Errorf("backends built despite the bad registration: %q", closed)
	}

	reg := func() kvcache.TypeRegistration {
		return kvcache.TypeRegistration{Name: "fake", New: recordingType(&closed)}
	}
	app := fx.New(
		fx.NopLogger,
		fx.Supply(cfg, zap.NewNop()),
		fx.Provide(
			fx.Annotate(reg, fx.ResultTags(`group:"kvcache_types"`)),
			fx.Annotate(reg, fx.ResultTags(`group:"kvcache_types"`)),
		),
		kvcache.Module,
		fx.Invoke(func(*kvcache.Cache) {}),
	)
	if err := app.Err(); err == nil || !strings.Contains(err.Error(), `backend type "fake" is registered twice`) {
		t.Fatalf("app with two %q registrations in kvcache_types: %v; want an error naming the type", "fake", err)
	}
}
