// Package stores is the one-line bundle of every session store and kvcache
// engine in this repository, for apps that pick any of them from the
// config file alone:
//
//	fx.New(session.Module, stores.All, session.UseConfigFile("config.ini"), ...)
//
// An app that knows its store adds only that store's module instead
// (gormstore.Module, say), and links nothing of the others.
package stores

import (
	"go.uber.org/fx"

	"github.com/sessionfx/session/backends/cookiestore"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/backends/layered"
	"github.com/sessionfx/session/kvcache/filekv"
	"github.com/sessionfx/session/kvcache/rediskv"
)

// All registers every store (gorm, cookie, layered, beside the core's
// kvcache and null) and every kvcache engine (redis and file, beside the
// built-in memory).
var All = fx.Options(
	gormstore.Module,
	cookiestore.Module,
	layered.Module,
	rediskv.Module,
	filekv.Module,
)
