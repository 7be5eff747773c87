package backends_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/uuid"
	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/storetest"
)

var when = time.Date(2024, 3, 5, 7, 8, 9, 123456789, time.FixedZone("CET", 3600))

// every canonical kind, nested, including user maps that look like tags.
func sampleData() map[string]any {
	return map[string]any{
		"nil":      nil,
		"true":     true,
		"false":    false,
		"int":      int64(5),
		"neg":      int64(-42),
		"max":      int64(math.MaxInt64),
		"min":      int64(math.MinInt64),
		"float5":   5.0,
		"float":    0.1,
		"tiny":     1e-300,
		"huge":     1.5e300,
		"negzero":  math.Copysign(0, -1),
		"str":      "héllo \"quoted\" \\ \n\t\x00 \u2028 <&> 😀",
		"empty":    "",
		"bytes":    []byte{0, 1, 2, 0xff},
		"nobytes":  []byte{},
		"time":     when,
		"utc":      time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		"list":     []any{int64(1), "two", 3.0, nil, []any{}, map[string]any{"x": int64(1)}},
		"nested":   map[string]any{"a": map[string]any{"b": []any{when, []byte("x")}}},
		"emptymap": map[string]any{},
		"tagT":     map[string]any{"$t": "not a time"},
		"tagB":     map[string]any{"$b": int64(7)},
		"tagM":     map[string]any{"$m": map[string]any{"$t": "x"}},
		"tagX":     map[string]any{"$x": true},
		"twoTags":  map[string]any{"$t": "a", "$b": "b"},
		"$":        "dollar key",
	}
}

func TestEncodeDecodeDataRoundTrip(t *testing.T) {
	in := sampleData()
	b, err := backends.EncodeData(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := backends.DecodeData(b)
	if err != nil {
		t.Fatalf("DecodeData(%s): %v", b, err)
	}
	if d := storetest.Diff(in, out); d != "" {
		t.Fatalf("round trip: %s\njson: %s", d, b)
	}
	// Kinds, not only values, must survive.
	if _, ok := out["int"].(int64); !ok {
		t.Errorf("int came back as %T", out["int"])
	}
	if _, ok := out["float5"].(float64); !ok {
		t.Errorf("5.0 came back as %T", out["float5"])
	}
	if tm := out["time"].(time.Time); tm.Location() != time.UTC {
		t.Errorf("time came back in %v, want UTC", tm.Location())
	}
	// Deterministic: equal data, equal bytes.
	b2, _ := backends.EncodeData(out)
	if !bytes.Equal(b, b2) {
		t.Errorf("re-encoding differs:\n%s\n%s", b, b2)
	}
}

func TestEncodeDataSingleValues(t *testing.T) {
	for _, tc := range []struct {
		v    any
		json string
	}{
		{int64(5), `{"k":5}`},
		{5.0, `{"k":5.0}`},
		{-0.5, `{"k":-0.5}`},
		{1e21, `{"k":1e+21}`},
		{1e-7, `{"k":1e-07}`},
		{when, `{"k":{"$t":"2024-03-05T06:08:09.123456789Z"}}`},
		{[]byte("hi"), `{"k":{"$b":"aGk="}}`},
		{map[string]any{"$t": "x"}, `{"k":{"$m":{"$t":"x"}}}`},
		{"a\"b\x01", `{"k":"a\"b\u0001"}`},
		{7, `{"k":7}`}, // non-canonical values are normalised on the way
	} {
		b, err := backends.EncodeData(map[string]any{"k": tc.v})
		if err != nil {
			t.Errorf("%#v: %v", tc.v, err)
			continue
		}
		if string(b) != tc.json {
			t.Errorf("%#v encoded as %s, want %s", tc.v, b, tc.json)
		}
		if !json.Valid(b) {
			t.Errorf("%#v: invalid JSON %s", tc.v, b)
		}
	}
	// A top-level map with one "$" key is wrapped too.
	b, err := backends.EncodeData(map[string]any{"$t": "x"})
	if err != nil || string(b) != `{"$m":{"$t":"x"}}` {
		t.Errorf("top-level $ map: %s, %v", b, err)
	}
	got, err := backends.DecodeData(b)
	if err != nil || got["$t"] != "x" || len(got) != 1 {
		t.Errorf("top-level $ map decoded to %#v, %v", got, err)
	}
}

type point struct {
	X, Y int
	Name string `json:"name"`
	When time.Time
}

type celsius float32

type jsonInt struct{ n int }

func (j jsonInt) MarshalJSON() ([]byte, error) {
	return []byte(`{"n":` + string(rune('0'+j.n)) + `}`), nil
}

func TestNormalize(t *testing.T) {
	s := "ptr"
	var nilPtr *int
	var nilSlice []string
	var nilMap map[string]int
	type myStr string
	for _, tc := range []struct {
		name string
		in   any
		want any
	}{
		{"nil", nil, nil},
		{"int", 5, int64(5)},
		{"int8", int8(-5), int64(-5)},
		{"uint8", uint8(255), int64(255)},
		{"uint64", uint64(math.MaxInt64), int64(math.MaxInt64)},
		{"float32", float32(1.5), 1.5},
		{"named float", celsius(2.5), 2.5},
		{"named string", myStr("x"), "x"},
		{"bool", true, true},
		{"time keeps instant, becomes UTC", when, when.UTC()},
		{"pointer", &s, "ptr"},
		{"nil pointer", nilPtr, nil},
		{"time pointer", &when, when.UTC()},
		{"[]string", []string{"a", "b"}, []any{"a", "b"}},
		{"array", [2]int{1, 2}, []any{int64(1), int64(2)}},
		{"nil slice", nilSlice, nil},
		{"nil map", nilMap, nil},
		{"map[string]int", map[string]int{"a": 1}, map[string]any{"a": int64(1)}},
		{"map of named keys", map[myStr][]int{"a": {1}}, map[string]any{"a": []any{int64(1)}}},
		{"nested any", map[string]any{"l": []any{uint16(3), map[string]float32{"f": 0.5}}}, map[string]any{"l": []any{int64(3), map[string]any{"f": 0.5}}}},
		{"named bytes", json.RawMessage(`{"a":1}`), map[string]any{"a": int64(1)}}, // json.Marshaler wins
		{"bytes", []byte("ab"), []byte("ab")},
		{"struct via json", point{X: 1, Y: 2, Name: "p", When: when}, map[string]any{"X": int64(1), "Y": int64(2), "name": "p", "When": "2024-03-05T07:08:09.123456789+01:00"}},
		{"json.Marshaler", jsonInt{3}, map[string]any{"n": int64(3)}},
		{"json.Number int", json.Number("12"), int64(12)},
		{"json.Number float", json.Number("1.5"), 1.5},
		{"TextMarshaler", net.IPv4(10, 0, 0, 1), "10.0.0.1"},
		{"uuid", uuid.MustParse("3b241101-e2bb-4255-8caf-4136c566a962"), "3b241101-e2bb-4255-8caf-4136c566a962"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := backends.Normalize(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d := storetest.Diff(tc.want, got); d != "" {
				t.Fatal(d)
			}
		})
	}
}

func TestNormalizeCopies(t *testing.T) {
	b := []byte("abc")
	m := map[string]any{"b": b}
	got, err := backends.Normalize(m)
	if err != nil {
		t.Fatal(err)
	}
	b[0] = 'X'
	m["new"] = 1
	if gm := got.(map[string]any); len(gm) != 1 || string(gm["b"].([]byte)) != "abc" {
		t.Fatalf("Normalize result shares memory with its input: %#v", gm)
	}
}

func TestNormalizeUnsupported(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	list := []any{nil}
	list[0] = list
	x := 1
	for _, tc := range []struct {
		name    string
		in      any
		mention string
	}{
		{"chan", make(chan int), "chan int"},
		{"func", func() {}, "func()"},
		{"complex", complex(1, 2), "complex128"},
		{"unsafe pointer", unsafe.Pointer(&x), "unsafe.Pointer"},
		{"int keys", map[int]string{1: "a"}, "map[int]string"},
		{"nested int keys", map[string]any{"m": map[float64]int{}}, "map[float64]int"},
		{"uint64 overflow", uint64(math.MaxUint64), "18446744073709551615"},
		{"NaN", math.NaN(), "NaN"},
		{"Inf", float32(math.Inf(1)), "Inf"},
		{"invalid utf8", "a\xffb", "UTF-8"},
		{"cyclic map", cyclic, "deeper"},
		{"cyclic slice", list, "deeper"},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "year 10000"},
		{"struct with chan", struct{ C chan int }{}, "chan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := backends.Normalize(tc.in)
			if !errors.Is(err, backends.ErrUnsupportedValue) {
				t.Fatalf("err = %v, want ErrUnsupportedValue", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not mention %q", err, tc.mention)
			}
			// The encoder refuses the same values.
			if _, err := backends.EncodeData(map[string]any{"k": tc.in}); !errors.Is(err, backends.ErrUnsupportedValue) {
				t.Fatalf("EncodeData err = %v, want ErrUnsupportedValue", err)
			}
		})
	}
}

func TestDecodeDataCorrupt(t *testing.T) {
	for _, in := range []string{
		``, `null`, `[]`, `"x"`, `5`, `{`, `{"a":1}x`, `{"a":1} {}`, `{"a":tru}`,
		`{"$t":"2024-01-01T00:00:00Z"}`, // a top-level tag is a time, not data
		`{"k":{"$t":5}}`, `{"k":{"$t":"yesterday"}}`, `{"k":{"$t":"0000-01-01T00:00:00+01:00"}}`,
		`{"k":{"$b":"!!"}}`, `{"k":{"$b":1}}`, `{"k":{"$m":[]}}`, `{"k":{"$x":1}}`,
		`{"k":99999999999999999999}`, `{"k":1e999}`,
		"\xff\xfe", strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200),
	} {
		got, err := backends.DecodeData([]byte(in))
		if !errors.Is(err, backends.ErrCorrupt) {
			t.Errorf("DecodeData(%.60q) = %#v, %v; want ErrCorrupt", in, got, err)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	now := time.Now()
	for _, r := range []*backends.Record{
		{ID: "a", Data: sampleData(), Created: now.Add(-time.Hour), Updated: now, Expires: now.Add(time.Hour)},
		{ID: "b", Data: nil, Created: now, Updated: now}, // no expiry, no data
		{ID: "c", Data: map[string]any{}, Created: time.Unix(0, 0), Updated: time.Unix(0, 5)},
	} {
		b, err := backends.EncodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := backends.DecodeRecord(r.ID, b)
		if err != nil {
			t.Fatalf("DecodeRecord(%s): %v", b, err)
		}
		if got.ID != r.ID {
			t.Errorf("ID %q, want %q", got.ID, r.ID)
		}
		if !got.Created.Equal(r.Created) && !(r.Created.Equal(time.Unix(0, 0)) && got.Created.Equal(time.Unix(0, 1))) {
			t.Errorf("Created %v, want %v", got.Created, r.Created)
		}
		if !got.Updated.Equal(r.Updated) || !got.Expires.Equal(r.Expires) {
			t.Errorf("times %v/%v, want %v/%v", got.Updated, got.Expires, r.Updated, r.Expires)
		}
		if got.Data == nil {
			t.Errorf("Data is nil, want an empty map")
		}
		if len(r.Data) > 0 {
			if d := storetest.Diff(r.Data, got.Data); d != "" {
				t.Error(d)
			}
		}
	}
	if _, err := backends.EncodeRecord(&backends.Record{Created: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}); !errors.Is(err, backends.ErrUnsupportedValue) {
		t.Errorf("year 3000: err = %v, want ErrUnsupportedValue", err)
	}
}

func TestDecodeRecordCorrupt(t *testing.T) {
	for _, in := range []string{
		``, `{}`, `[]`, `{"v":2,"c":0,"u":0,"e":0,"d":{}}`, `{"v":1,"c":"x","u":0,"e":0,"d":{}}`,
		`{"v":1,"c":0,"u":0,"e":1.5,"d":{}}`, `{"v":1,"c":0,"u":0,"e":0}`, `{"v":1,"c":0,"u":0,"e":0,"d":[]}`,
		`{"v":1,"c":0,"u":0,"e":0,"d":{"k":{"$t":1}}}`, `{"v":1,"c":99999999999999999999,"u":0,"e":0,"d":{}}`,
		"garbage\x00",
	} {
		if _, err := backends.DecodeRecord("id", []byte(in)); !errors.Is(err, backends.ErrCorrupt) {
			t.Errorf("DecodeRecord(%q): err = %v, want ErrCorrupt", in, err)
		}
	}
}

func FuzzDecodeData(f *testing.F) {
	seed, _ := backends.EncodeData(sampleData())
	for _, s := range []string{
		string(seed), `{}`, `{"a":1,"b":1.0,"c":"x"}`, `{"k":{"$t":"2024-01-01T00:00:00.5+02:00"}}`,
		`{"k":{"$b":"AAE="}}`, `{"k":{"$m":{"$t":"x"}}}`, `{"$m":{"$m":{}}}`, `{"k":[1,[2,[3]],{"x":null}]}`,
		`{"k":-0.0}`, `{"k":1E400}`, `{"k":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := backends.DecodeData(b)
		if err != nil {
			if !errors.Is(err, backends.ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		// DecodeData accepts only what EncodeData writes: the same bytes.
		enc, err := backends.EncodeData(d)
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("decoded %q as %#v, which re-encodes to %q, %v", b, d, enc, err)
		}
		d2, err := backends.DecodeData(enc)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", enc, err)
		}
		if diff := storetest.Diff(d, d2); diff != "" {
			t.Fatalf("round trip of %q via %s: %s", b, enc, diff)
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	now := time.Unix(1700000000, 5)
	seed, _ := backends.EncodeRecord(&backends.Record{Data: sampleData(), Created: now, Updated: now, Expires: now.Add(time.Hour)})
	for _, s := range []string{
		string(seed), `{"v":1,"c":0,"u":0,"e":0,"d":{}}`, `{"v":1,"c":-9223372036854775808,"u":9223372036854775807,"e":1,"d":{"a":[1]}}`,
		`{"v":1,"c":1,"u":1,"e":1,"d":{"$m":{"$b":"x"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := backends.DecodeRecord("id", b)
		if err != nil {
			if !errors.Is(err, backends.ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		enc, err := backends.EncodeRecord(r)
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("decoded %q as %+v, which re-encodes to %q, %v", b, r, enc, err)
		}
		r2, err := backends.DecodeRecord("id", enc)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", enc, err)
		}
		if !r.Created.Equal(r2.Created) || !r.Updated.Equal(r2.Updated) || !r.Expires.Equal(r2.Expires) {
			t.Fatalf("times changed: %+v -> %+v", r, r2)
		}
		if diff := storetest.Diff(r.Data, r2.Data); diff != "" {
			t.Fatalf("round trip of %q via %s: %s", b, enc, diff)
		}
	})
}

// benchSession is a typical 10-key session.
func benchSession() map[string]any {
	return map[string]any{
		"user_id":    int64(123456),
		"user_name":  "alice@example.com",
		"visits":     int64(42),
		"logged_in":  true,
		"login_at":   time.Date(2024, 3, 5, 7, 8, 9, 0, time.UTC),
		"csrf":       "f3b2a1c0d9e8f7a6b5c4d3e2f1a0b9c8",
		"locale":     "en-GB",
		"cart":       []any{int64(17), int64(23), int64(99)},
		"prefs":      map[string]any{"theme": "dark", "page_size": int64(50)},
		"last_score": 97.5,
	}
}

func BenchmarkEncodeData(b *testing.B) {
	d := benchSession()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := backends.EncodeData(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeData(b *testing.B) {
	enc, _ := backends.EncodeData(benchSession())
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := backends.DecodeData(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNormalizeScalar(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := backends.Normalize(42); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRecord(b *testing.B) {
	now := time.Date(2024, 3, 5, 7, 8, 9, 0, time.UTC)
	enc, _ := backends.EncodeRecord(&backends.Record{Data: benchSession(), Created: now, Updated: now, Expires: now.Add(time.Hour)})
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := backends.DecodeRecord("id", enc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRecordMetaRoundTrip: the user agent and IP a session was created
// with travel with the record; records written before Meta existed, and
// records without it, keep the old envelope byte for byte.
func TestRecordMetaRoundTrip(t *testing.T) {
	now := time.Unix(1700000000, 123).UTC()
	r := &backends.Record{Data: map[string]any{"a": int64(1)}, Created: now, Updated: now,
		Meta: backends.Meta{UserAgent: `Mozilla/5.0 "quoted" \ é`, IP: "2001:db8::1"}}
	b, err := backends.EncodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := backends.DecodeRecord("x", b)
	if err != nil {
		t.Fatalf("DecodeRecord(%s): %v", b, err)
	}
	if got.Meta != r.Meta {
		t.Errorf("meta %+v came back as %+v", r.Meta, got.Meta)
	}
	r.Meta = backends.Meta{UserAgent: "only-ua"}
	b, _ = backends.EncodeRecord(r)
	if got, err := backends.DecodeRecord("x", b); err != nil || got.Meta != r.Meta {
		t.Errorf("user agent only: %+v, %v", got, err)
	}
	r.Meta = backends.Meta{}
	old, _ := backends.EncodeRecord(r)
	if bytes.Contains(old, []byte(`"m":`)) {
		t.Errorf("a record without meta wrote %s; want the version 1 envelope unchanged", old)
	}
	for _, bad := range []string{
		`{"v":1,"c":0,"u":0,"e":0,"d":{},"m":{"a":1}}`,
		`{"v":1,"c":0,"u":0,"e":0,"d":{},"m":{"z":"x"}}`,
		`{"v":1,"c":0,"u":0,"e":0,"d":{},"m":"x"}`,
		`{"v":1,"c":0,"u":0,"e":0,"d":{},"m":{"a":"x"}`,
	} {
		if _, err := backends.DecodeRecord("x", []byte(bad)); !errors.Is(err, backends.ErrCorrupt) {
			t.Errorf("DecodeRecord(%s) = %v, want ErrCorrupt", bad, err)
		}
	}
}
