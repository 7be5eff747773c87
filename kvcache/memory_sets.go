package kvcache

import (
	"context"
	"sync"
	"time"
)

// memSets are the memory engine's index sets (Indexer): plain maps beside
// the ristretto cache, so neither eviction nor Scan ever touches them. A set
// lives until its TTL passes (extended, never shortened, by each add);
// expired sets are dropped when read and swept every memSetSweepEvery
// adds, so sets of users who stopped coming back do not pile up. They are
// not counted against max_size: about 100 bytes per member.
type memSets struct {
	mu   sync.Mutex
	sets map[string]*memSet
	adds int
}

type memSet struct {
	members map[string]time.Time
	expires time.Time // zero: never
}

// memSetSweepEvery is how many adds pass between two sweeps of the expired
// sets.
const memSetSweepEvery = 1024

func (s *memSet) expired(now time.Time) bool {
	return !s.expires.IsZero() && !now.Before(s.expires)
}

var _ Indexer = (*Memory)(nil)

// IndexAdd implements Indexer.
func (m *Memory) IndexAdd(ctx context.Context, key, member string, at time.Time, ttl time.Duration) error {
	if err := m.enter(ctx); err != nil {
		return err
	}
	defer m.leave()
	now := time.Now()
	m.sets.mu.Lock()
	defer m.sets.mu.Unlock()
	if m.sets.sets == nil {
		m.sets.sets = map[string]*memSet{}
	}
	if m.sets.adds++; m.sets.adds%memSetSweepEvery == 0 {
		for k, s := range m.sets.sets {
			if s.expired(now) {
				delete(m.sets.sets, k)
			}
		}
	}
	s := m.sets.sets[key]
	if s == nil || s.expired(now) {
		s = &memSet{members: map[string]time.Time{}, expires: now.Add(ttl)}
		if ttl <= 0 {
			s.expires = time.Time{}
		}
		m.sets.sets[key] = s
	}
	switch {
	case ttl <= 0:
		s.expires = time.Time{}
	case !s.expires.IsZero() && now.Add(ttl).After(s.expires):
		s.expires = now.Add(ttl)
	}
	s.members[member] = at
	return nil
}

// IndexMembers implements Indexer.
func (m *Memory) IndexMembers(ctx context.Context, key string) ([]IndexMember, error) {
	if err := m.enter(ctx); err != nil {
		return nil, err
	}
	defer m.leave()
	m.sets.mu.Lock()
	defer m.sets.mu.Unlock()
	s := m.sets.sets[key]
	if s == nil {
		return nil, nil
	}
	if s.expired(time.Now()) {
		delete(m.sets.sets, key)
		return nil, nil
	}
	out := make([]IndexMember, 0, len(s.members))
	for member, at := range s.members {
		out = append(out, IndexMember{Member: member, Added: at})
	}
	return out, nil
}

// IndexRemove implements Indexer.
func (m *Memory) IndexRemove(ctx context.Context, key string, cutoff time.Time, members ...string) (int, error) {
	if err := m.enter(ctx); err != nil {
		return 0, err
	}
	defer m.leave()
	m.sets.mu.Lock()
	defer m.sets.mu.Unlock()
	s := m.sets.sets[key]
	if s == nil {
		return 0, nil
	}
	n := 0
	for _, member := range members {
		if at, ok := s.members[member]; ok && !at.After(cutoff) {
			delete(s.members, member)
			n++
		}
	}
	if len(s.members) == 0 {
		delete(m.sets.sets, key)
	}
	return n, nil
}
