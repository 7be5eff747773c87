package bench

import (
	"context"
	"testing"
)

// BenchmarkScenariosFile runs S1–S4 (as BenchmarkScenarios does) on
// sessionfx's kvcache file backend, next to the sessionfx SQLite (gorm)
// target for comparison:
//
//	cd bench && go test -run '^$' -bench ScenariosFile -benchmem .
func BenchmarkScenariosFile(b *testing.B) {
	ctx := context.Background()
	var targets []*Target
	builders := []Builder{FileKVBuilder()}
	for _, bl := range sessionfxBuilders() {
		if bl.Backend == "sqlite" || bl.Backend == "memory" {
			builders = append(builders, bl)
		}
	}
	for _, bl := range builders {
		t, err := bl.New(ctx, Options{})
		if err != nil {
			b.Fatalf("%s/%s: %v", bl.Lib, bl.Backend, err)
		}
		targets = append(targets, t)
	}
	defer func() {
		for _, t := range targets {
			t.Close()
		}
	}()
	cookies := map[*Target]string{}
	for _, t := range targets {
		c, err := Seed(t)
		if err != nil {
			b.Fatal(err)
		}
		cookies[t] = c
	}
	for _, sc := range Scenarios[:4] {
		for _, t := range targets {
			b.Run(sc.Name+"/"+t.Name(), func(b *testing.B) {
				h := t.L.Wrap(sc.Handler(t.L))
				runLoop(b, h, Request(sc, cookies[t]), t)
			})
		}
	}
}
