// Package gormstore keeps sessions as rows of a database table through
// gorm.io/gorm (SQLite without cgo, PostgreSQL, MySQL/MariaDB), so they can
// be queried like any other entity: all sessions of a user, "log out
// everywhere".
//
// A session model embeds Row. Fields tagged `session:"key"` hold that key in
// a typed column (indexed, foreign keys allowed); every other key is stored
// as JSON in the data column. Save merges a request's changes onto the
// stored row with a compare-and-set on the version column, so concurrent
// requests that write different keys all survive.
package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/internal/loghash"
	"github.com/sessionfx/session/internal/retry"
)

const (
	defaultMaxRetries = 50
	defaultPageSize   = 500
	defaultBatchSize  = 1000
	liveCond          = "(expires_at IS NULL OR expires_at > ?)"
	notMoved          = "data NOT LIKE ?"
)

// Store is a backends.Store on a GORM table.
type Store struct {
	db         *gorm.DB
	table      string
	model      *model
	log        *zap.Logger
	maxRetries int
	pageSize   int
	batchSize  int
	owned      bool // Close closes db
	memory     bool // sqlite in memory: one process only
	selectCols []string
	sql        *sqlRunner // the request path's statements (sqlfast.go)
	stmts      statements
	versionInc string // the SQL of version + 1
}

var (
	_ backends.Store   = (*Store)(nil)
	_ backends.Renewer = (*Store)(nil)
)

// Option configures New.
type Option func(*options)

type options struct {
	model      ModelType
	table      string
	log        *zap.Logger
	maxRetries int
	pageSize   int
	batchSize  int
	owned      bool
}

// WithModel sets the session model: a pointer to a zero value
// (&AppSession{}), a value, or a ModelType from Model[T](). Default: Session.
func WithModel(model any) Option {
	return func(o *options) { o.model = ModelOf(model) }
}

// WithTable sets the table name (default "sessions").
func WithTable(name string) Option { return func(o *options) { o.table = name } }

// WithLogger sets the logger for corrupt rows and conflicts (default: none).
func WithLogger(log *zap.Logger) Option { return func(o *options) { o.log = log } }

// WithMaxRetries sets how many times Save re-reads and re-applies after
// losing a compare-and-set race before it returns backends.ErrConflict
// (default 50).
func WithMaxRetries(n int) Option { return func(o *options) { o.maxRetries = n } }

// WithPageSize sets how many rows Iterate reads per query (default 500).
func WithPageSize(n int) Option { return func(o *options) { o.pageSize = n } }

// WithBatchSize sets how many rows DeleteOlderThan deletes per statement
// (default 1000).
func WithBatchSize(n int) Option { return func(o *options) { o.batchSize = n } }

// New returns a store on db. The caller keeps ownership of db: Close does
// not close it. Call Setup to create the table.
func New(db *gorm.DB, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("gormstore: New: db is nil; want an open *gorm.DB")
	}
	o := options{table: "sessions", maxRetries: defaultMaxRetries, pageSize: defaultPageSize, batchSize: defaultBatchSize}
	for _, opt := range opts {
		opt(&o)
	}
	if err := validTable(o.table); err != nil {
		return nil, err
	}
	if o.log == nil {
		o.log = zap.NewNop()
	}
	if o.maxRetries < 0 {
		o.maxRetries = 0
	}
	if o.pageSize <= 0 {
		o.pageSize = defaultPageSize
	}
	if o.batchSize <= 0 {
		o.batchSize = defaultBatchSize
	}
	m, err := parseModel(db, o.model, o.table)
	if err != nil {
		return nil, err
	}
	s := &Store{
		// Each save is one statement; no implicit transactions.
		db:         db.Session(&gorm.Session{SkipDefaultTransaction: true, NewDB: true}),
		table:      o.table,
		model:      m,
		log:        o.log.Named("gormstore"),
		maxRetries: o.maxRetries,
		pageSize:   o.pageSize,
		batchSize:  o.batchSize,
		owned:      o.owned,
		memory:     isMemorySQLite(db),
	}
	s.selectCols = append(s.selectCols, mixinColumns...)
	for _, c := range m.columns {
		s.selectCols = append(s.selectCols, c.name)
	}
	s.sql = newSQLRunner(s.db)
	s.buildStatements()
	s.versionInc = s.sql.quote("version") + " + 1"
	return s, nil
}

// NewFromConfig opens the database cfg names (see Open) and returns a store
// that owns it: Close closes the database. Call Setup to create the table.
func NewFromConfig(cfg Config, log *zap.Logger, opts ...Option) (*Store, error) {
	db, err := Open(cfg, log)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	all := append([]Option{WithTable(cfg.Table), WithLogger(log), WithBatchSize(cfg.BatchSize)}, opts...)
	all = append(all, func(o *options) { o.owned = true })
	s, err := New(db, all...)
	if err != nil {
		if sqlDB, derr := db.DB(); derr == nil {
			_ = sqlDB.Close()
		}
		return nil, err
	}
	return s, nil
}

func isMemorySQLite(db *gorm.DB) bool {
	return sqliteInMemory(db)
}

// DB returns the store's *gorm.DB (not scoped to the table; see Query).
func (s *Store) DB() *gorm.DB { return s.db }

// Table returns the session table's name.
func (s *Store) Table() string { return s.table }

// Query returns a query on the session table with ctx, for the app's own
// queries (joins, counts). Expired rows are not filtered out.
func (s *Store) Query(ctx context.Context) *gorm.DB {
	return s.db.WithContext(ctx).Table(s.table)
}

// Info declares the store: cross-process unless SQLite in memory, merging.
func (s *Store) Info() backends.Info {
	return backends.Info{Name: "gorm", CrossProcess: !s.memory, Merges: true}
}

// Setup creates the session table (with the model's foreign keys) or, when
// it exists, migrates it (AutoMigrate of the model on the configured table:
// new columns and indexes). Tables the model refers to (users) are the
// app's to migrate first.
func (s *Store) Setup(ctx context.Context) error {
	tx := s.db.Session(&gorm.Session{NewDB: true, Context: ctx})
	value := reflect.New(s.model.typ).Interface()
	var err error
	if !tx.Migrator().HasTable(s.table) {
		// CreateTable, unlike AutoMigrate, does not pull in the models
		// this one refers to, which GORM would parse under the session
		// table's name.
		err = tx.Table(s.table).Migrator().CreateTable(value)
	} else {
		tx.Config.IgnoreRelationshipsWhenMigrating = true
		err = tx.Table(s.table).AutoMigrate(value)
	}
	if err != nil {
		return fmt.Errorf("gormstore: migrating table %q for model %s: %w", s.table, s.model.typ, err)
	}
	return nil
}

// Close closes the database if the store opened it (NewFromConfig).
func (s *Store) Close() error {
	s.sql.close()
	if !s.owned {
		return nil
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("gormstore: close: %w", err)
	}
	return sqlDB.Close()
}

// stored is a row as read, with what Save needs beyond the record.
type stored struct {
	rec     backends.Record
	json    map[string]any // keys of the data column only
	cols    map[string]any // column key -> canonical value (nil for NULL)
	version int64
	rowID   int64
	// movedTo is set on a renewed id's tombstone: the storage id the
	// session moved to (see Renew).
	movedTo string
}

// tombPrefix starts the data column of a renewed id's tombstone row, followed
// by the storage id the session moved to. Encoded session data is a JSON
// object, so no session's data starts with it; no schema change is needed.
const tombPrefix = "~moved:"

// now is the store's clock, truncated to milliseconds: MySQL DATETIME(3)
// keeps no more, and returned records must equal loaded ones.
func now() time.Time { return truncTime(time.Now()) }

func truncTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Millisecond)
}

func (s *Store) scanRows(rows *sql.Rows) (*stored, error) {
	var (
		st      stored
		data    sql.NullString
		expires sql.NullTime
		ua, ip  sql.NullString
	)
	dests := []any{&st.rowID, &st.rec.ID, &data, &st.version, &st.rec.Created, &st.rec.Updated, &expires, &ua, &ip}
	colDests := make([]any, len(s.model.columns))
	for i := range s.model.columns {
		colDests[i] = s.model.columns[i].scanDest()
	}
	dests = append(dests, colDests...)
	if err := rows.Scan(dests...); err != nil {
		return &st, fmt.Errorf("%w: table %q: %v", backends.ErrCorrupt, s.table, err)
	}
	st.rec.Created = st.rec.Created.UTC()
	st.rec.Updated = st.rec.Updated.UTC()
	if expires.Valid {
		st.rec.Expires = expires.Time.UTC()
	}
	st.rec.Meta = backends.Meta{UserAgent: ua.String, IP: ip.String}
	st.json = map[string]any{}
	if to, ok := strings.CutPrefix(data.String, tombPrefix); ok {
		st.movedTo = to
		st.rec.Data = map[string]any{}
		return &st, nil
	}
	if data.Valid && data.String != "" {
		m, err := backends.DecodeData([]byte(data.String))
		if err != nil {
			// DecodeData's errors wrap backends.ErrCorrupt.
			return &st, fmt.Errorf("table %q, data column: %w", s.table, err)
		}
		if m != nil {
			st.json = m
		}
	}
	st.cols = make(map[string]any, len(s.model.columns))
	for i := range s.model.columns {
		c := &s.model.columns[i]
		v, err := c.fromScan(colDests[i])
		if err != nil {
			return &st, fmt.Errorf("%w: table %q: %v", backends.ErrCorrupt, s.table, err)
		}
		st.cols[c.key] = v
	}
	st.rec.Data = mergeData(st.json, st.cols)
	st.rec.Rev = st.version
	return &st, nil
}

// fromBase rebuilds the stored state from a record this store returned
// (SaveOptions.Base), so a save can try its compare-and-set without reading
// the row again.
func (s *Store) fromBase(b *backends.Record) *stored {
	st := &stored{rec: *b, version: b.Rev, json: make(map[string]any, len(b.Data)), cols: make(map[string]any, len(s.model.columns))}
	for k, v := range b.Data {
		if _, ok := s.model.byKey[k]; ok {
			st.cols[k] = v
		} else {
			st.json[k] = v
		}
	}
	for _, c := range s.model.columns {
		if _, ok := st.cols[c.key]; !ok {
			st.cols[c.key] = nil
		}
	}
	return st
}

// mergeData returns the record's keys: JSON keys, then column keys (which
// win).
func mergeData(json, cols map[string]any) map[string]any {
	out := make(map[string]any, len(json)+len(cols))
	for k, v := range json {
		out[k] = v
	}
	for k, v := range cols {
		out[k] = v
	}
	return out
}

// read returns the row stored under id, expired or not (ErrNotFound when
// there is none).
func (s *Store) read(ctx context.Context, id string, liveOnly bool) (*stored, error) {
	var rows *sql.Rows
	var err error
	if liveOnly {
		rows, err = s.sql.query(ctx, s.stmts.readLive, id, now())
	} else {
		rows, err = s.sql.query(ctx, s.stmts.readAny, id)
	}
	if err != nil {
		return nil, fmt.Errorf("gormstore: loading session %s from table %q: %w", loghash.Of(id), s.table, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("gormstore: loading session %s from table %q: %w", loghash.Of(id), s.table, err)
		}
		return nil, backends.ErrNotFound
	}
	st, err := s.scanRows(rows)
	if err != nil {
		s.log.Warn("corrupt session row", zap.String("session", loghash.Of(id)), zap.Error(err))
		return nil, err
	}
	return st, nil
}

// Load returns the live session stored under id.
func (s *Store) Load(ctx context.Context, id string) (*backends.Record, error) {
	st, err := s.read(ctx, id, true)
	if err != nil {
		return nil, err
	}
	if st.rec.Expired(time.Now()) {
		return nil, backends.ErrNotFound
	}
	if st.movedTo != "" {
		return nil, fmt.Errorf("%w: %w", backends.ErrNotFound, &backends.MovedError{To: st.movedTo})
	}
	return &st.rec, nil
}

// Exists reports whether a live session is stored under id.
func (s *Store) Exists(ctx context.Context, id string) (bool, error) {
	rows, err := s.sql.query(ctx, s.stmts.exists, id, now(), tombPrefix+"%")
	if err != nil {
		return false, fmt.Errorf("gormstore: checking session %s in table %q: %w", loghash.Of(id), s.table, err)
	}
	defer rows.Close()
	found := rows.Next()
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("gormstore: checking session %s in table %q: %w", loghash.Of(id), s.table, err)
	}
	return found, nil
}

// Delete removes the session stored under id.
func (s *Store) Delete(ctx context.Context, id string) error {
	if _, err := s.sql.exec(ctx, s.stmts.del, id); err != nil {
		return fmt.Errorf("gormstore: deleting session %s from table %q: %w", loghash.Of(id), s.table, err)
	}
	return nil
}

// Touch moves a live session's expiry (and updated_at) without rewriting
// its data or version.
func (s *Store) Touch(ctx context.Context, id string, expires time.Time) error {
	t := now()
	res, err := s.sql.exec(ctx, s.stmts.touch, nullTime(truncTime(expires)), t, id, t)
	if err != nil {
		return fmt.Errorf("gormstore: touching session %s in table %q: %w", loghash.Of(id), s.table, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		// MySQL counts changed rows, not matched ones: check.
		ok, err := s.Exists(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			return backends.ErrNotFound
		}
	}
	return nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// plan is a Save's changes split into JSON keys and typed columns, with
// column values already converted to their Go types.
type plan struct {
	ch       backends.Changes
	colSet   map[string]any // column key -> Go value for the column (nil: NULL)
	colCanon map[string]any // column key -> canonical value after the save
	jsonSet  map[string]any
	jsonDel  []string
}

func (s *Store) plan(ch backends.Changes) (*plan, error) {
	p := &plan{ch: ch, colSet: map[string]any{}, colCanon: map[string]any{}, jsonSet: map[string]any{}}
	for _, k := range ch.Delete {
		if _, ok := s.model.byKey[k]; ok {
			p.colSet[k], p.colCanon[k] = nil, nil
		} else {
			p.jsonDel = append(p.jsonDel, k)
		}
	}
	for k, v := range ch.Set {
		c, ok := s.model.byKey[k]
		if !ok {
			p.jsonSet[k] = v
			continue
		}
		dv, err := c.toDB(v)
		if err != nil {
			return nil, err
		}
		cv, err := canonical(dv)
		if err != nil {
			return nil, fmt.Errorf("%w: session key %q: %v", ErrColumnValue, k, err)
		}
		p.colSet[k], p.colCanon[k] = dv, cv
	}
	if ch.Clear {
		for _, c := range s.model.columns {
			if _, ok := p.colSet[c.key]; !ok {
				p.colSet[c.key], p.colCanon[c.key] = nil, nil
			}
		}
	}
	return p, nil
}

// applyJSON applies the plan's JSON changes onto base (which it may modify).
func (p *plan) applyJSON(base map[string]any, fresh bool) map[string]any {
	if base == nil || fresh || p.ch.Clear {
		base = map[string]any{}
	}
	for _, k := range p.jsonDel {
		delete(base, k)
	}
	for k, v := range p.jsonSet {
		base[k] = v
	}
	return base
}

// Save applies ch onto the stored session with a compare-and-set on its
// version, creating it when absent. Losing the race re-reads and re-applies,
// up to the configured retries (then backends.ErrConflict).
func (s *Store) Save(ctx context.Context, id string, ch backends.Changes, opt backends.SaveOptions) (*backends.Record, error) {
	if id == "" {
		return nil, errors.New("gormstore: Save: empty session id")
	}
	if len(id) > 64 {
		return nil, fmt.Errorf("gormstore: Save: session id of %d bytes; want at most 64 (column session_id)", len(id))
	}
	p, err := s.plan(ch)
	if err != nil {
		return nil, err
	}
	// Fast paths, one statement each: a brand-new id is inserted without a
	// read; a loaded record is updated with a compare-and-set on its
	// version. Either falls back to read-and-retry below when it loses.
	switch {
	case opt.New:
		rec, err := s.insert(ctx, id, p, opt)
		if err == nil {
			return rec, nil
		}
		if !s.isDuplicate(err) && !retryable(err) {
			return nil, fmt.Errorf("gormstore: inserting session %s into table %q: %w", loghash.Of(id), s.table, err)
		}
	case opt.Base != nil && opt.Base.ID == id && opt.Base.Rev > 0 && !opt.Base.Expired(time.Now()):
		rec, ok, err := s.update(ctx, s.fromBase(opt.Base), p, opt)
		if err != nil {
			return nil, fmt.Errorf("gormstore: updating session %s in table %q: %w", loghash.Of(id), s.table, err)
		}
		if ok {
			return rec, nil
		}
		backends.NoteRetry(ctx) // a concurrent save won: read and merge
	}
	for attempt := 0; ; attempt++ {
		cur, err := s.read(ctx, id, false)
		if err == nil && !opt.New {
			// Only a new session may be written where none lives: an
			// ended one (logout, login, expiry) stays ended.
			switch {
			case cur.rec.Expired(time.Now()):
				err = backends.ErrNotFound // a tombstone too, after its grace
			case cur.movedTo != "":
				return nil, &backends.MovedError{To: cur.movedTo}
			}
		}
		switch {
		case errors.Is(err, backends.ErrNotFound) && !opt.New:
			return nil, fmt.Errorf("%w: table %q: session %s ended (deleted, renewed or expired) before this save", backends.ErrNotFound, s.table, loghash.Of(id))
		case errors.Is(err, backends.ErrNotFound):
			rec, err := s.insert(ctx, id, p, opt)
			if err == nil {
				return rec, nil
			}
			if !s.isDuplicate(err) && !retryable(err) {
				return nil, fmt.Errorf("gormstore: inserting session %s into table %q: %w", loghash.Of(id), s.table, err)
			}
		case errors.Is(err, backends.ErrCorrupt) && !opt.New:
			return nil, fmt.Errorf("%w: %w", backends.ErrNotFound, err)
		case err != nil:
			return nil, err
		default:
			rec, ok, err := s.update(ctx, cur, p, opt)
			if err != nil {
				return nil, fmt.Errorf("gormstore: updating session %s in table %q: %w", loghash.Of(id), s.table, err)
			}
			if ok {
				return rec, nil
			}
		}
		if attempt >= s.maxRetries {
			s.log.Warn("session save conflict", zap.String("session", loghash.Of(id)), zap.Int("attempts", attempt+1))
			return nil, fmt.Errorf("%w: session %s in table %q after %d attempts", backends.ErrConflict, loghash.Of(id), s.table, attempt+1)
		}
		if err := retry.Wait(ctx, attempt+1, maxBackoff); err != nil {
			return nil, err
		}
	}
}

// maxBackoff caps the wait between two attempts of a compare-and-set loop.
const maxBackoff = 16 * time.Millisecond

func (s *Store) insert(ctx context.Context, id string, p *plan, opt backends.SaveOptions) (*backends.Record, error) {
	t := now()
	created := truncTime(opt.Created)
	if created.IsZero() {
		created = t
	}
	jsonData := p.applyJSON(nil, true)
	enc, err := backends.EncodeData(jsonData)
	if err != nil {
		return nil, err
	}
	row := append(make([]colVal, 0, 8+len(s.model.columns)),
		colVal{name: "session_id", val: id},
		colVal{name: "data", val: string(enc)},
		colVal{name: "version", val: int64(1)},
		colVal{name: "created_at", val: created},
		colVal{name: "updated_at", val: t},
		colVal{name: "expires_at", val: nullTime(truncTime(opt.Expires))},
		colVal{name: "user_agent", val: opt.Meta.UserAgent},
		colVal{name: "client_ip", val: opt.Meta.IP},
	)
	cols := make(map[string]any, len(s.model.columns))
	for _, c := range s.model.columns {
		v, set := p.colSet[c.key]
		if set && v != nil {
			// Unset typed columns are left out: the column's default applies.
			row = append(row, colVal{name: c.name, val: v})
		}
		cols[c.key] = p.colCanon[c.key] // nil unless set
	}
	query, args := s.insertSQL(row)
	if _, err := s.sql.exec(ctx, query, args...); err != nil {
		return nil, err
	}
	return &backends.Record{ID: id, Data: mergeData(jsonData, cols), Created: created, Updated: t, Expires: truncTime(opt.Expires), Meta: opt.Meta, Rev: 1}, nil
}

// update writes the plan onto cur if its version is still current; ok is
// false when another writer won.
func (s *Store) update(ctx context.Context, cur *stored, p *plan, opt backends.SaveOptions) (*backends.Record, bool, error) {
	t := now()
	// An expired row counts as absent: only a new session may start on it.
	fresh := cur.rec.Expired(t)
	if fresh && !opt.New {
		return nil, false, backends.ErrNotFound
	}
	if cur.movedTo != "" && !fresh {
		return nil, false, &backends.MovedError{To: cur.movedTo}
	}
	jsonData := p.applyJSON(cur.json, fresh)
	enc, err := backends.EncodeData(jsonData)
	if err != nil {
		return nil, false, err
	}
	created, meta := cur.rec.Created, cur.rec.Meta
	set := append(make([]colVal, 0, 7+len(s.model.columns)),
		colVal{name: "data", val: string(enc)},
		colVal{name: "version", expr: s.versionInc},
		colVal{name: "updated_at", val: t},
		colVal{name: "expires_at", val: nullTime(truncTime(opt.Expires))},
	)
	if fresh {
		created = truncTime(opt.Created)
		if created.IsZero() {
			created = t
		}
		meta = opt.Meta
		set = append(set, colVal{name: "created_at", val: created},
			colVal{name: "user_agent", val: meta.UserAgent}, colVal{name: "client_ip", val: meta.IP})
	}
	cols := make(map[string]any, len(s.model.columns))
	for _, c := range s.model.columns {
		v, changed := p.colSet[c.key]
		switch {
		case changed:
			set = append(set, colVal{name: c.name, val: v})
			cols[c.key] = p.colCanon[c.key]
		case fresh:
			set = append(set, colVal{name: c.name, val: nil})
			cols[c.key] = nil
		default:
			cols[c.key] = cur.cols[c.key]
		}
	}
	n, err := s.casUpdate(ctx, set, cur.rec.ID, cur.version)
	if err != nil {
		if retryable(err) {
			return nil, false, nil // lost to a concurrent writer: read again
		}
		return nil, false, err
	}
	if n == 0 {
		return nil, false, nil
	}
	return &backends.Record{ID: cur.rec.ID, Data: mergeData(jsonData, cols), Created: created, Updated: t, Expires: truncTime(opt.Expires), Meta: meta, Rev: cur.version + 1}, true, nil
}

// casUpdate runs an UPDATE of set on the row of id if its version is still
// version, and returns how many rows it changed.
func (s *Store) casUpdate(ctx context.Context, set []colVal, id string, version int64) (int64, error) {
	query, args := s.casUpdateSQL(set, id, version)
	res, err := s.sql.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Renew implements backends.Renewer. The renewed session is inserted under
// to first (nobody else knows that id yet); then from's row becomes a
// tombstone with a compare-and-set on the version the new session was
// computed from: its data names to, its typed columns are NULL (so queries
// such as FindWhere("user_id = ?") do not see it) and it expires after
// grace. When a concurrent save moved the version meanwhile, the new row is
// computed again from the fresh one. No transaction is held open.
func (s *Store) Renew(ctx context.Context, from, to string, ch backends.Changes, opt backends.SaveOptions, grace time.Duration) (*backends.Record, error) {
	if to == "" || len(to) > 64 {
		return nil, fmt.Errorf("gormstore: Renew: new session id of %d bytes; want 1 to 64 (column session_id)", len(to))
	}
	if _, err := s.plan(ch); err != nil {
		return nil, err
	}
	var cur *stored
	var err error
	if b := opt.Base; b != nil && b.ID == from && b.Rev > 0 {
		cur = s.fromBase(b)
	} else {
		cur, err = s.read(ctx, from, false)
	}
	inserted := false
	drop := func() error {
		if !inserted {
			return nil
		}
		inserted = false
		return s.Delete(ctx, to)
	}
	for attempt := 0; ; attempt++ {
		if err == nil && (cur.movedTo != "" || cur.rec.Expired(time.Now())) {
			err = backends.ErrNotFound
		}
		if err != nil {
			if derr := drop(); derr != nil {
				return nil, derr
			}
			if errors.Is(err, backends.ErrNotFound) || errors.Is(err, backends.ErrCorrupt) {
				return nil, fmt.Errorf("%w: table %q: session %s is no longer live: %w", backends.ErrNotFound, s.table, loghash.Of(from), err)
			}
			return nil, err
		}
		// The whole renewed session, as a new row.
		p, perr := s.plan(backends.Changes{Clear: true, Set: ch.Apply(cur.rec.Data)})
		if perr != nil {
			return nil, perr
		}
		if err := drop(); err != nil {
			return nil, err
		}
		rec, ierr := s.insert(ctx, to, p, backends.SaveOptions{Expires: opt.Expires, Created: cur.rec.Created, Meta: cur.rec.Meta})
		if ierr != nil {
			return nil, fmt.Errorf("gormstore: renewing session %s in table %q: %w", loghash.Of(from), s.table, ierr)
		}
		inserted = true
		t := now()
		set := append(make([]colVal, 0, 4+len(s.model.columns)),
			colVal{name: "data", val: tombPrefix + to},
			colVal{name: "version", expr: s.versionInc},
			colVal{name: "updated_at", val: t},
			colVal{name: "expires_at", val: t.Add(max(grace, time.Millisecond))},
		)
		for _, c := range s.model.columns {
			set = append(set, colVal{name: c.name, val: nil})
		}
		n, uerr := s.casUpdate(ctx, set, from, cur.version)
		if uerr != nil && retryable(uerr) {
			uerr, n = nil, 0 // lost to a concurrent writer: read again
		}
		if uerr != nil {
			_ = drop()
			return nil, fmt.Errorf("gormstore: renewing session %s in table %q: %w", loghash.Of(from), s.table, uerr)
		}
		if n > 0 {
			return rec, nil
		}
		if attempt >= s.maxRetries {
			_ = drop()
			return nil, fmt.Errorf("%w: renewing session %s in table %q after %d attempts", backends.ErrConflict, loghash.Of(from), s.table, attempt+1)
		}
		if err := retry.Wait(ctx, attempt+1, maxBackoff); err != nil {
			_ = drop()
			return nil, err
		}
		cur, err = s.read(ctx, from, false)
	}
}

// retryable reports whether err is the database giving up on a statement
// because of concurrent ones — an InnoDB deadlock (1213) or lock wait
// timeout (1205), a PostgreSQL deadlock (40P01) or serialization failure
// (40001) — which the compare-and-set loops retry like a lost race instead
// of failing the save.
func retryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) {
		switch pe.SQLState() {
		case "40001", "40P01":
			return true
		}
	}
	return false
}

func (s *Store) isDuplicate(err error) bool {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	// An app-provided DB may not have TranslateError on.
	if tr, ok := s.db.Dialector.(gorm.ErrorTranslator); ok {
		return errors.Is(tr.Translate(err), gorm.ErrDuplicatedKey)
	}
	return false
}

// Iterate calls fn for every live session in primary-key order, reading
// one page of rows at a time (no connection is held while fn runs). Corrupt
// rows are logged and skipped.
func (s *Store) Iterate(ctx context.Context, fn func(backends.Record) error) error {
	var last int64
	for {
		page, err := s.page(ctx, last, s.pageSize, nil, nil)
		if err != nil {
			return err
		}
		for i := range page.recs {
			if err := fn(page.recs[i]); err != nil {
				return err
			}
		}
		if page.n < s.pageSize {
			return nil
		}
		if page.last <= last {
			return fmt.Errorf("gormstore: iterating table %q: primary key did not advance past %d", s.table, last)
		}
		last = page.last
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

type page struct {
	recs []backends.Record
	n    int   // rows read, corrupt ones included
	last int64 // last primary key read
}

// page reads up to limit live rows with id > after (limit <= 0: all),
// optionally restricted by a caller's condition.
func (s *Store) page(ctx context.Context, after int64, limit int, query any, args []any) (*page, error) {
	q := s.Query(ctx).Select(s.selectCols).Where(liveCond, now()).Where("id > ?", after)
	if query != nil {
		q = q.Where(query, args...)
	}
	q = q.Order("id")
	if limit > 0 {
		q = q.Limit(limit)
	}
	rows, err := q.Rows()
	if err != nil {
		return nil, fmt.Errorf("gormstore: reading table %q: %w", s.table, err)
	}
	defer rows.Close()
	pg := &page{}
	for rows.Next() {
		st, err := s.scanRows(rows)
		pg.n++
		if st.rowID > pg.last {
			pg.last = st.rowID
		}
		if err != nil {
			s.log.Warn("skipping corrupt session row", zap.Int64("row", st.rowID), zap.Error(err))
			continue
		}
		if st.movedTo != "" {
			continue // a renewed id's tombstone is not a session
		}
		pg.recs = append(pg.recs, st.rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("gormstore: reading table %q: %w", s.table, err)
	}
	return pg, nil
}

// DeleteOlderThan deletes, in batches, the expired sessions and those not
// saved or touched for age, and returns how many it deleted. Each batch is
// found through an index (expires_at, then updated_at) in that index's
// order, so a sweep reads the rows it deletes and not the table: its cost
// follows the expired rows (BenchmarkSweepBig).
func (s *Store) DeleteOlderThan(ctx context.Context, age time.Duration) (int64, error) {
	t := now()
	var total int64
	for _, c := range []struct {
		where, order string
		arg          time.Time
	}{
		{"expires_at IS NOT NULL AND expires_at <= ?", "expires_at", t},
		{"updated_at < ?", "updated_at", t.Add(-age)},
	} {
		for {
			var ids []int64
			err := s.Query(ctx).Where(c.where, c.arg).Order(c.order).Limit(s.batchSize).Pluck("id", &ids).Error
			if err != nil {
				return total, fmt.Errorf("gormstore: finding old sessions in table %q: %w", s.table, err)
			}
			if len(ids) == 0 {
				break
			}
			res := s.Query(ctx).Where("id IN ?", ids).Delete(nil)
			if res.Error != nil {
				return total, fmt.Errorf("gormstore: deleting old sessions from table %q: %w", s.table, res.Error)
			}
			total += res.RowsAffected
			if len(ids) < s.batchSize {
				break
			}
		}
	}
	return total, nil
}

// FindUser implements backends.UserFinder: one indexed query when key is a
// typed column of the model (e.g. UserID with `session:"user_id"` and
// gorm:"index"); an error wrapping backends.ErrUnsupported otherwise, so
// the caller iterates.
func (s *Store) FindUser(ctx context.Context, key, user string) ([]backends.Record, error) {
	c, ok := s.model.byKey[key]
	if !ok {
		return nil, fmt.Errorf("%w: gormstore: session key %q is not a typed column of the model", backends.ErrUnsupported, key)
	}
	return s.FindWhere(ctx, clause.Eq{Column: clause.Column{Name: c.name}, Value: user})
}

// FindWhere returns the live sessions matching a GORM condition on the
// session table, e.g. FindWhere(ctx, "user_id = ?", 14). Corrupt rows are
// logged and skipped.
func (s *Store) FindWhere(ctx context.Context, query any, args ...any) ([]backends.Record, error) {
	if isEmptyCond(query) {
		return nil, errors.New("gormstore: FindWhere: empty condition; use Iterate to read all sessions")
	}
	pg, err := s.page(ctx, 0, 0, query, args)
	if err != nil {
		return nil, err
	}
	return pg.recs, nil
}

// DeleteWhere deletes the sessions matching a GORM condition and returns
// how many it deleted, e.g. DeleteWhere(ctx, "user_id = ?", 14) logs user 14
// out everywhere.
func (s *Store) DeleteWhere(ctx context.Context, query any, args ...any) (int64, error) {
	if isEmptyCond(query) {
		return 0, errors.New("gormstore: DeleteWhere: empty condition; refusing to delete every session")
	}
	res := s.Query(ctx).Where(query, args...).Delete(nil)
	if res.Error != nil {
		return 0, fmt.Errorf("gormstore: deleting sessions from table %q: %w", s.table, res.Error)
	}
	return res.RowsAffected, nil
}

func isEmptyCond(query any) bool {
	if query == nil {
		return true
	}
	if str, ok := query.(string); ok && strings.TrimSpace(str) == "" {
		return true
	}
	return false
}
