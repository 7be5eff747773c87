package cookiestore

import (
	"go.uber.org/fx"

	session "github.com/sessionfx/session"
)

// Module registers the cookie store with session.Module: [session] store
// = cookie then keeps each whole session sealed in the client's cookie.
var Module = fx.Module("sessionfx.cookie", session.AsStore(Registration))
