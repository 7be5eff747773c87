package filekv

import (
	"go.uber.org/fx"

	"github.com/sessionfx/session/kvcache"
)

// Module registers the file engine with the kvcache of the fx graph, so
// that a kvcache backend may have type = file.
var Module = fx.Module("sessionfx.filekv", kvcache.AsType(Registration))
