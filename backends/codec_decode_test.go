package backends_test

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sessionfx/session/backends"
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

// differentialSeeds are inputs on the edges where a hand-written decoder
// could part ways with encoding/json.
var differentialSeeds = []string{
	`{}`, ` {"a" : 1 , "b":[ ] ,"c":{ }} `, "{\t\"a\"\r\n:\n1}",
	`{"a":1,"a":2}`, `{"a":{"$t":1},"a":2}`, `{"a":99999999999999999999,"a":true}`,
	`{"$t":"x","$t":"2024-01-01T00:00:00Z"}`, `{"k":{"$t":"x","$t":"2024-01-01T00:00:00Z"}}`,
	`{"k":{"$m":{"$t":"x"}}}`, `{"k":{"$m":{"$t":"x"},"y":1}}`, `{"k":{"$m":{"$t":"2024-01-01T00:00:00Z"},"y":1}}`,
	`{"k":{"$m":{"a":1},"$m":{"$t":"x"}}}`, `{"k":{"$m":5}}`, `{"k":{"$m":[]}}`, `{"$m":{"$m":{"$t":"x"}}}`,
	`{"k":{"$b":""}}`, `{"k":{"$b":"AA\nE="}}`, `{"k":{"$b":"AAE"}}`, `{"k":{"$b":"AAE=","x":1}}`,
	`{"k":{"\u0024t":"2024-01-01T00:00:00+02:00"}}`, `{"k":{"$":1}}`, `{"k":{"$x":1,"$x":2}}`,
	`{"k":{"$t":"0000-01-01T00:30:00+01:00"}}`, `{"k":{"$t":"9999-12-31T23:59:59-01:00"}}`,
	`{"k":"\ud800"}`, `{"k":"\ud800\udc00"}`, `{"k":"\udc00\ud800"}`, `{"k":"\ud800\ud800\udc00"}`,
	`{"k":"\ud800\u0041"}`, `{"k":"\ud800\"}`, `{"k":"a\u00e9\/\b\f\n\r\t\\\""}`, "{\"k\":\"\xff\xfe\xed\xa0\x80\"}",
	"{\"\xff\":1,\"\xfe\":2}", `{"k":"\u12G4"}`, `{"k":"\x"}`, "{\"k\":\"\x01\"}", `{"k":"abc`,
	`{"k":-0}`, `{"k":-0.0}`, `{"k":0.1e-400}`, `{"k":1e400}`, `{"k":9223372036854775807}`,
	`{"k":-9223372036854775808}`, `{"k":9223372036854775808}`, `{"k":-9223372036854775809}`,
	`{"k":01}`, `{"k":1.}`, `{"k":.5}`, `{"k":-}`, `{"k":1e}`, `{"k":1E+2}`, `{"k":+1}`,
	`{"k":tru}`, `{"k":nul}`, `{"k":[1,]}`, `{"k":[,1]}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":1}}`,
	`{"a":1} `, `{"a":1}x`, `{}{}`, `[]`, `null`, `"x"`, `5`, ``, " ", "\ufeff{}",
	strings.Repeat(`[`, 129) + strings.Repeat(`]`, 129),
	`{"k":` + strings.Repeat(`[`, 128) + strings.Repeat(`]`, 128) + `}`,
	`{"k":` + strings.Repeat(`[`, 129) + strings.Repeat(`]`, 129) + `}`,
	`{"k":` + strings.Repeat(`[`, 128) + `{"$t":"2024-01-01T00:00:00Z"}` + strings.Repeat(`]`, 128) + `}`,
	`{"k":` + strings.Repeat(`[`, 128) + `{"$m":{}}` + strings.Repeat(`]`, 128) + `}`,
	`{"k":` + strings.Repeat(`[`, 127) + `{"$m":{"a":1}}` + strings.Repeat(`]`, 127) + `}`,
	`{"k":` + strings.Repeat(`[`, 9000) + strings.Repeat(`]`, 9000) + `,"k":1}`,
	`{"k":` + strings.Repeat(`[`, 9999) + strings.Repeat(`]`, 9999) + `,"k":1}`,
	`{"k":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `,"k":1}`,
	strings.Repeat(`{"$m":`, 200) + `{}` + strings.Repeat(`}`, 200),
	strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 200),
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
		want, werr := refDecodeData(b)
		got, gerr := backends.DecodeData(b)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("input %q:\nreference: %#v, %v\nnew:       %#v, %v", b, want, werr, got, gerr)
		}
		if gerr != nil {
			if !errors.Is(gerr, backends.ErrCorrupt) {
				t.Fatalf("input %q: error does not wrap ErrCorrupt: %v", b, gerr)
			}
			return
		}
		if !sameDecoded(want, got) {
			t.Fatalf("input %q:\nreference: %#v\nnew:       %#v", b, want, got)
		}
	})
}

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
		`{"v":1,"c":9223372036854775808,"u":0,"e":0,"d":{}}`, `{"v":1,"c":0,"u":0,"e":0,"d":{}}x`, `[]`, ``,
		`{"v":1,"c":0,"u":0,"e":0,"d":{},"x":` + strings.Repeat(`[`, 9999) + strings.Repeat(`]`, 9999) + `}`,
		`{"v":1,"c":0,"u":0,"e":0,"d":{},"x":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := refDecodeRecord("id", b)
		got, gerr := backends.DecodeRecord("id", b)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("input %q:\nreference: %+v, %v\nnew:       %+v, %v", b, want, werr, got, gerr)
		}
		if gerr != nil {
			if !errors.Is(gerr, backends.ErrCorrupt) {
				t.Fatalf("input %q: error does not wrap ErrCorrupt: %v", b, gerr)
			}
			return
		}
		if got.ID != "id" || !got.Created.Equal(want.Created) || !got.Updated.Equal(want.Updated) || !got.Expires.Equal(want.Expires) ||
			got.Created.IsZero() != want.Created.IsZero() || got.Expires.IsZero() != want.Expires.IsZero() {
			t.Fatalf("input %q: record %+v, reference %+v", b, got, want)
		}
		if !sameDecoded(want.Data, got.Data) {
			t.Fatalf("input %q:\nreference data: %#v\nnew data:       %#v", b, want.Data, got.Data)
		}
	})
}

// Specific behaviours a user of the stores would notice, pinned down
// beyond "same as the reference".
func TestDecodeDataEdges(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]any
	}{
		{`{"a":1,"a":"two"}`, map[string]any{"a": "two"}},    // last duplicate wins
		{`{"a":1e999,"a":2}`, map[string]any{"a": int64(2)}}, // a replaced bad value does not matter
		{`{"k":{"$t":"x","$t":"2024-01-01T00:00:00Z"}}`, map[string]any{"k": time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}},
		// "$m" beside another key is an ordinary key whose value is read as usual.
		{`{"k":{"$m":{"$t":"2024-01-01T00:00:00Z"},"y":null}}`, map[string]any{"k": map[string]any{"$m": time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), "y": nil}}},
		{`{"k":{"$m":{"$t":"x"}}}`, map[string]any{"k": map[string]any{"$t": "x"}}},
		{`{"k":"\ud83d\ude00 \ud800 \u00e9"}`, map[string]any{"k": "😀 \ufffd é"}},
		{"{\"k\":\"a\xffb\"}", map[string]any{"k": "a\ufffdb"}},
		{`{"i":-9223372036854775808,"f":1E2,"z":-0,"e":[],"o":{}}`, map[string]any{"i": int64(-9223372036854775808), "f": 100.0, "z": int64(0), "e": []any{}, "o": map[string]any{}}},
		{`{"b":{"$b":""}}`, map[string]any{"b": []byte{}}},
	} {
		got, err := backends.DecodeData([]byte(tc.in))
		if err != nil {
			t.Errorf("DecodeData(%s): %v", tc.in, err)
			continue
		}
		if !sameDecoded(tc.want, got) {
			t.Errorf("DecodeData(%s) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{`{"k":9223372036854775808}`, `{"k":[1,{"$b":"!"}]}`, `{"a":1}  x`} {
		if _, err := backends.DecodeData([]byte(in)); !errors.Is(err, backends.ErrCorrupt) {
			t.Errorf("DecodeData(%s): err = %v, want ErrCorrupt", in, err)
		}
	}
}

// The decoded values own their memory: changing the input afterwards does
// not change them.
func TestDecodeDataDoesNotAliasInput(t *testing.T) {
	in := []byte(`{"key":"value","b":{"$b":"AAE="}}`)
	got, err := backends.DecodeData(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'X'
	}
	if got["key"] != "value" || string(got["b"].([]byte)) != "\x00\x01" {
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
// the hand-written decoder could differ from the reference: "$" keys and
// tags, duplicate keys, escapes, odd numbers, deep nesting, and now and
// then a syntax error.
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

func TestDecodeDataDifferentialGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 30000
	if testing.Short() {
		n = 3000
	}
	agreeOK := 0
	for range n {
		var sb strings.Builder
		sb.WriteString(`{"k":`)
		genJSON(r, &sb, 0)
		sb.WriteString(`}`)
		in := []byte(sb.String())
		if r.IntN(20) == 0 { // an occasional syntax error or truncation
			in = in[:r.IntN(len(in))]
		}
		want, werr := refDecodeData(in)
		got, gerr := backends.DecodeData(in)
		if (werr == nil) != (gerr == nil) || (gerr == nil && !sameDecoded(want, got)) {
			t.Fatalf("input %s:\nreference: %#v, %v\nnew:       %#v, %v", in, want, werr, got, gerr)
		}
		if gerr == nil {
			agreeOK++
		}
	}
	// The generator must produce a fair share of valid data, or this test
	// would only compare error paths.
	if agreeOK < n/10 {
		t.Fatalf("only %d of %d generated inputs were valid", agreeOK, n)
	}
	t.Logf("%d of %d generated inputs decoded, the rest were rejected by both", agreeOK, n)
}
