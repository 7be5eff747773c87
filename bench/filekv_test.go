package bench

import (
	"testing"
)

// BenchmarkScenariosFile runs S1–S4 (as BenchmarkScenarios does, idle=none,
// a fresh target per scenario) on sessionfx's kvcache file backend, next
// to the sessionfx SQLite (gorm) and memory targets for comparison:
//
//	cd bench && go test -run '^$' -bench ScenariosFile -benchmem .
func BenchmarkScenariosFile(b *testing.B) {
	builders := []Builder{FileKVBuilder()}
	for _, bl := range sessionfxBuilders() {
		if bl.Backend == "sqlite" || bl.Backend == "memory" {
			builders = append(builders, bl)
		}
	}
	for _, sc := range Scenarios[:4] {
		b.Run(sc.Name, func(b *testing.B) {
			for _, bl := range builders {
				benchTarget(b, bl, Options{}, sc)
			}
		})
	}
}
