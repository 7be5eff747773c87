package gormstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
	"gorm.io/driver/postgres"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/internal/retry"
)

// WatchApplicationName starts the application_name of the connection a
// PostgreSQL Watch listens on (followed by a space and the table name), so
// it can be told apart in pg_stat_activity.
const WatchApplicationName = "sessionfx-watch"

// notifyFunc is the trigger function every watched session table shares.
// The payload is "<rev>:<session_id>": the row's version after an insert or
// an update that moved it, 0 for a delete or a touch (which keeps the
// version), so a listener's copy of the session at that version or later is
// known current, and anything else is dropped. The _v1 suffix leaves room
// for a changed payload without breaking tables that use this one.
const notifyFunc = "sessionfx_session_notify_v1"

const notifyFuncSQL = `CREATE OR REPLACE FUNCTION ` + notifyFunc + `() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM pg_notify(TG_ARGV[0], '0:' || OLD.session_id);
		RETURN NULL;
	END IF;
	IF TG_OP = 'UPDATE' AND OLD.session_id IS DISTINCT FROM NEW.session_id THEN
		PERFORM pg_notify(TG_ARGV[0], '0:' || OLD.session_id);
	END IF;
	IF TG_OP = 'UPDATE' AND OLD.version = NEW.version THEN
		PERFORM pg_notify(TG_ARGV[0], '0:' || NEW.session_id);
	ELSE
		PERFORM pg_notify(TG_ARGV[0], NEW.version || ':' || NEW.session_id);
	END IF;
	RETURN NULL;
END
$$`

// notifyTrigger is the trigger's name on the session table.
const notifyTrigger = "sessionfx_notify"

// Heartbeat of the listening connection: after watchIdle without a
// notification the listener pings the server, and a ping unanswered within
// watchPingTimeout counts as a lost connection. A connection the server or
// the kernel closes is noticed at once; one that silently stops (a network
// partition) within watchIdle + watchPingTimeout.
var (
	watchIdle        = 10 * time.Second
	watchPingTimeout = 5 * time.Second
)

// watchMaxBackoff caps the wait between two attempts to listen again.
const watchMaxBackoff = time.Second

// notifyChannel is the NOTIFY channel of table: readable when it fits
// PostgreSQL's 63-byte identifiers, else a hash.
func notifyChannel(table string) string {
	c := "sessionfx_" + table
	if len(c) <= 63 {
		return c
	}
	h := sha256.Sum256([]byte(table))
	return "sessionfx_" + hex.EncodeToString(h[:16])
}

// quoteIdent quotes a table name ("schema.table" part by part). validTable
// has allowed only letters, digits, '_' and '.'.
func quoteIdent(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = `"` + p + `"`
	}
	return strings.Join(parts, ".")
}

// postgresDSN returns the DSN the store's database was opened with.
func (s *Store) postgresDSN() string {
	switch d := s.db.Dialector.(type) {
	case *postgres.Dialector:
		if d.Config != nil {
			return d.DSN
		}
	case postgres.Dialector:
		if d.Config != nil {
			return d.DSN
		}
	}
	return ""
}

func (s *Store) watchPostgres(ctx context.Context, fn func(backends.Change)) (func() error, error) {
	dsn := s.postgresDSN()
	if dsn == "" {
		return nil, fmt.Errorf("gormstore: Watch on table %q: the database was opened without a DSN (postgres.New with Config.Conn?), and the listener needs one to open its own connection: %w", s.table, backends.ErrUnsupported)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("gormstore: Watch on table %q: parsing the DSN (%s): %w", s.table, dsnNotShown, err)
	}
	cfg.RuntimeParams["application_name"] = WatchApplicationName + " " + s.table
	w := &pgWatch{s: s, cfg: cfg, fn: fn, channel: notifyChannel(s.table), log: s.log.With(zap.String("table", s.table))}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(ctx)
	}()
	return sync.OnceValue(func() error {
		cancel()
		<-done
		return nil
	}), nil
}

// pgWatch is one PostgreSQL watch: a goroutine listening on a connection of
// its own, connecting again after a loss.
type pgWatch struct {
	s       *Store
	cfg     *pgx.ConnConfig
	fn      func(backends.Change)
	channel string
	log     *zap.Logger
}

func (w *pgWatch) run(ctx context.Context) {
	failures := 0
	var downSince time.Time
	for ctx.Err() == nil {
		conn, err := w.listen(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if failures == 1 {
				downSince = time.Now()
				w.log.Warn("session change notifications: cannot listen; cached copies are trusted for local_ttl only until it can; retrying", zap.Error(err))
			} else {
				w.log.Debug("session change notifications: cannot listen; retrying", zap.Int("attempt", failures), zap.Error(err))
			}
			if retry.Wait(ctx, failures, watchMaxBackoff) != nil {
				return
			}
			continue
		}
		if failures > 0 {
			w.log.Info("session change notifications: listening again", zap.Duration("after", time.Since(downSince)))
		}
		failures = 0
		w.fn(backends.Change{Kind: backends.Synced})
		err = w.receive(ctx, conn)
		cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(cctx)
		ccancel()
		if ctx.Err() != nil {
			return
		}
		w.fn(backends.Change{Kind: backends.Lost})
		failures = 1
		downSince = time.Now()
		w.log.Warn("session change notifications: lost the listening connection; every cached copy is dropped; listening again", zap.Error(err))
	}
}

// listen connects, installs the trigger when it is missing, and LISTENs.
func (w *pgWatch) listen(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, w.cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting (%s): %w", dsnNotShown, err)
	}
	err = w.install(cctx, conn)
	if err == nil {
		_, err = conn.Exec(cctx, "LISTEN "+quoteIdent(w.channel))
	}
	if err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// install creates the notify trigger on the session table unless it is
// there. Concurrent instances take turns on an advisory lock.
func (w *pgWatch) install(ctx context.Context, conn *pgx.Conn) error {
	table := quoteIdent(w.s.table)
	var exists bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2)`, table, notifyTrigger).Scan(&exists)
	if err != nil {
		return fmt.Errorf("looking for the notify trigger: %w", err)
	}
	if exists {
		return nil
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		stmts := []string{
			`SELECT pg_advisory_xact_lock(hashtext('` + notifyFunc + `'))`,
			notifyFuncSQL,
			`DROP TRIGGER IF EXISTS ` + notifyTrigger + ` ON ` + table,
			`CREATE TRIGGER ` + notifyTrigger + ` AFTER INSERT OR UPDATE OR DELETE ON ` + table +
				` FOR EACH ROW EXECUTE FUNCTION ` + notifyFunc + `('` + w.channel + `')`,
		}
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("installing the notify trigger on table %q: %w", w.s.table, err)
	}
	w.log.Info("session change notifications: installed the notify trigger", zap.String("trigger", notifyTrigger), zap.String("channel", w.channel))
	return nil
}

// receive reports notifications until the connection fails or ctx ends.
func (w *pgWatch) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, watchIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if n != nil {
			w.report(n)
		}
		switch {
		case err == nil:
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case pgconn.Timeout(err) && !conn.IsClosed():
			pctx, pcancel := context.WithTimeout(ctx, watchPingTimeout)
			err = conn.Ping(pctx)
			pcancel()
			if err != nil {
				return fmt.Errorf("no answer to a ping: %w", err)
			}
		default:
			return err
		}
	}
}

// report passes one notification on, ignoring payloads it cannot read.
func (w *pgWatch) report(n *pgconn.Notification) {
	rev, id, ok := strings.Cut(n.Payload, ":")
	r, err := strconv.ParseInt(rev, 10, 64)
	if !ok || err != nil || id == "" {
		w.log.Debug("session change notifications: ignoring a payload", zap.Error(errors.New("want <rev>:<session id>")))
		return
	}
	w.fn(backends.Change{Kind: backends.Changed, ID: id, Rev: r})
}
