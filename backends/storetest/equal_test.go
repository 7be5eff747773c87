package storetest

import (
	"testing"
	"time"
)

func TestEqual(t *testing.T) {
	tm := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, tc := range []struct {
		a, b any
		want bool
	}{
		{int64(5), int64(5), true},
		{int64(5), 5.0, false},
		{tm, tm.In(time.FixedZone("X", 3600)), true},
		{tm, tm.Add(1), false},
		{[]byte("a"), []byte("a"), true},
		{[]byte("a"), "a", false},
		{nil, nil, true},
		{nil, []any(nil), false},
		{map[string]any{"a": []any{int64(1)}}, map[string]any{"a": []any{int64(1)}}, true},
		{map[string]any{"a": []any{int64(1)}}, map[string]any{"a": []any{int64(2)}}, false},
		{map[string]any{"a": nil}, map[string]any{"b": nil}, false},
		{map[string]any{}, map[string]any{"b": nil}, false},
		{5, 5, false}, // not canonical
	} {
		if got := Equal(tc.a, tc.b); got != tc.want {
			t.Errorf("Equal(%#v, %#v) = %v, want %v (diff: %s)", tc.a, tc.b, got, tc.want, Diff(tc.a, tc.b))
		}
	}
}
