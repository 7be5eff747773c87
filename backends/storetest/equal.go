package storetest

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Equal reports whether two canonical session values (see
// backends.Normalize) are the same: same kinds (an int64 never equals a
// float64), times compared with time.Time.Equal, byte slices by content,
// maps and slices element by element.
func Equal(a, b any) bool { return Diff(a, b) == "" }

// Diff describes the first difference between two canonical values, or
// returns "" when they are Equal.
func Diff(want, got any) string { return diff("", want, got) }

func diff(path string, want, got any) string {
	at := path
	if at == "" {
		at = "value"
	}
	switch w := want.(type) {
	case nil:
		if got != nil {
			return fmt.Sprintf("%s: want nil, got %T %#v", at, got, got)
		}
		return ""
	case time.Time:
		g, ok := got.(time.Time)
		if !ok || !g.Equal(w) {
			return fmt.Sprintf("%s: want time %s, got %T %v", at, w.Format(time.RFC3339Nano), got, got)
		}
		return ""
	case []byte:
		g, ok := got.([]byte)
		if !ok || !bytes.Equal(w, g) {
			return fmt.Sprintf("%s: want []byte %q, got %T %#v", at, w, got, got)
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: want []any of %d, got %T %#v", at, len(w), got, got)
		}
		for i := range w {
			if d := diff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); d != "" {
				return d
			}
		}
		return ""
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want map[string]any, got %T %#v", at, got, got)
		}
		if len(g) != len(w) {
			return fmt.Sprintf("%s: want keys [%s], got keys [%s]", at, keys(w), keys(g))
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s: key %q missing (got keys [%s])", at, k, keys(g))
			}
			if d := diff(path+"."+k, wv, gv); d != "" {
				return d
			}
		}
		return ""
	case bool, int64, float64, string:
		if got != want {
			return fmt.Sprintf("%s: want %T %#v, got %T %#v", at, want, want, got, got)
		}
		return ""
	}
	return fmt.Sprintf("%s: want value is not canonical: %T", at, want)
}

func keys(m map[string]any) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), " ")
}
