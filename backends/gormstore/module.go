package gormstore

import (
	"go.uber.org/fx"
	"gorm.io/gorm"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
)

// Module registers the gorm store with session.Module: [session] store =
// gorm then keeps sessions in a table of the database [gorm] names. It
// takes from the graph, both optional: the app's own *gorm.DB when the app
// adds UseAppDB, and a ModelType (UseModel).
var Module = fx.Module("sessionfx.gorm", session.AsStore(provideRegistration))

// appDB is the fx name of the *gorm.DB the store uses instead of opening
// its own (UseAppDB).
const appDB = `name:"sessionfx_gorm_app_db"`

type registrationIn struct {
	fx.In
	DB    *gorm.DB  `name:"sessionfx_gorm_app_db" optional:"true"`
	Model ModelType `optional:"true"`
}

func provideRegistration(in registrationIn) backends.Registration {
	return NewRegistration(in.DB, in.Model)
}

// UseAppDB makes the gorm store use the app's own *gorm.DB from the fx
// graph instead of opening one from [gorm] (driver and dsn are then
// ignored; table still applies). The store never closes it.
func UseAppDB() fx.Option {
	return fx.Provide(fx.Annotate(func(db *gorm.DB) *gorm.DB { return db }, fx.ResultTags(appDB)))
}

// UseModel makes the gorm store keep sessions in the app's model T, a
// struct embedding Row whose fields tagged `session:"key"` are real
// columns:
//
//	type AppSession struct {
//		gormstore.Row
//		UserID *uint `session:"user_id" gorm:"index"`
//	}
func UseModel[T any]() fx.Option { return fx.Supply(Model[T]()) }
