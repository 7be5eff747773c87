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
// configured database; it uses the app's ModelType when env.Lookup supplies
// one, else the default model Session. It calls Setup (creates the table).
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
	var (
		db  *gorm.DB
		s   *Store
		err error
	)
	if env.Lookup != nil && env.Lookup(&db) && db != nil {
		if err := validTable(cfg.Table); err != nil {
			return nil, err
		}
		s, err = New(db, opts...)
	} else {
		s, err = NewFromConfig(cfg, log, opts...)
	}
	if err != nil {
		return nil, err
	}
	if err := s.Setup(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}
