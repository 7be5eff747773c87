package layered_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap/zaptest"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/backends/layered"
	"github.com/sessionfx/session/kvcache"
)

// env returns a store Env whose configuration holds lc under
// layered and gc under gorm.
func env(t *testing.T, lc layered.Config, gc gormstore.Config) backends.Env {
	kv, err := kvcache.New(kvcache.Config{
		Backends: map[string]kvcache.BackendConfig{
			"default": {Type: "memory", MaxSize: 8 << 20},
			"local":   {Type: "memory", MaxSize: 8 << 20},
		},
		Containers: map[string]kvcache.ContainerConfig{"near": {Backend: "local"}},
	}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	return backends.Env{
		Logger: zaptest.NewLogger(t),
		KV:     kv,
		Config: func(path string, out any) error {
			switch p := out.(type) {
			case *layered.Config:
				if path != layered.Section {
					t.Fatalf("layered config read from %q", path)
				}
				if lc.LocalTTL != 0 {
					p.LocalTTL = lc.LocalTTL
				}
				p.Front, p.Back = lc.Front, lc.Back
			case *gormstore.Config:
				*p = gc
			default:
				t.Fatalf("unexpected config %q (%T)", path, out)
			}
			return nil
		},
	}
}

func TestRegistrationGorm(t *testing.T) {
	gc := gormstore.Config{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "s.sqlite3"), Table: "sess"}
	reg, err := backends.NewRegistry(layered.Registration(), gormstore.Registration())
	if err != nil {
		t.Fatal(err)
	}
	created, err := reg.Create("layered", env(t, layered.Config{Front: "near", Back: "gorm", LocalTTL: 2 * time.Second}, gc))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	st := created.(*layered.Store)
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Setup(t.Context()); err != nil { // the module does this in OnStart
		t.Fatal(err)
	}
	ls := st
	if ls.Front().Name() != "near" || ls.LocalTTL() != 2*time.Second || backends.InfoOf(ls.Back()).Name != "gorm" {
		t.Fatalf("front %q, local ttl %s, back %q; want near, 2s, gorm", ls.Front().Name(), ls.LocalTTL(), backends.InfoOf(ls.Back()).Name)
	}
	id := uuid.NewString()
	if _, err := st.Save(t.Context(), id, set("a", int64(1)), backends.SaveOptions{Expires: time.Now().Add(time.Hour), New: true}); err != nil {
		t.Fatal(err)
	}
	// The session is in the gorm table (the back), not only in the front.
	if r, err := ls.Back().Load(t.Context(), id); err != nil || r.Data["a"] != int64(1) {
		t.Fatalf("back Load = %+v, %v", r, err)
	}
}

func TestRegistrationContainer(t *testing.T) {
	reg, _ := backends.NewRegistry(layered.Registration(), gormstore.Registration())
	st, err := reg.Create("layered", env(t, layered.Config{Front: "near", Back: "far"}, gormstore.Config{}))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	ls := st.(*layered.Store)
	if ls.LocalTTL() != layered.DefaultLocalTTL {
		t.Fatalf("LocalTTL = %s, want the default %s", ls.LocalTTL(), layered.DefaultLocalTTL)
	}
	kv, ok := ls.Back().(*backends.KVStore)
	if !ok || kv.Container().Name() != "far" {
		t.Fatalf("back = %T, want a KVStore on container far", ls.Back())
	}
}

func TestRegistrationErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  layered.Config
		want string
	}{
		{layered.Config{Back: "gorm"}, "layered.front"},
		{layered.Config{Front: "near"}, "layered.back"},
		{layered.Config{Front: "near", Back: "near"}, "layered.back"},
		{layered.Config{Front: "near", Back: "far", LocalTTL: -time.Second}, "layered.local_ttl"},
	} {
		reg, _ := backends.NewRegistry(layered.Registration(), gormstore.Registration())
		_, err := reg.Create("layered", env(t, tc.cfg, gormstore.Config{}))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Create with %+v: %v; want an error naming %s", tc.cfg, err, tc.want)
		}
	}
	reg, _ := backends.NewRegistry(layered.Registration(), gormstore.Registration())
	e := env(t, layered.Config{Front: "near", Back: "far"}, gormstore.Config{})
	e.KV = nil
	if _, err := reg.Create("layered", e); err == nil || !strings.Contains(err.Error(), "kvcache") {
		t.Errorf("Create without a kvcache: %v; want an error naming the kvcache", err)
	}
	e = env(t, layered.Config{Front: "near", Back: "gorm"}, gormstore.Config{Driver: "oracle"})
	_, err := reg.Create("layered", e)
	if !errors.Is(err, gormstore.ErrConfig) || !strings.Contains(err.Error(), `back = "gorm"`) {
		t.Errorf("Create with a bad [gorm] driver: %v; want gormstore.ErrConfig naming layered.back", err)
	}
}

// The back is any registered store by name, opened through the registry;
// a layered store cannot be its own back.
func TestRegistrationBackByName(t *testing.T) {
	reg, err := backends.NewRegistry(layered.Registration(), backends.NullRegistration())
	if err != nil {
		t.Fatal(err)
	}
	created, err := reg.Create("layered", env(t, layered.Config{Front: "near", Back: "null"}, gormstore.Config{}))
	if err != nil {
		t.Fatalf("Create with back = null: %v", err)
	}
	t.Cleanup(func() { _ = created.Close() })
	if _, ok := created.(*layered.Store).Back().(backends.NullStore); !ok {
		t.Fatalf("back = %T; want the registered null store", created.(*layered.Store).Back())
	}
	_, err = reg.Create("layered", env(t, layered.Config{Front: "near", Back: "layered"}, gormstore.Config{}))
	if err == nil || !strings.Contains(err.Error(), "opens itself") {
		t.Fatalf("Create with back = layered: %v; want an error saying the store opens itself", err)
	}
}
