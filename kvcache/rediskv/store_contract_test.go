package rediskv

import (
	"testing"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/storetest"
	"github.com/sessionfx/session/kvcache"
)

// The session store contract on a Redis container, with and without the
// client-side cache: merges (including the one-round-trip compare-and-swap
// against a loaded record and SET NX for new ids) are decided on the server.
func TestSessionStoreContract(t *testing.T) {
	url := redisURL(t)
	for _, cc := range []bool{false, true} {
		name := "plain"
		if cc {
			name = "client-cache"
		}
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) backends.Store {
				b := newTestBackend(t, url, cc)
				return backends.NewKVStore(kvcache.NewContainer("session", uniquePrefix(t, b), 0, b))
			})
		})
	}
}
