package gormstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"

	"gorm.io/gorm"
)

// The request path (Load, Save, Touch, Delete, Renew) runs a handful of
// statements whose shape is fixed per table. They are written once here in
// the table's dialect and run on the database/sql pool under the *gorm.DB
// with statements prepared once and cached, skipping GORM's query builder
// and callbacks: on SQLite that halves a Load (GORM's statement building and
// reflection were half its CPU) and cuts the allocations of every call.
// Anything else (Setup, Iterate, sweeps, FindWhere, the app's own queries)
// still goes through GORM.

// sqlRunner runs raw SQL on the store's connection pool.
type sqlRunner struct {
	pool   gorm.ConnPool       // the *gorm.DB's pool (an *sql.DB, GORM's prepared pool, a transaction…)
	db     *sql.DB             // the *sql.DB under it, when there is one: statements are prepared on it
	dollar bool                // placeholders are $1, $2… (PostgreSQL) instead of ?
	quote  func(string) string // quotes an identifier; names known at New are cached

	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

// maxCachedStmts bounds the prepared statements one store keeps. Insert and
// update statements vary with the typed columns a save sets, so an app with
// many typed columns could otherwise prepare one per combination.
const maxCachedStmts = 256

func newSQLRunner(db *gorm.DB) *sqlRunner {
	r := &sqlRunner{pool: db.ConnPool, dollar: db.Dialector.Name() == "postgres", stmts: map[string]*sql.Stmt{}}
	if sqlDB, err := db.DB(); err == nil {
		r.db = sqlDB
	}
	r.quote = func(name string) string {
		var b strings.Builder
		db.Dialector.QuoteTo(&b, name)
		return b.String()
	}
	return r
}

// cacheQuoted makes quote answer names from a table built once.
func (r *sqlRunner) cacheQuoted(names []string) {
	quoted := make(map[string]string, len(names))
	for _, n := range names {
		quoted[n] = r.quote(n)
	}
	slow := r.quote
	r.quote = func(name string) string {
		if q, ok := quoted[name]; ok {
			return q
		}
		return slow(name)
	}
}

// stmt returns the prepared statement for query, preparing it on first use.
// A nil statement (no *sql.DB underneath, or the cache is full) means run
// the query unprepared on the pool.
func (r *sqlRunner) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if r.db == nil {
		return nil, nil
	}
	r.mu.RLock()
	st := r.stmts[query]
	n := len(r.stmts)
	r.mu.RUnlock()
	if st != nil || n >= maxCachedStmts {
		return st, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if st := r.stmts[query]; st != nil {
		return st, nil
	}
	st, err := r.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	r.stmts[query] = st
	return st, nil
}

func (r *sqlRunner) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st != nil {
		return st.QueryContext(ctx, args...)
	}
	return r.pool.QueryContext(ctx, query, args...)
}

func (r *sqlRunner) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st != nil {
		return st.ExecContext(ctx, args...)
	}
	return r.pool.ExecContext(ctx, query, args...)
}

// close releases the prepared statements.
func (r *sqlRunner) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for q, st := range r.stmts {
		_ = st.Close()
		delete(r.stmts, q)
	}
}

// sqlBuilder writes one statement with the dialect's placeholders.
type sqlBuilder struct {
	strings.Builder
	dollar bool
	n      int
}

// arg writes the next placeholder.
func (b *sqlBuilder) arg() {
	b.n++
	if b.dollar {
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(b.n))
		return
	}
	b.WriteByte('?')
}

// statements are the request path's fixed statements for one table.
type statements struct {
	readLive, readAny string // Load: by session_id (and not expired)
	del, touch        string
	exists            string
}

func (s *Store) buildStatements() {
	s.sql.cacheQuoted(append([]string{s.table}, s.selectCols...))
	q := s.sql.quote
	table := q(s.table)
	cols := make([]string, len(s.selectCols))
	for i, c := range s.selectCols {
		cols[i] = q(c)
	}
	sel := "SELECT " + strings.Join(cols, ", ") + " FROM " + table + " WHERE " + q("session_id") + " = "

	b := s.builder()
	b.WriteString(sel)
	b.arg()
	s.stmts.readAny = b.String() + " LIMIT 1"
	b.WriteString(" AND (" + q("expires_at") + " IS NULL OR " + q("expires_at") + " > ")
	b.arg()
	b.WriteString(") LIMIT 1")
	s.stmts.readLive = b.String()

	b = s.builder()
	b.WriteString("DELETE FROM " + table + " WHERE " + q("session_id") + " = ")
	b.arg()
	s.stmts.del = b.String()

	b = s.builder()
	b.WriteString("UPDATE " + table + " SET " + q("expires_at") + " = ")
	b.arg()
	b.WriteString(", " + q("updated_at") + " = ")
	b.arg()
	b.WriteString(" WHERE " + q("session_id") + " = ")
	b.arg()
	b.WriteString(" AND (" + q("expires_at") + " IS NULL OR " + q("expires_at") + " > ")
	b.arg()
	b.WriteString(")")
	s.stmts.touch = b.String()

	b = s.builder()
	b.WriteString("SELECT 1 FROM " + table + " WHERE " + q("session_id") + " = ")
	b.arg()
	b.WriteString(" AND (" + q("expires_at") + " IS NULL OR " + q("expires_at") + " > ")
	b.arg()
	b.WriteString(") AND " + q("data") + " NOT LIKE ")
	b.arg()
	b.WriteString(" LIMIT 1")
	s.stmts.exists = b.String()
}

func (s *Store) builder() *sqlBuilder { return &sqlBuilder{dollar: s.sql.dollar} }

// colVal is one column of an INSERT or UPDATE. expr, when set, is written
// instead of a placeholder (version + 1).
type colVal struct {
	name string
	val  any
	expr string
}

// insertSQL returns INSERT INTO table (cols) VALUES (...) and its arguments.
func (s *Store) insertSQL(cols []colVal) (string, []any) {
	q := s.sql.quote
	b := s.builder()
	b.WriteString("INSERT INTO " + q(s.table) + " (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(q(c.name))
	}
	b.WriteString(") VALUES (")
	args := make([]any, 0, len(cols))
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.arg()
		args = append(args, c.val)
	}
	b.WriteString(")")
	return b.String(), args
}

// casUpdateSQL returns UPDATE table SET ... WHERE session_id = ? AND
// version = ? and its arguments.
func (s *Store) casUpdateSQL(cols []colVal, id string, version int64) (string, []any) {
	q := s.sql.quote
	b := s.builder()
	b.WriteString("UPDATE " + q(s.table) + " SET ")
	args := make([]any, 0, len(cols)+2)
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(q(c.name) + " = ")
		if c.expr != "" {
			b.WriteString(c.expr)
			continue
		}
		b.arg()
		args = append(args, c.val)
	}
	b.WriteString(" WHERE " + q("session_id") + " = ")
	b.arg()
	b.WriteString(" AND " + q("version") + " = ")
	b.arg()
	args = append(args, id, version)
	return b.String(), args
}
