package kvcache_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessionfx/session/kvcache"
)

// summaryTotals adds up the summary warnings' counts.
func summaryTotals(t *testing.T, logs *observer.ObservedLogs) (lines int, evictions, notStored uint64) {
	t.Helper()
	for _, e := range logs.FilterMessageSnippet("refused writes in the last").All() {
		if e.Level != zapcore.WarnLevel {
			t.Errorf("summary %q logged at %s; want warn", e.Message, e.Level)
		}
		f := e.ContextMap()
		lines++
		evictions += f["evictions"].(uint64)
		notStored += f["not_stored"].(uint64)
	}
	return lines, evictions, notStored
}

// Every eviction and every refused write is counted in Stats, and summed up
// in a periodic warning that survives a sampled logger (which here keeps
// one line per message per minute, so it drops all but one of the
// per-eviction warnings).
func TestMemoryEvictionsAndRefusalsAreCountedAndSummarised(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	sampled := zapcore.NewSamplerWithOptions(core, time.Minute, 1, 0)
	m, err := kvcache.NewMemoryWithSummaryInterval("counted", kvcache.BackendConfig{Type: "memory", MaxSize: 16 << 10}, zap.New(sampled), 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()

	const writes, refusals = 300, 3
	value := bytes.Repeat([]byte("v"), 100)
	for i := range writes {
		if err := m.Set(ctx, "k"+strconv.Itoa(i), value, time.Hour); err != nil {
			t.Fatalf("Set %d: %v", i, err)
		}
	}
	for i := range refusals {
		if err := m.Set(ctx, "big"+strconv.Itoa(i), make([]byte, 20<<10), 0); !errors.Is(err, kvcache.ErrNotStored) {
			t.Fatalf("Set of 20KiB into 16KiB = %v; want ErrNotStored", err)
		}
	}
	present := 0
	for i := range writes {
		if ok, _ := m.Exists(ctx, "k"+strconv.Itoa(i)); ok {
			present++
		}
	}
	s := m.Stats()
	t.Logf("%d writes, %d present; stats %+v", writes, present, s)
	if present == writes {
		t.Fatalf("all %d writes fit in 16KiB: the test wants evictions", writes)
	}
	if want := uint64(writes - present); s.Evictions != want || s.MadeRoom+s.CapacityEvictions != want {
		t.Errorf("Stats() = %+v; want Evictions = MadeRoom+CapacityEvictions = %d (keys written and gone)", s, want)
	}
	if s.NotStored != refusals {
		t.Errorf("Stats().NotStored = %d; want %d", s.NotStored, refusals)
	}
	if s.Entries != int64(present) || s.UsedBytes > s.MaxSize {
		t.Errorf("Stats() = %+v; want Entries %d and UsedBytes <= MaxSize", s, present)
	}

	// The summary comes within an interval or so.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, ev, ns := summaryTotals(t, logs)
		if ev == s.Evictions && ns == s.NotStored {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("summaries add up to %d evictions and %d refusals; want %d and %d; logs: %v", ev, ns, s.Evictions, s.NotStored, logs.All())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := logs.FilterMessageSnippet("evicted an unexpired entry").Len(); n >= int(s.Evictions) {
		t.Fatalf("the sampler kept %d of %d eviction warnings; the test wants it to drop them", n, s.Evictions)
	}
	// Nothing new happened: Close adds no summary, and the totals stand.
	time.Sleep(120 * time.Millisecond)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	lines, ev, ns := summaryTotals(t, logs)
	if ev != s.Evictions || ns != s.NotStored {
		t.Errorf("after Close, summaries add up to %d evictions and %d refusals in %d lines; want %d and %d", ev, ns, lines, s.Evictions, s.NotStored)
	}
	for _, e := range logs.FilterMessageSnippet("refused writes in the last").All() {
		f := e.ContextMap()
		if f["backend"] != "counted" || f["max_size"] != int64(16<<10) || f["note"] == nil {
			t.Errorf("summary fields %v; want backend, max_size and note", f)
		}
	}
}

// Counts not yet summed up when the backend closes are logged by Close.
func TestMemoryCloseLogsTheLastSummary(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	m, err := kvcache.NewMemoryWithSummaryInterval("closing", kvcache.BackendConfig{Type: "memory", MaxSize: 4 << 10}, zap.New(core), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 40 {
		_ = m.Set(ctx, "k"+strconv.Itoa(i), bytes.Repeat([]byte("v"), 100), 0)
	}
	_ = m.Set(ctx, "big", make([]byte, 8<<10), 0)
	s := m.Stats()
	if lines, _, _ := summaryTotals(t, logs); lines != 0 {
		t.Fatalf("%d summaries before the first interval; want 0", lines)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	lines, ev, ns := summaryTotals(t, logs)
	if lines != 1 || ev != s.Evictions || ns != 1 || ev == 0 {
		t.Errorf("after Close: %d summaries with %d evictions and %d refusals; want 1 with %d and 1", lines, ev, ns, s.Evictions)
	}
}
