package backends

import "context"

// Watcher is implemented by stores that push word of their changes, so a
// cache of their sessions in another process (the layered store's front)
// can drop a copy as soon as the session changes instead of after a fixed
// lifetime. PostgreSQL tables (gormstore, LISTEN/NOTIFY) are one.
type Watcher interface {
	// Watch starts reporting to fn the changes committed to the store, by
	// any process, and returns at once; the watch runs until stop is called
	// (stop waits for fn's last call to return) or ctx ends. fn is called
	// from one goroutine at a time and should return quickly.
	//
	// The first report is Synced once the watch listens: changes committed
	// before it may go unreported. When the watch loses its source (a
	// dropped connection) it reports Lost, and Synced again once it listens
	// again. An error means the store cannot watch in this configuration
	// (one wrapping ErrUnsupported) or the watch could not start.
	Watch(ctx context.Context, fn func(Change)) (stop func() error, err error)
}

// ChangeKind is what a Change reports.
type ChangeKind uint8

const (
	// Changed reports that the session stored under Change.ID was saved,
	// touched, renewed away or deleted.
	Changed ChangeKind = iota
	// Lost reports that the watch stopped hearing the store: changes may
	// go unreported until the next Synced, so a cache must drop every copy
	// it holds and trust new ones no longer than it would without a watch.
	Lost
	// Synced reports that the watch listens (at first, or again after
	// Lost): every change committed from now on is reported.
	Synced
)

// String returns the kind's name.
func (k ChangeKind) String() string {
	switch k {
	case Changed:
		return "changed"
	case Lost:
		return "lost"
	case Synced:
		return "synced"
	}
	return "unknown"
}

// Change is one report of a Watcher.
type Change struct {
	Kind ChangeKind
	// ID is the storage id of the changed session (Kind Changed), the id
	// the store's Load and Save are called with.
	ID string
	// Rev is the session's revision (Record.Rev) after a save that moved
	// it: a copy whose Rev is at least this one is current. It is 0 for a
	// delete, a touch (which moves the expiry, not the revision) or a store
	// without revisions: then every copy of ID is stale.
	Rev int64
}
