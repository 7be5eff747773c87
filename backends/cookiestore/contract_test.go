package cookiestore

import (
	"reflect"
	"testing"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/storetest"
)

// TestContract runs the ClientStore contract: the cookie store keeps
// nothing server-side, so there is no Store contract to run.
func TestContract(t *testing.T) {
	storetest.RunClient(t, func(t *testing.T) backends.ClientStore {
		return keysStore(t, testKey(1))
	})
}

// TestLastWriteWins: two requests open the same cookie and change different
// keys; the client keeps the cookie it receives last, with only that
// request's change (nothing merges, nothing errors).
func TestLastWriteWins(t *testing.T) {
	s := keysStore(t, testKey(1))
	base := sampleRecord()
	base.Data = map[string]any{"a": int64(1)}
	cookie := mustSeal(t, s, base)
	var tokens [2]string
	for i, key := range []string{"x", "y"} {
		rec, err := s.Open(cookie)
		if err != nil {
			t.Fatal(err)
		}
		rec.Data = backends.Changes{Set: map[string]any{key: true}}.Apply(rec.Data)
		tokens[i] = mustSeal(t, s, rec)
	}
	for i, want := range []map[string]any{{"a": int64(1), "x": true}, {"a": int64(1), "y": true}} {
		got, err := s.Open(tokens[i])
		if err != nil || !reflect.DeepEqual(got.Data, want) {
			t.Errorf("request %d's cookie = %+v, %v; want %v", i, got, err, want)
		}
	}
	if s.Info().Merges {
		t.Error("Info().Merges = true; the cookie store cannot merge")
	}
}
