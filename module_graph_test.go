package session_test

import (
	"os/exec"
	"strings"
	"testing"
	"unicode"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	session "github.com/sessionfx/session"
)

type providedTypes struct{ names []string }

func (p *providedTypes) LogEvent(e fxevent.Event) {
	if ev, ok := e.(*fxevent.Provided); ok {
		p.names = append(p.names, ev.OutputTypeNames...)
	}
}

// What the module puts in the app's graph is public API: no unexported
// type of the module may appear in fx's output.
func TestModuleProvidesNoUnexportedType(t *testing.T) {
	var got providedTypes
	app := fx.New(session.Module, fx.WithLogger(func() fxevent.Logger { return &got }))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got.names) == 0 {
		t.Fatal("fx reported no provided types")
	}
	for _, n := range got.names {
		n = strings.TrimLeft(n, "*[]")
		if pkg, name, ok := strings.Cut(n, "."); ok && strings.HasPrefix(pkg, "session") && name != "" && unicode.IsLower(rune(name[0])) {
			t.Errorf("the module provides the unexported type %s", n)
		}
	}
}

// The core links no store beyond its own: an app that keeps sessions in
// memory does not carry GORM, SQL drivers or a Redis client.
func TestCoreLinksNoStore(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to list the root's dependencies")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps .: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, bad := range []string{"gorm.io/", "github.com/redis/", "sqlite", "github.com/jackc/", "github.com/go-sql-driver/",
			"github.com/sessionfx/session/backends/gormstore", "github.com/sessionfx/session/backends/cookiestore",
			"github.com/sessionfx/session/backends/layered", "github.com/sessionfx/session/kvcache/rediskv", "github.com/sessionfx/session/kvcache/filekv"} {
			if strings.Contains(pkg, bad) {
				t.Errorf("the root package links %s", pkg)
			}
		}
	}
}
