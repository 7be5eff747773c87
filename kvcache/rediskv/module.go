package rediskv

import (
	"go.uber.org/fx"

	"github.com/sessionfx/session/kvcache"
)

// Module registers the redis engine with the kvcache of the fx graph, so
// that a kvcache backend may have type = redis.
var Module = fx.Module("sessionfx.rediskv", kvcache.AsType(Registration))
