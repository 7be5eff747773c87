package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A start-up failure is reported once, as one line naming its cause, and
// the example exits with status 1.
func TestStartupFailureIsOneLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "example")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tc := range []struct{ name, config, want string }{
		{"gorm driver", "[session]\nstore = gorm\n[gorm]\ndriver = postgresql\n", `gorm.driver = "postgresql"`},
		{"cookie keys", "[session]\nstore = cookie\n[cookie]\n", "cookie.keys"},
		{"unknown backend", "[session]\nstore = redis\n", `session.store = "redis"`},
		{"bad value", "[session]\nidle_timeout = soon\n", "session.idle_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".ini")
			if err := os.WriteFile(cfg, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "-config", cfg, "-addr", "127.0.0.1:0")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v; want status 1 (stderr %q)", err, stderr.String())
			}
			out := stderr.String()
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "sessionfx example: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr = %q; want one line \"sessionfx example: ...%s...\"", out, tc.want)
			}
			for _, bad := range []string{"dig", "could not build", "goroutine", ".go:"} {
				if strings.Contains(out, bad) {
					t.Errorf("stderr shows %q: %q", bad, out)
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q; want nothing", stdout.String())
			}
		})
	}
}
