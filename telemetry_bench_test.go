package session_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	session "github.com/sessionfx/session"
)

// BenchmarkTelemetry measures S1 (untouched request with a session
// cookie), S2 (read) and S3 (write) on the memory engine with telemetry
// off (no provider) and on (an SDK MeterProvider on a ManualReader and an
// SDK TracerProvider sampling every span, exported nowhere):
//
//	go test -run '^$' -bench Telemetry -benchmem -count 3 .
func BenchmarkTelemetry(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		for _, tc := range []struct{ name, path string }{
			{"S1_untouched", "/untouched"}, {"S2_read", "/read"}, {"S3_write", "/write"},
		} {
			b.Run(mode+"/"+tc.name, func(b *testing.B) {
				var opts []session.Option
				if mode == "on" {
					mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
					tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
					b.Cleanup(func() {
						_ = mp.Shutdown(context.Background())
						_ = tp.Shutdown(context.Background())
					})
					opts = []session.Option{session.WithMeterProvider(mp), session.WithTracerProvider(tp)}
				}
				_, st := newKV(b)
				app := telemetryHandler(b, newManager(b, st, nil, opts...))
				c := hit(app, context.Background(), "/init", "")
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					req := httptest.NewRequest("GET", tc.path, nil)
					req.AddCookie(&http.Cookie{Name: "session", Value: c})
					app.ServeHTTP(httptest.NewRecorder(), req)
				}
			})
		}
	}
}
