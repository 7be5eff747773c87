package storetest_test

import (
	"strings"
	"testing"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/storetest"
	"github.com/sessionfx/session/kvcache"
)

// coreOnly forwards the core Store methods and hides every capability, as
// a decorator without Unwrap does.
type coreOnly struct{ backends.Store }

// A store with only the core passes the suite: the subtests of the
// capabilities it lacks are skipped, naming the interface.
func TestCoreOnlyStore(t *testing.T) {
	var skipped []string
	t.Run("suite", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) backends.Store {
			b, err := kvcache.NewMemory("t", kvcache.BackendConfig{Type: "memory", MaxSize: 64 << 20}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if t.Skipped() {
					skipped = append(skipped, t.Name())
				}
				_ = b.Close()
			})
			return coreOnly{backends.NewKVStore(kvcache.NewContainer("session", "session:", 0, b))}
		})
	})
	want := []string{"Iterate", "DeleteOlderThan", "SaveAfterRenew", "ConcurrentRenew", "RenewRacingDelete"}
	for _, name := range want {
		found := false
		for _, s := range skipped {
			found = found || strings.HasSuffix(s, "/"+name)
		}
		if !found {
			t.Errorf("subtest %s was not skipped for a store without its capability (skipped: %v)", name, skipped)
		}
	}
	if len(skipped) != len(want) {
		t.Errorf("skipped %v; want only %v", skipped, want)
	}
}
