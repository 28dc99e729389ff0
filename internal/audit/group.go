package audit

import (
	"context"
	"errors"
	"sync"

	"github.com/komand-ai/komand/internal/store"
)

// Group records the events of one unit of work (an agent turn) in order,
// and lets the work wait for their durability once instead of once per
// event. Add enqueues an event without waiting; Record enqueues one and
// waits for it and for everything added before it; Wait waits for
// everything added so far. The work must call Wait (and fail if it
// returns an error) before it reports itself done, so the rule of Record
// still holds at the boundary: nothing is reported as done without its
// entries. Use Record, not Add, for an event that must be durable before
// an irreversible step (a tool run).
//
// Over a Recorder that is not a *Writer, Add records synchronously.
type Group struct {
	rec Recorder
	w   *Writer

	mu      sync.Mutex
	pending []*pending
}

// NewGroup returns a Group over rec.
func NewGroup(rec Recorder) *Group {
	g := &Group{rec: rec}
	g.w, _ = rec.(*Writer)
	return g
}

// Add enqueues ev after everything recorded or added before it, without
// waiting for it to be durable.
func (g *Group) Add(ctx context.Context, ev Event) error {
	if g.w == nil {
		return g.rec.Record(ctx, ev)
	}
	return g.add(ctx, ev, nil)
}

func (g *Group) add(ctx context.Context, ev Event, turns *store.TurnAppend) error {
	p, err := g.w.submit(ctx, ev, turns)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.pending = append(g.pending, p)
	g.mu.Unlock()
	return nil
}

// Commit is the unit of work that ends a group: it enqueues ev together
// with turns, to be stored in the transaction that stores ev (so the
// turns and the entry are stored together or not at all), and waits until
// they, and everything added before, are durable. Over a Recorder that is
// not a *Writer it records and stores nothing and returns
// errors.ErrUnsupported.
func (g *Group) Commit(ctx context.Context, ev Event, turns *store.TurnAppend) error {
	if g.w == nil {
		return errors.ErrUnsupported
	}
	if err := g.add(ctx, ev, turns); err != nil {
		return err
	}
	return g.Wait(ctx)
}

// Record enqueues ev and waits until it, and everything added before it,
// is durable.
func (g *Group) Record(ctx context.Context, ev Event) error {
	if err := g.Add(ctx, ev); err != nil {
		return err
	}
	return g.Wait(ctx)
}

// Wait waits until every event added so far is durable, and returns the
// first error among them.
func (g *Group) Wait(ctx context.Context) error {
	g.mu.Lock()
	ps := g.pending
	g.pending = nil
	g.mu.Unlock()
	var first error
	for _, p := range ps {
		if err := g.w.await(ctx, p); err != nil && first == nil {
			first = err
		}
	}
	return first
}
