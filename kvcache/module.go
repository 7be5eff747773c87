package kvcache

import (
	"context"
	"fmt"

	"go.uber.org/fx"
	"go.uber.org/zap"
)

// Module provides *Cache built from the Config and *zap.Logger in the
// graph. Plugin modules add backend types to the "kvcache_types" value
// group, e.g.
//
//	fx.Provide(fx.Annotate(func() kvcache.TypeRegistration {
//		return kvcache.TypeRegistration{Name: "redis", New: rediskv.New}
//	}, fx.ResultTags(`group:"kvcache_types"`)))
var Module = fx.Module("kvcache", fx.Provide(NewFromFx))

// FxParams is what NewFromFx takes from the fx graph.
type FxParams struct {
	fx.In

	Config    Config
	Logger    *zap.Logger        `optional:"true"`
	Types     []TypeRegistration `group:"kvcache_types"`
	Lifecycle fx.Lifecycle
}

// NewFromFx builds the Cache with every registered backend type and closes
// it when the app stops.
func NewFromFx(p FxParams) (*Cache, error) {
	opts := make([]Option, 0, len(p.Types))
	for _, t := range p.Types {
		if t.Name == "" || t.New == nil {
			return nil, fmt.Errorf("kvcache: a %q TypeRegistration has an empty name or a nil New; want both set", t.Name)
		}
		opts = append(opts, WithType(t.Name, t.New))
	}
	c, err := New(p.Config, p.Logger, opts...)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.Hook{OnStop: func(context.Context) error { return c.Close() }})
	return c, nil
}

// AsType makes a kvcache engine type available to the cache the fx graph
// builds: constructor returns a TypeRegistration (and optionally an
// error); its parameters come from the graph. rediskv.Module and
// filekv.Module are this call.
func AsType(constructor any) fx.Option {
	return fx.Provide(fx.Annotate(constructor, fx.ResultTags(`group:"kvcache_types"`)))
}
