package backends

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrUnsupportedValue is returned by Normalize (and the encoders) for a value
// the codec cannot store faithfully: channels, functions, complex numbers,
// unsafe pointers, maps whose keys are not strings, NaN and infinities,
// integers beyond int64, strings that are not valid UTF-8, times outside
// years 0–9999, and values nested deeper than the depth limit (cycles).
var ErrUnsupportedValue = errors.New("unsupported session value")

const (
	// maxNormalizeDepth bounds how deeply Normalize descends into one value;
	// it is what turns a cyclic value into an error instead of a hang.
	maxNormalizeDepth = 64
	// maxCodecDepth bounds the nesting of a whole data map on encode and
	// decode (the data map itself is depth 0). It is larger than
	// maxNormalizeDepth so that any normalised value fits under a key.
	maxCodecDepth = 128
)

// Tags of the JSON encoding: an object with exactly one member whose name is
// one of these is not a user map but an encoded non-JSON kind.
const (
	tagTime  = "$t" // {"$t":"RFC3339Nano"}: time.Time (UTC)
	tagBytes = "$b" // {"$b":"base64"}: []byte
	tagMap   = "$m" // {"$m":{...}}: a user map that itself has one "$..." key
)

var (
	typeTime          = reflect.TypeFor[time.Time]()
	typeJSONMarshaler = reflect.TypeFor[json.Marshaler]()
	typeTextMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// Normalize converts a Go value to the codec's canonical kinds, the only
// kinds a session stores and gives back:
//
//	nil, bool, int64, float64, string, []byte, time.Time, []any, map[string]any
//
// All signed and unsigned integer kinds become int64 (a uint64 above
// math.MaxInt64 is an error); float32 becomes float64 (NaN and ±Inf are
// errors). Strings must be valid UTF-8 (binary data belongs in []byte).
// A time.Time keeps its instant, not its location: it is converted to UTC
// and loses its monotonic clock reading, which is what every store gives
// back. Slices and arrays (other than byte slices) become []any and maps
// with string-kind keys become map[string]any, their elements normalised;
// nil slices, nil maps and nil pointers become nil; pointers are
// dereferenced. Named types of these kinds are converted to the base kind.
//
// Types that implement json.Marshaler (and structs) take a trip through
// encoding/json and come back as the JSON decodes: a struct becomes a
// map[string]any keyed by its JSON field names, numbers without a fraction
// become int64, others float64, and times inside it become strings.
// json.Number becomes int64 or float64. Other types that implement
// encoding.TextMarshaler (uuid.UUID, net.IP, …) become their text.
//
// Channels, functions, complex numbers, unsafe pointers and maps with
// non-string keys are errors wrapping ErrUnsupportedValue that name the Go
// type; so is a value nested deeper than 64 levels (a cycle).
//
// The result shares no mutable memory with v: maps, slices and byte slices
// are copied.
func Normalize(v any) (any, error) {
	return normalize(v, 0)
}

func normalize(v any, depth int) (any, error) {
	// Fast path: the common kinds, without reflection.
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		if !utf8.ValidString(x) {
			return nil, fmt.Errorf("%w: string %.40q is not valid UTF-8 (store binary data as []byte)", ErrUnsupportedValue, x)
		}
		return x, nil
	case bool:
		return x, nil
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case float64:
		return checkFloat(x)
	case time.Time:
		return normalizeTime(x)
	case []byte:
		if x == nil {
			return nil, nil
		}
		return bytes.Clone(x), nil
	case map[string]any:
		if x == nil {
			return nil, nil
		}
		if depth >= maxNormalizeDepth {
			return nil, errTooDeep(v)
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			if !utf8.ValidString(k) {
				return nil, fmt.Errorf("%w: map key %.40q is not valid UTF-8", ErrUnsupportedValue, k)
			}
			n, err := normalize(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case []any:
		if x == nil {
			return nil, nil
		}
		if depth >= maxNormalizeDepth {
			return nil, errTooDeep(v)
		}
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalize(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case json.Number:
		n, ok := classifyNumber(string(x))
		if !ok {
			return nil, fmt.Errorf("%w: json.Number %q is not a finite number within int64/float64 range", ErrUnsupportedValue, string(x))
		}
		return n, nil
	}
	return normalizeReflect(reflect.ValueOf(v), depth)
}

func errTooDeep(v any) error {
	return fmt.Errorf("%w: value of type %T nested deeper than %d levels (a cycle?)", ErrUnsupportedValue, v, maxNormalizeDepth)
}

func checkFloat(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%w: float %v (want a finite number)", ErrUnsupportedValue, f)
	}
	return f, nil
}

func normalizeTime(t time.Time) (any, error) {
	t = t.UTC() // also drops the monotonic reading
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("%w: time %s has year %d (want 0 to 9999)", ErrUnsupportedValue, t.Format(time.RFC3339), y)
	}
	return t, nil
}

func normalizeReflect(rv reflect.Value, depth int) (any, error) {
	t := rv.Type()
	if t.Kind() == reflect.Pointer && t.Elem() == typeTime {
		// *time.Time implements json.Marshaler; keep it a time.
		if rv.IsNil() {
			return nil, nil
		}
		return normalizeTime(rv.Elem().Interface().(time.Time))
	}
	if t.Implements(typeJSONMarshaler) && !(rv.Kind() == reflect.Pointer && rv.IsNil()) {
		return normalizeViaJSON(rv)
	}
	if t.Implements(typeTextMarshaler) && !(rv.Kind() == reflect.Pointer && rv.IsNil()) {
		b, err := rv.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: MarshalText: %v", ErrUnsupportedValue, t, err)
		}
		return normalize(string(b), depth)
	}
	switch rv.Kind() {
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return nil, fmt.Errorf("%w: %s value %d exceeds the int64 range", ErrUnsupportedValue, t, u)
		}
		return int64(u), nil
	case reflect.Float32, reflect.Float64:
		return checkFloat(rv.Float())
	case reflect.String:
		return normalize(rv.String(), depth)
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
		if depth >= maxNormalizeDepth {
			return nil, errTooDeep(rv.Interface())
		}
		return normalize(rv.Elem().Interface(), depth+1)
	case reflect.Slice:
		if rv.IsNil() {
			return nil, nil
		}
		if t.Elem().Kind() == reflect.Uint8 && !t.Elem().Implements(typeJSONMarshaler) && !t.Elem().Implements(typeTextMarshaler) {
			return bytes.Clone(rv.Bytes()), nil
		}
		return normalizeList(rv, depth)
	case reflect.Array:
		return normalizeList(rv, depth)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("%w: %s has %s keys (want string keys)", ErrUnsupportedValue, t, t.Key())
		}
		if rv.IsNil() {
			return nil, nil
		}
		if depth >= maxNormalizeDepth {
			return nil, errTooDeep(rv.Interface())
		}
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			k := it.Key().String()
			if !utf8.ValidString(k) {
				return nil, fmt.Errorf("%w: map key %.40q is not valid UTF-8", ErrUnsupportedValue, k)
			}
			n, err := normalize(it.Value().Interface(), depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case reflect.Struct:
		return normalizeViaJSON(rv)
	}
	return nil, fmt.Errorf("%w: Go type %s (kind %s) cannot be stored in a session", ErrUnsupportedValue, t, rv.Kind())
}

func normalizeList(rv reflect.Value, depth int) (any, error) {
	if depth >= maxNormalizeDepth {
		return nil, errTooDeep(rv.Interface())
	}
	out := make([]any, rv.Len())
	for i := range out {
		n, err := normalize(rv.Index(i).Interface(), depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// normalizeViaJSON marshals a struct or json.Marshaler with encoding/json and
// reads it back as plain canonical JSON (no "$" tags are interpreted).
func normalizeViaJSON(rv reflect.Value) (any, error) {
	b, err := json.Marshal(rv.Interface())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: encoding/json: %v", ErrUnsupportedValue, rv.Type(), err)
	}
	raw, err := decodeJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: reading back its JSON: %v", ErrUnsupportedValue, rv.Type(), err)
	}
	out, err := plainJSON(raw, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnsupportedValue, rv.Type(), err)
	}
	return out, nil
}

// plainJSON converts a UseNumber-decoded JSON tree to canonical kinds without
// interpreting tags.
func plainJSON(v any, depth int) (any, error) {
	switch x := v.(type) {
	case json.Number:
		n, ok := classifyNumber(string(x))
		if !ok {
			return nil, fmt.Errorf("number %s out of range", x)
		}
		return n, nil
	case map[string]any:
		if depth >= maxNormalizeDepth {
			return nil, fmt.Errorf("nested deeper than %d levels", maxNormalizeDepth)
		}
		for k, e := range x {
			n, err := plainJSON(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
		return x, nil
	case []any:
		if depth >= maxNormalizeDepth {
			return nil, fmt.Errorf("nested deeper than %d levels", maxNormalizeDepth)
		}
		for i, e := range x {
			n, err := plainJSON(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
		return x, nil
	}
	return v, nil // nil, bool, string
}

// classifyNumber turns a JSON number into int64 (no fraction, no exponent)
// or float64. ok is false when it does not fit.
func classifyNumber(s string) (any, bool) {
	if !strings.ContainsAny(s, ".eE") {
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, false
		}
		return i, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, false
	}
	return f, true
}

// decodeJSON parses exactly one JSON value with numbers kept as json.Number.
// Only Normalize uses it, to read back encoding/json's output for structs and
// json.Marshalers; stored session data goes through the hand-written decoder
// in codec_decode.go.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// EncodeData encodes a session's data as JSON that DecodeData turns back
// into exactly the same canonical values: integers are JSON integers and
// floats always carry a '.' or an exponent (so int64 5 and float64 5.0 stay
// apart), a time.Time is {"$t":"<RFC3339Nano, UTC>"}, a []byte is
// {"$b":"<base64>"}, and a map that has exactly one key starting with '$'
// is wrapped as {"$m":{...}} so it is never taken for a tag. Map keys are
// written in sorted order, so equal data encodes to equal bytes.
//
// Values should already be canonical (see Normalize); others are normalised
// on the way, and values Normalize refuses are errors wrapping
// ErrUnsupportedValue. A nil map encodes as {}.
func EncodeData(data map[string]any) ([]byte, error) {
	b := make([]byte, 0, 64+32*len(data))
	return appendMap(b, data, 0)
}

// AppendData is EncodeData appending to b, for callers that reuse a buffer.
func AppendData(b []byte, data map[string]any) ([]byte, error) {
	return appendMap(b, data, 0)
}

func appendMap(b []byte, m map[string]any, depth int) ([]byte, error) {
	if depth > maxCodecDepth {
		return nil, fmt.Errorf("%w: data nested deeper than %d levels (a cycle?)", ErrUnsupportedValue, maxCodecDepth)
	}
	// Sorting keeps the output deterministic; a small stack array avoids an
	// allocation for typical sessions.
	var arr [16]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	wrap := len(keys) == 1 && strings.HasPrefix(keys[0], "$")
	if wrap {
		b = append(b, `{"`+tagMap+`":`...)
	}
	b = append(b, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendString(b, k); err != nil {
			return nil, err
		}
		b = append(b, ':')
		if b, err = appendValue(b, m[k], depth+1); err != nil {
			return nil, fmt.Errorf("key %.40q: %w", k, err)
		}
	}
	b = append(b, '}')
	if wrap {
		b = append(b, '}')
	}
	return b, nil
}

func appendValue(b []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%w: float %v (want a finite number)", ErrUnsupportedValue, x)
		}
		return appendFloat(b, x), nil
	case string:
		return appendString(b, x)
	case []byte:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, `{"`+tagBytes+`":"`...)
		b = base64.StdEncoding.AppendEncode(b, x)
		return append(b, `"}`...), nil
	case time.Time:
		t := x.UTC()
		if y := t.Year(); y < 0 || y > 9999 {
			return nil, fmt.Errorf("%w: time %s has year %d (want 0 to 9999)", ErrUnsupportedValue, t.Format(time.RFC3339), y)
		}
		b = append(b, `{"`+tagTime+`":"`...)
		b = t.AppendFormat(b, time.RFC3339Nano)
		return append(b, `"}`...), nil
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		return appendMap(b, x, depth)
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		if depth > maxCodecDepth {
			return nil, fmt.Errorf("%w: data nested deeper than %d levels (a cycle?)", ErrUnsupportedValue, maxCodecDepth)
		}
		b = append(b, '[')
		var err error
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValue(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	n, err := Normalize(v)
	if err != nil {
		return nil, err
	}
	return appendValue(b, n, depth)
}

// appendFloat writes a finite float64 the way EncodeData does: like
// encoding/json (plain notation for ordinary magnitudes, the shortest digits
// that read back exactly), with ".0" added when there is neither a '.' nor
// an exponent, so that it never reads back as an integer.
func appendFloat(b []byte, x float64) []byte {
	format := byte('f')
	if a := math.Abs(x); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, x, format, -1, 64)
	if !bytes.ContainsAny(b[start:], ".e") {
		b = append(b, ".0"...)
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Invalid UTF-8 is an error rather
// than a silent U+FFFD replacement, so what is stored is what was given.
func appendString(b []byte, s string) ([]byte, error) {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return nil, fmt.Errorf("%w: string %.40q is not valid UTF-8 (store binary data as []byte)", ErrUnsupportedValue, s)
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
}

func kindName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case time.Time:
		return "a time"
	case []byte:
		return "bytes"
	}
	return fmt.Sprintf("a %T", v)
}

// recordVersion is the version of EncodeRecord's envelope.
const recordVersion = 1

// EncodeRecord encodes a record for key-value stores as a small versioned
// JSON envelope:
//
//	{"v":1,"c":<created, Unix ns>,"u":<updated>,"e":<expires or 0>,"d":{data}}
//
// followed, when the record has Meta, by ,"m":{"a":<user agent>,"i":<ip>}
// (each member only when set) before the closing brace; records written
// before Meta existed decode unchanged.
//
// The id is not part of it (it is the key). Times must lie within the range
// of Unix nanoseconds (years 1678–2262); a zero time is written as 0.
func EncodeRecord(r *Record) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: nil *Record", ErrUnsupportedValue)
	}
	b := make([]byte, 0, 96+32*len(r.Data))
	b = append(b, `{"v":1`...)
	for _, f := range [...]struct {
		name string
		t    time.Time
	}{{`,"c":`, r.Created}, {`,"u":`, r.Updated}, {`,"e":`, r.Expires}} {
		n, err := unixNano(f.t)
		if err != nil {
			return nil, err
		}
		b = append(b, f.name...)
		b = strconv.AppendInt(b, n, 10)
	}
	b = append(b, `,"d":`...)
	b, err := appendMap(b, r.Data, 0)
	if err != nil {
		return nil, err
	}
	if !r.Meta.IsZero() {
		b = append(b, `,"m":{`...)
		sep := false
		for _, f := range [...]struct{ name, v string }{{`"a":`, r.Meta.UserAgent}, {`"i":`, r.Meta.IP}} {
			if f.v == "" {
				continue
			}
			if sep {
				b = append(b, ',')
			}
			b = append(b, f.name...)
			if b, err = appendString(b, f.v); err != nil {
				return nil, err
			}
			sep = true
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// unixNano writes a zero time as 0. The one instant whose Unix nanoseconds
// are 0 (the Unix epoch) is nudged to 1 ns so it does not read back as zero.
func unixNano(t time.Time) (int64, error) {
	if t.IsZero() {
		return 0, nil
	}
	if t.Before(minNanoTime) || t.After(maxNanoTime) {
		return 0, fmt.Errorf("%w: record time %s is outside the Unix-nanosecond range (years 1678 to 2262)", ErrUnsupportedValue, t.Format(time.RFC3339))
	}
	if n := t.UnixNano(); n != 0 {
		return n, nil
	}
	return 1, nil
}
