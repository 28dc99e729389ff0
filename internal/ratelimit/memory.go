package ratelimit

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxKeys is the capacity NewMemory uses when maxKeys < 1.
const DefaultMaxKeys = 100_000

// numShards must be a power of two.
const numShards = 64

// entryKey identifies one counter. The window is part of it so that two
// policies for the same key (say 100/60s and 5/15m) never share a counter.
type entryKey struct {
	key    string
	window time.Duration
}

// entry is the state of one fixed window.
type entry struct {
	start int64 // window start, Unix nanoseconds
	end   int64 // window end (exclusive), Unix nanoseconds
	count int   // events allowed in [start, end); never above the limit
}

// shard is one lock and its part of the table, padded to a 64-byte cache line
// (sync.Mutex and the map header pointer are 8 bytes each) so that the locks
// of neighbouring shards do not share a line.
type shard struct {
	mu sync.Mutex
	m  map[entryKey]*entry
	_  [48]byte
}

// Memory is an in-process fixed-window Limiter holding at most maxKeys
// entries (one per distinct key and window). It is safe for concurrent use.
// Allow on a key that already has an entry does not allocate.
//
// While Memory is full, Allow denies new keys (Allowed=false, Remaining=0)
// instead of evicting live windows; see the package documentation.
//
// The zero value and a nil *Memory deny every event. Use NewMemory.
type Memory struct {
	shards  []shard
	seed    maphash.Seed
	now     func() time.Time
	maxKeys int64

	live atomic.Int64 // entries held, over all shards; never above maxKeys

	// minEnd is a lower bound on the window end of every held entry (Unix
	// ns). While now < minEnd no entry has expired, so a full Memory can
	// refuse a new key without scanning anything. That bounds the cost of a
	// flood of new keys.
	minEnd atomic.Int64
	// pendingMin collects the window ends of entries inserted while a sweep
	// is running, so that the sweep does not raise minEnd above them.
	pendingMin atomic.Int64
	sweepMu    sync.Mutex // one sweep at a time
}

// NewMemory returns an in-process limiter that holds at most maxKeys
// entries. If maxKeys < 1 it uses DefaultMaxKeys. now is the clock; if nil it
// uses time.Now.
func NewMemory(maxKeys int, now func() time.Time) *Memory {
	if maxKeys < 1 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	m := &Memory{
		shards:  make([]shard, numShards),
		seed:    maphash.MakeSeed(),
		now:     now,
		maxKeys: int64(maxKeys),
	}
	for i := range m.shards {
		m.shards[i].m = make(map[entryKey]*entry)
	}
	m.minEnd.Store(math.MaxInt64)
	m.pendingMin.Store(math.MaxInt64)
	return m
}

// Len returns the number of entries held, including entries whose window has
// ended but that have not been swept yet. It never exceeds maxKeys.
func (m *Memory) Len() int {
	if m == nil {
		return 0
	}
	return int(m.live.Load())
}

// Allow records one event for key if it fits in the current window of the
// given length, which allows at most limit events. The context is not used.
// The error is non-nil only for invalid arguments (limit < 0, window <= 0).
func (m *Memory) Allow(_ context.Context, key string, limit int, window time.Duration) (Decision, error) {
	if m == nil || len(m.shards) == 0 {
		// Never set up: fail closed.
		return deny(limit, window, time.Now()), nil
	}
	now := m.now()
	if err := checkArgs(limit, window); err != nil {
		return deny(limit, window, now), err
	}
	nowNs := now.UnixNano()
	start, end := windowBounds(nowNs, window)
	reset := time.Unix(0, end)
	if limit == 0 {
		return Decision{Limit: limit, Reset: reset}, nil
	}
	k := entryKey{key: key, window: window}

	s := &m.shards[maphash.String(m.seed, key)&(numShards-1)]
	s.mu.Lock()
	e := s.m[k]
	if e == nil {
		if e = m.insertLocked(s, k, nowNs, start, end); e == nil {
			s.mu.Unlock()
			return Decision{Limit: limit, Reset: reset}, nil // full: refuse the new key
		}
	}
	switch {
	case start > e.start: // a new window
		e.start, e.end, e.count = start, end, 0
	case start < e.start:
		// The clock went backwards. Keep counting in the later window
		// (more conservative than starting an earlier one again).
		reset = time.Unix(0, e.end)
	}
	count := limit + 1
	if e.count < limit {
		e.count++
		count = e.count
	}
	s.mu.Unlock()
	return decide(count, limit, reset), nil
}

// insertLocked adds an empty entry for k to s, whose lock the caller holds,
// and returns it. If Memory is full and some window has ended, it releases
// s.mu while it sweeps, then takes it again, so the caller must not rely on
// anything it read from s before. It returns the entry another goroutine
// added in the meantime, if any. It returns nil if there is no room.
func (m *Memory) insertLocked(s *shard, k entryKey, now, start, end int64) *entry {
	if !m.reserve() {
		if now < m.minEnd.Load() {
			return nil // full and no window has ended: nothing to sweep
		}
		s.mu.Unlock()
		m.sweep(now)
		s.mu.Lock()
		if e := s.m[k]; e != nil {
			return e
		}
		if !m.reserve() {
			return nil
		}
	}
	e := &entry{start: start, end: end}
	s.m[k] = e
	// Both updates happen under s.mu. A running sweep that has already
	// scanned s finds the end in pendingMin. One that has not scanned s yet
	// finds the entry when it does.
	casMin(&m.pendingMin, end)
	casMin(&m.minEnd, end)
	return e
}

// reserve claims room for one more entry.
func (m *Memory) reserve() bool {
	for {
		n := m.live.Load()
		if n >= m.maxKeys {
			return false
		}
		if m.live.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// sweep removes every entry whose window ended at or before now and sets
// minEnd to the earliest window end that is left. The caller must not hold
// any shard lock.
func (m *Memory) sweep(now int64) {
	m.sweepMu.Lock()
	defer m.sweepMu.Unlock()
	if now < m.minEnd.Load() {
		return // another goroutine has just swept
	}
	m.pendingMin.Store(math.MaxInt64)
	low := int64(math.MaxInt64)
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if e.end <= now {
				delete(s.m, k)
				m.live.Add(-1)
			} else if e.end < low {
				low = e.end
			}
		}
		s.mu.Unlock()
	}
	// Entries inserted during the scan into shards already scanned may end
	// before low. Their ends are in pendingMin. Inserts update pendingMin and
	// minEnd under their shard's lock, so holding every shard lock makes this
	// update exclusive. Only sweep, serialized by sweepMu, holds more than one
	// shard lock, always in index order.
	for i := range m.shards {
		m.shards[i].mu.Lock()
	}
	m.minEnd.Store(min(low, m.pendingMin.Load()))
	for i := range m.shards {
		m.shards[i].mu.Unlock()
	}
}

// casMin lowers a to v if v is smaller.
func casMin(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v >= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// count returns the events counted for key in the window of the given
// length that contains now: 0 when there is no entry or its window has
// ended. The Redis limiter reads it to carry this replica's count into a
// Redis that came back empty.
func (m *Memory) count(key string, window time.Duration) int {
	if m == nil || len(m.shards) == 0 || window <= 0 {
		return 0
	}
	start, _ := windowBounds(m.now().UnixNano(), window)
	s := &m.shards[maphash.String(m.seed, key)&(numShards-1)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.m[entryKey{key: key, window: window}]; e != nil && e.start == start {
		return e.count
	}
	return 0
}

// raise sets the count of key's current window to n if it is lower,
// creating the entry if there is room (a full Memory raises nothing). The
// Redis limiter calls it after each shared count, so that when Redis fails
// the fallback continues the window instead of starting a fresh budget.
func (m *Memory) raise(key string, window time.Duration, n int) {
	if m == nil || len(m.shards) == 0 || window <= 0 || n <= 0 {
		return
	}
	nowNs := m.now().UnixNano()
	start, end := windowBounds(nowNs, window)
	k := entryKey{key: key, window: window}
	s := &m.shards[maphash.String(m.seed, key)&(numShards-1)]
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[k]
	if e == nil {
		if e = m.insertLocked(s, k, nowNs, start, end); e == nil {
			return
		}
	}
	switch {
	case start > e.start:
		e.start, e.end, e.count = start, end, n
	case start == e.start && n > e.count:
		e.count = n
	}
}
