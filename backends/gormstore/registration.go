package gormstore

import (
	"context"
	"fmt"

	"go.uber.org/zap"
	"gorm.io/gorm"

	"github.com/sessionfx/session/backends"
)

// Registration registers the store as "gorm", opening the database the
// [gorm] section configures, with the default model Session. See
// NewRegistration for an app's own *gorm.DB or model; Module wires it.
func Registration() backends.Registration { return NewRegistration(nil, ModelType{}) }

// NewRegistration registers the store as "gorm". Its constructor reads the
// [gorm] section (Config). With db non-nil it uses that database (and never
// closes it; [gorm] driver and dsn are then ignored), else it opens the
// configured one within env.Context. model is the session model (the zero
// ModelType: the default, Session). It does not create the table: Setup
// does, and the module calls it once, in fx's OnStart (call it yourself
// when you use the registration directly).
func NewRegistration(db *gorm.DB, model ModelType) backends.Registration {
	return backends.Registration{Name: "gorm", Section: "gorm", Config: Config{},
		New: func(env backends.Env) (backends.Storage, error) { return newFromEnv(env, db, model) }}
}

func newFromEnv(env backends.Env, db *gorm.DB, mt ModelType) (backends.Store, error) {
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
	if !mt.IsZero() {
		opts = append(opts, WithModel(mt))
	}
	if db != nil {
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
