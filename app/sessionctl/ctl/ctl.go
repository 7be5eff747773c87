// Package ctl is the sessionctl command (github.com/sessionfx/session/app/sessionctl)
// as a function, so that an app can build its own sessionctl with options
// of its own: the GORM model that keeps session keys in columns
// (gormstore.UseModel), a plugin store's module.
//
//	func main() {
//		os.Exit(ctl.Run(os.Args[1:], os.Stdout, os.Stderr, gormstore.UseModel[AppSession]()))
//	}
package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/fx"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
)

// Exit codes, for scripts.
const (
	// ExitOK: the command did what it was asked (revoke-user of a user
	// without sessions included: it revoked 0).
	ExitOK = 0
	// ExitFailed: the operation failed (store unreachable, timeout, a
	// store error).
	ExitFailed = 1
	// ExitUsage: unknown command, missing or extra argument, bad flag,
	// missing or bad config file.
	ExitUsage = 2
	// ExitNotFound: no live session has that handle (show, revoke).
	ExitNotFound = 3
	// ExitUnsupported: the configured store cannot do it from another
	// process (the memory store lives inside the app; the cookie store
	// keeps sessions in the clients' cookies).
	ExitUnsupported = 4
)

// DefaultConfig is the config file read when -config is not given (when
// it exists in the working directory).
const DefaultConfig = "config.ini"

// DefaultTimeout bounds a command (-timeout).
const DefaultTimeout = 30 * time.Second

// Usage is the help text (sessionctl help).
const Usage = `sessionctl manages the sessions of a sessionfx app from a shell.

Usage:
  sessionctl [flags] COMMAND [ARGS]

Commands:
  list [-user NAME]   list the live sessions, all or NAME's, oldest first
  show HANDLE         show one session
  revoke HANDLE       end one session
  revoke-user NAME    end every session of user NAME
  cleanup             delete expired sessions now (the app's periodic cleanup, once)
  stats               count the live sessions, in all and by user; name the store
  help                print this help

Flags (before or after the command):
  -config FILE        the app's config file, INI or YAML (default: ./config.ini);
                      SESSIONFX_* environment variables override it, as in the app
  -json               print JSON instead of a table
  -timeout DURATION   give up after this long (default 30s)

A session is named by its handle: 32 hex characters that are neither its
id nor the id's storage hash. sessionctl never prints a session id or a
storage hash. Users are the values of the session key the config names in
[session] user_key (list -user, revoke-user and stats by user need it).

The store must be one the app's processes share: gorm (SQLite file,
PostgreSQL, MySQL), kvcache on a redis or file engine, or layered over one
of these. A memory store lives inside the app's process, and the cookie
store keeps sessions in the clients' cookies: sessionctl cannot reach
either (exit code 4).

Exit codes:
  0  success (revoke-user of a user without sessions too: it revokes 0)
  1  the operation failed: store unreachable, timeout, store error
  2  usage: unknown command, missing or extra argument, bad flag, bad config
  3  not found: no live session has that handle (show, revoke)
  4  unsupported: the store cannot be reached or listed from another process
`

// globals are the flags every command takes.
type globals struct {
	config  string
	json    bool
	timeout time.Duration
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.config, "config", g.config, "the app's config file")
	fs.BoolVar(&g.json, "json", g.json, "print JSON")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "give up after this long")
}

// exitError is an error with the exit code it stands for; its message is
// the one line printed on stderr (after "sessionctl: ").
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, a ...any) error {
	return &exitError{ExitUsage, fmt.Sprintf(format, a...) + " (sessionctl help for usage)"}
}

// Run runs sessionctl with args (os.Args[1:]), writing results to stdout
// and errors (one line each) and warnings to stderr, and returns the exit
// code. opts are added to the fx graph beside session.Module and
// stores.All (gormstore.UseModel, say).
func Run(args []string, stdout, stderr io.Writer, opts ...fx.Option) int {
	// The store's logger writes through a gate closed on return: a store
	// still being built when -timeout gave up writes nothing afterwards.
	logOut := &gate{w: stderr}
	defer logOut.close()
	err := run(args, stdout, logOut, opts)
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, Usage)
		return ExitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		ee = &exitError{ExitFailed, oneLine(err.Error())}
	}
	fmt.Fprintln(logOut, "sessionctl: "+ee.msg)
	return ee.code
}

func run(args []string, stdout, stderr io.Writer, opts []fx.Option) error {
	g := globals{timeout: DefaultTimeout}
	fs := newFlagSet("sessionctl")
	g.register(fs)
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return usageErr("no command given")
	}
	name, rest := rest[0], rest[1:]
	cmd, ok := commands[name]
	if !ok {
		if name == "help" || name == "-h" || name == "--help" {
			return flag.ErrHelp
		}
		return usageErr("unknown command %q", clean(name, 40))
	}

	cfs := newFlagSet("sessionctl " + name)
	g.register(cfs)
	var user string
	if name == "list" {
		cfs.StringVar(&user, "user", "", "only this user's sessions")
	}
	pos, err := parseInterleaved(cfs, rest)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) != len(cmd.args) {
		if len(cmd.args) == 0 {
			return usageErr("%s takes no argument", name)
		}
		return usageErr("%s takes one argument: %s", name, cmd.args[0])
	}
	if len(pos) == 1 && strings.TrimSpace(pos[0]) == "" {
		return usageErr("%s: %s is empty", name, cmd.args[0])
	}
	if g.timeout <= 0 {
		return usageErr("-timeout must be positive")
	}
	path, err := configPath(g.config)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	st, err := open(ctx, path, stderr, opts)
	if err != nil {
		return err
	}
	err = st.usable(ctx)
	var uc errUserColumn
	if errors.As(err, &uc) {
		// The app keeps its users in a column of its own model: open
		// again with a model that reads that column.
		st.close()
		mt, merr := userColumnModel(uc.key)
		if merr != nil {
			return merr
		}
		if st, err = open(ctx, path, stderr, append(opts[:len(opts):len(opts)], fx.Supply(mt))); err != nil {
			return err
		}
		err = st.usable(ctx)
	}
	defer st.close()
	if err != nil {
		return err
	}
	c := &call{ctx: ctx, st: st, out: stdout, json: g.json, user: user}
	if len(pos) == 1 {
		c.arg = pos[0]
	}
	if err := cmd.run(c); err != nil {
		return opError(name, err, ctx, g.timeout)
	}
	return nil
}

// gate is a writer that drops what is written after close.
type gate struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// command is one subcommand.
type command struct {
	args []string // names of its positional arguments
	run  func(*call) error
}

var commands = map[string]command{
	"list":        {nil, (*call).list},
	"show":        {[]string{"HANDLE"}, (*call).show},
	"revoke":      {[]string{"HANDLE"}, (*call).revoke},
	"revoke-user": {[]string{"NAME"}, (*call).revokeUser},
	"cleanup":     {nil, (*call).cleanup},
	"stats":       {nil, (*call).stats},
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by Run
	fs.Usage = func() {}
	return fs
}

// parseInterleaved parses flags wherever they are among args (show HANDLE
// -json), and returns the positional arguments. After "--" everything is
// positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func flagErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageErr("%s", oneLine(err.Error()))
}

// configPath is -config, or ./config.ini when it exists.
func configPath(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if _, err := os.Stat(DefaultConfig); err == nil {
		return DefaultConfig, nil
	}
	return "", usageErr("no config file: give the app's with -config FILE (there is no ./%s)", DefaultConfig)
}

// opError maps what an operation returned to its exit code and one line.
func opError(name string, err error, ctx context.Context, timeout time.Duration) error {
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return err
	case errors.Is(err, session.ErrNoSuchSession):
		return &exitError{ExitNotFound, name + ": no live session has that handle"}
	case errors.Is(err, session.ErrNoUserKey):
		return &exitError{ExitUsage, name + ": the config sets no [session] user_key (the session key naming the logged-in user, e.g. user_id): sessionctl needs it to find a user's sessions"}
	case errors.Is(err, backends.ErrUnsupported):
		return &exitError{ExitUnsupported, name + ": the configured store cannot do this: " + scrub(err.Error())}
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return &exitError{ExitFailed, fmt.Sprintf("%s: timed out after %s (-timeout)", name, timeout)}
	}
	msg := scrub(err.Error())
	if !errors.Is(err, session.ErrStore) {
		msg = "the session store failed: " + msg
	}
	return &exitError{ExitFailed, name + ": " + msg}
}
