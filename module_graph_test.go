package session_test

import (
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
