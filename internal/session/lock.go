package session

import (
	"context"
	"sync"
)

// keyLock is a FIFO lock per key: waiters for one key are served in the
// order they arrived (sync.Mutex makes no such promise), and keys that
// nobody holds take no memory.
type keyLock struct {
	mu   sync.Mutex
	held map[string]*waiters
}

type waiters struct {
	queue []chan struct{}
}

func newKeyLock() *keyLock { return &keyLock{held: map[string]*waiters{}} }

// lock blocks until key is held by the caller or ctx ends.
func (l *keyLock) lock(ctx context.Context, key string) (unlock func(), err error) {
	l.mu.Lock()
	w, busy := l.held[key]
	if !busy {
		l.held[key] = &waiters{}
		l.mu.Unlock()
		return l.unlocker(key), nil
	}
	ch := make(chan struct{})
	w.queue = append(w.queue, ch)
	l.mu.Unlock()

	select {
	case <-ch:
		return l.unlocker(key), nil
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		for i, c := range w.queue {
			if c == ch {
				w.queue = append(w.queue[:i], w.queue[i+1:]...)
				return nil, ctx.Err()
			}
		}
		// Handed over while giving up: pass it on.
		l.releaseLocked(key)
		return nil, ctx.Err()
	}
}

func (l *keyLock) unlocker(key string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.releaseLocked(key)
		})
	}
}

// releaseLocked hands key to the first waiter, or frees it. l.mu is held.
func (l *keyLock) releaseLocked(key string) {
	w := l.held[key]
	if w == nil {
		return
	}
	if len(w.queue) == 0 {
		delete(l.held, key)
		return
	}
	next := w.queue[0]
	w.queue = w.queue[1:]
	close(next)
}
