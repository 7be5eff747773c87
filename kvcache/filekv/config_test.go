package filekv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/sessionfx/session/config"
	"github.com/sessionfx/session/kvcache"
)

// TestConfigFileBackendNeedsPath: the file engine's check of [kvcache]
// backends of type file (Registration().Validate, run by
// kvcache.LoadConfig) refuses one without a path.
func TestConfigFileBackendNeedsPath(t *testing.T) {
	dir := t.TempDir()
	load := func(content string) error {
		p := filepath.Join(dir, "c.ini")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := config.Load(p, zap.NewNop(), config.Options{})
		if err != nil {
			return err
		}
		_, err = kvcache.LoadConfig(f, Registration())
		return err
	}
	err := load("[kvcache]\nbackends.default.type = file\n")
	if err == nil || !strings.Contains(err.Error(), "kvcache.backends.default.path") || !strings.Contains(err.Error(), "${here}/_sessions.sqlite3") {
		t.Fatalf("a file backend without a path: %v; want an error naming kvcache.backends.default.path", err)
	}
	if err := load("[kvcache]\nbackends.default.type = file\nbackends.default.path = ${here}/s.sqlite3\n"); err != nil {
		t.Errorf("with a path: %v", err)
	}
}
