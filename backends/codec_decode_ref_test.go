package backends_test

// The encoding/json-based decoder that DecodeData and DecodeRecord used
// before the hand-written one, kept verbatim (only renamed) as the
// reference for the differential fuzz targets. It interprets the wire
// format the slow, obvious way: decode the whole input with encoding/json
// (UseNumber), then classify the tree. It is lenient (whitespace, duplicate
// keys, any JSON escape or number form, any RFC 3339 offset); DecodeData
// is strict, and the targets check that it accepts exactly the inputs this
// one accepts whose value EncodeData writes back byte for byte.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sessionfx/session/backends"
)

const refMaxCodecDepth = 128

func refClassifyNumber(s string) (any, bool) {
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

func refDecodeJSON(b []byte) (any, error) {
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

func refDecodeData(b []byte) (map[string]any, error) {
	raw, err := refDecodeJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%w: session data is not valid JSON: %v", backends.ErrCorrupt, err)
	}
	return refDataFromJSON(raw)
}

func refDataFromJSON(raw any) (map[string]any, error) {
	v, err := refFromJSON(raw, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: session data: %v", backends.ErrCorrupt, err)
	}
	m, ok := v.(map[string]any)
	if !ok || m == nil {
		return nil, fmt.Errorf("%w: session data is %T, want a JSON object", backends.ErrCorrupt, v)
	}
	return m, nil
}

func refFromJSON(v any, depth int) (any, error) {
	switch x := v.(type) {
	case json.Number:
		n, ok := refClassifyNumber(string(x))
		if !ok {
			return nil, fmt.Errorf("number %.40s out of range", x)
		}
		return n, nil
	case []any:
		if depth > refMaxCodecDepth {
			return nil, fmt.Errorf("nested deeper than %d levels", refMaxCodecDepth)
		}
		for i, e := range x {
			n, err := refFromJSON(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
		return x, nil
	case map[string]any:
		if len(x) == 1 {
			for k, e := range x {
				if strings.HasPrefix(k, "$") {
					return refFromTag(k, e, depth)
				}
			}
		}
		return refFromJSONMap(x, depth)
	}
	return v, nil // nil, bool, string
}

func refFromJSONMap(x map[string]any, depth int) (map[string]any, error) {
	if depth > refMaxCodecDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", refMaxCodecDepth)
	}
	for k, e := range x {
		n, err := refFromJSON(e, depth+1)
		if err != nil {
			return nil, err
		}
		x[k] = n
	}
	return x, nil
}

func refFromTag(tag string, e any, depth int) (any, error) {
	switch tag {
	case "$t":
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf(`"$t" holds %T, want an RFC 3339 string`, e)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf(`"$t": %v`, err)
		}
		t = t.UTC()
		if y := t.Year(); y < 0 || y > 9999 {
			return nil, fmt.Errorf(`"$t": time %q is outside years 0 to 9999 in UTC`, s)
		}
		return t, nil
	case "$b":
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf(`"$b" holds %T, want a base64 string`, e)
		}
		p, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf(`"$b": %v`, err)
		}
		return p, nil
	case "$m":
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf(`"$m" holds %T, want an object`, e)
		}
		return refFromJSONMap(m, depth)
	}
	return nil, fmt.Errorf("unknown tag %.40q (want $t, $b or $m)", tag)
}

func refDecodeRecord(id string, b []byte) (*backends.Record, error) {
	raw, err := refDecodeJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%w: session record is not valid JSON: %v", backends.ErrCorrupt, err)
	}
	env, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: session record is %T, want a JSON object", backends.ErrCorrupt, raw)
	}
	if v, ok := env["v"].(json.Number); !ok || string(v) != "1" {
		return nil, fmt.Errorf("%w: session record version %v, want 1", backends.ErrCorrupt, env["v"])
	}
	r := &backends.Record{ID: id}
	for _, f := range [...]struct {
		name string
		dst  *time.Time
	}{{"c", &r.Created}, {"u", &r.Updated}, {"e", &r.Expires}} {
		num, ok := env[f.name].(json.Number)
		if !ok {
			return nil, fmt.Errorf("%w: session record field %q is %T, want an integer", backends.ErrCorrupt, f.name, env[f.name])
		}
		n, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: session record field %q = %.40s, want Unix nanoseconds", backends.ErrCorrupt, f.name, num)
		}
		if n != 0 {
			*f.dst = time.Unix(0, n).UTC()
		}
	}
	d, ok := env["d"]
	if !ok {
		return nil, fmt.Errorf(`%w: session record has no "d" (data) field`, backends.ErrCorrupt)
	}
	if r.Data, err = refDataFromJSON(d); err != nil {
		return nil, err
	}
	return r, nil
}
