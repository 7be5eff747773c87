package main

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// scrape reads GET /metrics (without a cookie) and returns each sample's
// value by its line's name and labels, e.g.
// session_created_total{otel_scope_name="...",session_store="kvcache"}.
func scrape(t *testing.T, c *client) map[string]float64 {
	t.Helper()
	anon := &client{t: t, base: c.base}
	code, body, res := anon.do("GET", "/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q; want the Prometheus text format", ct)
	}
	if len(res.Cookies()) != 0 || anon.cookie != "" {
		t.Fatalf("GET /metrics set a cookie: %v", res.Header["Set-Cookie"])
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// sample sums the samples of metric name whose labels include every
// label="value" pair given.
func sample(m map[string]float64, name string, labels ...string) float64 {
	var sum float64
	for k, v := range m {
		base, rest, _ := strings.Cut(k, "{")
		if base != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
			}
		}
		if ok {
			sum += v
		}
	}
	return sum
}

// The example serves the session metrics on GET /metrics in the Prometheus
// text format, and the counts match the requests made: 3 writes (the
// first creates the session), 2 reads and a logout. Scraping creates no
// session and does not change the counts.
func TestMetricsEndpoint(t *testing.T) {
	c, app, _ := startExample(t, copyConfig(t, "config.ini"))
	defer app.Stop(context.Background())

	for i := range 3 {
		if code, body, _ := c.do("POST", "/visits", nil); code != http.StatusOK {
			t.Fatalf("POST /visits #%d: %d %s", i+1, code, body)
		}
	}
	for i := range 2 {
		if code, body, _ := c.do("GET", "/visits", nil); code != http.StatusOK || !strings.Contains(body, `"visits":3`) {
			t.Fatalf("GET /visits #%d: %d %s", i+1, code, body)
		}
	}
	if code, body, _ := c.do("POST", "/logout", nil); code != http.StatusOK {
		t.Fatalf("POST /logout: %d %s", code, body)
	}

	before := scrape(t, c)
	m := scrape(t, c)
	store := `session_store="kvcache"`
	op := func(name, outcome string) float64 {
		return sample(m, "session_store_operations_total", store, `session_operation="`+name+`"`, `session_outcome="`+outcome+`"`)
	}
	for _, w := range []struct {
		what string
		got  float64
		want float64
	}{
		{"sessions created", sample(m, "session_created_total", store), 1},
		{"saves", op("save", "ok"), 3},
		{"loads", op("load", "ok"), 2 + 2 + 1}, // the 2nd and 3rd writes, the reads, the logout
		{"deletes", op("delete", "ok"), 1},
		{"failed operations", sample(m, "session_store_operations_total") - op("save", "ok") - op("load", "ok") - op("delete", "ok"), 0},
		{"sessions ended by logout", sample(m, "session_ended_total", `session_end_reason="logout"`), 1},
		{"load latencies", sample(m, "session_store_operation_duration_seconds_count", `session_operation="load"`), 5},
		{"save latencies", sample(m, "session_store_operation_duration_seconds_count", `session_operation="save"`), 3},
		{"memory engine refusals", sample(m, "session_kvcache_memory_refusals_total", `session_kvcache_container="session"`), 0},
	} {
		if w.got != w.want {
			t.Errorf("%s: %v; want %v", w.what, w.got, w.want)
		}
	}
	if sample(m, "session_kvcache_memory_limit_bytes") != 64<<20 {
		t.Errorf("session_kvcache_memory_limit_bytes = %v; want 64MiB (max_size)", sample(m, "session_kvcache_memory_limit_bytes"))
	}
	for k, v := range before {
		if strings.HasPrefix(k, "session_") && !strings.HasPrefix(k, "session_kvcache_") && m[k] != v {
			t.Errorf("%s changed from %v to %v between two scrapes", k, v, m[k])
		}
	}
}
