package config

// Deprecated keys: a key or section that moved keeps working from its old
// place, with one warning that names the new one.

import (
	"fmt"
	"sort"
	"strings"

	"go.uber.org/zap"
)

// Rename moves a deprecated key or section to its new place when a
// configuration is loaded: Old and New are dotted paths (a key, or a
// section with everything in it), e.g. {"session.backend", "session.store"}
// or {"cookie_store", "cookie"}. Each source (the file, the environment)
// that sets Old gets one warning naming New. When a source sets both, what
// it sets under New wins, key by key, and the warning says so. As
// everywhere, the environment wins over the file: an old variable
// overrides the file's new key. A deprecation is never an error, in strict
// mode neither.
type Rename struct {
	Old, New string
}

// moved is one Rename applied to one source.
type moved struct {
	Rename
	// clash lists the keys under New that the source set in both places
	// (the new ones were kept).
	clash []string
}

// applyRenames moves, in m (one source's normalized tree), every Old that
// is set to its New.
func applyRenames(m map[string]any, renames []Rename) []moved {
	var out []moved
	for _, r := range renames {
		oldPath := strings.Split(strings.ToLower(r.Old), ".")
		newPath := strings.Split(strings.ToLower(r.New), ".")
		v, ok := take(m, oldPath)
		if !ok {
			continue
		}
		out = append(out, moved{Rename: r, clash: put(m, newPath, v)})
	}
	return out
}

// take removes the value at path from m and returns it.
func take(m map[string]any, path []string) (any, bool) {
	node := m
	for _, p := range path[:len(path)-1] {
		sub, ok := node[p].(map[string]any)
		if !ok {
			return nil, false
		}
		node = sub
	}
	last := path[len(path)-1]
	v, ok := node[last]
	if ok {
		delete(node, last)
	}
	return v, ok
}

// put merges v into m at path, keeping what is already there; it returns
// the keys set in both (whose value in m was kept).
func put(m map[string]any, path []string, v any) []string {
	node := m
	for i, p := range path[:len(path)-1] {
		child, ok := node[p]
		if !ok {
			sub := map[string]any{}
			node[p] = sub
			node = sub
			continue
		}
		sub, isMap := child.(map[string]any)
		if !isMap {
			// A value where the new section would go: it wins (and is
			// reported as what it is when decoded).
			return []string{strings.Join(path[:i+1], ".")}
		}
		node = sub
	}
	last := path[len(path)-1]
	if _, ok := node[last]; !ok {
		node[last] = v
		return nil
	}
	return mergeKeep(node, last, v, strings.Join(path, "."))
}

// mergeKeep merges v into node[last], which is set, keeping node's values.
func mergeKeep(node map[string]any, last string, v any, key string) []string {
	em, eIsMap := node[last].(map[string]any)
	vm, vIsMap := v.(map[string]any)
	if !eIsMap || !vIsMap {
		return []string{key}
	}
	var clash []string
	for _, k := range sortedKeys(vm) {
		if _, ok := em[k]; !ok {
			em[k] = vm[k]
			continue
		}
		clash = append(clash, mergeKeep(em, k, vm[k], key+"."+k)...)
	}
	return clash
}

// warnMoved logs the renames applied to the file's tree.
func (f *File) warnMoved(ms []moved) {
	for _, mv := range ms {
		f.log.Warn("config: "+mv.Old+" is deprecated: write "+mv.New+clashNote(mv.clash)+" (in "+f.path+")",
			zap.String("key", mv.Old), zap.String("new_key", mv.New), zap.String("file", f.path))
	}
}

// moveEnv logs the renames applied to the environment's tree and moves
// envNames along: a message about a new key then names the variable that
// set it.
func (f *File) moveEnv(ms []moved) {
	for _, mv := range ms {
		old, nw := strings.ToLower(mv.Old), strings.ToLower(mv.New)
		var vars, want, rests []string
		for k, name := range f.envNames {
			if rest, ok := strings.CutPrefix(k, old); ok && (rest == "" || rest[0] == '.') {
				vars = append(vars, name)
				want = append(want, envName(nw+rest))
				rests = append(rests, rest)
			}
		}
		for i, rest := range rests {
			delete(f.envNames, old+rest)
			if _, set := f.envNames[nw+rest]; !set {
				f.envNames[nw+rest] = vars[i]
			}
		}
		sort.Strings(vars)
		sort.Strings(want)
		f.log.Warn(fmt.Sprintf("config: %s is deprecated: write %s%s (environment variable %s: write %s)",
			mv.Old, mv.New, clashNote(mv.clash), strings.Join(vars, ", "), strings.Join(want, ", ")),
			zap.String("key", mv.Old), zap.String("new_key", mv.New), zap.Strings("env", vars))
	}
}

func clashNote(clash []string) string {
	switch len(clash) {
	case 0:
		return ""
	case 1:
		return "; " + clash[0] + " is also set, and wins"
	}
	return "; " + strings.Join(clash, ", ") + " are also set, and win"
}
