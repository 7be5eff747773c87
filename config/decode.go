package config

// Decoding: the mapstructure setup every Unmarshal shares, its hooks
// (durations with days, sizes, booleans as yes/no) and the descriptions of
// what a field takes, for error messages.

import (
	"encoding"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// ByteSize is a size in bytes that parses "64MiB", "10MB", "512KiB", "1000".
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000}, {"tb", 1000 * 1000 * 1000 * 1000},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1},
}

// ParseByteSize parses a size such as "64MiB".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, fmt.Errorf("empty size: want a number with an optional unit (B, KiB, MiB, GiB, KB, MB, GB)")
	}
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	// NaN passes every comparison below, so it is refused by name; ±Inf
	// and out-of-range numbers (1e400) fail the range check or ParseFloat.
	if err != nil || math.IsNaN(n) || n < 0 || n*float64(mult) > float64(1<<62) {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional unit (B, KiB, MiB, GiB, KB, MB, GB)", s)
	}
	size := ByteSize(n * float64(mult))
	if size == 0 && n > 0 {
		// "0.5" (bytes) would silently become 0, which often means "the default".
		return 0, fmt.Errorf("invalid size %q: less than one byte", s)
	}
	return size, nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// String formats the size with the largest exact binary unit.
func (b ByteSize) String() string {
	n := int64(b)
	for _, u := range []struct {
		s string
		m int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.m == 0 {
			return strconv.FormatInt(n/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	byteSizeType        = reflect.TypeFor[ByteSize]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decoderConfig is the mapstructure setup shared by every decode.
func decoderConfig() *mapstructure.DecoderConfig {
	return &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			durationHook,
			byteSizeHook,
			boolHook,
			mapstructure.TextUnmarshallerHookFunc(),
		),
		WeaklyTypedInput: true,
		TagName:          "koanf",
	}
}

var dayDuration = regexp.MustCompile(`([0-9]+(?:\.[0-9]*)?|\.[0-9]+)d`)

// parseDuration is time.ParseDuration plus "d" for 24-hour days.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	var bad error
	s = dayDuration.ReplaceAllStringFunc(s, func(day string) string {
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

func durationHook(f, t reflect.Type, data any) (any, error) {
	if t != durationType || f == durationType {
		return data, nil
	}
	v := reflect.ValueOf(data)
	switch f.Kind() {
	case reflect.String:
		return parseDuration(v.String())
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

// byteSizeHook parses a number (a YAML 100, 1.5e3, .nan or .inf) for a
// ByteSize as ParseByteSize parses text, so NaN, infinities, negative and
// out-of-range numbers are refused instead of being converted to whatever
// int64 they happen to become.
func byteSizeHook(f, t reflect.Type, data any) (any, error) {
	if t != byteSizeType || f == byteSizeType {
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
	return ParseByteSize(s)
}

func boolHook(f, t reflect.Type, data any) (any, error) {
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

// allowed describes, for an error message, what a field of type t takes.
func allowed(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration like 30m or 24h"
	case t == byteSizeType:
		return "a size like 64MiB"
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
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
		return "a section with keys " + strings.Join(fieldNames(t), ", ")
	}
	return "a " + t.String()
}

// isLeaf reports whether t is decoded from one value rather than a section.
func isLeaf(t reflect.Type) bool {
	if t == durationType || t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return true
	}
	return t.Kind() != reflect.Struct && t.Kind() != reflect.Map
}

// fields maps a struct's config names (lowercase) to field types,
// following the rules mapstructure applies with TagName "koanf".
func fields(t reflect.Type) map[string]reflect.Type {
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
			for k, v := range fields(ft) {
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

func fieldNames(t reflect.Type) []string {
	return slices.Sorted(maps.Keys(fields(t)))
}

// decodeLeaf decodes one value the way Unmarshal does, as an *Error naming
// key when it does not fit.
func decodeLeaf(key string, v any, out any) error {
	chk := checker{}
	chk.leaf(reflect.TypeOf(out).Elem(), key, v)
	if len(chk.errs) > 0 {
		return errors.Join(chk.errs...)
	}
	dc := decoderConfig()
	dc.Result = out
	d, err := mapstructure.NewDecoder(dc)
	if err == nil {
		err = d.Decode(v)
	}
	if err != nil {
		return newError(key, v, allowed(reflect.TypeOf(out).Elem()), err)
	}
	return nil
}
