package backends_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/kvcache"
)

func TestRegistry(t *testing.T) {
	boom := errors.New("boom")
	r, err := backends.NewRegistry(backends.KVCacheRegistration(), backends.NullRegistration(),
		backends.Registration{Name: "failing", New: func(backends.Env) (backends.Storage, error) { return nil, boom }})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Names(), ","); got != "failing,kvcache,null" {
		t.Fatalf("Names = %s", got)
	}

	s, err := r.Create("null", backends.Env{})
	if err != nil || backends.InfoOf(s).Name != "null" {
		t.Fatalf("Create(null) = %v, %v", s, err)
	}

	_, err = r.Create("redis-cluster", backends.Env{})
	if !errors.Is(err, backends.ErrUnknownStore) || !strings.Contains(err.Error(), `"redis-cluster"`) || !strings.Contains(err.Error(), "failing, kvcache, null") {
		t.Fatalf("Create of an unknown name: %v; want ErrUnknownStore naming it and the registered names", err)
	}
	if _, err := r.Create("failing", backends.Env{}); !errors.Is(err, boom) || !strings.Contains(err.Error(), `"failing"`) {
		t.Fatalf("Create of a failing store: %v", err)
	}

	// kvcache needs a Cache.
	if _, err := r.Create("kvcache", backends.Env{}); err == nil || !strings.Contains(err.Error(), "Env.KV is nil") {
		t.Fatalf("Create(kvcache) without a Cache: %v", err)
	}
	kv, err := kvcache.New(kvcache.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	s, err = r.Create("kvcache", backends.Env{KV: kv, Container: "sess"})
	if err != nil {
		t.Fatal(err)
	}
	kvs := s.(*backends.KVStore)
	if kvs.Container().Name() != "sess" || kvs.Info().Name != "kvcache" {
		t.Fatalf("kvcache store on container %q", kvs.Container().Name())
	}
	s, err = r.Create("kvcache", backends.Env{KV: kv})
	if err != nil || s.(*backends.KVStore).Container().Name() != backends.DefaultContainer {
		t.Fatalf("default container: %v", err)
	}
}

func TestNewRegistryErrors(t *testing.T) {
	for name, regs := range map[string][]backends.Registration{
		"duplicate": {backends.NullRegistration(), backends.NullRegistration()},
		"empty":     {{Name: "", New: backends.NullRegistration().New}},
		"nil New":   {{Name: "x"}},
	} {
		if _, err := backends.NewRegistry(regs...); err == nil {
			t.Errorf("%s: NewRegistry succeeded", name)
		}
	}
	_, err := backends.NewRegistry(backends.NullRegistration(), backends.NullRegistration())
	if err == nil || !strings.Contains(err.Error(), `"null" is registered twice`) {
		t.Fatalf("duplicate: %v", err)
	}
}

func TestRegistrySections(t *testing.T) {
	type cookieConfig struct{ Keys string }
	r, err := backends.NewRegistry(backends.NullRegistration(),
		backends.Registration{Name: "cookie", New: backends.NullRegistration().New, Section: "Cookie", Config: cookieConfig{}},
		backends.Registration{Name: "mystore", New: backends.NullRegistration().New, Section: "mystore"})
	if err != nil {
		t.Fatal(err)
	}
	got := r.Sections()
	if len(got) != 2 || got["cookie"] != (cookieConfig{}) {
		t.Errorf("Sections() = %v; want cookie (lowercased, with its config type) and mystore", got)
	}
	if v, ok := got["mystore"]; !ok || v != nil {
		t.Errorf("Sections()[mystore] = %v, %v; want nil, true", v, ok)
	}
}
