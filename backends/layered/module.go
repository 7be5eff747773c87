package layered

import (
	"go.uber.org/fx"

	session "github.com/sessionfx/session"
)

// Module registers the layered store with session.Module: [session] store
// = layered then keeps a short-lived copy of each session in a kvcache
// container (front) before another store (back): any registered store by
// name (gorm needs gormstore.Module too), or a kvcache container.
var Module = fx.Module("sessionfx.layered", session.AsStore(Registration))
