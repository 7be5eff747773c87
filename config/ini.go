package config

// Parsing: the INI parser, and the one tree shape every source (INI, YAML,
// the environment) is normalized to.

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/ini.v1"
)

// INIParser is a koanf.Parser for INI text (gopkg.in/ini.v1). Section names
// and dotted keys become key paths ("[session]" + "cookie.secure = true" is
// session.cookie.secure); DEFAULT-section keys are top-level. Values stay
// strings: decoding converts them. Names are lowercased. Inline comments
// need a space before ";" or "#". A key that is both a value and a section,
// or a key set twice, is an *Error.
type INIParser struct{}

// Unmarshal parses INI bytes into a nested map.
func (INIParser) Unmarshal(b []byte) (map[string]any, error) {
	f, err := ini.LoadSources(ini.LoadOptions{
		Insensitive:               true,
		SpaceBeforeInlineComment:  true,
		IgnoreContinuation:        true,
		UnescapeValueDoubleQuotes: true,
	}, b)
	if err != nil {
		return nil, fmt.Errorf("INI syntax: %w", err)
	}
	var leaves []leaf
	for _, sec := range f.Sections() {
		prefix := sec.Name()
		if strings.EqualFold(prefix, ini.DefaultSection) {
			prefix = ""
		}
		if prefix != "" && len(sec.Keys()) == 0 {
			// An empty section still exists (so Exists("kvcache") is true).
			p, err := split(prefix)
			if err != nil {
				return nil, err
			}
			leaves = append(leaves, leaf{path: p, value: map[string]any{}})
		}
		for _, key := range sec.Keys() {
			full := key.Name()
			if prefix != "" {
				full = prefix + "." + full
			}
			p, err := split(full)
			if err != nil {
				return nil, err
			}
			leaves = append(leaves, leaf{path: p, value: key.Value()})
		}
	}
	return build(leaves, "")
}

// Marshal is not supported: the module never writes configuration.
func (INIParser) Marshal(map[string]any) ([]byte, error) {
	return nil, errors.New("config: writing INI is not supported")
}

// mapProvider hands an already parsed map to koanf.
type mapProvider map[string]any

func (p mapProvider) ReadBytes() ([]byte, error) {
	return nil, errors.New("config: map provider has no bytes")
}

func (p mapProvider) Read() (map[string]any, error) { return p, nil }

// leaf is one key path and its value (an empty map marks an empty section).
type leaf struct {
	path  []string
	value any
}

func (l leaf) key() string { return strings.Join(l.path, ".") }

// split splits a dotted key, lowercased, rejecting empty parts.
func split(key string) ([]string, error) {
	parts := strings.Split(strings.ToLower(key), ".")
	for _, p := range parts {
		if strings.TrimSpace(p) == "" {
			return nil, &Error{Key: key, Allowed: "dotted key names without empty parts"}
		}
	}
	return parts, nil
}

// normalize flattens a parsed tree (keys may contain dots at any level),
// checks it and rebuilds it with one key part per level, expanding ${here}.
func normalize(m map[string]any, here string) (map[string]any, error) {
	var leaves []leaf
	if err := flatten(m, nil, &leaves); err != nil {
		return nil, err
	}
	return build(leaves, here)
}

func flatten(m map[string]any, prefix []string, out *[]leaf) error {
	for k, v := range m {
		full := k
		if len(prefix) > 0 {
			full = strings.Join(prefix, ".") + "." + k
		}
		parts, err := split(k)
		if err != nil {
			return &Error{Key: full, Allowed: "dotted key names without empty parts"}
		}
		path := append(slices.Clone(prefix), parts...)
		sub, isMap := asMap(v)
		switch {
		case isMap && len(sub) > 0:
			if err := flatten(sub, path, out); err != nil {
				return err
			}
		case isMap:
			*out = append(*out, leaf{path: path, value: map[string]any{}})
		default:
			*out = append(*out, leaf{path: path, value: v})
		}
	}
	return nil
}

// asMap accepts both map shapes YAML decoders produce.
func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[fmt.Sprint(k)] = v
		}
		return out, true
	}
	return nil, false
}

// build turns leaves into a nested map, rejecting a key that is both a
// value and a section and a key set twice. Leaves are sorted first so the
// error always names the same key.
func build(leaves []leaf, here string) (map[string]any, error) {
	slices.SortFunc(leaves, func(a, b leaf) int { return slices.Compare(a.path, b.path) })
	root := map[string]any{}
	for _, l := range leaves {
		node := root
		for i, p := range l.path[:len(l.path)-1] {
			child, ok := node[p]
			if !ok {
				m := map[string]any{}
				node[p] = m
				node = m
				continue
			}
			m, isMap := child.(map[string]any)
			if !isMap {
				return nil, bothError(strings.Join(l.path[:i+1], "."), child, l.key())
			}
			node = m
		}
		last := l.path[len(l.path)-1]
		newMap, newIsMap := l.value.(map[string]any)
		if existing, ok := node[last]; ok {
			em, exIsMap := existing.(map[string]any)
			switch {
			case exIsMap && newIsMap && (len(em) == 0 || len(newMap) == 0):
				continue // an empty section next to its own keys
			case exIsMap && !newIsMap:
				return nil, bothError(l.key(), l.value, l.key()+"."+firstKey(em))
			default:
				return nil, newError(l.key(), l.value, "one value per key (this key is set twice)", nil)
			}
		}
		node[last] = expandHere(l.value, here)
	}
	return root, nil
}

func bothError(key string, value any, other string) error {
	return newError(key, value, "a value or a section, not both ("+other+" is also set)", nil)
}

func firstKey(m map[string]any) string {
	keys := sortedKeys(m)
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// expandHere replaces ${here} in strings, also inside lists.
func expandHere(v any, here string) any {
	if here == "" {
		return v
	}
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "${here}", here)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = expandHere(e, here)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = expandHere(e, here)
		}
		return out
	}
	return v
}

// collectPaths adds every key path of m (sections included) to out.
func collectPaths(m map[string]any, prefix string, out map[string]bool) {
	for k, v := range m {
		p := joinKey(prefix, k)
		out[p] = true
		if sub, ok := v.(map[string]any); ok {
			collectPaths(sub, p, out)
		}
	}
}

// joinKey is prefix.key, or key when prefix is empty.
func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
