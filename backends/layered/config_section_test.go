package layered_test

// The [layered] section, read from a real configuration: its new place,
// its old one (session.layered, deprecated) and the checks the
// registration makes (the 1ms floor of local_ttl included).

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/layered"
	"github.com/sessionfx/session/config"
	"github.com/sessionfx/session/kvcache"
)

// fromFile creates the layered store as the module would, from an INI
// text; it returns the store (or the error) and the warnings logged.
func fromFile(t *testing.T, ini string) (*layered.Store, *observer.ObservedLogs, error) {
	t.Helper()
	p := t.TempDir() + "/c.ini"
	if err := writeFile(p, ini); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	cf, err := session.LoadConfigFile(p, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := kvcache.New(kvcache.Config{
		Backends:   map[string]kvcache.BackendConfig{"default": {Type: "memory", MaxSize: 8 << 20}},
		Containers: map[string]kvcache.ContainerConfig{"near": {}, "far": {}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	reg, err := backends.NewRegistry(layered.Registration())
	if err != nil {
		t.Fatal(err)
	}
	st, err := reg.Create("layered", backends.Env{KV: kv, Config: cf.Unmarshal, Logger: zap.NewNop()})
	if err != nil {
		return nil, logs, err
	}
	t.Cleanup(func() { _ = st.Close() })
	return st.(*layered.Store), logs, nil
}

func TestSectionDeclared(t *testing.T) {
	reg := layered.Registration()
	if reg.Section != "layered" || layered.Section != "layered" {
		t.Errorf("Section = %q, layered.Section = %q; want layered", reg.Section, layered.Section)
	}
	if _, ok := reg.Config.(layered.Config); !ok {
		t.Errorf("Config = %T, want layered.Config", reg.Config)
	}
}

func TestSectionLocalTTL(t *testing.T) {
	for _, tc := range []struct {
		name, ttl string
		want      time.Duration // 0: refused
	}{
		{"1us", "1us", 0},
		{"999us", "999us", 0},
		{"negative", "-1s", 0},
		{"1ms", "1ms", time.Millisecond},
		{"300ms", "300ms", 300 * time.Millisecond},
		{"0 is the default", "0", layered.DefaultLocalTTL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, err := fromFile(t, "[session]\nstore = layered\n[layered]\nfront = near\nback = far\nlocal_ttl = "+tc.ttl+"\n")
			if tc.want != 0 {
				if err != nil || st.LocalTTL() != tc.want {
					t.Fatalf("local_ttl = %s: %v; want %s", tc.ttl, err, tc.want)
				}
				return
			}
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Key != "layered.local_ttl" || !strings.Contains(err.Error(), "0 (the default, 5s) or at least 1ms") {
				t.Fatalf("local_ttl = %s: %v; want a config.Error for layered.local_ttl naming the 1ms floor", tc.ttl, err)
			}
		})
	}
}

func TestSectionNeedsFrontAndBack(t *testing.T) {
	for _, tc := range []struct{ ini, key string }{
		{"[layered]\nback = far\n", "layered.front"},
		{"[layered]\nfront = near\n", "layered.back"},
		{"[layered]\nfront = near\nback = near\n", "layered.back"},
		{"[session]\nbackend = layered\nlayered.back = gorm\n", "layered.front"}, // the old place
	} {
		_, _, err := fromFile(t, tc.ini)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%q: %v; want a config.Error for %s", tc.ini, err, tc.key)
		}
	}
}

// The old place still works, with one warning naming the new one; the new
// place wins key by key.
func TestSectionDeprecatedPlace(t *testing.T) {
	st, logs, err := fromFile(t, "[session]\nlayered.front = near\nlayered.back = far\nlayered.local_ttl = 2s\n")
	if err != nil {
		t.Fatal(err)
	}
	if st.Front().Name() != "near" || st.LocalTTL() != 2*time.Second {
		t.Errorf("front %q, local ttl %s", st.Front().Name(), st.LocalTTL())
	}
	if e := logs.FilterMessageSnippet("session.layered is deprecated: write layered").All(); len(e) != 1 || logs.Len() != 1 {
		t.Errorf("warnings %v; want one deprecation", logs.All())
	}
	st, logs, err = fromFile(t, "[session]\nlayered.front = far\nlayered.back = near\n[layered]\nback = far\nfront = near\n")
	if err != nil || st.Front().Name() != "near" {
		t.Fatalf("new wins: %v, %v", st, err)
	}
	if e := logs.FilterMessageSnippet("layered.back, layered.front are also set, and win").All(); len(e) != 1 {
		t.Errorf("warnings %v", logs.All())
	}
}

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o600) }

func TestSectionInvalidation(t *testing.T) {
	const base = "[session]\nstore = layered\n[layered]\nfront = near\nback = far\n"
	st, _, err := fromFile(t, base)
	if err != nil || st.InvalidatedTTL() != layered.DefaultInvalidatedTTL {
		t.Fatalf("defaults: %v, invalidated_ttl %s; want %s", err, st.InvalidatedTTL(), layered.DefaultInvalidatedTTL)
	}
	for _, v := range []string{"auto", "off"} {
		if _, _, err := fromFile(t, base+"invalidation = "+v+"\n"); err != nil {
			t.Errorf("invalidation = %s: %v", v, err)
		}
	}
	st, _, err = fromFile(t, base+"invalidated_ttl = 10m\n")
	if err != nil || st.InvalidatedTTL() != 10*time.Minute {
		t.Fatalf("invalidated_ttl = 10m: %v, %s", err, st.InvalidatedTTL())
	}
	// Never below local_ttl.
	st, _, err = fromFile(t, base+"invalidated_ttl = 1s\nlocal_ttl = 5s\n")
	if err != nil || st.InvalidatedTTL() != 5*time.Second {
		t.Fatalf("invalidated_ttl = 1s below local_ttl = 5s: %v, %s; want 5s", err, st.InvalidatedTTL())
	}
	for _, tc := range []struct{ line, key string }{
		{"invalidation = on", "layered.invalidation"},
		{"invalidated_ttl = 1us", "layered.invalidated_ttl"},
		{"invalidated_ttl = -1s", "layered.invalidated_ttl"},
	} {
		_, _, err := fromFile(t, base+tc.line+"\n")
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%s: %v; want a config.Error for %s", tc.line, err, tc.key)
		}
	}
}
