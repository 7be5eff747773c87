// Command example is a small fx HTTP app that uses sessionfx.
//
//	go run ./app/example                       # memory backend, config.ini
//	go run ./app/example -config app/example/config.gorm.ini   # GORM on a SQLite file
//	go run ./app/example -config app/example/config.file.ini   # kvcache file engine
//	go run ./app/example -config app/example/config.cookie.ini # sealed cookies
//
// Routes: GET /healthz, GET /, GET|POST /visits, GET|PUT|DELETE /kv/{key},
// POST /login (form user), POST /logout, GET /sessions (the logged-in
// user's own sessions, by opaque handle), POST /sessions/revoke (form
// handle, or all_others=1). Request bodies over 64 KiB are refused (413);
// error replies are generic, the details go to the log.
//
// Browsers get HTML pages (plain html/template, no script): the home page
// (visits counter, login form, welcome flash) and "your sessions" with a
// revoke button per session; their form posts are answered with 303
// redirects. API clients (Accept: application/json, */* or none) get JSON
// from the same routes. See pages.go.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"go.uber.org/dig"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends/gormstore"
	"github.com/sessionfx/session/stores"
)

//go:embed config.ini
var embeddedConfig []byte

func main() {
	configPath := flag.String("config", "", "config file (INI or YAML); default: the example's own config.ini")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()

	path, err := resolveConfig(*configPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sessionfx example:", err)
		os.Exit(2)
	}
	os.Exit(run(Options(path, *addr)))
}

// run starts the app, waits for SIGINT/SIGTERM and stops it gracefully.
// A start-up failure is reported once, as one line on stderr naming its
// cause (not fx's chain of constructors), and run returns 1.
func run(opts fx.Option) int {
	app := fx.New(opts)
	if err := app.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "sessionfx example:", startupCause(err))
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), app.StartTimeout())
	err := app.Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sessionfx example:", startupCause(err))
		return 1
	}
	sig := <-app.Wait()
	ctx, cancel = context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancel()
	if err := app.Stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sessionfx example: stopping:", startupCause(err))
		return 1
	}
	return sig.ExitCode
}

// startupCause is the error a constructor or hook returned, without fx's
// and dig's "could not build arguments for function ..." chain around it,
// on one line.
func startupCause(err error) string {
	msg := dig.RootCause(err).Error()
	return strings.Join(strings.Fields(msg), " ")
}

// resolveConfig finds the example's own config.ini when no -config is
// given: next to this source file (go run), else in the working directory,
// else the embedded copy written to a temporary folder.
func resolveConfig(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		p := filepath.Join(filepath.Dir(file), "config.ini")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if _, err := os.Stat("config.ini"); err == nil {
		return "config.ini", nil
	}
	dir, err := os.MkdirTemp("", "sessionfx-example-")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "config.ini")
	return p, os.WriteFile(p, embeddedConfig, 0o600)
}

// Options is the whole app as fx options (tests start it on 127.0.0.1:0).
func Options(configPath, addr string) fx.Option {
	return fx.Options(
		fx.Provide(newLogger),
		fx.WithLogger(func(l *zap.Logger) fxevent.Logger {
			if os.Getenv("EXAMPLE_LOG") != "debug" {
				// run reports a start-up failure itself, once; fx's
				// event log would print it again, with dig's chain.
				return fxevent.NopLogger
			}
			fl := &fxevent.ZapLogger{Logger: l.Named("fx")}
			fl.UseLogLevel(zapcore.DebugLevel)
			return fl
		}),
		session.Module,
		metricsModule,
		stores.All, // every store and engine, so -config alone picks one
		session.UseConfigFile(configPath),
		gormstore.UseModel[AppSession](),
		session.UseErrorHandler(errorHandler),
		fx.Supply(listenAddr(addr)),
		fx.Provide(newServer),
		fx.Invoke(func(*Server) {}),
	)
}

func newLogger() (*zap.Logger, error) {
	if os.Getenv("EXAMPLE_LOG") == "debug" {
		return zap.NewDevelopment()
	}
	cfg := zap.NewProductionConfig()
	cfg.Encoding = "console"
	cfg.EncoderConfig = zap.NewDevelopmentEncoderConfig()
	cfg.DisableStacktrace = true
	return cfg.Build()
}

type listenAddr string

// Server is the example's HTTP server.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	Addr string // where it listens, once started
}

func newServer(lc fx.Lifecycle, addr listenAddr, mw session.HTTPMiddleware, m *session.Manager, log *zap.Logger) *Server {
	s := &Server{srv: &http.Server{
		Handler:           handler(mw, m, log),
		ReadHeaderTimeout: 10 * time.Second,
	}}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", string(addr))
			if err != nil {
				return fmt.Errorf("listen on %s: %w", addr, err)
			}
			s.ln, s.Addr = ln, ln.Addr().String()
			log.Info("sessionfx example listening", zap.String("url", "http://"+s.Addr+"/"),
				zap.String("backend", m.Config().Store))
			fmt.Printf("sessionfx example listening on http://%s/\n", s.Addr)
			go func() {
				if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("serve", zap.Error(err))
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			// Stop accepting, let in-flight requests finish (and save).
			log.Info("sessionfx example shutting down")
			return s.srv.Shutdown(ctx)
		},
	})
	return s
}
