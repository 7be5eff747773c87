package layered

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/internal/loghash"
)

// startWatch subscribes to the back's changes, once, when the back pushes
// them (backends.Watcher) and invalidation is on. Setup and the first Load
// or Save call it; Close stops the subscription.
func (s *Store) startWatch() {
	s.watchOnce.Do(func() {
		if !s.invalidation {
			return
		}
		w, ok := backends.As[backends.Watcher](s.back)
		if !ok {
			return
		}
		s.watchMu.Lock()
		defer s.watchMu.Unlock()
		if s.closed {
			return
		}
		stop, err := w.Watch(context.Background(), s.onChange)
		if err != nil {
			lvl := zap.WarnLevel
			if errors.Is(err, backends.ErrUnsupported) {
				lvl = zap.InfoLevel
			}
			s.log.Log(lvl, "layered session store: the back store does not push its changes; another instance's writes are seen within local_ttl",
				zap.String("front", s.front.Name()), zap.Duration("local_ttl", s.ttl), zap.Error(err))
			return
		}
		s.stopWatch = stop
	})
}

// onChange applies one report of the back's watch (see backends.Watcher).
func (s *Store) onChange(c backends.Change) {
	ctx := context.Background()
	switch c.Kind {
	case backends.Synced:
		if s.wstate.Load()&1 == 0 {
			// Copies taken before the watch listened (at start, or since
			// it was lost) may have missed changes: they go too.
			s.dropAll(ctx)
			s.wstate.Add(1)
		}
	case backends.Lost:
		if s.wstate.Load()&1 == 1 {
			s.wstate.Add(1)
		}
		s.dropAll(ctx)
	case backends.Changed:
		s.changed(ctx, c.ID, c.Rev)
	}
}

// dropAll empties the front. Moving every stripe's generation first keeps
// back reads in flight from landing.
func (s *Store) dropAll(ctx context.Context) {
	for i := range s.locks {
		s.locks[i].Lock()
		s.gen[i].Add(1)
		s.notes[i] = note{}
		s.locks[i].Unlock()
	}
	if err := s.front.Clear(ctx); err != nil {
		s.log.Warn("layered session store: cannot empty the front while the back store's change notifications are not heard; its copies may be served stale until they expire",
			zap.String("front", s.front.Name()), zap.Duration("local_ttl", s.ttl), zap.Error(err))
	}
}

// changed drops the front copy of id, unless it is at rev or later (the
// report of this instance's own save, which the front already holds).
func (s *Store) changed(ctx context.Context, id string, rev int64) {
	i := s.stripe(id)
	s.locks[i].Lock()
	defer s.locks[i].Unlock()
	if rev > 0 {
		if b, err := s.front.Get(ctx, id); err == nil {
			if _, have := splitFront(b); have >= rev {
				return
			}
		}
	}
	s.notes[i] = note{id: id, rev: rev, gen: s.gen[i].Add(1)}
	if err := s.front.Delete(ctx, id); err != nil {
		s.log.Warn("layered session store: cannot drop the front copy of a session another instance changed; it may be served stale until it expires",
			zap.String("front", s.front.Name()), zap.String("session", loghash.Of(id)), zap.Error(err))
	}
}
