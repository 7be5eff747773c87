package session

// This file reads the module's configuration: an INI or YAML file loaded
// through koanf, overridden by environment variables, decoded into typed
// structs and validated with errors that name the key, the value and what
// is allowed.

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/v2"
	"go.uber.org/zap"
	"gopkg.in/ini.v1"

	"github.com/sessionfx/session/backends/cookiestore"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/kvcache"
)

// ConfigError reports one invalid configuration entry: the full key (for
// example "session.cookie.same_site"), the value found and what is allowed.
// Err, when set, is the underlying parse error.
//
// Value is the value as written in the file or the environment. A value
// that may hold a password or key is redacted (a URL's password becomes
// "xxxxx") or, when it cannot be, replaced by a note that it is not shown.
type ConfigError struct {
	Key     string
	Value   string
	Allowed string
	Err     error

	hidden  bool   // Value is a note, not the value: shown unquoted
	problem string // what is wrong, shown before Allowed
}

// Error reads like
//
//	config: session.cookie.same_site = "laxx": allowed: lax, strict, none
//	config: kvcache.backends.r.url = the URL (not shown: it may hold a password): its port is not a number (...); allowed: a URL like ...
func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	b.WriteString(e.Key)
	b.WriteString(" = ")
	if e.hidden {
		b.WriteString(e.Value)
	} else {
		b.WriteString(strconv.Quote(e.Value))
	}
	if e.problem != "" {
		b.WriteString(": ")
		b.WriteString(e.problem)
		if e.Allowed != "" {
			b.WriteString("; allowed: ")
			b.WriteString(e.Allowed)
		}
		return b.String()
	}
	switch {
	case e.Allowed != "":
		b.WriteString(": allowed: ")
		b.WriteString(e.Allowed)
	case e.Err != nil:
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying parse error, if any.
func (e *ConfigError) Unwrap() error { return e.Err }

// ConfigEnvPrefix starts every environment variable that overrides a
// configuration key. See LoadConfigFile.
const ConfigEnvPrefix = "SESSIONFX_"

// cfgExtensions maps file extensions to their format.
var cfgExtensions = map[string]string{
	".ini": "ini", ".cfg": "ini", ".conf": "ini",
	".yaml": "yaml", ".yml": "yaml",
}

const cfgAllowedExtensions = ".ini, .cfg, .conf, .yaml, .yml"

// ConfigFile is a loaded configuration: the file's tree with the environment
// overrides merged on top. It is safe for concurrent use.
type ConfigFile struct {
	k        *koanf.Koanf
	path     string
	here     string
	log      *zap.Logger
	sections []string // top-level keys that came from the file

	// envNames maps each key set by an environment variable to the
	// variable's name, so that messages about the key name the variable.
	envNames map[string]string
	// fileKeys holds every key path (sections included) set by the file.
	fileKeys map[string]bool
	// strict is session.strict: unknown keys and sections are errors.
	strict bool

	mu      sync.Mutex
	unknown []string
}

// LoadConfigFile reads an INI (.ini, .cfg, .conf) or YAML (.yaml, .yml) file
// and merges environment overrides on top of it. An empty path means no
// file: only defaults (supplied later to Unmarshal) and the environment apply.
//
// Keys are case-insensitive (stored lowercase) and dotted: in INI the section
// name and the key join with dots, so "[session]" + "cookie.secure = true" is
// the key session.cookie.secure; keys before any section (the DEFAULT
// section) are top-level keys. In YAML, "cookie.secure: true" inside
// "session:" and a nested "cookie: {secure: true}" are the same key. A key
// may not be both a value and a section ("a.b = x" next to "a.b.c = y"),
// and may not be set twice: both are ConfigErrors naming the key.
//
// INI inline comments start with " ;" or " #" (a space before the comment
// sign), so URLs and passwords that contain "#" without a space survive.
//
// "${here}" inside any string value becomes the absolute folder of the
// config file (the working directory when there is no file).
//
// Environment overrides: a variable named SESSIONFX_ + the key in capitals,
// with "__" (two underscores) between levels, overrides that key, and wins
// over the file. Single underscores stay part of the name:
//
//	SESSIONFX_SESSION__COOKIE__SECURE=false   -> session.cookie.secure
//	SESSIONFX_SESSION__IDLE_TIMEOUT=1h        -> session.idle_timeout
//	SESSIONFX_KVCACHE__BACKENDS__DEFAULT__MAX_SIZE=128MiB
//
// A variable with the prefix but without "__" (SESSIONFX_SESSION_COOKIE_SECURE)
// sets no key: it is logged at Warn with the "__" form of the key it most
// likely means, and otherwise ignored. SESSIONFX_TEST_* variables (the test
// suite's own) are left alone.
//
// session.strict = true (SESSIONFX_SESSION__STRICT=true) turns every
// warning about an unknown key, an unknown section or an ignored variable
// into a *ConfigError.
//
// A missing file is an error that names the path and wraps fs.ErrNotExist.
func LoadConfigFile(path string, log *zap.Logger) (*ConfigFile, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cf := &ConfigFile{k: koanf.New("."), log: log, envNames: map[string]string{}, fileKeys: map[string]bool{}}
	if path == "" {
		if wd, err := os.Getwd(); err == nil {
			cf.here = wd
		}
	} else {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("config: file %s: %w", path, err)
		}
		cf.path, cf.here = abs, filepath.Dir(abs)
		ext := strings.ToLower(filepath.Ext(abs))
		var parser koanf.Parser
		switch cfgExtensions[ext] {
		case "ini":
			parser = INIParser{}
		case "yaml":
			parser = yaml.Parser()
		default:
			return nil, &ConfigError{Key: "extension of config file " + abs, Value: ext, Allowed: cfgAllowedExtensions}
		}
		data, err := os.ReadFile(abs)
		if err != nil {
			return nil, fmt.Errorf("config: cannot read config file %s: %w", abs, err)
		}
		raw, err := parser.Unmarshal(data)
		if err != nil {
			if cfgExtensions[ext] == "yaml" {
				err = cfgYAMLTabHint(err, data)
			}
			return nil, cfgInFile(err, abs)
		}
		m, err := cfgNormalize(raw, cf.here)
		if err != nil {
			return nil, cfgInFile(err, abs)
		}
		for k := range m {
			cf.sections = append(cf.sections, k)
		}
		cfgCollectPaths(m, "", cf.fileKeys)
		sort.Strings(cf.sections)
		if err := cf.k.Load(cfgMapProvider(m), nil); err != nil {
			return nil, fmt.Errorf("config: load %s: %w", abs, err)
		}
	}

	var flat []string // variables without "__": they set no key
	envMap, err := env.Provider("", env.Opt{
		Prefix: ConfigEnvPrefix,
		TransformFunc: func(k, v string) (string, any) {
			key, val := cfgEnvKey(k, v)
			switch {
			case strings.HasPrefix(key, "test_"):
				return "", nil // the test suite's own SESSIONFX_TEST_* variables
			case !strings.Contains(key, "."):
				flat = append(flat, k)
				return "", nil
			}
			cf.envNames[key] = k
			return key, val
		},
	}).Read()
	if err != nil {
		return nil, fmt.Errorf("config: read environment: %w", err)
	}
	if len(envMap) > 0 {
		m, err := cfgNormalize(envMap, cf.here)
		if err != nil {
			return nil, fmt.Errorf("%w (from environment variables %s*)", err, ConfigEnvPrefix)
		}
		if err := cf.k.Load(cfgMapProvider(m), nil); err != nil {
			return nil, fmt.Errorf("config: load environment: %w", err)
		}
	}
	if v := cf.k.Get("session.strict"); v != nil {
		var strict bool
		if err := cf.decodeLeaf("session.strict", v, &strict); err != nil {
			return nil, err
		}
		cf.strict = strict
	}
	sort.Strings(flat)
	var errs []error
	for _, name := range flat {
		if err := cf.flatEnvVar(name); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cf, nil
}

// decodeLeaf decodes one value the way Unmarshal does, as a *ConfigError
// naming key when it does not fit.
func (c *ConfigFile) decodeLeaf(key string, v any, out any) error {
	chk := cfgChecker{}
	chk.leaf(reflect.TypeOf(out).Elem(), key, v)
	if len(chk.errs) > 0 {
		return errors.Join(chk.errs...)
	}
	dc := cfgDecoderConfig()
	dc.Result = out
	d, err := mapstructure.NewDecoder(dc)
	if err == nil {
		err = d.Decode(v)
	}
	if err != nil {
		return cfgErr(key, v, cfgAllowed(reflect.TypeOf(out).Elem()), err)
	}
	return nil
}

// Strict reports whether session.strict is on: unknown keys and sections
// fail instead of being logged.
func (c *ConfigFile) Strict() bool { return c.strict }

// cfgEnvName is the environment variable that sets key.
func cfgEnvName(key string) string {
	return ConfigEnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "__"))
}

// flatEnvVar reports a SESSIONFX_ variable without "__": logged at Warn,
// or a *ConfigError in strict mode. Its value is never shown.
func (c *ConfigFile) flatEnvVar(name string) error {
	flatKey, _ := cfgEnvKey(name, "")
	msg := "levels of a key are separated by two underscores (__), so it sets no key"
	near := cfgEnvSuggest(flatKey)
	if near != "" {
		msg += "; did you mean " + cfgEnvName(near) + " (" + near + ")?"
	} else {
		msg += ", e.g. SESSIONFX_SESSION__COOKIE__SECURE sets session.cookie.secure"
	}
	if c.strict {
		return &ConfigError{Key: "environment variable " + name, Value: "(value not shown)", hidden: true,
			problem: msg + " (session.strict = true refuses what would be ignored)"}
	}
	c.log.Warn("config: environment variable "+name+" is ignored: "+msg,
		zap.String("env", name), zap.String("did_you_mean", near))
	return nil
}

// cfgEnvTypes are the sections whose keys cfgEnvSuggest knows.
var cfgEnvTypes = []struct {
	section string
	t       reflect.Type
}{
	{"session", reflect.TypeFor[Config]()},
	{"kvcache", reflect.TypeFor[kvcache.Config]()},
	{"gorm", reflect.TypeFor[gormstore.Config]()},
	{"cookie_store", reflect.TypeFor[cookiestore.Config]()},
}

// cfgEnvSuggest finds the key that a variable written with single
// underscores means: "session_cookie_secure" is session.cookie.secure.
// It returns "" when no known key matches.
func cfgEnvSuggest(flat string) string {
	for _, s := range cfgEnvTypes {
		if rest, ok := strings.CutPrefix(flat, s.section+"_"); ok {
			if p, ok := cfgMatchFlat(s.t, rest); ok {
				return s.section + "." + p
			}
		}
	}
	return ""
}

// cfgMatchFlat splits s, a key path of t whose dots became underscores,
// back into the dotted path. Map entries take any name.
func cfgMatchFlat(t reflect.Type, s string) (string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s == "" {
		return "", false
	}
	if t.Kind() == reflect.Map {
		if cfgIsLeaf(t.Elem()) {
			return s, true
		}
		for i := 1; i < len(s)-1; i++ {
			if s[i] == '_' {
				if rest, ok := cfgMatchFlat(t.Elem(), s[i+1:]); ok {
					return s[:i] + "." + rest, true
				}
			}
		}
		return "", false
	}
	if cfgIsLeaf(t) {
		return "", false
	}
	fields := cfgFields(t)
	for _, name := range cfgFieldNames(t) {
		ft := fields[name]
		if s == name && cfgIsLeaf(ft) {
			return name, true
		}
		if rest, ok := strings.CutPrefix(s, name+"_"); ok && !cfgIsLeaf(ft) {
			if p, ok := cfgMatchFlat(ft, rest); ok {
				return name + "." + p, true
			}
		}
	}
	return "", false
}

// cfgCollectPaths adds every key path of m (sections included) to out.
func cfgCollectPaths(m map[string]any, prefix string, out map[string]bool) {
	for k, v := range m {
		p := cfgJoin(prefix, k)
		out[p] = true
		if sub, ok := v.(map[string]any); ok {
			cfgCollectPaths(sub, p, out)
		}
	}
}

// cfgYAMLTabHint adds to a YAML parse error that the file indents with a
// tab, when it does: YAML allows spaces only, and its errors do not say so.
func cfgYAMLTabHint(err error, data []byte) error {
	for i, line := range strings.Split(string(data), "\n") {
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if strings.Contains(indent, "\t") {
			return fmt.Errorf("%w (line %d is indented with a tab: YAML indents with spaces only)", err, i+1)
		}
	}
	return err
}

// cfgEnvKey turns SESSIONFX_SESSION__IDLE_TIMEOUT into session.idle_timeout.
func cfgEnvKey(k, v string) (string, any) {
	k = strings.ToLower(strings.TrimPrefix(k, ConfigEnvPrefix))
	return strings.ReplaceAll(k, "__", "."), v
}

func cfgInFile(err error, path string) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w (in %s)", err, path)
	}
	return fmt.Errorf("config: cannot parse %s: %w", path, err)
}

// Path is the absolute path of the file, "" when there is none.
func (c *ConfigFile) Path() string { return c.path }

// Here is the absolute folder of the file (what "${here}" expands to).
func (c *ConfigFile) Here() string { return c.here }

// Exists reports whether a key or section (e.g. "kvcache") is set, in the
// file or the environment.
func (c *ConfigFile) Exists(path string) bool { return c.k.Exists(path) }

// Koanf exposes the merged tree for keys this package does not model.
func (c *ConfigFile) Koanf() *koanf.Koanf { return c.k }

// UnknownKeys lists, sorted, the keys that Unmarshal found matching no field
// so far (they were also logged at Warn).
func (c *ConfigFile) UnknownKeys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.unknown)
}

// CheckSections logs at Warn (with the nearest known name) every top-level
// section of the file that is not in known, and returns them. Environment
// variables are not checked: other programs may share the prefix.
func (c *ConfigFile) CheckSections(known ...string) []string {
	out, _ := c.checkSections(false, known)
	return out
}

// checkSections is CheckSections; with strict it returns a *ConfigError
// per unknown section instead of logging.
func (c *ConfigFile) checkSections(strict bool, known []string) ([]string, error) {
	var out []string
	var errs []error
	for _, s := range c.sections {
		if !slices.Contains(known, s) {
			out = append(out, s)
			if err := c.unknownKey(strict, s, cfgNearest(s, known)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	c.addUnknown(out)
	return out, errors.Join(errs...)
}

func (c *ConfigFile) addUnknown(keys []string) {
	if len(keys) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if !slices.Contains(c.unknown, k) {
			c.unknown = append(c.unknown, k)
		}
	}
	sort.Strings(c.unknown)
}

// unknownKey reports a key (or section) that matches nothing: logged at
// Warn with the nearest valid key, or, when strict, returned as a
// *ConfigError. A key set by an environment variable is reported with the
// variable's name (and the suggestion in the same form).
func (c *ConfigFile) unknownKey(strict bool, key, near string) error {
	vars := c.envVarsOf(key)
	fromFile := c.fileKeys[key]
	where := ""
	switch {
	case len(vars) > 0 && fromFile:
		where = " (set in " + c.path + " and by environment variable " + strings.Join(vars, ", ") + ")"
	case len(vars) > 0:
		where = " (set by environment variable " + strings.Join(vars, ", ") + ")"
	}
	suggest := ""
	if near != "" {
		suggest = "; did you mean " + near + "?"
		if len(vars) > 0 && !fromFile {
			suggest = "; did you mean " + cfgEnvName(near) + " (" + near + ")?"
		}
	}
	if strict {
		v := c.k.Get(key)
		what := "unknown key"
		if _, isMap := v.(map[string]any); isMap {
			what = "unknown section"
		}
		shown, hidden := cfgShow(key, v)
		return &ConfigError{Key: key, Value: shown, hidden: hidden,
			problem: what + where + suggest + " (session.strict = true refuses unknown keys and sections)"}
	}
	fields := []zap.Field{zap.String("key", key), zap.String("did_you_mean", near)}
	if len(vars) > 0 {
		fields = append(fields, zap.Strings("env", vars))
	}
	if len(vars) == 0 || fromFile {
		fields = append(fields, zap.String("file", c.path))
	}
	c.log.Warn("config: unknown key "+key+where+" is ignored"+suggest, fields...)
	return nil
}

// envVarsOf lists, sorted, the environment variables that set key or a key
// inside it.
func (c *ConfigFile) envVarsOf(key string) []string {
	var out []string
	for k, name := range c.envNames {
		if k == key || strings.HasPrefix(k, key+".") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Unmarshal decodes the subtree at path (e.g. "session", "kvcache", "gorm")
// into out, a pointer to a struct that already holds the defaults: keys
// absent from the configuration keep them. Fields are matched by their
// `koanf` tags. Values are weakly typed ("true", "4096" work from INI),
// durations read like "30m" or "24h" (also "7d"; a bare 0 means zero), sizes
// like "64MiB" (any encoding.TextUnmarshaler), booleans also as yes/no,
// on/off, 1/0.
//
// A value that does not fit its field is a *ConfigError naming the full key,
// the value and what is allowed (several are joined with errors.Join).
// Keys matching no field, at any depth (including inside map entries such
// as kvcache.backends.<name>.typo), are logged at Warn with the nearest
// valid key and remembered for UnknownKeys; they do not fail the load,
// unless session.strict is on: then each is a *ConfigError.
func (c *ConfigFile) Unmarshal(path string, out any) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("config: Unmarshal(%q) needs a non-nil pointer, got %T", path, out)
	}
	data := c.k.Get(path)
	if data == nil {
		return nil
	}
	t := rv.Elem().Type()
	chk := cfgChecker{}
	chk.walk(t, path, data)
	if len(chk.unknown) > 0 {
		valid := cfgValidPaths(t, path, data, nil)
		for _, u := range chk.unknown {
			if err := c.unknownKey(c.strict, u, cfgNearest(u, valid)); err != nil {
				chk.errs = append(chk.errs, err)
			}
		}
		c.addUnknown(chk.unknown)
	}
	if len(chk.errs) > 0 {
		return errors.Join(chk.errs...)
	}
	if err := c.k.UnmarshalWithConf(path, out, koanf.UnmarshalConf{DecoderConfig: cfgDecoderConfig()}); err != nil {
		return cfgErr(path, data, "", err)
	}
	return nil
}

// INIParser is a koanf.Parser for INI text (gopkg.in/ini.v1). Section names
// and dotted keys become key paths ("[session]" + "cookie.secure = true" is
// session.cookie.secure); DEFAULT-section keys are top-level. Values stay
// strings: decoding converts them. Names are lowercased. Inline comments
// need a space before ";" or "#". A key that is both a value and a section,
// or a key set twice, is a *ConfigError.
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
	var leaves []cfgLeaf
	for _, sec := range f.Sections() {
		prefix := sec.Name()
		if strings.EqualFold(prefix, ini.DefaultSection) {
			prefix = ""
		}
		if prefix != "" && len(sec.Keys()) == 0 {
			// An empty section still exists (so Exists("kvcache") is true).
			p, err := cfgSplit(prefix)
			if err != nil {
				return nil, err
			}
			leaves = append(leaves, cfgLeaf{path: p, value: map[string]any{}})
		}
		for _, key := range sec.Keys() {
			full := key.Name()
			if prefix != "" {
				full = prefix + "." + full
			}
			p, err := cfgSplit(full)
			if err != nil {
				return nil, err
			}
			leaves = append(leaves, cfgLeaf{path: p, value: key.Value()})
		}
	}
	return cfgBuild(leaves, "")
}

// Marshal is not supported: the module never writes configuration.
func (INIParser) Marshal(map[string]any) ([]byte, error) {
	return nil, errors.New("config: writing INI is not supported")
}

// cfgMapProvider hands an already parsed map to koanf.
type cfgMapProvider map[string]any

func (p cfgMapProvider) ReadBytes() ([]byte, error) {
	return nil, errors.New("config: map provider has no bytes")
}

func (p cfgMapProvider) Read() (map[string]any, error) { return p, nil }

// cfgLeaf is one key path and its value (an empty map marks an empty section).
type cfgLeaf struct {
	path  []string
	value any
}

func (l cfgLeaf) key() string { return strings.Join(l.path, ".") }

// cfgSplit splits a dotted key, lowercased, rejecting empty parts.
func cfgSplit(key string) ([]string, error) {
	parts := strings.Split(strings.ToLower(key), ".")
	for _, p := range parts {
		if strings.TrimSpace(p) == "" {
			return nil, &ConfigError{Key: key, Allowed: "dotted key names without empty parts"}
		}
	}
	return parts, nil
}

// cfgNormalize flattens a parsed tree (keys may contain dots at any level),
// checks it and rebuilds it with one key part per level, expanding ${here}.
func cfgNormalize(m map[string]any, here string) (map[string]any, error) {
	var leaves []cfgLeaf
	if err := cfgFlatten(m, nil, &leaves); err != nil {
		return nil, err
	}
	return cfgBuild(leaves, here)
}

func cfgFlatten(m map[string]any, prefix []string, out *[]cfgLeaf) error {
	for k, v := range m {
		full := k
		if len(prefix) > 0 {
			full = strings.Join(prefix, ".") + "." + k
		}
		parts, err := cfgSplit(k)
		if err != nil {
			return &ConfigError{Key: full, Allowed: "dotted key names without empty parts"}
		}
		path := append(slices.Clone(prefix), parts...)
		sub, isMap := cfgAsMap(v)
		switch {
		case isMap && len(sub) > 0:
			if err := cfgFlatten(sub, path, out); err != nil {
				return err
			}
		case isMap:
			*out = append(*out, cfgLeaf{path: path, value: map[string]any{}})
		default:
			*out = append(*out, cfgLeaf{path: path, value: v})
		}
	}
	return nil
}

// cfgAsMap accepts both map shapes YAML decoders produce.
func cfgAsMap(v any) (map[string]any, bool) {
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

// cfgBuild turns leaves into a nested map, rejecting a key that is both a
// value and a section and a key set twice. Leaves are sorted first so the
// error always names the same key.
func cfgBuild(leaves []cfgLeaf, here string) (map[string]any, error) {
	slices.SortFunc(leaves, func(a, b cfgLeaf) int { return slices.Compare(a.path, b.path) })
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
				return nil, cfgBothError(strings.Join(l.path[:i+1], "."), child, l.key())
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
				return nil, cfgBothError(l.key(), l.value, l.key()+"."+cfgFirstKey(em))
			default:
				return nil, cfgErr(l.key(), l.value, "one value per key (this key is set twice)", nil)
			}
		}
		node[last] = cfgExpandHere(l.value, here)
	}
	return root, nil
}

func cfgBothError(key string, value any, other string) error {
	return cfgErr(key, value, "a value or a section, not both ("+other+" is also set)", nil)
}

func cfgFirstKey(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}

// cfgExpandHere replaces ${here} in strings, also inside lists.
func cfgExpandHere(v any, here string) any {
	if here == "" {
		return v
	}
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "${here}", here)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cfgExpandHere(e, here)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cfgExpandHere(e, here)
		}
		return out
	}
	return v
}

// cfgErr is a ConfigError for a value found in the configuration, shown as
// written unless the key may hold a secret (see cfgShow).
func cfgErr(key string, v any, allowed string, err error) *ConfigError {
	shown, hidden := cfgShow(key, v)
	return &ConfigError{Key: key, Value: shown, Allowed: allowed, Err: err, hidden: hidden}
}

// cfgHiddenSecret stands for a value not shown because it may be a secret.
const cfgHiddenSecret = "(not shown: it may be a secret)"

// cfgShow is cfgValueString for an error message about key, with secrets
// left out: for a key named like a URL or DSN (url, dsn, uri, *_url, ...)
// the password is redacted, or the whole value hidden when it cannot be
// located; the value of a key named like a secret (password, secret,
// token, key, keys, ...) is hidden. hidden reports that the result is a
// note rather than the value.
func cfgShow(key string, v any) (shown string, hidden bool) {
	s := cfgValueString(v)
	if _, isMap := v.(map[string]any); isMap || s == "" {
		return s, false
	}
	last := strings.ToLower(key[strings.LastIndexByte(key, '.')+1:])
	for _, w := range []string{"password", "passwd", "pwd", "secret", "token", "credential"} {
		if strings.Contains(last, w) {
			return cfgHiddenSecret, true
		}
	}
	if last == "key" || last == "keys" || strings.HasSuffix(last, "_key") || strings.HasSuffix(last, "_keys") {
		return cfgHiddenSecret, true
	}
	for _, w := range []string{"url", "uri", "dsn", "addr", "address"} {
		if last == w || strings.HasSuffix(last, "_"+w) {
			return cfgRedactDSN(s)
		}
	}
	return s, false
}

// cfgRedactDSN hides the password of a URL, a go-sql-driver DSN
// (user:password@tcp(host)/db) or a libpq keyword/value string
// (password=...).
func cfgRedactDSN(s string) (string, bool) {
	if strings.Contains(s, "://") {
		r := kvcache.RedactURL(s)
		return r, r == kvcache.HiddenURL
	}
	if strings.Contains(s, "@") || strings.Contains(strings.ToLower(s), "password") {
		return cfgHiddenSecret, true
	}
	return s, false
}

// cfgValueString shows a value in an error message.
func cfgValueString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return "section with keys " + strings.Join(keys, ", ")
	}
	return fmt.Sprint(v)
}

var (
	cfgDurationType        = reflect.TypeFor[time.Duration]()
	cfgByteSizeType        = reflect.TypeFor[kvcache.ByteSize]()
	cfgTextUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// cfgDecoderConfig is the mapstructure setup shared by every decode.
func cfgDecoderConfig() *mapstructure.DecoderConfig {
	return &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			cfgDurationHook,
			cfgByteSizeHook,
			cfgBoolHook,
			mapstructure.TextUnmarshallerHookFunc(),
		),
		WeaklyTypedInput: true,
		TagName:          "koanf",
	}
}

var cfgDayDuration = regexp.MustCompile(`([0-9]+(?:\.[0-9]*)?|\.[0-9]+)d`)

// cfgParseDuration is time.ParseDuration plus "d" for 24-hour days.
func cfgParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	var bad error
	s = cfgDayDuration.ReplaceAllStringFunc(s, func(day string) string {
		n, err := strconv.ParseFloat(day[:len(day)-1], 64)
		if err != nil {
			bad = err
		}
		return strconv.FormatFloat(n*24, 'f', -1, 64) + "h"
	})
	if bad != nil {
		return 0, bad
	}
	return time.ParseDuration(s)
}

func cfgDurationHook(f, t reflect.Type, data any) (any, error) {
	if t != cfgDurationType || f == cfgDurationType {
		return data, nil
	}
	v := reflect.ValueOf(data)
	switch f.Kind() {
	case reflect.String:
		return cfgParseDuration(v.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Int() == 0 {
			return time.Duration(0), nil
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() == 0 {
			return time.Duration(0), nil
		}
	case reflect.Float32, reflect.Float64:
		if v.Float() == 0 {
			return time.Duration(0), nil
		}
	default:
		return data, nil
	}
	return nil, fmt.Errorf("%v has no unit", data)
}

// cfgByteSizeHook parses a number (a YAML 100, 1.5e3, .nan or .inf) for a
// kvcache.ByteSize as ParseByteSize parses text, so NaN, infinities,
// negative and out-of-range numbers are refused instead of being converted
// to whatever int64 they happen to become.
func cfgByteSizeHook(f, t reflect.Type, data any) (any, error) {
	if t != cfgByteSizeType || f == cfgByteSizeType {
		return data, nil
	}
	v := reflect.ValueOf(data)
	var s string
	switch f.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s = strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s = strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		s = strconv.FormatFloat(v.Float(), 'g', -1, 64)
	default:
		return data, nil
	}
	return kvcache.ParseByteSize(s)
}

func cfgBoolHook(f, t reflect.Type, data any) (any, error) {
	if t.Kind() != reflect.Bool || f.Kind() != reflect.String {
		return data, nil
	}
	switch strings.ToLower(strings.TrimSpace(reflect.ValueOf(data).String())) {
	case "true", "t", "yes", "y", "on", "1":
		return true, nil
	case "false", "f", "no", "n", "off", "0":
		return false, nil
	}
	return nil, fmt.Errorf("%q is not a boolean", data)
}

// cfgAllowed describes, for an error message, what a field of type t takes.
func cfgAllowed(t reflect.Type) string {
	switch {
	case t == cfgDurationType:
		return "a duration like 30m or 24h"
	case t == cfgByteSizeType:
		return "a size like 64MiB"
	case reflect.PointerTo(t).Implements(cfgTextUnmarshalerType):
		return "a valid " + t.String()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a text value"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map:
		return "a section of named entries"
	case reflect.Struct:
		return "a section with keys " + strings.Join(cfgFieldNames(t), ", ")
	}
	return "a " + t.String()
}

// cfgIsLeaf reports whether t is decoded from one value rather than a section.
func cfgIsLeaf(t reflect.Type) bool {
	if t == cfgDurationType || t.Implements(cfgTextUnmarshalerType) || reflect.PointerTo(t).Implements(cfgTextUnmarshalerType) {
		return true
	}
	return t.Kind() != reflect.Struct && t.Kind() != reflect.Map
}

// cfgFields maps a struct's config names (lowercase) to field types,
// following the rules mapstructure applies with TagName "koanf".
func cfgFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("koanf")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && ft.Kind() == reflect.Struct && (strings.Contains(opts, "squash") || name == "") {
			for k, v := range cfgFields(ft) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[strings.ToLower(name)] = f.Type
	}
	return out
}

func cfgFieldNames(t reflect.Type) []string {
	fields := cfgFields(t)
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func cfgJoin(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func cfgSortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// cfgChecker walks a target type and a config subtree together, before
// mapstructure runs, so that every error can name its full key.
type cfgChecker struct {
	errs    []error
	unknown []string
}

func (c *cfgChecker) walk(t reflect.Type, key string, v any) {
	if v == nil {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if cfgIsLeaf(t) {
		c.leaf(t, key, v)
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		c.errs = append(c.errs, cfgErr(key, v, cfgAllowed(t), nil))
		return
	}
	if t.Kind() == reflect.Map {
		if t.Key().Kind() != reflect.String {
			c.leaf(t, key, v)
			return
		}
		for _, k := range cfgSortedKeys(m) {
			c.walk(t.Elem(), cfgJoin(key, k), m[k])
		}
		return
	}
	fields := cfgFields(t)
	for _, k := range cfgSortedKeys(m) {
		ft, ok := fields[strings.ToLower(k)]
		if !ok {
			c.unknown = append(c.unknown, cfgJoin(key, k))
			continue
		}
		c.walk(ft, cfgJoin(key, k), m[k])
	}
}

// leaf decodes one value on its own to learn whether it fits.
func (c *cfgChecker) leaf(t reflect.Type, key string, v any) {
	ptr := reflect.New(t)
	dc := cfgDecoderConfig()
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
		c.errs = append(c.errs, cfgErr(key, v, cfgAllowed(t), err))
	}
}

// cfgValidPaths lists every key path the type accepts under prefix,
// expanding map fields with the entries present in data.
func cfgValidPaths(t reflect.Type, prefix string, data any, out []string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if cfgIsLeaf(t) {
		return out
	}
	m, _ := data.(map[string]any)
	if t.Kind() == reflect.Map {
		for _, k := range cfgSortedKeys(m) {
			p := cfgJoin(prefix, k)
			out = append(out, p)
			out = cfgValidPaths(t.Elem(), p, m[k], out)
		}
		return out
	}
	fields := cfgFields(t)
	for _, name := range cfgFieldNames(t) {
		p := cfgJoin(prefix, name)
		out = append(out, p)
		var sub any
		if m != nil {
			sub = m[name]
		}
		out = cfgValidPaths(fields[name], p, sub, out)
	}
	return out
}

// cfgNearest returns the candidate closest to key by edit distance, or ""
// when none is close enough to be a plausible typo.
func cfgNearest(key string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := cfgLevenshtein(key, c)
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

func cfgLevenshtein(a, b string) int {
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

// Config is the [session] section.
type Config struct {
	// Member is the context member name; its id member is Member + "_id".
	Member string `koanf:"member"`
	// Backend selects the store: kvcache, gorm, cookie, null, layered or a
	// plugin's name.
	Backend string `koanf:"backend"`
	// Container is the kvcache container, when Backend is kvcache.
	Container string `koanf:"container"`
	// Lifetime is the absolute limit of a session (0 = none).
	Lifetime time.Duration `koanf:"lifetime"`
	// IdleTimeout ends a session unused for that long (0 = none).
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// HashIDs stores sessions under a hash of their id, so a leaked store
	// does not leak usable ids.
	HashIDs bool `koanf:"hash_ids"`
	// MaxCookieSize bounds the incoming cookie value (256..8192 bytes):
	// a longer one is ignored before any store call, as if absent. It
	// does not bound the cookie the module sets (the cookie store has its
	// own cookie_store.max_size).
	MaxCookieSize int `koanf:"max_cookie_size"`
	// MaxSessionSize bounds the encoded session data.
	MaxSessionSize kvcache.ByteSize `koanf:"max_session_size"`
	// CleanupInterval is how often expired sessions are deleted (0 = never).
	CleanupInterval time.Duration `koanf:"cleanup_interval"`
	// Strict makes unknown keys and sections fail start-up instead of
	// being logged (see LoadConfigFile).
	Strict  bool          `koanf:"strict"`
	Cookie  CookieConfig  `koanf:"cookie"`
	Layered LayeredConfig `koanf:"layered"`
}

// CookieConfig is session.cookie.*.
type CookieConfig struct {
	Name     string `koanf:"name"`
	Path     string `koanf:"path"`
	Domain   string `koanf:"domain"`
	Secure   bool   `koanf:"secure"`
	HTTPOnly bool   `koanf:"http_only"`
	// SameSite is lax, strict or none (none requires Secure).
	SameSite string `koanf:"same_site"`
	// Persist gives the cookie a Max-Age that follows Lifetime; false makes
	// it a browser-session cookie.
	Persist bool `koanf:"persist"`
}

// LayeredConfig is session.layered.*, used when Backend is "layered": a fast
// front container caches a slower back store.
type LayeredConfig struct {
	// Front is a kvcache container name.
	Front string `koanf:"front"`
	// Back is "gorm" or a kvcache container name.
	Back string `koanf:"back"`
	// LocalTTL is how long the front trusts its copy.
	LocalTTL time.Duration `koanf:"local_ttl"`
}

// DefaultConfig returns the defaults every key falls back to.
func DefaultConfig() Config {
	return Config{
		Member:          "session",
		Backend:         "kvcache",
		Container:       "session",
		Lifetime:        24 * time.Hour,
		IdleTimeout:     30 * time.Minute,
		HashIDs:         true,
		MaxCookieSize:   4096,
		MaxSessionSize:  64 << 10,
		CleanupInterval: 10 * time.Minute,
		Cookie: CookieConfig{
			Name:     "session",
			Path:     "/",
			Secure:   true,
			HTTPOnly: true,
			SameSite: "lax",
			Persist:  true,
		},
		Layered: LayeredConfig{LocalTTL: 5 * time.Second},
	}
}

// IDMember is the name of the context member that holds the session id.
func (c Config) IDMember() string { return c.Member + "_id" }

// cfgCookieNameOK reports whether s is an RFC 6265 cookie-name token.
func cfgCookieNameOK(s string) bool {
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) {
			return false
		}
	}
	return s != ""
}

func cfgCookieValueOK(s string) bool {
	for _, r := range s {
		if r < ' ' || r >= 0x7f || r == ';' {
			return false
		}
	}
	return true
}

// Validate checks every field and returns all problems as *ConfigError
// values joined with errors.Join (nil when the configuration is usable).
//
// The floors on durations read from a configuration (cleanup_interval at
// least 1s, layered.local_ttl at least 1ms) are checked by
// LoadConfig, not here: code (a test, say) may set a shorter
// CleanupInterval on purpose.
func (c Config) Validate() error { return c.validate(nil) }

// Floors below which a positive duration read from a configuration file or
// the environment is refused: a smaller value is never what was meant, and
// some turn a background task into a busy loop (a 1ns cleanup_interval runs
// a failing cleanup, and logs it, back to back).
const (
	cfgMinCleanupInterval = time.Second
	cfgMinLocalTTL        = time.Millisecond // the layered store's own minimum front lifetime
	cfgMinRedisDuration   = time.Millisecond
	cfgMinContainerTTL    = time.Millisecond
)

// cfgWritten is how a key's value was written, when the configuration
// sets it (nil: no configuration, show the decoded value).
type cfgWritten func(key string) (shown string, hidden, ok bool)

// written returns the value of key as written in the file or the
// environment, for error messages (secrets left out, see cfgShow); ok is
// false when key is unset or a section.
func (c *ConfigFile) written(key string) (shown string, hidden, ok bool) {
	v := c.k.Get(key)
	if v == nil {
		return "", false, false
	}
	if _, isMap := v.(map[string]any); isMap {
		return "", false, false
	}
	shown, hidden = cfgShow(key, v)
	return shown, hidden, true
}

// cfgShowValue shows a decoded value in an error for key: as written when
// the configuration sets it, else formatted.
func cfgShowValue(written cfgWritten, key string, value any) (string, bool) {
	if written != nil {
		if w, hidden, ok := written(key); ok {
			return w, hidden
		}
	}
	return fmt.Sprint(value), false
}

func (c Config) validate(written cfgWritten) error {
	var errs []error
	bad := func(key string, value any, allowed string) {
		shown, hidden := cfgShowValue(written, "session."+key, value)
		errs = append(errs, &ConfigError{Key: "session." + key, Value: shown, Allowed: allowed, hidden: hidden})
	}
	if c.Member == "" || strings.ContainsAny(c.Member, " \t\r\n") {
		bad("member", c.Member, "a non-empty name without spaces")
	}
	if c.Backend == "" {
		bad("backend", c.Backend, "kvcache, gorm, cookie, null, layered or a plugin's name")
	}
	if c.Backend == "kvcache" && c.Container == "" {
		bad("container", c.Container, "a kvcache container name (backend = kvcache needs one)")
	}
	for _, d := range []struct {
		key     string
		v, min  time.Duration
		allowed string
	}{
		{"lifetime", c.Lifetime, 0, "a duration of 0 or more"},
		{"idle_timeout", c.IdleTimeout, 0, "a duration of 0 or more"},
		{"cleanup_interval", c.CleanupInterval, cfgMinCleanupInterval, "0 (off) or at least 1s"},
		{"layered.local_ttl", c.Layered.LocalTTL, cfgMinLocalTTL, "0 (the default, 5s) or at least 1ms"},
	} {
		if d.v < 0 || (written != nil && d.v > 0 && d.v < d.min) {
			bad(d.key, d.v, d.allowed)
		}
	}
	if c.Lifetime > 0 && c.IdleTimeout > 0 && c.Lifetime < c.IdleTimeout {
		bad("lifetime", c.Lifetime, fmt.Sprintf("lifetime >= idle_timeout (%s), or 0 for no absolute limit", c.IdleTimeout))
	}
	if c.MaxCookieSize < 256 || c.MaxCookieSize > 8192 {
		bad("max_cookie_size", c.MaxCookieSize, "a number of bytes from 256 to 8192")
	}
	if c.MaxSessionSize <= 0 {
		bad("max_session_size", c.MaxSessionSize, "a size like 64KiB, more than 0")
	}
	ck := c.Cookie
	if !cfgCookieNameOK(ck.Name) {
		bad("cookie.name", ck.Name, "a non-empty name of letters, digits and !#$%&'*+-.^_`|~")
	}
	if !strings.HasPrefix(ck.Path, "/") || !cfgCookieValueOK(ck.Path) {
		bad("cookie.path", ck.Path, `a path starting with "/" without ";"`)
	}
	if strings.ContainsAny(ck.Domain, " /:") || !cfgCookieValueOK(ck.Domain) {
		bad("cookie.domain", ck.Domain, "a host name like example.com, or empty for the request's host")
	}
	switch ck.SameSite {
	case "lax", "strict":
	case "none":
		if !ck.Secure {
			bad("cookie.same_site", ck.SameSite, "lax or strict when cookie.secure = false (browsers reject same_site = none without secure)")
		}
	default:
		bad("cookie.same_site", ck.SameSite, "lax, strict, none")
	}
	if strings.HasPrefix(ck.Name, "__Secure-") && !ck.Secure {
		bad("cookie.secure", ck.Secure, "true (a cookie named __Secure-... must be secure)")
	}
	if strings.HasPrefix(ck.Name, "__Host-") && (!ck.Secure || ck.Path != "/" || ck.Domain != "") {
		bad("cookie.name", ck.Name, "a __Host- cookie only with secure = true, path = / and no domain")
	}
	if c.Backend == "layered" {
		if c.Layered.Front == "" {
			bad("layered.front", c.Layered.Front, "a kvcache container name (backend = layered needs one)")
		}
		if c.Layered.Back == "" {
			bad("layered.back", c.Layered.Back, "gorm or a kvcache container name (backend = layered needs one)")
		} else if c.Layered.Back == c.Layered.Front {
			bad("layered.back", c.Layered.Back, "a store other than layered.front")
		}
	}
	return errors.Join(errs...)
}

// LoadConfig returns DefaultConfig overridden by the
// configuration's [session] section, validated. cf may be nil (defaults).
// cookie.same_site is lowercased before validation.
func LoadConfig(cf *ConfigFile) (Config, error) {
	c := DefaultConfig()
	if cf != nil {
		if err := cf.Unmarshal("session", &c); err != nil {
			return c, err
		}
	}
	c.Cookie.SameSite = strings.ToLower(strings.TrimSpace(c.Cookie.SameSite))
	if cf == nil {
		return c, c.Validate()
	}
	return c, c.validate(cf.written)
}

// LoadKVCacheConfig returns the [kvcache] section, validated. Without a
// kvcache section (cf nil included) it is kvcache.DefaultConfig(); a section
// without backends gets the default backends. Each backend needs a type;
// memory needs max_size 0 (the default) or at least 1KiB; redis needs a
// redis:// or rediss:// url (errors redact its password, or do not show a
// URL that does not parse); redis durations are 0 (the default) or at least
// 1ms, container TTLs 0 (none) or at least 1ms; each container's backend
// must exist.
func LoadKVCacheConfig(cf *ConfigFile) (kvcache.Config, error) {
	if cf == nil || !cf.Exists("kvcache") {
		return kvcache.DefaultConfig(), nil
	}
	var cfg kvcache.Config
	if err := cf.Unmarshal("kvcache", &cfg); err != nil {
		return cfg, err
	}
	if len(cfg.Backends) == 0 {
		cfg.Backends = kvcache.DefaultConfig().Backends
	}
	return cfg, cfgValidateKVCache(cfg, cf.written)
}

func cfgValidateKVCache(cfg kvcache.Config, written cfgWritten) error {
	var errs []error
	bad := func(key string, value any, allowed string) {
		shown, hidden := cfgShowValue(written, "kvcache."+key, value)
		errs = append(errs, &ConfigError{Key: "kvcache." + key, Value: shown, Allowed: allowed, hidden: hidden})
	}
	names := make([]string, 0, len(cfg.Backends))
	for n := range cfg.Backends {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b := cfg.Backends[n]
		k := "backends." + n + "."
		switch b.Type {
		case "":
			bad(k+"type", b.Type, "memory, redis, file or a registered plugin type")
		case "file":
			if strings.TrimSpace(b.Path) == "" {
				bad(k+"path", b.Path, "the file that holds the cache, e.g. ${here}/_sessions.sqlite3")
			}
		case "memory":
			if b.MaxSize != 0 && b.MaxSize < 1<<10 {
				bad(k+"max_size", b.MaxSize, "a size of at least 1KiB, or 0 for the default (64MiB)")
			}
		case "redis":
			if problem := cfgRedisURLProblem(b.URL); problem != "" {
				shown := kvcache.RedactURL(b.URL)
				errs = append(errs, &ConfigError{Key: "kvcache." + k + "url", Value: shown, hidden: shown == kvcache.HiddenURL,
					problem: problem, Allowed: "a URL like redis://127.0.0.1:6379/0 or rediss://user:password@host:6380/0"})
			}
		}
		for _, d := range []struct {
			key     string
			v       time.Duration
			allowed string
		}{
			{"client_cache_ttl", b.ClientCacheTTL, "0 (the default, 30s) or at least 1ms"},
			{"dial_timeout", b.DialTimeout, "0 (the default, 2s) or at least 1ms"},
			{"command_timeout", b.CommandTimeout, "0 (the default, 2s) or at least 1ms"},
		} {
			if d.v < 0 || (d.v > 0 && d.v < cfgMinRedisDuration) {
				bad(k+d.key, d.v, d.allowed)
			}
		}
		if b.PoolSize < 0 {
			bad(k+"pool_size", b.PoolSize, "a whole number, 0 or more (0 = client default)")
		}
	}
	cnames := make([]string, 0, len(cfg.Containers))
	for n := range cfg.Containers {
		cnames = append(cnames, n)
	}
	sort.Strings(cnames)
	for _, n := range cnames {
		c := cfg.Containers[n]
		be := c.Backend
		if be == "" {
			be = "default"
		}
		if _, ok := cfg.Backends[be]; !ok {
			bad("containers."+n+".backend", c.Backend, "one of the configured backends: "+strings.Join(names, ", "))
		}
		if c.TTL < 0 || (c.TTL > 0 && c.TTL < cfgMinContainerTTL) {
			bad("containers."+n+".ttl", c.TTL, "0 (no expiry) or at least 1ms")
		}
	}
	return errors.Join(errs...)
}

// cfgRedisURLProblem says what is wrong with a redis backend URL ("" when
// nothing), without repeating any part of it: it may hold a password.
func cfgRedisURLProblem(raw string) string {
	u, err := kvcache.ParseURLSafely(raw)
	switch {
	case err != nil:
		return err.Error()
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return "its scheme is not redis:// or rediss://"
	case u.Opaque != "":
		return `it has no "//" after the scheme`
	case u.Hostname() == "":
		return "it names no host"
	}
	if p := strings.TrimPrefix(u.Path, "/"); u.Path != "" {
		if _, err := strconv.Atoi(p); err != nil || strings.Contains(p, "/") {
			return "its path is not a database number like /0"
		}
	}
	return ""
}
