package match

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
)

// MemStore is an in-memory Candidates for tests, the benchmark and the
// match command: records in one slice, blocking keys as 64-bit hashes in
// one sorted array (16 bytes a key, no map per key). A hash collision
// only adds a candidate, which scoring then rejects.
type MemStore struct {
	m    *Matcher
	seed maphash.Seed

	mu     sync.RWMutex
	recs   []Record
	norms  []normalized // recs normalized once, at Add
	byID   map[string]int32
	keys   []keyEntry
	sorted bool
}

type keyEntry struct {
	h uint64
	i int32
}

// NewMemStore files records under m's blocking keys.
func NewMemStore(m *Matcher) *MemStore {
	return &MemStore{m: m, seed: maphash.MakeSeed(), byID: map[string]int32{}, sorted: true}
}

// Add files one person. Ids must be unique.
func (s *MemStore) Add(r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.byID[r.ID]; dup {
		return fmt.Errorf("match: person %q added twice", r.ID)
	}
	i := int32(len(s.recs))
	s.recs = append(s.recs, r)
	s.byID[r.ID] = i
	n := s.m.normalize(&r)
	s.norms = append(s.norms, n)
	for _, k := range s.m.blockingKeys(&n, nil) {
		s.keys = append(s.keys, keyEntry{maphash.String(s.seed, k), i})
	}
	s.sorted = false
	return nil
}

// Len is the number of persons.
func (s *MemStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.recs)
}

func (s *MemStore) sort() {
	s.mu.Lock()
	if !s.sorted {
		slices.SortFunc(s.keys, func(a, b keyEntry) int {
			if a.h != b.h {
				if a.h < b.h {
					return -1
				}
				return 1
			}
			return int(a.i - b.i)
		})
		s.keys = slices.CompactFunc(s.keys, func(a, b keyEntry) bool { return a == b })
		s.sorted = true
	}
	s.mu.Unlock()
}

// block is the range of s.keys filed under key; the caller holds s.mu
// and the keys are sorted.
func (s *MemStore) block(key string) (lo, hi int) {
	h := maphash.String(s.seed, key)
	lo, found := slices.BinarySearchFunc(s.keys, h, func(e keyEntry, h uint64) int {
		switch {
		case e.h < h:
			return -1
		case e.h > h:
			return 1
		}
		return 0
	})
	if !found {
		return lo, lo
	}
	hi = lo + 1
	for hi < len(s.keys) && s.keys[hi].h == h {
		hi++
	}
	return lo, hi
}

// Lookup implements Candidates.
func (s *MemStore) Lookup(_ context.Context, key string, limit int) ([]string, bool, error) {
	s.mu.RLock()
	if !s.sorted {
		s.mu.RUnlock()
		s.sort()
		s.mu.RLock()
	}
	defer s.mu.RUnlock()
	lo, hi := s.block(key)
	if hi-lo > limit {
		return nil, true, nil
	}
	out := make([]string, hi-lo)
	for j := lo; j < hi; j++ {
		out[j-lo] = s.recs[s.keys[j].i].ID
	}
	return out, false, nil
}

// Person implements Candidates.
func (s *MemStore) Person(_ context.Context, id string) (Record, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.byID[id]
	if !ok {
		return Record{}, false, nil
	}
	return s.recs[i], true, nil
}
