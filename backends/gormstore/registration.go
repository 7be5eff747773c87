package gormstore

import (
	"context"
	"fmt"

	"go.uber.org/zap"
	"gorm.io/gorm"

	"github.com/sessionfx/session/backends"
)

// Registration registers the store as "gorm". Its constructor reads the
// "gorm" configuration subtree (Config), uses an app-provided *gorm.DB when
// env.Lookup supplies one (and then never closes it), else opens the
// configured database within env.Context; it uses the app's ModelType when
// env.Lookup supplies one, else the default model Session. It does not
// create the table: Setup does, and the module calls it once, in fx's
// OnStart (call it yourself when you use the registration directly).
func Registration() backends.Registration {
	return backends.Registration{Name: "gorm", New: newFromEnv}
}

func newFromEnv(env backends.Env) (backends.Store, error) {
	cfg := DefaultConfig()
	if env.Config != nil {
		if err := env.Config("gorm", &cfg); err != nil {
			return nil, fmt.Errorf("reading the [gorm] configuration: %w", err)
		}
	}
	cfg = cfg.withDefaults()
	log := env.Logger
	if log == nil {
		log = zap.NewNop()
	}
	ctx := env.Context
	if ctx == nil {
		ctx = context.Background()
	}
	opts := []Option{WithTable(cfg.Table), WithLogger(log), WithBatchSize(cfg.BatchSize)}
	var mt ModelType
	if env.Lookup != nil && env.Lookup(&mt) && !mt.IsZero() {
		opts = append(opts, WithModel(mt))
	}
	var db *gorm.DB
	if env.Lookup != nil && env.Lookup(&db) && db != nil {
		if err := validTable(cfg.Table); err != nil {
			return nil, err
		}
		return New(db, opts...)
	}
	db, err := OpenContext(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	s, err := New(db, append(opts, func(o *options) { o.owned = true })...)
	if err != nil {
		if sqlDB, derr := db.DB(); derr == nil {
			_ = sqlDB.Close()
		}
		return nil, err
	}
	return s, nil
}
