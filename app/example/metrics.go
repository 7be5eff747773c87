package main

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.uber.org/fx"

	session "github.com/sessionfx/session"
)

// metricsModule exports the session layer's metrics on GET /metrics in the
// Prometheus text format. It provides an OpenTelemetry SDK MeterProvider
// whose reader is the OpenTelemetry Prometheus exporter (on a private
// registry, so several apps in one process do not collide); session.Module
// takes it as its optional metric.MeterProvider and records its metrics
// there. The route is put in front of the session middleware (by
// decorating HTTPMiddleware), so a scrape never loads, creates or touches
// a session.
var metricsModule = fx.Options(
	fx.Provide(
		newMetrics,
		func(m *metrics) metric.MeterProvider { return m.provider },
	),
	fx.Decorate(func(mw session.HTTPMiddleware, m *metrics) session.HTTPMiddleware {
		return func(next http.Handler) http.Handler { return m.route(mw(next)) }
	}),
)

// metrics is the app's MeterProvider and the handler serving its registry.
type metrics struct {
	provider *sdkmetric.MeterProvider
	handler  http.Handler
}

func newMetrics(lc fx.Lifecycle) (*metrics, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, err
	}
	m := &metrics{
		provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp),
			sdkmetric.WithResource(resource.NewSchemaless(attribute.String("service.name", "sessionfx-example")))),
		handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	}
	lc.Append(fx.Hook{OnStop: func(ctx context.Context) error { return m.provider.Shutdown(ctx) }})
	return m, nil
}

// route serves GET (and HEAD) /metrics itself and passes every other
// request to next.
func (m *metrics) route(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			w.Header().Set("Cache-Control", "no-store")
			m.handler.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
