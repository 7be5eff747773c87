package gormstore

import (
	"strings"

	"github.com/libtnb/sqlite"
	"gorm.io/gorm"
)

// SQLite goes through github.com/libtnb/sqlite, a GORM dialector on
// modernc.org/sqlite (SQLite translated to Go: no cgo). Its DSN syntax is the
// one github.com/glebarez/sqlite (the driver before it, a fork of modernc)
// took: a file path or file: URI, then ?_pragma=name(value)&_txlock=... It
// stores times in the same text form ("2006-01-02 15:04:05.999-07:00"), so
// files written before the change read and compare the same.
//
// modernc.org/sqlite registers the database/sql driver name "sqlite", as
// github.com/glebarez/go-sqlite does: one program cannot link both (the
// second registration panics at start-up).

// openSQLite returns the dialector for dsn with the pragmas the store relies
// on (see sqliteDSN), and whether the database is in memory.
func openSQLite(dsn string) (gorm.Dialector, bool) {
	dsn, memory := sqliteDSN(dsn)
	return sqlite.Open(dsn), memory
}

// sqliteDSN adds the pragmas the store relies on unless the DSN sets them
// (as a _pragma or as one of the driver's shorthand keys, such as
// _busy_timeout or its alias _timeout), and reports whether the database is
// in memory.
func sqliteDSN(dsn string) (string, bool) {
	memory := sqliteMemoryDSN(dsn)
	add := func(param string, markers ...string) {
		for _, m := range markers {
			if strings.Contains(dsn, m) {
				return
			}
		}
		dsn = addParam(dsn, param)
	}
	add("_pragma=busy_timeout(5000)", "busy_timeout", "_timeout=")
	if !memory {
		add("_pragma=journal_mode(WAL)", "journal_mode", "_journal=")
		add("_pragma=synchronous(NORMAL)", "synchronous", "_sync=")
	}
	add("_pragma=foreign_keys(1)", "foreign_keys", "_fk=")
	add("_txlock=immediate", "_txlock")
	return dsn, memory
}

// sqliteMemoryDSN reports whether dsn names an in-memory database.
func sqliteMemoryDSN(dsn string) bool {
	return strings.Contains(dsn, ":memory:") || strings.Contains(dsn, "mode=memory")
}

// sqliteInMemory reports whether db is a SQLite database in memory, which
// only this process sees. A database this package opened is known by its
// DSN (an empty DSN is a private temporary database, as good as memory); any
// other SQLite database (the app's own *gorm.DB, whatever its dialector) is
// asked whether its main database has a file. Other databases: false.
func sqliteInMemory(db *gorm.DB) bool {
	if db == nil || db.Dialector == nil || db.Dialector.Name() != "sqlite" {
		return false
	}
	if d, ok := db.Dialector.(*sqlite.Dialector); ok && d.Conn == nil {
		return d.DSN == "" || sqliteMemoryDSN(d.DSN)
	}
	var rows []struct {
		Name string
		File string
	}
	if err := db.Session(&gorm.Session{NewDB: true}).Raw("PRAGMA database_list").Scan(&rows).Error; err != nil {
		return false
	}
	for _, r := range rows {
		if r.Name == "main" {
			return r.File == ""
		}
	}
	return false
}
