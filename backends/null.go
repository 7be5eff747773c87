package backends

import (
	"context"
	"fmt"
	"time"
)

// NullStore stores nothing (momotor's DummyTokenStore): every session is
// new on every request. It is useful for tests, for apps that must run
// without session storage, and as the bottom of a layered store.
//
// Load and Touch report ErrNotFound, Save returns the record it would have
// stored and keeps nothing, Exists is false, Iterate yields nothing and
// DeleteOlderThan deletes nothing.
type NullStore struct{}

var (
	_ Store     = NullStore{}
	_ Describer = NullStore{}
	_ Setupper  = NullStore{}
	_ Exister   = NullStore{}
	_ Iterator  = NullStore{}
	_ Sweeper   = NullStore{}
)

// NewNullStore returns a NullStore.
func NewNullStore() NullStore { return NullStore{} }

// Load implements Store: always ErrNotFound.
func (NullStore) Load(context.Context, string) (*Record, error) {
	return nil, fmt.Errorf("%w: the null store keeps nothing", ErrNotFound)
}

// Save implements Store: it returns the record that would have been stored.
func (NullStore) Save(_ context.Context, id string, ch Changes, opt SaveOptions) (*Record, error) {
	now := time.Now().UTC()
	created := opt.Created
	if created.IsZero() {
		created = now
	}
	return &Record{ID: id, Data: ch.Apply(nil), Created: created, Updated: now, Expires: opt.Expires, Meta: opt.Meta}, nil
}

// Delete implements Store: nothing to delete.
func (NullStore) Delete(context.Context, string) error { return nil }

// Exists implements Exister: always false.
func (NullStore) Exists(context.Context, string) (bool, error) { return false, nil }

// Touch implements Store: always ErrNotFound.
func (NullStore) Touch(context.Context, string, time.Time) error {
	return fmt.Errorf("%w: the null store keeps nothing", ErrNotFound)
}

// Iterate implements Iterator: there is nothing to iterate.
func (NullStore) Iterate(context.Context, func(Record) error) error { return nil }

// Setup implements Setupper: there is nothing to prepare.
func (NullStore) Setup(context.Context) error { return nil }

// DeleteOlderThan implements Sweeper: nothing is ever deleted.
func (NullStore) DeleteOlderThan(context.Context, time.Duration) (int64, error) { return 0, nil }

// Info implements Describer. It is trivially safe across processes.
func (NullStore) Info() Info { return Info{Name: "null", CrossProcess: true} }

// Close implements Store.
func (NullStore) Close() error { return nil }
