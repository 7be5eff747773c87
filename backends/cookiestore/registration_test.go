package cookiestore

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessionfx/session/backends"
)

// fakeConfig serves config subtrees from a map, as the module's loader does.
func fakeConfig(tree map[string]any) func(string, any) error {
	return func(path string, out any) error {
		v, ok := tree[path]
		if !ok {
			return nil // absent: out keeps its defaults
		}
		switch o := out.(type) {
		case *Config:
			*o = v.(Config)
		case *string:
			*o = v.(string)
		default:
			return errors.New("unexpected target")
		}
		return nil
	}
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "cookie" {
		t.Fatalf("Name = %q, want cookie", reg.Name)
	}
	k := testKey(1)
	st, err := reg.New(backends.Env{Config: fakeConfig(map[string]any{
		"cookie":              Config{Keys: Keys{k}},
		"session.cookie.name": "sid",
	})})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s := st.(*Store)
	if s.CookieName() != "sid" {
		t.Errorf("CookieName = %q; want session.cookie.name (sid)", s.CookieName())
	}
	s.now = func() time.Time { return t0 }
	if _, err := newStore(t, Config{Keys: Keys{k}, CookieName: "sid"}).Open(mustSeal(t, s, sampleRecord())); err != nil {
		t.Errorf("registered store does not use the configured key: %v", err)
	}
	// An explicit cookie.cookie_name wins.
	st, err = reg.New(backends.Env{Config: fakeConfig(map[string]any{
		"cookie":              Config{Keys: Keys{k}, CookieName: "explicit"},
		"session.cookie.name": "sid",
	})})
	if err != nil || st.(*Store).CookieName() != "explicit" {
		t.Errorf("explicit cookie_name: %v, %v", st, err)
	}
	// No [cookie] section: start-up fails naming the setting.
	if _, err := reg.New(backends.Env{Config: fakeConfig(nil)}); !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), "cookie.keys") {
		t.Errorf("no keys: %v; want ErrInvalidKey naming cookie_store.keys", err)
	}
	// A config error is passed on.
	bad := func(string, any) error { return errors.New("cookie_store.max_size: not a number") }
	if _, err := reg.New(backends.Env{Config: bad}); err == nil || !strings.Contains(err.Error(), "max_size") {
		t.Errorf("config error: %v", err)
	}
}
