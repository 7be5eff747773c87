package backends

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The decoder reads exactly the bytes EncodeData and EncodeRecord write, in
// one pass, building the canonical values directly. Every other input is an
// error wrapping ErrCorrupt, so whatever it accepts re-encodes to the same
// bytes. The grammar (no whitespace anywhere):
//
//	data    = map
//	map     = "{}" | "{" key ":" value { "," key ":" value } "}"
//	          keys unique and in ascending byte order; a map whose only key
//	          starts with '$' appears only inside {"$m":…}
//	value   = "null" | "true" | "false" | int | float | string | array
//	        | map | {"$m":map} | {"$t":"<RFC 3339 UTC>"} | {"$b":"<base64>"}
//	array   = "[]" | "[" value { "," value } "]"
//	record  = {"v":1,"c":int,"u":int,"e":int,"d":data}
//
// A number, time or byte string is accepted when re-encoding the value it
// parses to gives back the same bytes (so no "-0", "1E2", "+00:00" or
// trailing zeros in a fraction); a string is valid UTF-8 and escapes only
// '"', '\\' (as \" and \\), \n, \r, \t and the other control characters (as
// \u00xx, lower case). Maps and arrays nest at most maxCodecDepth levels
// below the data map, as the encoder allows.

// plainASCII marks the bytes a string holds as they are (printable ASCII but
// '"' and '\\'), to skip them fast.
var plainASCII = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// strictBase64 is made once: Encoding.Strict returns a fresh copy per call.
var strictBase64 = base64.StdEncoding.Strict()

type decoder struct {
	b       []byte
	i       int    // read position
	scratch []byte // unescaped string content, reused
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", d.i, fmt.Sprintf(format, args...))
}

// unexpected reports the byte at the read position as not what was wanted.
func (d *decoder) unexpected(want string) error {
	if d.i >= len(d.b) {
		return d.errorf("unexpected end of input, want %s", want)
	}
	return d.errorf("found %q, want %s", d.b[d.i], want)
}

func (d *decoder) tooDeep() error {
	return d.errorf("nested deeper than %d levels", maxCodecDepth)
}

// eat consumes c if it is next.
func (d *decoder) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// lit consumes s if it is next; otherwise it stops at the first byte that
// differs and returns false.
func (d *decoder) lit(s string) bool {
	for j := range len(s) {
		if d.i >= len(d.b) || d.b[d.i] != s[j] {
			return false
		}
		d.i++
	}
	return true
}

func (d *decoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// DecodeData decodes what EncodeData wrote; it accepts nothing else: any
// other input, including arbitrary bytes, yields an error wrapping
// ErrCorrupt (never a panic). The result is never nil.
func DecodeData(b []byte) (map[string]any, error) {
	d := decoder{b: b}
	m, err := d.data()
	if err == nil && d.i != len(b) {
		err = d.unexpected("the end of the input")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: session data: %v", ErrCorrupt, err)
	}
	return m, nil
}

// DecodeRecord decodes what EncodeRecord wrote, with ID set to id. Times
// come back in UTC. Any other input yields an error wrapping ErrCorrupt
// (never a panic).
func DecodeRecord(id string, b []byte) (*Record, error) {
	d := decoder{b: b}
	r := &Record{ID: id}
	err := d.record(r)
	if err == nil && d.i != len(b) {
		err = d.unexpected("the end of the input")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: session record: %v", ErrCorrupt, err)
	}
	return r, nil
}

func (d *decoder) record(r *Record) error {
	for _, f := range [...]struct {
		prefix string
		dst    *time.Time
	}{{`{"v":1,"c":`, &r.Created}, {`,"u":`, &r.Updated}, {`,"e":`, &r.Expires}} {
		if !d.lit(f.prefix) {
			return d.unexpected(fmt.Sprintf("%q (a version %d record)", f.prefix, recordVersion))
		}
		start := d.i
		tok, _ := d.numToken()
		n, ok := canonicalInt(tok)
		if !ok {
			d.i = start
			return d.errorf("record time %.40q, want integer Unix nanoseconds as the encoder writes them", tok)
		}
		if n != 0 {
			*f.dst = time.Unix(0, n).UTC()
		}
	}
	if !d.lit(`,"d":`) {
		return d.unexpected(`,"d":`)
	}
	m, err := d.data()
	if err != nil {
		return err
	}
	r.Data = m
	if d.lit(`,"m":`) {
		meta, err := d.data()
		if err != nil {
			return err
		}
		for k, v := range meta {
			str, ok := v.(string)
			switch {
			case !ok:
				return d.errorf("record meta %q holds %s, want a string", k, kindName(v))
			case k == "a":
				r.Meta.UserAgent = str
			case k == "i":
				r.Meta.IP = str
			default:
				return d.errorf("record meta has unknown member %q", k)
			}
		}
	}
	if !d.eat('}') {
		return d.unexpected("'}'")
	}
	return nil
}

// data reads a data map (depth 0).
func (d *decoder) data() (map[string]any, error) {
	if d.peek() != '{' {
		return nil, d.unexpected("'{'")
	}
	v, err := d.object(0)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, d.errorf("the data is %s, want a map", kindName(v))
	}
	return m, nil
}

// value reads the value at the read position. depth is its codec depth
// (the data map is 0).
func (d *decoder) value(depth int) (any, error) {
	switch d.peek() {
	case '{':
		return d.object(depth)
	case '[':
		return d.array(depth)
	case '"':
		s, err := d.str()
		return string(s), err
	case 'n':
		if d.lit("null") {
			return nil, nil
		}
	case 't':
		if d.lit("true") {
			return true, nil
		}
	case 'f':
		if d.lit("false") {
			return false, nil
		}
	default:
		return d.number()
	}
	return nil, d.unexpected("a value")
}

// number reads an int64 (no '.' and no exponent) or a float64, in the form
// the encoder writes it: re-encoding what it parses to must give it back.
func (d *decoder) number() (any, error) {
	start := d.i
	tok, isFloat := d.numToken()
	if !isFloat {
		if n, ok := canonicalInt(tok); ok {
			return n, nil
		}
	} else if f, err := strconv.ParseFloat(string(tok), 64); err == nil {
		var buf [40]byte
		if string(appendFloat(buf[:0], f)) == string(tok) {
			return f, nil
		}
	}
	d.i = start
	if len(tok) == 0 {
		return nil, d.unexpected("a value")
	}
	return nil, d.errorf("number %.40q is out of range or not as the encoder writes it", tok)
}

// numToken reads the bytes a number can have; isFloat reports '.', 'e' or 'E'.
func (d *decoder) numToken() (tok []byte, isFloat bool) {
	start := d.i
	for ; d.i < len(d.b); d.i++ {
		if c := d.b[d.i]; c == '.' || c == 'e' || c == 'E' {
			isFloat = true
		} else if (c < '0' || c > '9') && c != '-' && c != '+' {
			break
		}
	}
	return d.b[start:d.i], isFloat
}

// canonicalInt parses an integer as strconv.AppendInt writes it: digits
// with no leading zero, '-' before any but 0. By hand, as strconv.ParseInt
// accepts more ('+', "-0", leading zeros) and is slower on short numbers.
func canonicalInt(tok []byte) (int64, bool) {
	digits := tok
	if len(tok) > 0 && tok[0] == '-' {
		digits = tok[1:]
	}
	if len(digits) == 0 || len(digits) > 19 || digits[0] == '0' && len(tok) > 1 {
		return 0, false
	}
	var u uint64 // 19 digits cannot overflow it
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if tok[0] == '-' {
		return -int64(u), u <= 1<<63
	}
	return int64(u), u < 1<<63
}

// array reads the array at the read position (a '[').
func (d *decoder) array(depth int) (any, error) {
	if depth > maxCodecDepth {
		return nil, d.tooDeep()
	}
	d.i++
	if d.eat(']') {
		return []any{}, nil
	}
	var arr [16]any // typical arrays build without a heap slice
	vs := arr[:0]
	for {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
		if d.eat(',') {
			continue
		}
		if d.eat(']') {
			return append(make([]any, 0, len(vs)), vs...), nil
		}
		return nil, d.unexpected("',' or ']'")
	}
}

// object reads the object at the read position (a '{'): a map, or a tag.
func (d *decoder) object(depth int) (any, error) {
	start := d.i
	d.i++
	if d.eat('}') {
		if depth > maxCodecDepth {
			return nil, d.tooDeep()
		}
		return map[string]any{}, nil
	}
	// An object with the one key "$t", "$b" or "$m" is a tag.
	if d.lit(`"$`) && d.i+2 < len(d.b) && d.b[d.i+1] == '"' && d.b[d.i+2] == ':' {
		tag := d.b[d.i]
		d.i += 3
		if v, ok, err := d.tag(tag, depth); ok || err != nil {
			return v, err
		}
	}
	d.i = start + 1
	if depth > maxCodecDepth {
		return nil, d.tooDeep()
	}
	return d.members(depth, false)
}

// tag reads the rest of {"$<tag>": (value and closing brace). ok is false,
// and the read position undefined, when the object is not a tag after all.
func (d *decoder) tag(tag byte, depth int) (v any, ok bool, err error) {
	switch {
	case (tag == 't' || tag == 'b') && d.peek() == '"':
		at := d.i
		s, err := d.str()
		if err != nil || !d.eat('}') {
			return nil, err != nil, err
		}
		if tag == 't' {
			// UnmarshalText reads RFC 3339; EncodeData writes it in UTC
			// ('Z') with a fraction of 1 to 9 digits and no trailing zero,
			// or none. Position 19 can only be '.' when the hour has two
			// digits (the one field UnmarshalText also takes with one).
			var t time.Time
			if n := len(s); n >= 20 && s[n-1] == 'Z' && (n == 20 || s[19] == '.' && n <= 30 && s[n-2] != '0') && t.UnmarshalText(s) == nil {
				return t, true, nil
			}
			d.i = at
			return nil, true, d.errorf(`"$t" holds %.40q, want an RFC 3339 time in UTC as the encoder writes it`, s)
		}
		p := make([]byte, strictBase64.DecodedLen(len(s)))
		n, err := strictBase64.Decode(p, s)
		if err != nil || strictBase64.EncodedLen(n) != len(s) { // Decode skips '\n' and '\r'
			d.i = at
			return nil, true, d.errorf(`"$b" holds %.40q, want padded standard base64`, s)
		}
		return p[:n], true, nil
	case tag == 'm' && d.peek() == '{' && d.lastMember():
		if depth > maxCodecDepth {
			return nil, true, d.tooDeep()
		}
		d.i++
		m, err := d.members(depth, true)
		if err == nil && !d.eat('}') {
			err = d.unexpected("'}'")
		}
		return m, true, err
	}
	return nil, false, nil
}

// lastMember reports whether the object or array at the read position is
// followed by '}', that is, whether it is the last member of its object.
// It only pairs brackets and skips strings: when the value is well-formed
// that is the answer, and when it is not, reading it fails either way.
func (d *decoder) lastMember() bool {
	nest := 0
	for i := d.i; i < len(d.b); i++ {
		switch d.b[i] {
		case '"':
			for i++; i < len(d.b) && d.b[i] != '"'; i++ {
				if d.b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			nest++
		case '}', ']':
			if nest--; nest == 0 {
				return i+1 < len(d.b) && d.b[i+1] == '}'
			}
		}
	}
	return false
}

// members reads a map's members, after its '{', through its '}'. wrapped
// says it is the map inside {"$m":…}, which has exactly one key, starting
// with '$'; any other map must not have that shape.
func (d *decoder) members(depth int, wrapped bool) (map[string]any, error) {
	type member struct {
		kend int // the key is keys[previous kend:kend]
		val  any
	}
	// Typical maps build without heap slices, and all keys of a map share
	// one string: one allocation, not one per key (they live exactly as
	// long as the map anyway).
	var marr [16]member
	ms := marr[:0]
	var karr [256]byte
	keys := karr[:0]
	prev := 0 // where the previous key starts in keys
	for {
		at := d.i
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		off := len(keys)
		keys = append(keys, k...)
		if len(ms) > 0 && bytes.Compare(keys[prev:off], keys[off:]) >= 0 {
			d.i = at
			return nil, d.errorf("key %.40q after %.40q: keys must be unique and in sorted order", string(keys[off:]), string(keys[prev:off]))
		}
		prev = off
		if !d.eat(':') {
			return nil, d.unexpected("':'")
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		ms = append(ms, member{len(keys), v})
		if d.eat(',') {
			continue
		}
		if d.eat('}') {
			break
		}
		return nil, d.unexpected("',' or '}'")
	}
	if oneDollar := len(ms) == 1 && len(keys) > 0 && keys[0] == '$'; oneDollar != wrapped {
		if wrapped {
			return nil, d.errorf(`"$m" holds a map that is not one key starting with '$'`)
		}
		return nil, d.errorf(`{%.40q:…} is neither a valid tag ("$t", "$b", "$m") nor wrapped in "$m"`, string(keys))
	}
	block := string(keys)
	m := make(map[string]any, len(ms))
	off := 0
	for _, e := range ms {
		m[block[off:e.kend]] = e.val
		off = e.kend
	}
	return m, nil
}

// str reads the string at the read position and returns its content, which
// aliases the input or d.scratch: use it before the next call.
func (d *decoder) str() ([]byte, error) {
	if !d.eat('"') {
		return nil, d.unexpected("a string")
	}
	b, start := d.b, d.i
	escaped, ascii := false, true
	for i := start; i < len(b); i++ {
		c := b[i]
		if plainASCII[c] {
			continue
		}
		switch {
		case c == '"':
			raw := b[start:i]
			d.i = i + 1
			if !ascii && !utf8.Valid(raw) {
				d.i = start
				return nil, d.errorf("string is not valid UTF-8")
			}
			if escaped {
				return d.unescape(raw, start)
			}
			return raw, nil
		case c == '\\':
			escaped = true
			i++ // the escaped byte; unescape checks it
		case c < 0x20:
			d.i = i
			return nil, d.errorf("control character %q in a string", c)
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	d.i = len(b)
	return nil, d.unexpected(`'"'`)
}

// unescape resolves the escapes appendString writes (and no others) in raw,
// the content of the string at start, into d.scratch.
func (d *decoder) unescape(raw []byte, start int) ([]byte, error) {
	out := d.scratch[:0]
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++ // str made sure an escaped byte follows
		switch e := raw[i]; e {
		case '"', '\\':
			out = append(out, e)
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u': // \u00xx, lower-case hex, for the other control characters
			if i+4 < len(raw) && raw[i+1] == '0' && raw[i+2] == '0' && (raw[i+3] == '0' || raw[i+3] == '1') {
				if lo := strings.IndexByte(hexDigits, raw[i+4]); lo >= 0 {
					if c = (raw[i+3]-'0')<<4 | byte(lo); c != '\n' && c != '\r' && c != '\t' {
						out = append(out, c)
						i += 4
						continue
					}
				}
			}
			fallthrough
		default:
			d.scratch = out
			d.i = start + i - 1
			return nil, d.errorf("escape not as the encoder writes it")
		}
	}
	d.scratch = out
	return out, nil
}
