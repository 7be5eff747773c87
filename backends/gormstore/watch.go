package gormstore

import (
	"context"
	"fmt"

	"github.com/sessionfx/session/backends"
)

var _ backends.Watcher = (*Store)(nil)

// Watch implements backends.Watcher on PostgreSQL: a trigger on the session
// table (installed by the first Watch, see installNotify) sends a NOTIFY on
// every insert, update and delete, and a dedicated connection LISTENs (see
// watch_postgres.go). Writes make no extra round trip; the notification
// leaves with the writer's commit.
//
// On SQLite and MySQL/MariaDB, which have no push, it returns an error
// wrapping backends.ErrUnsupported (a layered store then keeps its
// local_ttl bound). So it does on PostgreSQL when the store's *gorm.DB was
// opened without a DSN (postgres.New with Config.Conn): the listener needs
// one to open its own connection.
func (s *Store) Watch(ctx context.Context, fn func(backends.Change)) (stop func() error, err error) {
	if fn == nil {
		return nil, fmt.Errorf("gormstore: Watch: fn is nil")
	}
	switch name := s.db.Dialector.Name(); name {
	case "postgres":
		return s.watchPostgres(ctx, fn)
	default:
		return nil, fmt.Errorf("gormstore: Watch on %s: no change notifications (only PostgreSQL pushes them): %w", name, backends.ErrUnsupported)
	}
}
