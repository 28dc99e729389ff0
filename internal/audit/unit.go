package audit

import (
	"context"
	"errors"
	"sync"

	"github.com/komand-ai/komand/internal/store"
)

// Unit is one unit of work (an agent turn): the audit events it records, in
// order, and the writes that must be durable together with its final event.
//
// Add enqueues an event without waiting; Record enqueues one and waits for
// it and for everything added before it; Wait waits for everything added so
// far. Use Record, not Add, for an event that must be durable before an
// irreversible step (a tool run). The work must call Wait or Commit (and
// fail if it returns an error) before it reports itself done, so the rule of
// Record still holds at the boundary: nothing is reported as done without
// its entries.
//
// AppendTurns adds a write to the unit; Commit ends the unit with its final
// event, storing the unit's writes in the transaction that stores that
// event (store.Audit.CommitAudit), batched with other requests' entries by
// the Writer's group commit: one commit on the reply's path, and the writes
// and the entry are stored together or not at all. A unit whose writes
// cannot be made fails alone; the rest of its batch is retried without it.
//
// Over a Recorder that is not a *Writer, Add records synchronously, and
// Commit stores nothing and returns errors.ErrUnsupported: the caller then
// makes the writes and records the event itself.
type Unit struct {
	rec Recorder
	w   *Writer

	mu      sync.Mutex
	pending []*pending
	writes  *store.Unit // nil until a write is added
}

// NewUnit starts a unit of work recording through rec.
func NewUnit(rec Recorder) *Unit {
	u := &Unit{rec: rec}
	u.w, _ = rec.(*Writer)
	return u
}

// Add enqueues ev after everything recorded or added before it, without
// waiting for it to be durable.
func (u *Unit) Add(ctx context.Context, ev Event) error {
	if u.w == nil {
		return u.rec.Record(ctx, ev)
	}
	return u.add(ctx, ev, nil)
}

func (u *Unit) add(ctx context.Context, ev Event, writes *store.Unit) error {
	p, err := u.w.submit(ctx, ev, writes)
	if err != nil {
		return err
	}
	u.mu.Lock()
	u.pending = append(u.pending, p)
	u.mu.Unlock()
	return nil
}

// AppendTurns adds to the unit the append of turns to session sessionID's
// history (as store.Sessions.AppendTurns would), to be stored by Commit.
// Once Commit has returned nil the turns have Seq, SessionID and TenantID
// set.
func (u *Unit) AppendTurns(tenantID, sessionID string, turns []store.Turn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.writes == nil {
		u.writes = &store.Unit{}
	}
	u.writes.Turns = append(u.writes.Turns, store.TurnAppend{TenantID: tenantID, SessionID: sessionID, Turns: turns})
}

// AddUsage adds to the unit the addition of u to session sessionID's
// usage counters (as store.Sessions.AddSessionUsage would), to be stored by
// Commit with the turns.
func (u *Unit) AddUsage(tenantID, sessionID string, us store.SessionUsage) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.writes == nil {
		u.writes = &store.Unit{}
	}
	u.writes.Turns = append(u.writes.Turns, store.TurnAppend{TenantID: tenantID, SessionID: sessionID, Usage: us})
}

// Commit ends the unit: it enqueues ev with the unit's writes, to be stored
// in the transaction that stores ev, and waits until they, and everything
// added before, are durable. If ev or the writes cannot be stored, none of
// them is. Over a Recorder that is not a *Writer it records and stores
// nothing and returns errors.ErrUnsupported. Either way the writes are
// handed over: a second Commit does not store them again.
func (u *Unit) Commit(ctx context.Context, ev Event) error {
	u.mu.Lock()
	writes := u.writes
	u.writes = nil
	u.mu.Unlock()
	if u.w == nil {
		return errors.ErrUnsupported
	}
	if err := u.add(ctx, ev, writes); err != nil {
		return err
	}
	return u.Wait(ctx)
}

// Record enqueues ev and waits until it, and everything added before it,
// is durable.
func (u *Unit) Record(ctx context.Context, ev Event) error {
	if err := u.Add(ctx, ev); err != nil {
		return err
	}
	return u.Wait(ctx)
}

// Wait waits until every event added so far is durable, and returns the
// first error among them.
func (u *Unit) Wait(ctx context.Context) error {
	u.mu.Lock()
	ps := u.pending
	u.pending = nil
	u.mu.Unlock()
	var first error
	for _, p := range ps {
		if err := u.w.await(ctx, p); err != nil && first == nil {
			first = err
		}
	}
	return first
}
