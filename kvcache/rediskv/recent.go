package rediskv

import (
	"hash/maphash"
	"sync/atomic"
	"time"
)

// recentWrites remembers which keys this instance wrote in the last
// recentWindow, in a direct-mapped table of key hashes (no locks, no
// allocation, fixed size). It only chooses between two correct reads: a
// collision makes a key look written (a plain GET instead of a cached one)
// or not written (a cached read that misses): both read the server's value.
type recentWrites struct {
	seed  maphash.Seed
	start time.Time
	slots [recentSlots]struct {
		hash atomic.Uint64
		at   atomic.Int64 // nanoseconds since start
	}
}

const (
	recentSlots  = 4096
	recentWindow = time.Second
)

func newRecentWrites() *recentWrites {
	return &recentWrites{seed: maphash.MakeSeed(), start: time.Now()}
}

func (r *recentWrites) add(key string) {
	h := maphash.String(r.seed, key)
	sl := &r.slots[h%recentSlots]
	sl.at.Store(int64(time.Since(r.start)))
	sl.hash.Store(h)
}

// has reports whether key was written within recentWindow (as far as the
// table remembers).
func (r *recentWrites) has(key string) bool {
	if r == nil {
		return false
	}
	h := maphash.String(r.seed, key)
	sl := &r.slots[h%recentSlots]
	return sl.hash.Load() == h && time.Since(r.start)-time.Duration(sl.at.Load()) < recentWindow
}
