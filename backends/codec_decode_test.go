package backends_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/storetest"
)

// timeKey stands in for a time.Time when comparing decoded trees, so that
// equal instants compare equal whatever their internal representation.
type timeKey string

func normTimes(v any) any {
	switch x := v.(type) {
	case time.Time:
		return timeKey(x.UTC().Format(time.RFC3339Nano))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normTimes(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normTimes(e)
		}
		return out
	}
	return v
}

// sameDecoded is reflect.DeepEqual after normalising times: it tells nil
// from empty slices and maps, int64 from float64, []byte from string.
func sameDecoded(a, b any) bool {
	return reflect.DeepEqual(normTimes(a), normTimes(b))
}

// checkDataDifferential holds DecodeData to the reference decoder (the
// encoding/json-based one it replaced) on one input. DecodeData is strict:
// it accepts b exactly when the reference accepts b and EncodeData writes
// the value the reference read as b itself. Then both read the same value,
// and re-encoding DecodeData's value gives b back. It reports whether
// DecodeData accepted b.
func checkDataDifferential(t *testing.T, b []byte) bool {
	t.Helper()
	want, werr := refDecodeData(b)
	canonical := false
	if werr == nil {
		enc, err := backends.EncodeData(want)
		canonical = err == nil && bytes.Equal(enc, b)
	}
	got, gerr := backends.DecodeData(b)
	switch {
	case gerr != nil && !errors.Is(gerr, backends.ErrCorrupt):
		t.Fatalf("input %q: error does not wrap ErrCorrupt: %v", b, gerr)
	case gerr != nil && canonical:
		t.Fatalf("input %q is what EncodeData writes for %#v, but DecodeData rejects it: %v", b, want, gerr)
	case gerr != nil:
		return false
	case werr != nil:
		t.Fatalf("input %q: DecodeData accepts it as %#v, the reference rejects it: %v", b, got, werr)
	case !canonical:
		t.Fatalf("input %q: DecodeData accepts it as %#v, but EncodeData writes that differently", b, got)
	case !sameDecoded(want, got):
		t.Fatalf("input %q:\nreference: %#v\nnew:       %#v", b, want, got)
	}
	if enc, err := backends.EncodeData(got); err != nil || !bytes.Equal(enc, b) {
		t.Fatalf("input %q decodes to %#v, which re-encodes to %q, %v", b, got, enc, err)
	}
	return true
}

// differentialSeeds are inputs on the edges of the grammar, most of them
// valid JSON that the reference accepts and DecodeData must reject.
var differentialSeeds = []string{
	`{}`, ` {"a" : 1 , "b":[ ] ,"c":{ }} `, "{\t\"a\"\r\n:\n1}", `{"a":1,"b":[],"c":{}}`,
	`{"a":1,"a":2}`, `{"b":1,"a":2}`, `{"a":{"$t":1},"a":2}`, `{"a":99999999999999999999,"a":true}`,
	`{"$t":"x","$t":"2024-01-01T00:00:00Z"}`, `{"k":{"$t":"x","$t":"2024-01-01T00:00:00Z"}}`,
	`{"k":{"$m":{"$t":"x"}}}`, `{"k":{"$m":{"$t":"x"},"y":1}}`, `{"k":{"$m":{"$t":"2024-01-01T00:00:00Z"},"y":1}}`,
	`{"k":{"$m":{"a":1},"$m":{"$t":"x"}}}`, `{"k":{"$m":5}}`, `{"k":{"$m":[]}}`, `{"$m":{"$m":{"$t":"x"}}}`,
	`{"$m":{"$m":{"a":1}}}`, `{"k":{"$m":{}}}`, `{"k":{"$m":{"a":1}}}`, `{"$b":1,"$t":2}`, `{"$t":"2024-01-01T00:00:00Z","a":1}`,
	`{"k":{"$b":""}}`, `{"k":{"$b":"AA\nE="}}`, `{"k":{"$b":"AAE"}}`, `{"k":{"$b":"AAE=","x":1}}`, `{"k":{"$b":"AAE="}}`,
	`{"k":{"\u0024t":"2024-01-01T00:00:00+02:00"}}`, `{"k":{"$":1}}`, `{"k":{"$x":1,"$x":2}}`,
	`{"k":{"$t":"0000-01-01T00:30:00+01:00"}}`, `{"k":{"$t":"9999-12-31T23:59:59-01:00"}}`,
	`{"k":{"$t":"2024-01-01T00:00:00.5Z"}}`, `{"k":{"$t":"2024-01-01T00:00:00.50Z"}}`, `{"k":{"$t":"2024-01-01T00:00:00+00:00"}}`,
	`{"k":"\ud800"}`, `{"k":"\ud800\udc00"}`, `{"k":"\udc00\ud800"}`, `{"k":"\ud800\ud800\udc00"}`,
	`{"k":"\ud800\u0041"}`, `{"k":"\ud800\"}`, `{"k":"a\u00e9\/\b\f\n\r\t\\\""}`, "{\"k\":\"\xff\xfe\xed\xa0\x80\"}",
	`{"k":"\u0000\u001f\u007f"}`, `{"k":"\u001F"}`, `{"k":"\u0009"}`, "{\"k\":\"\u2028\x7f\"}",
	"{\"\xff\":1,\"\xfe\":2}", `{"k":"\u12G4"}`, `{"k":"\x"}`, "{\"k\":\"\x01\"}", `{"k":"abc`,
	`{"k":-0}`, `{"k":-0.0}`, `{"k":0.1e-400}`, `{"k":1e400}`, `{"k":9223372036854775807}`,
	`{"k":-9223372036854775808}`, `{"k":9223372036854775808}`, `{"k":-9223372036854775809}`,
	`{"k":1e+21}`, `{"k":1e21}`, `{"k":1e-07}`, `{"k":1e-7}`, `{"k":0.000001}`, `{"k":5.0}`, `{"k":5.00}`,
	`{"k":01}`, `{"k":1.}`, `{"k":.5}`, `{"k":-}`, `{"k":1e}`, `{"k":1E+2}`, `{"k":+1}`,
	`{"k":tru}`, `{"k":nul}`, `{"k":[1,]}`, `{"k":[,1]}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":1}}`,
	`{"a":1} `, `{"a":1}x`, `{}{}`, `[]`, `null`, `"x"`, `5`, ``, " ", "\ufeff{}",
	strings.Repeat(`[`, 129) + strings.Repeat(`]`, 129),
	`{"k":` + strings.Repeat(`[`, 128) + strings.Repeat(`]`, 128) + `}`,
	`{"k":` + strings.Repeat(`[`, 129) + strings.Repeat(`]`, 129) + `}`,
	`{"k":` + strings.Repeat(`[`, 128) + `{"$t":"2024-01-01T00:00:00Z"}` + strings.Repeat(`]`, 128) + `}`,
	`{"k":` + strings.Repeat(`[`, 128) + `{"$m":{}}` + strings.Repeat(`]`, 128) + `}`,
	`{"k":` + strings.Repeat(`[`, 127) + `{"$m":{"$a":1}}` + strings.Repeat(`]`, 127) + `}`,
	`{"k":` + strings.Repeat(`[`, 128) + `{"$m":{"$a":1}}` + strings.Repeat(`]`, 128) + `}`,
	`{"k":` + strings.Repeat(`[`, 9000) + strings.Repeat(`]`, 9000) + `,"k":1}`,
	`{"k":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `,"k":1}`,
	strings.Repeat(`{"$m":`, 200) + `{}` + strings.Repeat(`}`, 200),
	strings.Repeat(`{"$m":`, 128) + `{"$a":1}` + strings.Repeat(`}`, 128),
	strings.Repeat(`{"a":`, 128) + `1` + strings.Repeat(`}`, 128),
	strings.Repeat(`{"a":`, 129) + `1` + strings.Repeat(`}`, 129),
}

func FuzzDecodeDataDifferential(f *testing.F) {
	seed, _ := backends.EncodeData(sampleData())
	f.Add(seed)
	bench, _ := backends.EncodeData(benchSession())
	f.Add(bench)
	for _, s := range differentialSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDataDifferential(t, b)
	})
}

// FuzzDecodeRecordDifferential is checkDataDifferential for records:
// DecodeRecord accepts b exactly when the reference does and EncodeRecord
// writes b for what the reference read.
func FuzzDecodeRecordDifferential(f *testing.F) {
	now := time.Unix(1700000000, 5)
	seed, _ := backends.EncodeRecord(&backends.Record{Data: sampleData(), Created: now, Updated: now, Expires: now.Add(time.Hour)})
	f.Add(seed)
	for _, s := range []string{
		`{"v":1,"c":0,"u":0,"e":0,"d":{}}`, `{"v":1,"c":-0,"u":1,"e":-5,"d":{"a":[1]}}`, `{"v":1.0,"c":0,"u":0,"e":0,"d":{}}`,
		`{"v":1,"c":1e3,"u":0,"e":0,"d":{}}`, `{"v":1,"c":"1","u":0,"e":0,"d":{}}`, `{"v":1,"u":0,"e":0,"d":{}}`,
		`{"v":1,"c":0,"u":0,"e":0,"d":{"k":{"$t":1}},"d":{}}`, `{"v":1,"c":0,"u":0,"e":0,"d":{},"d":{"k":1e999}}`,
		`{"v":1,"c":0,"u":0,"e":0,"d":{"$m":{"$t":"x"}}}`, `{"v":1,"c":0,"u":0,"e":0,"d":{"$t":"2024-01-01T00:00:00Z"}}`,
		`{"v":1,"c":0,"u":0,"e":0,"d":null}`, `{"v":1,"c":0,"u":0,"e":0,"d":{},"x":{"$t":5},"y":99999999999999999999}`,
		`{"v":1,"v":2,"c":0,"u":0,"e":0,"d":{}}`, `{"v":2,"v":1,"c":0,"u":0,"e":0,"d":{}}`, `{"\u0076":1,"c":0,"u":0,"e":0,"d":{}}`,
		`{"c":0,"v":1,"u":0,"e":0,"d":{}}`, `{"v":1,"c":0,"u":0,"e":0,"d":{} }`, `{"v":1,"c":1,"u":-1,"e":9223372036854775807,"d":{}}`,
		`{"v":1,"c":9223372036854775808,"u":0,"e":0,"d":{}}`, `{"v":1,"c":0,"u":0,"e":0,"d":{}}x`, `[]`, ``,
		`{"v":1,"c":0,"u":0,"e":0,"d":{},"x":` + strings.Repeat(`[`, 9999) + strings.Repeat(`]`, 9999) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := refDecodeRecord("id", b)
		canonical := false
		if werr == nil {
			enc, err := backends.EncodeRecord(want)
			canonical = err == nil && bytes.Equal(enc, b)
		}
		got, gerr := backends.DecodeRecord("id", b)
		switch {
		case gerr != nil && !errors.Is(gerr, backends.ErrCorrupt):
			t.Fatalf("input %q: error does not wrap ErrCorrupt: %v", b, gerr)
		case gerr != nil && canonical:
			t.Fatalf("input %q is what EncodeRecord writes for %+v, but DecodeRecord rejects it: %v", b, want, gerr)
		case gerr != nil:
			return
		case werr != nil:
			t.Fatalf("input %q: DecodeRecord accepts it as %+v, the reference rejects it: %v", b, got, werr)
		case !canonical:
			t.Fatalf("input %q: DecodeRecord accepts it as %+v, but EncodeRecord writes that differently", b, got)
		}
		if got.ID != "id" || !got.Created.Equal(want.Created) || !got.Updated.Equal(want.Updated) || !got.Expires.Equal(want.Expires) ||
			got.Created.IsZero() != want.Created.IsZero() || got.Expires.IsZero() != want.Expires.IsZero() {
			t.Fatalf("input %q: record %+v, reference %+v", b, got, want)
		}
		if !sameDecoded(want.Data, got.Data) {
			t.Fatalf("input %q:\nreference data: %#v\nnew data:       %#v", b, want.Data, got.Data)
		}
		if enc, err := backends.EncodeRecord(got); err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("input %q decodes to %+v, which re-encodes to %q, %v", b, got, enc, err)
		}
	})
}

// Inputs DecodeData accepts, with the values they must give.
func TestDecodeDataEdges(t *testing.T) {
	jan1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want map[string]any
	}{
		{`{"":null,"$":"x","a":[],"b":{},"é":true}`, map[string]any{"": nil, "$": "x", "a": []any{}, "b": map[string]any{}, "é": true}},
		{"{\"k\":\"\\u0000\\u001f\\\"\\\\\\n\\r\\t/\u2028\x7f😀\"}", map[string]any{"k": "\x00\x1f\"\\\n\r\t/\u2028\x7f😀"}},
		{`{"a":-9223372036854775808,"b":9223372036854775807,"c":0}`, map[string]any{"a": int64(math.MinInt64), "b": int64(math.MaxInt64), "c": int64(0)}},
		{`{"a":1e+21,"b":1e-07,"c":0.000001,"d":5.0,"e":123456789012345680000.0}`, map[string]any{"a": 1e21, "b": 1e-7, "c": 1e-6, "d": 5.0, "e": 123456789012345678901.0}},
		{`{"b":{"$b":""},"c":{"$b":"AAE="}}`, map[string]any{"b": []byte{}, "c": []byte{0, 1}}},
		{`{"a":{"$t":"0000-01-01T00:00:00Z"},"b":{"$t":"9999-12-31T23:59:59.999999999Z"},"c":{"$t":"2024-01-01T00:00:00.5Z"}}`,
			map[string]any{"a": time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), "b": time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), "c": jan1.Add(time.Second / 2)}},
		// A map with one "$" key is wrapped; with more, or another first key, it is a plain map.
		{`{"$m":{"$t":"x"}}`, map[string]any{"$t": "x"}},
		{`{"k":{"$m":{"$m":{"a":1}}}}`, map[string]any{"k": map[string]any{"$m": map[string]any{"a": int64(1)}}}},
		{`{"$b":1,"$t":2}`, map[string]any{"$b": int64(1), "$t": int64(2)}},
		{`{"$t":"2024-01-01T00:00:00Z","a":1}`, map[string]any{"$t": "2024-01-01T00:00:00Z", "a": int64(1)}},
		{`{"$m":{"$t":"2024-01-01T00:00:00Z"},"x":2}`, map[string]any{"$m": jan1, "x": int64(2)}},
	} {
		got, err := backends.DecodeData([]byte(tc.in))
		if err != nil {
			t.Errorf("DecodeData(%s): %v", tc.in, err)
			continue
		}
		if d := storetest.Diff(tc.want, got); d != "" || !sameDecoded(tc.want, got) {
			t.Errorf("DecodeData(%s) = %#v, want %#v (%s)", tc.in, got, tc.want, d)
		}
		checkDataDifferential(t, []byte(tc.in))
	}
	// Times come back exactly as time.Date makes them in UTC, and -0.0 keeps its sign.
	got, err := backends.DecodeData([]byte(`{"t":{"$t":"2024-03-05T07:08:09.123Z"},"z":-0.0}`))
	if err != nil || !reflect.DeepEqual(got["t"], time.Date(2024, 3, 5, 7, 8, 9, 123000000, time.UTC)) || !math.Signbit(got["z"].(float64)) {
		t.Errorf("got %#v, %v", got, err)
	}
}

// Input that encoding/json, and so the decoder before this one, accepted
// (the reference still does), but that EncodeData never writes: ErrCorrupt.
func TestDecodeNonCanonical(t *testing.T) {
	for _, in := range []string{
		// whitespace
		` {}`, `{} `, `{ }`, "{\n}", `{"a" :1}`, `{"a": 1}`, `{"a":1 ,"b":2}`, `{"a":[1, 2]}`,
		// duplicate or unsorted keys
		`{"a":1,"a":2}`, `{"b":1,"a":2}`, `{"a":{"$t":1},"a":2}`, `{"k":{"$t":"x","$t":"2024-01-01T00:00:00Z"}}`,
		// escapes and UTF-8
		`{"k":"\/"}`, `{"k":"\b"}`, `{"k":"\f"}`, `{"k":"\u0041"}`, `{"k":"\u0009"}`, `{"k":"\u001F"}`, `{"k":"\u0022"}`,
		`{"k":"\u00e9"}`, `{"k":"\ud83d\ude00"}`, `{"k":"\ud800"}`, "{\"k\":\"\xff\"}", "{\"\xff\":1}",
		`{"k":{"\u0024t":"2024-01-01T00:00:00Z"}}`,
		// numbers
		`{"k":-0}`, `{"k":1E2}`, `{"k":1e2}`, `{"k":1.50}`, `{"k":0.1e1}`, `{"k":1e-7}`, `{"k":1e21}`,
		`{"k":0.0000001}`, `{"k":100000000000000000000000.0}`, `{"k":1e-400}`,
		// times
		`{"k":{"$t":"2024-01-01T00:00:00+00:00"}}`, `{"k":{"$t":"2024-01-01T01:00:00+01:00"}}`,
		`{"k":{"$t":"2024-01-01T00:00:00.500Z"}}`, `{"k":{"$t":"2024-01-01T00:00:00.000Z"}}`,
		`{"k":{"$t":"2024-01-01T00:00:00.1234567891Z"}}`, `{"k":{"$t":"2024-01-01T00:00:00,5Z"}}`,
		// bytes
		`{"k":{"$b":"AA\nE="}}`, `{"k":{"$b":"AA\rE="}}`,
		// "$m" around a map that is not one "$" key
		`{"k":{"$m":{"a":1}}}`, `{"k":{"$m":{}}}`, `{"$m":{"a":1}}`, `{"k":{"$m":{"$a":1,"$b":2}}}`,
	} {
		if _, err := refDecodeData([]byte(in)); err != nil {
			t.Errorf("reference decoder rejects %s: %v (the test wants input it accepts)", in, err)
		}
		if got, err := backends.DecodeData([]byte(in)); !errors.Is(err, backends.ErrCorrupt) {
			t.Errorf("DecodeData(%q) = %#v, %v; want ErrCorrupt", in, got, err)
		}
	}
	for _, in := range []string{
		` {"v":1,"c":0,"u":0,"e":0,"d":{}}`, `{"c":0,"v":1,"u":0,"e":0,"d":{}}`, `{"v":1,"c":0,"u":0,"e":0,"d":{},"x":1}`,
		`{"v":1,"c":-0,"u":0,"e":0,"d":{}}`, `{"v":1,"c":0,"u":0,"e":0,"d":{},"d":{}}`, `{"v":1,"v":1,"c":0,"u":0,"e":0,"d":{}}`,
		`{"v":1,"c":0,"u":0,"e":0,"d":{"a":1,"a":1}}`,
	} {
		if _, err := refDecodeRecord("id", []byte(in)); err != nil {
			t.Errorf("reference decoder rejects %s: %v (the test wants input it accepts)", in, err)
		}
		if got, err := backends.DecodeRecord("id", []byte(in)); !errors.Is(err, backends.ErrCorrupt) {
			t.Errorf("DecodeRecord(%q) = %+v, %v; want ErrCorrupt", in, got, err)
		}
	}
}

// The decoded values own their memory: changing the input afterwards does
// not change them.
func TestDecodeDataDoesNotAliasInput(t *testing.T) {
	in := []byte(`{"b":{"$b":"AAE="},"e":"a\nb","key":"value"}`)
	got, err := backends.DecodeData(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'X'
	}
	if got["key"] != "value" || got["e"] != "a\nb" || string(got["b"].([]byte)) != "\x00\x01" {
		t.Fatalf("decoded data changed with its input: %#v", got)
	}
}

// The reference (encoding/json-based) decoder on the same inputs as
// BenchmarkDecodeData and BenchmarkDecodeRecord, for a side-by-side
// comparison under the same machine load.
func BenchmarkDecodeDataReference(b *testing.B) {
	enc, _ := backends.EncodeData(benchSession())
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := refDecodeData(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRecordReference(b *testing.B) {
	now := time.Date(2024, 3, 5, 7, 8, 9, 0, time.UTC)
	enc, _ := backends.EncodeRecord(&backends.Record{Data: benchSession(), Created: now, Updated: now, Expires: now.Add(time.Hour)})
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := refDecodeRecord("id", enc); err != nil {
			b.Fatal(err)
		}
	}
}

// genJSON writes a random JSON document biased towards the corners where
// the decoder could differ from the reference: "$" keys and tags,
// duplicate keys, escapes, odd numbers, deep nesting.
func genJSON(r *rand.Rand, b *strings.Builder, depth int) {
	keys := []string{`"$t"`, `"$b"`, `"$m"`, `"$"`, `"$x"`, `"a"`, `"a"`, `"b"`, `"\u0024m"`, `"\u0024t"`, `"é"`, `"\ud800"`, `"\ud83d\ude00"`, "\"\xff\""}
	scalars := []string{
		`"2024-01-01T00:00:00Z"`, `"2024-02-29T23:59:59.123456789Z"`, `"2023-02-29T00:00:00Z"`, `"0000-01-01T00:00:00Z"`,
		`"2024-01-01T00:00:00.1234567891Z"`, `"2024-01-01T00:00:00+01:00"`, `"2024-01-01T00:00:00,5Z"`, `"2024-01-01T24:00:00Z"`,
		`"2024-01-01T00:00:60Z"`, `"2024-01-01T00:00:00.Z"`, `"2024-1-01T00:00:00Z"`, `"9999-12-31T23:59:59.999999999Z"`,
		`"AAE="`, `"AAE"`, `""`, `"AA\nE="`, `"!!"`, `"x"`, `"\"\\\/\b\f\n\r\t"`, `"\ud800\udc00"`, `"\udc00"`,
		`0`, `-0`, `1`, `-1`, `255`, `256`, `1.5`, `-0.0`, `1e3`, `1E-3`, `9223372036854775807`, `-9223372036854775808`,
		`9223372036854775808`, `1e400`, `1e-400`, `123456789012345678901234567890`, `true`, `false`, `null`,
	}
	switch n := r.IntN(10); {
	case depth > 6 || n < 4:
		b.WriteString(scalars[r.IntN(len(scalars))])
	case n < 8:
		b.WriteByte('{')
		for i := range r.IntN(4) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(keys[r.IntN(len(keys))])
			b.WriteByte(':')
			genJSON(r, b, depth+1)
		}
		b.WriteByte('}')
	default:
		b.WriteByte('[')
		for i := range r.IntN(4) {
			if i > 0 {
				b.WriteByte(',')
			}
			genJSON(r, b, depth+1)
		}
		b.WriteByte(']')
	}
}

// genValue makes a random canonical value, biased towards the same corners.
func genValue(r *rand.Rand, depth int) any {
	keys := []string{"$t", "$b", "$m", "$", "$x", "", "a", "b", "é", "\n", "\"", "😀", "\x7f"}
	switch n := r.IntN(20); {
	case depth > 5 || n < 12:
		switch r.IntN(9) {
		case 0:
			return []any{nil, true, false}[r.IntN(3)]
		case 1:
			return []int64{0, -1, 1, 255, 256, math.MaxInt64, math.MinInt64, r.Int64(), -r.Int64N(1e6)}[r.IntN(9)]
		case 2:
			return []float64{0, math.Copysign(0, -1), 5, 0.1, 1e21, 1e21 - 65536, 1e-6, 1e-7, 1.5e300, math.MaxFloat64,
				math.SmallestNonzeroFloat64, r.NormFloat64(), r.NormFloat64() * math.Pow(10, float64(r.IntN(60)-30))}[r.IntN(13)]
		case 3, 4:
			var sb strings.Builder
			for range r.IntN(5) {
				sb.WriteString([]string{"a", "é", "😀", "\x00", "\x1f", "\t", "\n", "\r", "\"", "\\", "/", "\u2028", "<&>", "$t", "\x7f", "\\u0041"}[r.IntN(16)])
			}
			return sb.String()
		case 5:
			p := make([]byte, r.IntN(6))
			for i := range p {
				p[i] = byte(r.IntN(256))
			}
			return p
		case 6:
			ns := []int64{0, 0, 5e8, 123456789, r.Int64N(1e9)}[r.IntN(5)]
			return time.Unix(r.Int64N(253402300800+62167219200)-62167219200, ns).UTC()
		}
		return keys[r.IntN(len(keys))]
	case n < 17:
		m := map[string]any{}
		for range r.IntN(4) {
			m[keys[r.IntN(len(keys))]] = genValue(r, depth+1)
		}
		return m
	}
	l := make([]any, r.IntN(4))
	for i := range l {
		l[i] = genValue(r, depth+1)
	}
	return l
}

func TestDecodeDataDifferentialGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 30000
	if testing.Short() {
		n = 3000
	}
	accepted := 0
	for range n {
		var in []byte
		if r.IntN(3) == 0 {
			var sb strings.Builder
			sb.WriteString(`{"k":`)
			genJSON(r, &sb, 0)
			sb.WriteString(`}`)
			in = []byte(sb.String())
		} else {
			v := map[string]any{"k": genValue(r, 0)}
			if m, ok := genValue(r, 4).(map[string]any); ok && r.IntN(2) == 0 {
				v = m
			}
			enc, err := backends.EncodeData(v)
			if err != nil {
				t.Fatalf("EncodeData(%#v): %v", v, err)
			}
			got, err := backends.DecodeData(enc)
			if err != nil {
				t.Fatalf("DecodeData(%q) (of %#v): %v", enc, v, err)
			}
			if d := storetest.Diff(v, got); d != "" {
				t.Fatalf("round trip of %#v via %q: %s", v, enc, d)
			}
			in = mutate(r, enc)
		}
		if r.IntN(20) == 0 { // an occasional truncation
			in = in[:r.IntN(len(in))]
		}
		if checkDataDifferential(t, in) {
			accepted++
		}
	}
	// A fair share must be valid, or this test would only compare errors.
	if accepted < n/5 {
		t.Fatalf("only %d of %d generated inputs were valid", accepted, n)
	}
	t.Logf("%d of %d generated inputs decoded, the rest were rejected by both", accepted, n)
}

// mutate makes, half of the time, one small edit to encoder output.
func mutate(r *rand.Rand, b []byte) []byte {
	if r.IntN(2) == 0 || len(b) == 0 {
		return b
	}
	const alphabet = "{}[]\",:$\\ \n0123456789.eE+-tnuabmx"
	i := r.IntN(len(b))
	switch r.IntN(3) {
	case 0:
		return append(b[:i:i], b[i+1:]...)
	case 1:
		return append(append(b[:i:i], alphabet[r.IntN(len(alphabet))]), b[i:]...)
	}
	out := bytes.Clone(b)
	out[i] = alphabet[r.IntN(len(alphabet))]
	return out
}
