package bench

import (
	"context"
	"path/filepath"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/filekv"
)

// NewFileKV returns a KVStore on a fresh kvcache file backend (SQLite, WAL,
// synchronous = FULL) in dir.
func NewFileKV(dir string) (*backends.KVStore, func(), error) {
	b, err := filekv.New("bench", kvcache.BackendConfig{Type: filekv.TypeName, Path: filepath.Join(dir, "sfx-kv.sqlite3")}, nil)
	if err != nil {
		return nil, nil, err
	}
	return backends.NewKVStore(kvcache.NewContainer("session", "session:", 0, b)), func() { _ = b.Close() }, nil
}

// FileKVBuilder is sessionfx on the kvcache file backend, one of
// sessionfxBuilders (so bench/run.sh measures it; it has no scs
// counterpart); BenchmarkScenariosFile runs S1–S4 on it beside the memory
// and SQLite targets alone.
func FileKVBuilder() Builder {
	return Builder{"sessionfx", "file", true, false, func(_ context.Context, o Options) (*Target, error) {
		dir, err := tempDir()
		if err != nil {
			return nil, err
		}
		s, closeFn, err := NewFileKV(dir)
		if err != nil {
			removeAll(dir)
			return nil, err
		}
		return NewSessionfxTarget("file", "kvcache file (SQLite WAL, synchronous=FULL, modernc.org/sqlite, pure Go)", s, o, func() { closeFn(); removeAll(dir) })
	}}
}
