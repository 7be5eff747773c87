package testenv

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// idents are the Go names of the variables, for finding the tests that
// use them through this package.
var idents = map[string]string{Postgres.Name: "Postgres", MySQL.Name: "MySQL", Redis.Name: "Redis"}

// moduleRoot is the directory of the go.mod above the working directory
// (go test runs a package's tests in its directory).
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// packagesUsing returns, for each variable, the packages of this module
// (as ./dir) with a _test.go file that names it, literally or as
// testenv.<Ident>. Nested modules are not part of `go test ./...` and are
// left out.
func packagesUsing(t *testing.T, root string) map[string][]string {
	t.Helper()
	uses := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == root {
				return nil
			}
			name := d.Name()
			if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") || filepath.Dir(path) == filepath.Join(root, "internal", "testenv") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := "./" + filepath.ToSlash(rel)
		if rel == "." {
			pkg = "."
		}
		for _, v := range All() {
			if (strings.Contains(string(src), v.Name) || strings.Contains(string(src), "testenv."+idents[v.Name])) && !slices.Contains(uses[v.Name], pkg) {
				uses[v.Name] = append(uses[v.Name], pkg)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return uses
}

// TestServerVariables reports, in one place, which server variables are
// unset and which packages' tests skip because of it: go test hides those
// skips unless it runs with -v. It skips (with that report) when any
// variable is unset, and logs the packages otherwise.
func TestServerVariables(t *testing.T) {
	uses := packagesUsing(t, moduleRoot(t))
	var unset, set []string
	for _, v := range All() {
		pkgs := strings.Join(uses[v.Name], " ")
		if pkgs == "" {
			pkgs = "(no test names it)"
		}
		if os.Getenv(v.Name) == "" {
			unset = append(unset, fmt.Sprintf("  %s (%s), e.g. %q: tests in %s", v.Name, v.Server, v.Example, pkgs))
		} else {
			set = append(set, fmt.Sprintf("  %s is set: tests in %s run against %s", v.Name, pkgs, v.Server))
		}
	}
	if len(set) > 0 {
		t.Logf("server variables set:\n%s", strings.Join(set, "\n"))
	}
	if len(unset) > 0 {
		t.Skipf("tests that need a server skip while its variable is unset (go test shows no skips without -v); unset:\n%s\n.ci/run sets all of them and starts the servers.", strings.Join(unset, "\n"))
	}
}

// skipped is what the fake TB panics with to stop the test like Skipf.
type skipped struct{ msg string }

type fakeTB struct{ testing.TB }

func (fakeTB) Helper() {}
func (fakeTB) Skipf(format string, args ...any) {
	panic(skipped{fmt.Sprintf(format, args...)})
}

func require(v Var) (val, skipMsg string) {
	defer func() {
		if r := recover(); r != nil {
			s, ok := r.(skipped)
			if !ok {
				panic(r)
			}
			skipMsg = s.msg
		}
	}()
	return Require(fakeTB{}, v), ""
}

func TestRequire(t *testing.T) {
	v := Var{Name: "SESSIONFX_TESTENV_PROBE", Server: "a probe server", Example: "probe://127.0.0.1"}
	t.Setenv(v.Name, "")
	val, msg := require(v)
	if val != "" || msg == "" {
		t.Fatalf("Require with %s unset = %q and no skip; want a skip", v.Name, val)
	}
	for _, want := range []string{v.Name + " is not set", v.Server, `SESSIONFX_TESTENV_PROBE="probe://127.0.0.1"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("skip message %q does not contain %q", msg, want)
		}
	}
	t.Setenv(v.Name, "probe://here")
	if val, msg := require(v); val != "probe://here" || msg != "" {
		t.Fatalf("Require with %s set = %q, skip %q; want its value and no skip", v.Name, val, msg)
	}
}

// TestEveryVariableIsUsed keeps the list honest: a variable no test reads
// any more should leave All (and the README's table).
func TestEveryVariableIsUsed(t *testing.T) {
	uses := packagesUsing(t, moduleRoot(t))
	for _, v := range All() {
		if len(uses[v.Name]) == 0 {
			t.Errorf("no _test.go file in this module names %s or testenv.%s", v.Name, idents[v.Name])
		}
	}
}
