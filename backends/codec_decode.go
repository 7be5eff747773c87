package backends

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// The decoder below reads EncodeData's and EncodeRecord's JSON in one pass
// over the bytes, building the canonical values directly. It accepts and
// rejects exactly what the encoding/json-based decoder it replaced did (a
// differential fuzz test holds it to that), which fixes a few rules that
// look odd in isolation:
//
//   - Duplicate keys: the last one wins, and whatever was wrong with a value
//     that a later duplicate replaces does not matter. So a semantic problem
//     (a number out of range, a bad "$t", nesting beyond maxCodecDepth) is
//     not fatal at once: it travels up as a *semanticError to the object
//     member holding it, and is an error only if that member survives.
//     Syntax errors are fatal at once.
//   - Any nesting up to encoding/json's limit is valid JSON (under a
//     replaced key, or an envelope field DecodeRecord ignores); beyond
//     maxCodecDepth such values are skipped, not built.
//   - An object is a tag ({"$t":…}, {"$b":…}, {"$m":{…}}) when, after
//     duplicates, it has exactly one key and that key starts with '$'.
//     The object under "$m" is the user's map itself: it is never read as a
//     tag. Which reading applies to the value of a "$m" key is known only
//     once the enclosing object closes, so the decoder looks ahead (skips
//     the value) before reading it.

// maxJSONNesting is encoding/json's limit on nested arrays and objects.
const maxJSONNesting = 10000

// strictBase64 is made once: Encoding.Strict returns a fresh copy per call.
var strictBase64 = base64.StdEncoding.Strict()

type decoder struct {
	b       []byte
	i       int    // read position
	nest    int    // arrays and objects open, for maxJSONNesting
	scratch []byte // unescaped string content, reused
}

// member is one object member before the map is made: its key is
// keys[koff:kend] of the object's key buffer, and val holds a
// *semanticError when the value was unusable.
type member struct {
	koff, kend int
	val        any
}

// syntaxError: the input is not JSON. Always fatal.
type syntaxError struct {
	msg string
	off int
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.off) }

// semanticError: valid JSON that is not valid session data. Fatal unless the
// object member holding it is replaced by a later duplicate key.
type semanticError struct{ msg string }

func (e *semanticError) Error() string { return e.msg }

func semantic(format string, args ...any) error {
	return &semanticError{fmt.Sprintf(format, args...)}
}

var errTooDeepDecode = &semanticError{fmt.Sprintf("nested deeper than %d levels", maxCodecDepth)}

// errAt describes the byte at the read position (or the end of input) as
// not being what was wanted.
func (d *decoder) errAt(want string) error {
	if d.i >= len(d.b) {
		return &syntaxError{"unexpected end of input, want " + want, d.i}
	}
	return &syntaxError{fmt.Sprintf("invalid character %q, want %s", d.b[d.i], want), d.i}
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// DecodeData decodes what EncodeData wrote. Any other input, including
// arbitrary bytes, yields an error wrapping ErrCorrupt (never a panic).
// The result is never nil.
func DecodeData(b []byte) (map[string]any, error) {
	d := decoder{b: b}
	d.ws()
	v, err := d.value(0, true)
	if err == nil {
		d.ws()
		if d.i < len(b) {
			err = d.errAt("the end of the input after the JSON value")
		}
	}
	if err != nil {
		return nil, d.corrupt("session data", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: session data is %s, want a JSON object", ErrCorrupt, kindName(v))
	}
	return m, nil
}

func (d *decoder) corrupt(what string, err error) error {
	if _, ok := err.(*semanticError); ok {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, what, err)
	}
	return fmt.Errorf("%w: %s is not valid JSON: %v", ErrCorrupt, what, err)
}

// value reads the JSON value at the read position (whitespace already
// skipped). depth is the codec depth (the data map is 0); tagMode false
// means an object here is a plain map even if it looks like a tag.
func (d *decoder) value(depth int, tagMode bool) (any, error) {
	if d.i >= len(d.b) {
		return nil, d.errAt("a value")
	}
	switch c := d.b[d.i]; c {
	case '{':
		// Past maxCodecDepth only a tag object ({"$t":"…"}) can still be
		// valid, and only one level past it.
		if depth > maxCodecDepth+1 || (!tagMode && depth > maxCodecDepth) {
			return nil, d.skipInvalid(errTooDeepDecode)
		}
		return d.object(depth, tagMode)
	case '[':
		if depth > maxCodecDepth {
			return nil, d.skipInvalid(errTooDeepDecode)
		}
		return d.array(depth)
	case '"':
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		return string(s), nil
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	case 'n':
		return nil, d.literal("null")
	}
	return d.number()
}

// skipInvalid skips the value at the read position and returns sem, or the
// syntax error that stopped the skip.
func (d *decoder) skipInvalid(sem error) error {
	if err := d.skip(); err != nil {
		return err
	}
	return sem
}

func (d *decoder) open() error {
	d.i++
	d.nest++
	if d.nest > maxJSONNesting {
		return &syntaxError{fmt.Sprintf("arrays and objects nested deeper than %d levels", maxJSONNesting), d.i - 1}
	}
	return nil
}

func (d *decoder) object(depth int, tagMode bool) (any, error) {
	if err := d.open(); err != nil {
		return nil, err
	}
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		d.nest--
		if depth > maxCodecDepth {
			return nil, errTooDeepDecode
		}
		return map[string]any{}, nil
	}
	// Typical objects build without heap slices. All keys of an object
	// share one string, made when it closes: one allocation, not one per
	// key (they live exactly as long as the map anyway).
	var arr [16]member
	ms := arr[:0]
	var karr [256]byte
	keys := karr[:0]
	allM := true // every key so far is "$m"
	nbad := 0
	for {
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, d.errAt("a string key")
		}
		kb, err := d.str()
		if err != nil {
			return nil, err
		}
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, d.errAt("':' after an object key")
		}
		d.i++
		d.ws()

		koff := len(keys)
		if tagMode && len(ms) == 0 && len(kb) == 2 && kb[0] == '$' && (kb[1] == 't' || kb[1] == 'b') &&
			d.i < len(d.b) && d.b[d.i] == '"' {
			// Fast path for {"$t":"…"} and {"$b":"…"}: no key, no
			// intermediate string.
			tag, save := kb[1], d.i
			vb, err := d.str()
			if err != nil {
				return nil, err
			}
			d.ws()
			if d.i < len(d.b) && d.b[d.i] == '}' {
				d.i++
				d.nest--
				if tag == 't' {
					return parseTimeTagBytes(vb)
				}
				return decodeBytesTag(vb)
			}
			d.i = save // more members follow: read it as an ordinary one
			keys = append(keys, '$', tag)
		} else {
			keys = append(keys, kb...)
		}
		kend := len(keys)

		allM = allM && string(keys[koff:kend]) == tagMap
		var v any
		if tagMode && allM && depth <= maxCodecDepth {
			// {"$m":X}: X is the user's map at this depth, read as a plain
			// map, if this member closes the object; otherwise an
			// ordinary value one level down.
			last, lerr := d.lastMember()
			if lerr != nil {
				return nil, lerr
			}
			if last {
				v, err = d.value(depth, false)
			} else {
				v, err = d.value(depth+1, true)
			}
		} else {
			v, err = d.value(depth+1, true)
		}
		if err != nil {
			se, ok := err.(*semanticError)
			if !ok {
				return nil, err
			}
			v = se
			nbad++
		}
		ms = append(ms, member{koff, kend, v})

		d.ws()
		if d.i < len(d.b) {
			if d.b[d.i] == ',' {
				d.i++
				d.ws()
				continue
			}
			if d.b[d.i] == '}' {
				d.i++
				break
			}
		}
		return nil, d.errAt("',' or '}' after an object member")
	}
	d.nest--

	if first := keys[ms[0].koff:ms[0].kend]; tagMode && len(first) > 0 && first[0] == '$' && sameKeys(keys, ms) {
		return tagValue(string(first), ms[len(ms)-1].val)
	}
	if depth > maxCodecDepth {
		return nil, errTooDeepDecode
	}
	block := string(keys)
	m := make(map[string]any, len(ms))
	for _, e := range ms {
		m[block[e.koff:e.kend]] = e.val
	}
	if nbad > 0 {
		for k, v := range m {
			if se, ok := v.(*semanticError); ok {
				return nil, semantic("key %.40q: %s", k, se.msg)
			}
		}
	}
	return m, nil
}

func sameKeys(keys []byte, ms []member) bool {
	first := keys[ms[0].koff:ms[0].kend]
	for _, e := range ms[1:] {
		if string(keys[e.koff:e.kend]) != string(first) {
			return false
		}
	}
	return true
}

// lastMember reports whether the value at the read position is followed by
// the end of its object, leaving the read position where it was.
func (d *decoder) lastMember() (bool, error) {
	i, nest := d.i, d.nest
	if err := d.skip(); err != nil {
		return false, err
	}
	d.ws()
	last := d.i < len(d.b) && d.b[d.i] == '}'
	d.i, d.nest = i, nest
	return last, nil
}

// tagValue interprets the one member of a tag object.
func tagValue(tag string, v any) (any, error) {
	if se, ok := v.(*semanticError); ok {
		return nil, se
	}
	switch tag {
	case tagTime:
		s, ok := v.(string)
		if !ok {
			return nil, semantic(`"$t" holds %s, want an RFC 3339 string`, kindName(v))
		}
		return parseTimeTag(s)
	case tagBytes:
		s, ok := v.(string)
		if !ok {
			return nil, semantic(`"$b" holds %s, want a base64 string`, kindName(v))
		}
		return decodeBytesTag([]byte(s))
	case tagMap:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, semantic(`"$m" holds %s, want an object`, kindName(v))
		}
		return m, nil
	}
	return nil, semantic("unknown tag %.40q (want $t, $b or $m)", tag)
}

// parseTimeTagBytes reads the form EncodeData writes, UTC with 'Z' and an
// optional fraction, without allocating; anything else goes to time.Parse.
// The fast path accepts only what time.Parse's own RFC 3339 path accepts,
// and computes the same instant.
func parseTimeTagBytes(b []byte) (any, error) {
	if t, ok := parseUTCTime(b); ok {
		return t, nil
	}
	return parseTimeTag(string(b))
}

func parseUTCTime(b []byte) (time.Time, bool) {
	if len(b) < len("2006-01-02T15:04:05Z") || b[len(b)-1] != 'Z' ||
		b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	ok := true
	num := func(s []byte, lo, hi int) int {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				ok = false
				return lo
			}
			n = n*10 + int(c-'0')
		}
		if n < lo || n > hi {
			ok = false
		}
		return n
	}
	year := num(b[0:4], 0, 9999)
	month := num(b[5:7], 1, 12)
	day := num(b[8:10], 1, 31)
	hour := num(b[11:13], 0, 23)
	minute := num(b[14:16], 0, 59)
	sec := num(b[17:19], 0, 59)
	if !ok || day > daysIn(month, year) {
		return time.Time{}, false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		// '.' and at least one digit; digits past the ninth are ignored,
		// as time.Parse does.
		if len(frac) < 2 || frac[0] != '.' {
			return time.Time{}, false
		}
		digits := frac[1:]
		for i, c := range digits {
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			if i < 9 {
				nsec = nsec*10 + int(c-'0')
			}
		}
		for i := len(digits); i < 9; i++ {
			nsec *= 10
		}
	} else if len(b) != len("2006-01-02T15:04:05Z") {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func parseTimeTag(s string) (any, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, semantic(`"$t": %v`, err)
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, semantic(`"$t": time %q is outside years 0 to 9999 in UTC`, s)
	}
	return t, nil
}

func decodeBytesTag(src []byte) (any, error) {
	p := make([]byte, strictBase64.DecodedLen(len(src)))
	n, err := strictBase64.Decode(p, src)
	if err != nil {
		return nil, semantic(`"$b": %v`, err)
	}
	return p[:n], nil
}

func (d *decoder) array(depth int) (any, error) {
	if err := d.open(); err != nil {
		return nil, err
	}
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		d.nest--
		return make([]any, 0), nil
	}
	var arr [16]any
	vs := arr[:0]
	var bad error
	for {
		if bad == nil {
			v, err := d.value(depth+1, true)
			if err != nil {
				if _, ok := err.(*semanticError); !ok {
					return nil, err
				}
				bad = err
			}
			vs = append(vs, v)
		} else if err := d.skip(); err != nil {
			return nil, err
		}
		d.ws()
		if d.i < len(d.b) {
			if d.b[d.i] == ',' {
				d.i++
				d.ws()
				continue
			}
			if d.b[d.i] == ']' {
				d.i++
				break
			}
		}
		return nil, d.errAt("',' or ']' after an array element")
	}
	d.nest--
	if bad != nil {
		return nil, bad
	}
	out := make([]any, len(vs))
	copy(out, vs)
	return out, nil
}

func (d *decoder) literal(lit string) error {
	if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
		d.i += len(lit)
		return nil
	}
	// Point at the first byte that differs.
	for j := 0; j < len(lit) && d.i < len(d.b) && d.b[d.i] == lit[j]; j++ {
		d.i++
	}
	return d.errAt("a value")
}

// scanNumber checks the JSON number at the read position and returns its
// end; isFloat reports a fraction or an exponent.
func (d *decoder) scanNumber() (end int, isFloat bool, err error) {
	b, i := d.b, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		}
	default:
		d.i = i
		return 0, false, d.errAt("a value")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			return 0, false, d.errAt("a digit after the decimal point")
		}
		for i++; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		}
		isFloat = true
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			return 0, false, d.errAt("a digit in the exponent")
		}
		for i++; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		}
		isFloat = true
	}
	return i, isFloat, nil
}

// number reads a JSON number: int64 without fraction and exponent, float64
// otherwise; one that does not fit is a semantic error.
func (d *decoder) number() (any, error) {
	start := d.i
	end, isFloat, err := d.scanNumber()
	if err != nil {
		return nil, err
	}
	d.i = end
	lit := d.b[start:end]
	if !isFloat {
		if n, ok := parseInt(lit); ok {
			return n, nil
		}
		return nil, semantic("number %.40s out of range", lit)
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil { // only ErrRange: the syntax was checked
		return nil, semantic("number %.40s out of range", lit)
	}
	return f, nil
}

// parseInt parses a JSON integer literal (syntax already checked).
func parseInt(lit []byte) (int64, bool) {
	digits := lit
	if lit[0] == '-' {
		digits = lit[1:]
	}
	if len(digits) <= 18 { // cannot overflow
		var n int64
		for _, c := range digits {
			n = n*10 + int64(c-'0')
		}
		if lit[0] == '-' {
			n = -n
		}
		return n, true
	}
	n, err := strconv.ParseInt(string(lit), 10, 64)
	return n, err == nil
}

// str reads the JSON string at the read position (a '"') and returns its
// content unescaped, with invalid UTF-8 replaced by U+FFFD as encoding/json
// does. The result aliases the input or d.scratch: use it before the next
// call.
func (d *decoder) str() ([]byte, error) {
	b := d.b
	start := d.i + 1
	i := start
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf {
			if c == '"' {
				d.i = i + 1
				return b[start:i], nil
			}
			if c == '\\' || c < 0x20 {
				break
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	return d.strSlow(start, i)
}

// strSlow continues str from i, the first byte that needs work.
func (d *decoder) strSlow(start, i int) ([]byte, error) {
	b := d.b
	out := append(d.scratch[:0], b[start:i]...)
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			d.i = i + 1
			d.scratch = out
			return out, nil
		case c == '\\':
			if i+1 >= len(b) {
				d.i = i + 1
				return nil, d.errAt("an escape character")
			}
			switch e := b[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(b, i+2)
				if !ok {
					d.i = i
					return nil, &syntaxError{`invalid \u escape`, i}
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// A pair makes one rune; anything else is U+FFFD and
					// the next escape is read on its own.
					if i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
						if r2, ok := hex4(b, i+2); ok {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								out = utf8.AppendRune(out, dec)
								i += 6
								continue
							}
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				d.i = i + 1
				return nil, d.errAt("an escape character")
			}
			i += 2
		case c < 0x20:
			d.i = i
			return nil, d.errAt("a string character (control characters must be escaped)")
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(b[i:]) // invalid: U+FFFD, size 1
			out = utf8.AppendRune(out, r)
			i += size
		}
	}
	d.i = i
	d.scratch = out
	return nil, d.errAt("a closing '\"'")
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipString checks the JSON string at the read position without building it.
func (d *decoder) skipString() error {
	b := d.b
	i := d.i + 1
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			d.i = i + 1
			return nil
		case c == '\\':
			if i+1 >= len(b) {
				d.i = i + 1
				return d.errAt("an escape character")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(b, i+2); !ok {
					return &syntaxError{`invalid \u escape`, i}
				}
				i += 6
			default:
				d.i = i + 1
				return d.errAt("an escape character")
			}
		case c < 0x20:
			d.i = i
			return d.errAt("a string character (control characters must be escaped)")
		default:
			i++
		}
	}
	d.i = i
	return d.errAt("a closing '\"'")
}

// skip checks the JSON value at the read position and moves past it without
// building anything.
func (d *decoder) skip() error {
	if d.i >= len(d.b) {
		return d.errAt("a value")
	}
	switch c := d.b[d.i]; c {
	case '{', '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		if err := d.open(); err != nil {
			return err
		}
		d.ws()
		if d.i < len(d.b) && d.b[d.i] == closer {
			d.i++
			d.nest--
			return nil
		}
		for {
			if c == '{' {
				if d.i >= len(d.b) || d.b[d.i] != '"' {
					return d.errAt("a string key")
				}
				if err := d.skipString(); err != nil {
					return err
				}
				d.ws()
				if d.i >= len(d.b) || d.b[d.i] != ':' {
					return d.errAt("':' after an object key")
				}
				d.i++
				d.ws()
			}
			if err := d.skip(); err != nil {
				return err
			}
			d.ws()
			if d.i < len(d.b) {
				if d.b[d.i] == ',' {
					d.i++
					d.ws()
					continue
				}
				if d.b[d.i] == closer {
					d.i++
					d.nest--
					return nil
				}
			}
			return d.errAt(fmt.Sprintf("',' or '%c'", closer))
		}
	case '"':
		return d.skipString()
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	}
	end, _, err := d.scanNumber()
	if err != nil {
		return err
	}
	d.i = end
	return nil
}

// envField is one of the record envelope's integer fields as read: the
// last occurrence's number literal, or what else it was.
type envField struct {
	set     bool
	lit     []byte // nil when the value was not a number
	isFloat bool
	kind    string // when not a number
}

// DecodeRecord decodes what EncodeRecord wrote, with ID set to id. Times
// come back in UTC. Any other input yields an error wrapping ErrCorrupt
// (never a panic).
func DecodeRecord(id string, b []byte) (*Record, error) {
	d := decoder{b: b}
	d.ws()
	if d.i >= len(b) || b[d.i] != '{' {
		return nil, fmt.Errorf("%w: session record is not a JSON object: %v", ErrCorrupt, d.errAt("'{'"))
	}
	var env envelope
	err := d.envelope(&env)
	if err == nil {
		d.ws()
		if d.i < len(b) {
			err = d.errAt("the end of the input after the JSON value")
		}
	}
	if err != nil {
		return nil, d.corrupt("session record", err)
	}

	if v := env.fields[0]; !v.set || string(v.lit) != "1" {
		got := "missing"
		if v.set {
			got = v.kind
			if v.lit != nil {
				got = fmt.Sprintf("%.40s", v.lit)
			}
		}
		return nil, fmt.Errorf("%w: session record version %s, want %d", ErrCorrupt, got, recordVersion)
	}
	r := &Record{ID: id}
	for i, dst := range [...]*time.Time{&r.Created, &r.Updated, &r.Expires} {
		f, name := env.fields[i+1], "cue"[i:i+1]
		if !f.set || f.lit == nil {
			kind := "missing"
			if f.set {
				kind = f.kind
			}
			return nil, fmt.Errorf("%w: session record field %q is %s, want an integer", ErrCorrupt, name, kind)
		}
		n, ok := int64(0), false
		if !f.isFloat {
			n, ok = parseInt(f.lit)
		}
		if !ok {
			return nil, fmt.Errorf("%w: session record field %q = %.40s, want Unix nanoseconds", ErrCorrupt, name, f.lit)
		}
		if n != 0 {
			*dst = time.Unix(0, n).UTC()
		}
	}
	if !env.hasData {
		return nil, fmt.Errorf(`%w: session record has no "d" (data) field`, ErrCorrupt)
	}
	if env.dataErr != nil {
		return nil, fmt.Errorf("%w: session data: %v", ErrCorrupt, env.dataErr)
	}
	m, ok := env.data.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: session data is %s, want a JSON object", ErrCorrupt, kindName(env.data))
	}
	r.Data = m
	return r, nil
}

// envelope is EncodeRecord's object as read.
type envelope struct {
	fields  [4]envField // "v", "c", "u", "e"
	data    any         // "d"
	dataErr error       // a *semanticError in "d"
	hasData bool
}

// envelope reads the record object's members (the read position is at its
// '{'). Later duplicates replace earlier ones; unknown members are checked
// and ignored.
func (d *decoder) envelope(env *envelope) error {
	if err := d.open(); err != nil {
		return err
	}
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		d.nest--
		return nil
	}
	for {
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return d.errAt("a string key")
		}
		kb, err := d.str()
		if err != nil {
			return err
		}
		field := -1
		if len(kb) == 1 {
			field = strings.IndexByte("vcued", kb[0])
		}
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return d.errAt("':' after an object key")
		}
		d.i++
		d.ws()
		switch {
		case field == 4:
			env.hasData = true
			env.data, env.dataErr = d.value(0, true)
			if env.dataErr != nil {
				if _, ok := env.dataErr.(*semanticError); !ok {
					return env.dataErr
				}
			}
		case field >= 0:
			f := &env.fields[field]
			*f = envField{set: true}
			if d.i < len(d.b) && (d.b[d.i] == '-' || '0' <= d.b[d.i] && d.b[d.i] <= '9') {
				start := d.i
				end, isFloat, err := d.scanNumber()
				if err != nil {
					return err
				}
				d.i = end
				f.lit, f.isFloat = d.b[start:end], isFloat
			} else {
				f.kind = jsonKind(d.b, d.i)
				if err := d.skip(); err != nil {
					return err
				}
			}
		default:
			if err := d.skip(); err != nil {
				return err
			}
		}
		d.ws()
		if d.i < len(d.b) {
			if d.b[d.i] == ',' {
				d.i++
				d.ws()
				continue
			}
			if d.b[d.i] == '}' {
				d.i++
				d.nest--
				return nil
			}
		}
		return d.errAt("',' or '}' after an object member")
	}
}

// jsonKind names the kind of the JSON value starting at b[i] (for errors).
func jsonKind(b []byte, i int) string {
	if i >= len(b) {
		return "nothing"
	}
	switch b[i] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a bool"
	case 'n':
		return "null"
	}
	return "not a value"
}
