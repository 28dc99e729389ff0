// Package audit writes Komand's tamper-evident audit trail.
//
// Every event goes through a Recorder. The production Recorder is a Writer:
// callers enqueue an entry and wait until it is durable, while a single
// writer goroutine commits whatever has queued up as one transaction (group
// commit: at most MaxBatch entries, flushed as soon as the queue is empty or
// Linger has passed). A request therefore pays for one shared commit, never
// one fsync of its own, and still learns whether its entry is on disk: audit
// writes fail closed, so if the entry cannot be stored the action it records
// fails too (as Vault does in request_handling.go).
//
// A unit of work (Unit, unit.go: an agent turn) records its events in order,
// waits for them once, and ends with Commit, which stores the work's writes
// (a store.Unit: the turn's messages) in the transaction of its final entry.
// The Writer carries a unit's writes through its queue to
// store.Audit.CommitAudit without looking inside them.
//
// Under overload the queue fills and Record blocks (backpressure) until there
// is room or the caller's context ends; an entry that was accepted is never
// dropped, and Close drains the queue before returning (graceful shutdown
// loses no entry).
//
// Each tenant's entries form a hash chain (see Seal and Verify); secrets in
// details are redacted before anything is stored (see CanonicalDetails).
//
// Services record through one protocol (do.go): Do records a change before
// it is applied and its failure after, Record attributes an event to its
// Actor (the principal, with its API key), and Denials is authz's sink for
// PermissionDenied. The read side (Trail) lists entries for the API and
// verifies chains; it may authorize because authz does not import audit.
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/requestid"
	"github.com/komand-ai/komand/internal/store"
)

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit: writer closed")

// Event is what a service records. The request ID is taken from the context
// and the timestamp from the clock.
type Event struct {
	TenantID  string
	Action    Action
	ActorID   string
	AgentID   string
	SessionID string
	SkillID   string
	Details   map[string]any
}

// Recorder records audit events durably. Record returns only once the entry
// is stored, or with the error that prevented it.
type Recorder interface {
	Record(ctx context.Context, ev Event) error
}

// Options tune a Writer. Zero values take the defaults.
type Options struct {
	MaxBatch   int           // entries per commit; default 500
	Linger     time.Duration // extra wait for a batch to fill; default 0, at most 2 ms
	QueueSize  int           // queued entries before backpressure; default 8192
	WriteLimit time.Duration // deadline for one commit; default 10 s
	Now        func() time.Time
	Logger     *slog.Logger
}

type pending struct {
	entry store.AuditEntry
	unit  *store.Unit // writes stored in the entry's transaction, when not nil
	done  chan error
}

// Writer is the group-commit Recorder over a store.
type Writer struct {
	st   store.Audit
	opts Options
	log  *slog.Logger

	mu     sync.RWMutex
	closed bool
	queue  chan *pending
	done   chan struct{}
	pool   sync.Pool
}

// NewWriter starts a Writer over st. Call Close to drain and stop it.
func NewWriter(st store.Audit, opts Options) *Writer {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 500
	}
	if opts.Linger < 0 {
		opts.Linger = 0
	}
	if opts.Linger > 2*time.Millisecond {
		opts.Linger = 2 * time.Millisecond
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 8192
	}
	if opts.WriteLimit <= 0 {
		opts.WriteLimit = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	w := &Writer{
		st:    st,
		opts:  opts,
		log:   opts.Logger,
		queue: make(chan *pending, opts.QueueSize),
		done:  make(chan struct{}),
	}
	w.pool.New = func() any { return &pending{done: make(chan error, 1)} }
	go w.run()
	return w
}

// Entry builds the stored form of ev: a new ID, the request ID from ctx, a
// UTC timestamp at microsecond precision and redacted canonical details.
func Entry(ctx context.Context, ev Event, now time.Time) store.AuditEntry {
	return store.AuditEntry{
		ID:        uuid.Must(uuid.NewV7()).String(),
		TenantID:  ev.TenantID,
		Action:    string(ev.Action),
		ActorID:   ev.ActorID,
		AgentID:   ev.AgentID,
		SessionID: ev.SessionID,
		SkillID:   ev.SkillID,
		Details:   CanonicalDetails(ev.Details),
		RequestID: requestid.From(ctx),
		Timestamp: now.UTC().Truncate(time.Microsecond),
	}
}

// Record enqueues ev and waits until it is durable. If ctx ends first the
// error is returned, and the entry may still be written (an action is never
// reported as done without its entry; an entry may exist for an action that
// then failed).
func (w *Writer) Record(ctx context.Context, ev Event) error {
	p, err := w.submit(ctx, ev, nil)
	if err != nil {
		return err
	}
	return w.await(ctx, p)
}

// submit enqueues ev; the entry takes its place in the chain now, in call
// order, and is durable once await returns nil.
func (w *Writer) submit(ctx context.Context, ev Event, unit *store.Unit) (*pending, error) {
	if ev.TenantID == "" || ev.Action == "" {
		return nil, errors.New("audit: event needs a tenant and an action")
	}
	p := w.pool.Get().(*pending)
	p.entry = Entry(ctx, ev, w.opts.Now())
	p.unit = unit

	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		p.unit = nil
		w.pool.Put(p)
		return nil, ErrClosed
	}
	select {
	case w.queue <- p:
		return p, nil
	case <-ctx.Done():
		p.unit = nil
		w.pool.Put(p)
		return nil, ctx.Err()
	}
}

// await waits for a submitted entry's commit.
func (w *Writer) await(ctx context.Context, p *pending) error {
	select {
	case err := <-p.done:
		p.entry, p.unit = store.AuditEntry{}, nil
		w.pool.Put(p)
		return err
	case <-ctx.Done():
		// The writer still owns p and will send on p.done (buffered);
		// p is simply not reused.
		return ctx.Err()
	}
}

// Close stops accepting entries, commits everything queued and returns.
func (w *Writer) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.done
	return nil
}

func (w *Writer) run() {
	defer close(w.done)
	batch := make([]*pending, 0, w.opts.MaxBatch)
	entries := make([]store.AuditEntry, 0, w.opts.MaxBatch)
	var units []*store.Unit
	var timer *time.Timer
	for {
		first, ok := <-w.queue
		if !ok {
			return
		}
		batch = append(batch[:0], first)
		open := w.fill(&batch, &timer)
		entries, units = entries[:0], units[:0]
		for _, p := range batch {
			entries = append(entries, p.entry)
			if p.unit != nil {
				units = append(units, p.unit)
			}
		}
		err := w.commit(entries, units)
		rest := err
		if err != nil && len(units) > 0 {
			// A unit's writes could not be made (or the store failed):
			// the batch is retried without the entries that carried
			// units, so other requests' entries do not fail with them.
			// Those units of work fail; their writes are not stored.
			entries = entries[:0]
			for _, p := range batch {
				if p.unit == nil {
					entries = append(entries, p.entry)
				}
			}
			if rest = nil; len(entries) > 0 {
				rest = w.commit(entries, nil)
			}
		}
		clear(units)
		for _, p := range batch {
			if p.unit != nil {
				p.done <- err
			} else {
				p.done <- rest
			}
		}
		if !open {
			return
		}
	}
}

// fill adds queued entries to batch until it is full, the queue is empty
// (after Linger), or the queue is closed. It reports whether the queue is
// still open.
func (w *Writer) fill(batch *[]*pending, timer **time.Timer) bool {
	for len(*batch) < w.opts.MaxBatch {
		select {
		case p, ok := <-w.queue:
			if !ok {
				return false
			}
			*batch = append(*batch, p)
			continue
		default:
		}
		if w.opts.Linger == 0 {
			return true
		}
		if *timer == nil {
			*timer = time.NewTimer(w.opts.Linger)
		} else {
			(*timer).Reset(w.opts.Linger)
		}
		select {
		case p, ok := <-w.queue:
			(*timer).Stop()
			if !ok {
				return false
			}
			*batch = append(*batch, p)
		case <-(*timer).C:
			return true
		}
	}
	return true
}

// commit stores one batch. It deliberately ignores the callers' contexts:
// once accepted an entry is written even if its request has gone away.
func (w *Writer) commit(entries []store.AuditEntry, units []*store.Unit) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.WriteLimit)
	defer cancel()
	var err error
	if len(units) == 0 {
		err = w.st.AppendAudit(ctx, entries, Seal)
	} else {
		err = w.st.CommitAudit(ctx, entries, Seal, units)
	}
	if err != nil {
		w.log.Error("audit batch not stored; the actions it records fail",
			"entries", len(entries), "request_ids", batchRequestIDs(entries), "err", err)
		if errors.Is(err, store.ErrUnavailable) {
			// The callers answer 503 (retry later) rather than 500; the
			// cause is in the line above, with their request IDs.
			return fmt.Errorf("audit: entry not stored: %w", store.ErrUnavailable)
		}
		return errors.New("audit: entry not stored")
	}
	return nil
}

// batchRequestIDs lists the distinct request IDs of a failed batch (at most
// 32) for its log line, so each failed request can be traced from it; each
// request also logs its own 500 with its ID.
func batchRequestIDs(entries []store.AuditEntry) []string {
	const max = 32
	var ids []string
	for _, e := range entries {
		if e.RequestID == "" || slices.Contains(ids, e.RequestID) {
			continue
		}
		if len(ids) == max {
			ids = append(ids, "…")
			break
		}
		ids = append(ids, e.RequestID)
	}
	return ids
}
