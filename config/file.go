// Package config reads the configuration of the session module and its
// stores and engines: an INI or YAML file loaded through koanf, overridden
// by environment variables, decoded into typed structs with errors that
// name the key, the value (secrets left out) and what is allowed.
//
// It knows no section itself: each section's owner (the session module,
// kvcache, each store) declares it (Section), decodes it (File.Unmarshal)
// and validates it (File.Problems).
package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/v2"
	"go.uber.org/zap"
)

// EnvPrefix starts every environment variable that overrides a
// configuration key. See Load.
const EnvPrefix = "SESSIONFX_"

// StrictKey is the key that turns strict mode on (see Load).
const StrictKey = "session.strict"

// extensions maps file extensions to their format.
var extensions = map[string]string{
	".ini": "ini", ".cfg": "ini", ".conf": "ini",
	".yaml": "yaml", ".yml": "yaml",
}

const allowedExtensions = ".ini, .cfg, .conf, .yaml, .yml"

// Section is a top-level configuration section and its owner's struct.
type Section struct {
	// Name is the section, e.g. "gorm" (lowercase).
	Name string
	// Config is a value (normally the zero value) of the struct the
	// section decodes into, nil when its owner declares none. With it,
	// the keys of the section are checked even when nothing reads it (a
	// store that is not selected), and an environment variable written
	// with single underscores (SESSIONFX_GORM_DSN) is matched to the key
	// it most likely means.
	Config any
}

// Options are what Load needs to know besides the file.
type Options struct {
	// Sections are the known top-level sections: CheckSections and Check
	// report any other.
	Sections []Section
	// Renames are the deprecated keys and where they moved to.
	Renames []Rename
}

// File is a loaded configuration: the file's tree with the environment
// overrides merged on top. It is safe for concurrent use.
type File struct {
	k        *koanf.Koanf
	path     string
	here     string
	log      *zap.Logger
	sections []string // top-level keys that came from the file
	known    []Section
	renames  []Rename

	// envNames maps each key set by an environment variable to the
	// variable's name, so that messages about the key name the variable.
	envNames map[string]string
	// fileKeys holds every key path (sections included) set by the file.
	fileKeys map[string]bool
	// strict is session.strict: unknown keys and sections are errors.
	strict bool

	mu      sync.Mutex
	unknown []string
	decoded map[string]bool // the paths Unmarshal decoded
}

// Load reads an INI (.ini, .cfg, .conf) or YAML (.yaml, .yml) file and
// merges environment overrides on top of it. An empty path means no file:
// only defaults (supplied later to Unmarshal) and the environment apply.
// log receives the warnings (nil: none).
//
// Keys are case-insensitive (stored lowercase) and dotted: in INI the section
// name and the key join with dots, so "[session]" + "cookie.secure = true" is
// the key session.cookie.secure; keys before any section (the DEFAULT
// section) are top-level keys. In YAML, "cookie.secure: true" inside
// "session:" and a nested "cookie: {secure: true}" are the same key. A key
// may not be both a value and a section ("a.b = x" next to "a.b.c = y"),
// and may not be set twice: both are *Errors naming the key.
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
// likely means (among the keys of o.Sections), and otherwise ignored.
// SESSIONFX_TEST_* variables (the test suite's own) are left alone.
//
// o.Renames move deprecated keys, from the file and from the environment,
// to their new place, each with one warning (see Rename).
//
// session.strict = true (SESSIONFX_SESSION__STRICT=true) turns every
// warning about an unknown key, an unknown section or an ignored variable
// into an *Error.
//
// A missing file is an error that names the path and wraps fs.ErrNotExist.
func Load(path string, log *zap.Logger, o Options) (*File, error) {
	if log == nil {
		log = zap.NewNop()
	}
	f := &File{k: koanf.New("."), log: log, envNames: map[string]string{}, fileKeys: map[string]bool{},
		decoded: map[string]bool{}, known: slices.Clone(o.Sections), renames: slices.Clone(o.Renames)}
	if path == "" {
		if wd, err := os.Getwd(); err == nil {
			f.here = wd
		}
	} else if err := f.loadFile(path, o.Renames); err != nil {
		return nil, err
	}

	var flat []string // variables without "__": they set no key
	envMap, err := env.Provider("", env.Opt{
		Prefix: EnvPrefix,
		TransformFunc: func(k, v string) (string, any) {
			key, val := envKey(k, v)
			switch {
			case strings.HasPrefix(key, "test_"):
				return "", nil // the test suite's own SESSIONFX_TEST_* variables
			case !strings.Contains(key, "."):
				flat = append(flat, k)
				return "", nil
			}
			f.envNames[key] = k
			return key, val
		},
	}).Read()
	if err != nil {
		return nil, fmt.Errorf("config: read environment: %w", err)
	}
	if len(envMap) > 0 {
		m, err := normalize(envMap, f.here)
		if err != nil {
			return nil, fmt.Errorf("%w (from environment variables %s*)", err, EnvPrefix)
		}
		f.moveEnv(applyRenames(m, o.Renames))
		if err := f.k.Load(mapProvider(m), nil); err != nil {
			return nil, fmt.Errorf("config: load environment: %w", err)
		}
	}
	if v := f.k.Get(StrictKey); v != nil {
		var strict bool
		if err := decodeLeaf(StrictKey, v, &strict); err != nil {
			return nil, err
		}
		f.strict = strict
	}
	sort.Strings(flat)
	var errs []error
	for _, name := range flat {
		if err := f.flatEnvVar(name); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f, nil
}

// loadFile reads the file at path into f.
func (f *File) loadFile(path string, renames []Rename) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("config: file %s: %w", path, err)
	}
	f.path, f.here = abs, filepath.Dir(abs)
	ext := strings.ToLower(filepath.Ext(abs))
	var parser koanf.Parser
	switch extensions[ext] {
	case "ini":
		parser = INIParser{}
	case "yaml":
		parser = yaml.Parser()
	default:
		return &Error{Key: "extension of config file " + abs, Value: ext, Allowed: allowedExtensions}
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return fmt.Errorf("config: cannot read config file %s: %w", abs, err)
	}
	raw, err := parser.Unmarshal(data)
	if err != nil {
		if extensions[ext] == "yaml" {
			err = yamlTabHint(err, data)
		}
		return inFile(err, abs)
	}
	m, err := normalize(raw, f.here)
	if err != nil {
		return inFile(err, abs)
	}
	f.warnMoved(applyRenames(m, renames))
	f.sections = slices.Sorted(maps.Keys(m))
	collectPaths(m, "", f.fileKeys)
	if err := f.k.Load(mapProvider(m), nil); err != nil {
		return fmt.Errorf("config: load %s: %w", abs, err)
	}
	return nil
}

// yamlTabHint adds to a YAML parse error that the file indents with a
// tab, when it does: YAML allows spaces only, and its errors do not say so.
func yamlTabHint(err error, data []byte) error {
	for i, line := range strings.Split(string(data), "\n") {
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if strings.Contains(indent, "\t") {
			return fmt.Errorf("%w (line %d is indented with a tab: YAML indents with spaces only)", err, i+1)
		}
	}
	return err
}

func inFile(err error, path string) error {
	var ce *Error
	if errors.As(err, &ce) {
		return fmt.Errorf("%w (in %s)", err, path)
	}
	return fmt.Errorf("config: cannot parse %s: %w", path, err)
}

// envKey turns SESSIONFX_SESSION__IDLE_TIMEOUT into session.idle_timeout.
func envKey(k, v string) (string, any) {
	k = strings.ToLower(strings.TrimPrefix(k, EnvPrefix))
	return strings.ReplaceAll(k, "__", "."), v
}

// envName is the environment variable that sets key.
func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "__"))
}

// Strict reports whether session.strict is on: unknown keys and sections
// fail instead of being logged.
func (f *File) Strict() bool { return f.strict }

// Logger is the logger f was loaded with (never nil).
func (f *File) Logger() *zap.Logger { return f.log }

// Path is the absolute path of the file, "" when there is none.
func (f *File) Path() string { return f.path }

// Here is the absolute folder of the file (what "${here}" expands to).
func (f *File) Here() string { return f.here }

// Exists reports whether a key or section (e.g. "kvcache") is set, in the
// file or the environment.
func (f *File) Exists(path string) bool { return f.k.Exists(path) }

// Koanf exposes the merged tree for keys this package does not model.
func (f *File) Koanf() *koanf.Koanf { return f.k }

// Unmarshal decodes the subtree at path (e.g. "session", "kvcache", "gorm")
// into out, a pointer to a struct that already holds the defaults: keys
// absent from the configuration keep them. Fields are matched by their
// `koanf` tags. Values are weakly typed ("true", "4096" work from INI),
// durations read like "30m" or "24h" (also "7d"; a bare 0 means zero), sizes
// like "64MiB" (any encoding.TextUnmarshaler), booleans also as yes/no,
// on/off, 1/0.
//
// A value that does not fit its field is an *Error naming the full key,
// the value and what is allowed (several are joined with errors.Join).
// Keys matching no field, at any depth (including inside map entries such
// as kvcache.backends.<name>.typo), are logged at Warn with the nearest
// valid key and remembered for UnknownKeys; they do not fail the load,
// unless session.strict is on: then each is an *Error.
func (f *File) Unmarshal(path string, out any) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("config: Unmarshal(%q) needs a non-nil pointer, got %T", path, out)
	}
	f.mu.Lock()
	f.decoded[path] = true
	f.mu.Unlock()
	data := f.k.Get(path)
	if data == nil {
		return nil
	}
	chk := checker{}
	chk.walk(rv.Elem().Type(), path, data)
	if err := f.reportUnknown(rv.Elem().Type(), path, data, chk.unknown); err != nil {
		chk.errs = append(chk.errs, err)
	}
	if len(chk.errs) > 0 {
		return errors.Join(chk.errs...)
	}
	if err := f.k.UnmarshalWithConf(path, out, koanf.UnmarshalConf{DecoderConfig: decoderConfig()}); err != nil {
		return newError(path, data, "", err)
	}
	return nil
}
