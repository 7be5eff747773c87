package session

import (
	"go.uber.org/fx"
	"gorm.io/gorm"

	"github.com/sessionfx/session/backends/gormstore"
)

// Row is the mixin a GORM session model embeds (backend = gorm): the session
// id column, a JSON data column, a version column, timestamps and an indexed
// expiry. Fields of the model tagged `session:"key"` become real columns:
//
//	type AppSession struct {
//		session.Row
//		UserID *uint `session:"user_id" gorm:"index"`
//	}
type Row = gormstore.Row

// WithModel makes the gorm store keep sessions in the app's model T (a
// struct embedding Row).
func WithModel[T any]() fx.Option {
	mt := gormstore.Model[T]()
	return fx.Provide(fx.Annotate(func() Lookup {
		return func(target any) bool {
			if p, ok := target.(*gormstore.ModelType); ok {
				*p = mt
				return true
			}
			return false
		}
	}, fx.ResultTags(`group:"session_lookups"`)))
}

// WithGormDB makes the gorm store use the app's own *gorm.DB (from the fx
// graph) instead of opening one from [gorm]; the module then does not close
// it.
var WithGormDB = fx.Provide(fx.Annotate(func(db *gorm.DB) Lookup {
	return func(target any) bool {
		if p, ok := target.(**gorm.DB); ok {
			*p = db
			return true
		}
		return false
	}
}, fx.ResultTags(`group:"session_lookups"`)))
