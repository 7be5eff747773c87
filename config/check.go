package config

// Checks: keys and sections that match nothing, reported with the nearest
// valid name, and environment variables that set no key.

import (
	"errors"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"go.uber.org/zap"
)

// UnknownKeys lists, sorted, the keys and sections found matching nothing
// so far (they were also logged at Warn).
func (f *File) UnknownKeys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.unknown)
}

// CheckSections logs at Warn (with the nearest known name) every top-level
// section of the file that is neither a known section (Options.Sections)
// nor in known, and returns them. Environment variables are not checked:
// other programs may share the prefix.
func (f *File) CheckSections(known ...string) []string {
	out, _ := f.checkSections(false, known)
	return out
}

// Check is the start-up check, once every section that is going to be read
// has been: it reports every top-level section of the file that is
// neither a known section (Options.Sections) nor in known (the sections
// read without being declared), and every key that matches nothing in a
// known section with a Config that no Unmarshal has read (the section of
// a store that is not selected). They are logged at Warn with the nearest
// valid name, or, in strict mode, returned as *Errors (joined).
func (f *File) Check(known ...string) error {
	var errs []error
	for _, s := range f.known {
		name := strings.ToLower(s.Name)
		f.mu.Lock()
		read := f.decoded[name]
		f.mu.Unlock()
		data := f.k.Get(name)
		if s.Config == nil || read || data == nil {
			continue
		}
		t := reflect.TypeOf(s.Config)
		chk := checker{}
		chk.walk(t, name, data) // values are checked by the section's owner, when it reads it
		if err := f.reportUnknown(t, name, data, chk.unknown); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := f.checkSections(f.strict, known); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkSections is CheckSections; with strict it returns an *Error per
// unknown section instead of logging.
func (f *File) checkSections(strict bool, known []string) ([]string, error) {
	for _, s := range f.known {
		known = append(known, strings.ToLower(s.Name))
	}
	var out []string
	var errs []error
	for _, s := range f.sections {
		if !slices.Contains(known, s) {
			out = append(out, s)
			if err := f.unknownKey(strict, s, Nearest(s, known)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	f.addUnknown(out)
	return out, errors.Join(errs...)
}

// reportUnknown reports the keys of unknown, found under path whose type
// is t, with the nearest valid key of t.
func (f *File) reportUnknown(t reflect.Type, path string, data any, unknown []string) error {
	if len(unknown) == 0 {
		return nil
	}
	valid := validPaths(t, path, data, nil)
	var errs []error
	for _, u := range unknown {
		if err := f.unknownKey(f.strict, u, Nearest(u, valid)); err != nil {
			errs = append(errs, err)
		}
	}
	f.addUnknown(unknown)
	return errors.Join(errs...)
}

func (f *File) addUnknown(keys []string) {
	if len(keys) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		if !slices.Contains(f.unknown, k) {
			f.unknown = append(f.unknown, k)
		}
	}
	sort.Strings(f.unknown)
}

// unknownKey reports a key (or section) that matches nothing: logged at
// Warn with the nearest valid key, or, when strict, returned as an
// *Error. A key set by an environment variable is reported with the
// variable's name (and the suggestion in the same form).
func (f *File) unknownKey(strict bool, key, near string) error {
	vars := f.envVarsOf(key)
	fromFile := f.fileKeys[key]
	where := ""
	switch {
	case len(vars) > 0 && fromFile:
		where = " (set in " + f.path + " and by environment variable " + strings.Join(vars, ", ") + ")"
	case len(vars) > 0:
		where = " (set by environment variable " + strings.Join(vars, ", ") + ")"
	}
	suggest := ""
	if near != "" {
		suggest = "; did you mean " + near + "?"
		if len(vars) > 0 && !fromFile {
			suggest = "; did you mean " + envName(near) + " (" + near + ")?"
		}
	}
	if strict {
		v := f.k.Get(key)
		what := "unknown key"
		if _, isMap := v.(map[string]any); isMap {
			what = "unknown section"
		}
		shown, hidden := show(key, v)
		return &Error{Key: key, Value: shown, Hidden: hidden,
			Problem: what + where + suggest + " (" + StrictKey + " = true refuses unknown keys and sections)"}
	}
	fields := []zap.Field{zap.String("key", key), zap.String("did_you_mean", near)}
	if len(vars) > 0 {
		fields = append(fields, zap.Strings("env", vars))
	}
	if len(vars) == 0 || fromFile {
		fields = append(fields, zap.String("file", f.path))
	}
	f.log.Warn("config: unknown key "+key+where+" is ignored"+suggest, fields...)
	return nil
}

// envVarsOf lists, sorted, the environment variables that set key or a key
// inside it.
func (f *File) envVarsOf(key string) []string {
	var out []string
	for k, name := range f.envNames {
		if k == key || strings.HasPrefix(k, key+".") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// flatEnvVar reports a SESSIONFX_ variable without "__": logged at Warn,
// or an *Error in strict mode. Its value is never shown.
func (f *File) flatEnvVar(name string) error {
	flatKey, _ := envKey(name, "")
	msg := "levels of a key are separated by two underscores (__), so it sets no key"
	near := f.envSuggest(flatKey)
	if near != "" {
		msg += "; did you mean " + envName(near) + " (" + near + ")?"
	} else {
		msg += ", e.g. SESSIONFX_SESSION__COOKIE__SECURE sets session.cookie.secure"
	}
	if f.strict {
		return &Error{Key: "environment variable " + name, Value: "(value not shown)", Hidden: true,
			Problem: msg + " (" + StrictKey + " = true refuses what would be ignored)"}
	}
	f.log.Warn("config: environment variable "+name+" is ignored: "+msg,
		zap.String("env", name), zap.String("did_you_mean", near))
	return nil
}

// envSuggest finds the key that a variable written with single
// underscores means: "session_cookie_secure" is session.cookie.secure.
// It returns "" when no key of a known section matches.
func (f *File) envSuggest(flat string) string {
	for _, r := range f.renames {
		// A deprecated key: the "__" form of its new place.
		old := strings.ReplaceAll(strings.ToLower(r.Old), ".", "_")
		if rest, ok := strings.CutPrefix(flat, old); ok && (rest == "" || rest[0] == '_') {
			flat = strings.ReplaceAll(strings.ToLower(r.New), ".", "_") + rest
			break
		}
	}
	secs := slices.Clone(f.known)
	// The longest name first: "cookie_store_x" is [cookie_store], not [cookie].
	slices.SortStableFunc(secs, func(a, b Section) int { return len(b.Name) - len(a.Name) })
	for _, s := range secs {
		if s.Config == nil {
			continue
		}
		name := strings.ToLower(s.Name)
		if rest, ok := strings.CutPrefix(flat, name+"_"); ok {
			if p, ok := matchFlat(reflect.TypeOf(s.Config), rest); ok {
				return name + "." + p
			}
		}
	}
	return ""
}

// matchFlat splits s, a key path of t whose dots became underscores,
// back into the dotted path. Map entries take any name.
func matchFlat(t reflect.Type, s string) (string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s == "" {
		return "", false
	}
	if t.Kind() == reflect.Map {
		if isLeaf(t.Elem()) {
			return s, true
		}
		for i := 1; i < len(s)-1; i++ {
			if s[i] == '_' {
				if rest, ok := matchFlat(t.Elem(), s[i+1:]); ok {
					return s[:i] + "." + rest, true
				}
			}
		}
		return "", false
	}
	if isLeaf(t) {
		return "", false
	}
	fs := fields(t)
	for _, name := range fieldNames(t) {
		ft := fs[name]
		if s == name && isLeaf(ft) {
			return name, true
		}
		if rest, ok := strings.CutPrefix(s, name+"_"); ok && !isLeaf(ft) {
			if p, ok := matchFlat(ft, rest); ok {
				return name + "." + p, true
			}
		}
	}
	return "", false
}

// checker walks a target type and a config subtree together, before
// mapstructure runs, so that every error can name its full key.
type checker struct {
	errs    []error
	unknown []string
}

func (c *checker) walk(t reflect.Type, key string, v any) {
	if v == nil {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isLeaf(t) {
		c.leaf(t, key, v)
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		c.errs = append(c.errs, newError(key, v, allowed(t), nil))
		return
	}
	if t.Kind() == reflect.Map {
		if t.Key().Kind() != reflect.String {
			c.leaf(t, key, v)
			return
		}
		for _, k := range sortedKeys(m) {
			c.walk(t.Elem(), joinKey(key, k), m[k])
		}
		return
	}
	fs := fields(t)
	for _, k := range sortedKeys(m) {
		ft, ok := fs[strings.ToLower(k)]
		if !ok {
			c.unknown = append(c.unknown, joinKey(key, k))
			continue
		}
		c.walk(ft, joinKey(key, k), m[k])
	}
}

// leaf decodes one value on its own to learn whether it fits.
func (c *checker) leaf(t reflect.Type, key string, v any) {
	ptr := reflect.New(t)
	dc := decoderConfig()
	dc.Result = ptr.Interface()
	d, err := mapstructure.NewDecoder(dc)
	if err == nil {
		if _, isMap := v.(map[string]any); isMap && t.Kind() != reflect.Map {
			err = errors.New("got a section, want a single value")
		} else {
			err = d.Decode(v)
		}
	}
	if err != nil {
		c.errs = append(c.errs, newError(key, v, allowed(t), err))
	}
}

// validPaths lists every key path the type accepts under prefix,
// expanding map fields with the entries present in data.
func validPaths(t reflect.Type, prefix string, data any, out []string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isLeaf(t) {
		return out
	}
	m, _ := data.(map[string]any)
	if t.Kind() == reflect.Map {
		for _, k := range sortedKeys(m) {
			p := joinKey(prefix, k)
			out = append(out, p)
			out = validPaths(t.Elem(), p, m[k], out)
		}
		return out
	}
	fs := fields(t)
	for _, name := range fieldNames(t) {
		p := joinKey(prefix, name)
		out = append(out, p)
		var sub any
		if m != nil {
			sub = m[name]
		}
		out = validPaths(fs[name], p, sub, out)
	}
	return out
}

// Nearest returns the candidate closest to key by edit distance, or ""
// when none is close enough to be a plausible typo.
func Nearest(key string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := levenshtein(key, c)
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	last := key[strings.LastIndexByte(key, '.')+1:]
	if bestD < 0 || bestD > 1+len(last)/2 {
		return ""
	}
	return best
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
