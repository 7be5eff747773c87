package gormstore_test

import (
	"testing"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/storetest"
)

// TestContract runs the shared Store contract on each database with the
// default model, each subtest on a table of its own. (A model with typed
// columns always returns its column keys, nil when NULL, so the suite's
// exact-keys checks do not apply; TestTypedColumns and
// TestConcurrentMergeColumns cover it.)
func TestContract(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase) {
		storetest.Run(t, func(t *testing.T) backends.Store {
			return storeOn(t, c)
		})
	})
}
