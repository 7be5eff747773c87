package gormstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// Drivers lists the values Config.Driver accepts.
var Drivers = []string{"sqlite", "postgres", "mysql"}

// driverAliases are other names of the Drivers.
var driverAliases = map[string]string{
	"postgresql": "postgres", "pg": "postgres", "pgx": "postgres", "psql": "postgres",
	"mariadb": "mysql", "sqlite3": "sqlite",
	"postgres": "postgres", "mysql": "mysql", "sqlite": "sqlite", // other case
}

// ErrConfig wraps invalid [gorm] configuration.
var ErrConfig = errors.New("invalid gorm configuration")

// Config is the [gorm] configuration section.
type Config struct {
	// Driver is sqlite (pure Go, no cgo), postgres or mysql (MySQL and
	// MariaDB). Default sqlite.
	Driver string `koanf:"driver"`
	// DSN is the data source name: a file path for sqlite (":memory:" for
	// an in-memory database of this process only), a libpq keyword/value
	// string or URL for postgres, a go-sql-driver DSN for mysql.
	// Default "sessions.sqlite3".
	DSN string `koanf:"dsn"`
	// Table is the session table. Default "sessions".
	Table string `koanf:"table"`
	// MaxOpenConns limits the connection pool (0: the driver's default;
	// sqlite in memory always uses 1).
	MaxOpenConns int `koanf:"max_open_conns"`
	// BatchSize is how many rows DeleteOlderThan deletes per statement
	// (default 1000).
	BatchSize int `koanf:"batch_size"`
}

// DefaultConfig returns the defaults: sqlite in sessions.sqlite3, table
// sessions.
func DefaultConfig() Config {
	return Config{Driver: "sqlite", DSN: "sessions.sqlite3", Table: "sessions", BatchSize: 1000}
}

// withDefaults fills empty fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Driver == "" {
		c.Driver = d.Driver
	}
	if c.DSN == "" {
		c.DSN = d.DSN
	}
	if c.Table == "" {
		c.Table = d.Table
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	return c
}

// Validate reports the first invalid field, naming the key, the value and
// what is allowed. Empty fields count as their defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	ok := false
	for _, d := range Drivers {
		if c.Driver == d {
			ok = true
		}
	}
	if !ok {
		hint := ""
		if d, alias := driverAliases[strings.ToLower(c.Driver)]; alias {
			hint = fmt.Sprintf(" (for %s write %s)", c.Driver, d)
		}
		return fmt.Errorf("%w: gorm.driver = %q; allowed: %s%s", ErrConfig, c.Driver, strings.Join(Drivers, ", "), hint)
	}
	if err := validTable(c.Table); err != nil {
		return err
	}
	if c.MaxOpenConns < 0 {
		return fmt.Errorf("%w: gorm.max_open_conns = %d; want 0 (driver default) or more", ErrConfig, c.MaxOpenConns)
	}
	if c.BatchSize < 0 {
		return fmt.Errorf("%w: gorm.batch_size = %d; want 0 (default 1000) or more", ErrConfig, c.BatchSize)
	}
	return nil
}

func validTable(t string) error {
	if t == "" {
		return fmt.Errorf("%w: gorm.table is empty; want a table name", ErrConfig)
	}
	for _, r := range t {
		if !(r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Errorf("%w: gorm.table = %q; want letters, digits, '_' (and '.' for schema.table)", ErrConfig, t)
		}
	}
	return nil
}

// Open opens the configured database with TranslateError on and a gorm
// logger that writes to log (nil: silent) without SQL parameters. It is
// OpenContext without a bound.
//
// SQLite runs in WAL mode with a 5 s busy timeout, foreign keys on and
// immediate transactions, so concurrent writers wait instead of failing with
// "database is locked". MySQL DSNs get parseTime=true unless they set it.
func Open(cfg Config, log *zap.Logger) (*gorm.DB, error) {
	return OpenContext(context.Background(), cfg, log)
}

// OpenContext is Open bounded by ctx: when ctx ends before the database
// answers (an unreachable host, say), it returns an error wrapping ctx's
// cause, and the connection, should it still succeed, is closed.
func OpenContext(ctx context.Context, cfg Config, log *zap.Logger) (*gorm.DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("gormstore: connecting to %s database (%s): %w", cfg.Driver, dsnNotShown, context.Cause(ctx))
	}
	type result struct {
		db  *gorm.DB
		err error
	}
	done := make(chan result, 1)
	go func() {
		db, err := open(cfg, log)
		done <- result{db, err}
	}()
	select {
	case r := <-done:
		return r.db, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.db != nil {
				if sqlDB, err := r.db.DB(); err == nil {
					_ = sqlDB.Close()
				}
			}
		}()
		return nil, fmt.Errorf("gormstore: connecting to %s database (%s): %w", cfg.Driver, dsnNotShown, context.Cause(ctx))
	}
}

// open is Open for a validated cfg with defaults.
func open(cfg Config, log *zap.Logger) (*gorm.DB, error) {
	var dial gorm.Dialector
	memory := false
	switch cfg.Driver {
	case "sqlite":
		dial, memory = openSQLite(cfg.DSN)
	case "postgres":
		dial = postgres.Open(cfg.DSN)
	case "mysql":
		dsn := cfg.DSN
		if !strings.Contains(dsn, "parseTime=") {
			dsn = addParam(dsn, "parseTime=true")
		}
		dial = mysql.Open(dsn)
	}
	db, err := gorm.Open(dial, &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true,
		// Session queries are few and repeated: prepare each once per
		// connection instead of on every call.
		PrepareStmt: true,
		// gorm's "no eviction" TTL: any other TTL starts a cache-sweeping
		// goroutine that gorm never stops (a leak per opened database). The
		// store prepares a handful of statements, so none need evicting.
		PrepareStmtTTL: 24 * time.Hour * 365 * 10,
		Logger:         newGormLogger(log),
	})
	if err != nil {
		return nil, fmt.Errorf("gormstore: opening %s database (%s): %w", cfg.Driver, dsnNotShown, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("gormstore: %w", err)
	}
	switch {
	case memory:
		// Each connection to ":memory:" is a database of its own: keep
		// exactly one, forever.
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
		sqlDB.SetConnMaxLifetime(0)
		sqlDB.SetConnMaxIdleTime(0)
	case cfg.MaxOpenConns > 0:
		sqlDB.SetMaxOpenConns(cfg.MaxOpenConns)
		sqlDB.SetMaxIdleConns(cfg.MaxOpenConns)
	case cfg.Driver == "sqlite":
		// SQLite has one writer at a time; a small pool keeps readers
		// concurrent (WAL) without dozens of connections waiting on the
		// write lock.
		sqlDB.SetMaxOpenConns(4)
		sqlDB.SetMaxIdleConns(4)
	}
	if err := sqlDB.Ping(); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("gormstore: connecting to %s database (%s): %w", cfg.Driver, dsnNotShown, err)
	}
	return db, nil
}

func addParam(dsn, param string) string {
	if strings.Contains(dsn, "?") {
		return dsn + "&" + param
	}
	return dsn + "?" + param
}

// dsnNotShown stands for the DSN in errors: DSNs come in too many forms
// (URLs, key=value lists with quoting, go-sql-driver's user:pass@tcp(...))
// to redact reliably, and they carry passwords. The driver's own message
// names what failed (host, port, user, database).
const dsnNotShown = "gorm.dsn not shown: it may hold a password"

// gormLogger writes GORM's own messages to zap: failed queries at debug
// (the store returns the error), slow ones at warn, never SQL parameters.
type gormLogger struct {
	log  *zap.Logger
	slow time.Duration
}

func newGormLogger(log *zap.Logger) gormlogger.Interface {
	if log == nil {
		return gormlogger.Discard
	}
	return &gormLogger{log: log.Named("gorm").WithOptions(zap.AddCallerSkip(3)), slow: 500 * time.Millisecond}
}

func (l *gormLogger) LogMode(gormlogger.LogLevel) gormlogger.Interface { return l }

func (l *gormLogger) Info(_ context.Context, msg string, args ...any) {
	l.log.Debug(fmt.Sprintf(msg, args...))
}

func (l *gormLogger) Warn(_ context.Context, msg string, args ...any) {
	l.log.Warn(fmt.Sprintf(msg, args...))
}

func (l *gormLogger) Error(_ context.Context, msg string, args ...any) {
	if strings.HasPrefix(msg, "failed to initialize database") {
		// Open returns this error, and its caller reports it: logging it
		// too would show the start-up failure twice.
		l.log.Debug(fmt.Sprintf(msg, args...))
		return
	}
	l.log.Error(fmt.Sprintf(msg, args...))
}

func (l *gormLogger) Trace(_ context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && l.log.Core().Enabled(zap.DebugLevel):
		sql, rows := fc()
		l.log.Debug("query failed", zap.String("sql", sql), zap.Int64("rows", rows), zap.Duration("elapsed", elapsed), zap.Error(err))
	case elapsed > l.slow:
		sql, rows := fc()
		l.log.Warn("slow query", zap.String("sql", sql), zap.Int64("rows", rows), zap.Duration("elapsed", elapsed))
	}
}

// ParamsFilter keeps parameters (session ids, data) out of logged SQL.
func (l *gormLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}
