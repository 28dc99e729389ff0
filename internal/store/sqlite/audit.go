package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

const auditCols = "id, tenant_id, seq, action, actor_id, agent_id, session_id, skill_id, " +
	"details, request_id, ts, prev_hash, hash"

func scanAudit(sc scanner) (store.AuditEntry, error) {
	var (
		e       store.AuditEntry
		details string
		ts      int64
	)
	if err := sc.Scan(&e.ID, &e.TenantID, &e.Seq, &e.Action, &e.ActorID, &e.AgentID, &e.SessionID,
		&e.SkillID, &details, &e.RequestID, &ts, &e.PrevHash, &e.Hash); err != nil {
		return store.AuditEntry{}, err
	}
	e.Details = []byte(details)
	e.Timestamp = fromMicros(ts)
	return e, nil
}

type chainHead struct {
	seq  int64
	hash string
}

// AppendAudit appends entries, possibly of several tenants, in one write
// transaction: either the whole batch is stored or nothing is.
//
// For each entry, in order, it takes the tenant's chain head (read once per
// tenant from komand_audit_heads, then kept in memory for the rest of the
// batch), sets Seq and PrevHash, normalises Timestamp to UTC microseconds and
// calls seal, so the hash covers exactly the values that are stored and can
// be recomputed from them later. The heads are written once at the end.
// Because the writer is a single connection in a BEGIN IMMEDIATE
// transaction, no other append can interleave and fork a chain.
//
// Entry IDs should be time-ordered (UUIDv7): the primary-key index then
// grows at its end. Random UUIDv4 IDs dirty one index page per entry, which
// costs about four times the throughput on a large log (see
// BenchmarkAppendAudit).
//
// The caller's entries get Seq, PrevHash, the normalised Timestamp and Hash
// once the transaction has committed; after a failure they are unchanged. A
// panic in seal rolls the transaction back before it propagates.
func (s *Store) AppendAudit(ctx context.Context, entries []store.AuditEntry, seal store.SealFunc) error {
	return s.CommitAudit(ctx, entries, seal, nil)
}

// CommitAudit is AppendAudit that also makes every write of units
// (appendTurnsTx for their turns) after the entries, in the same write
// transaction: the unit-of-work boundary.
func (s *Store) CommitAudit(ctx context.Context, entries []store.AuditEntry, seal store.SealFunc, units []*store.Unit) error {
	if len(entries) == 0 && len(units) == 0 {
		return nil
	}
	if seal == nil {
		return errors.New("sqlite: append audit: nil seal")
	}
	out := make([]store.AuditEntry, len(entries))
	copy(out, entries)

	err := s.write(ctx, "append audit", func(tx txQuerier) error {
		// The statements run with a context that is never cancelled: for a
		// cancellable one the driver starts a watcher goroutine per call, a
		// measurable share of a small insert's cost. Cancellation still stops
		// the batch: ctx is checked before every entry and statement, and
		// database/sql rolls the transaction back when ctx ends.
		rowCtx := context.WithoutCancel(ctx)
		getHead := tx.StmtContext(ctx, s.audit.getHead)
		heads := make(map[string]chainHead)
		var order []string // tenants in first-seen order, for the head updates
		for i := range out {
			if err := ctx.Err(); err != nil {
				return err
			}
			e := &out[i]
			h, ok := heads[e.TenantID]
			if !ok {
				err := getHead.QueryRowContext(rowCtx, e.TenantID).Scan(&h.seq, &h.hash)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				order = append(order, e.TenantID)
			}
			e.Seq = h.seq + 1
			e.PrevHash = h.hash
			e.Timestamp = e.Timestamp.UTC().Truncate(time.Microsecond)
			e.Hash = seal(e)
			if e.Hash == "" {
				return fmt.Errorf("seal returned an empty hash for entry %d", i)
			}
			heads[e.TenantID] = chainHead{seq: e.Seq, hash: e.Hash}
		}
		if err := s.audit.insertAll(ctx, rowCtx, tx, out); err != nil {
			return err
		}
		setHead := tx.StmtContext(ctx, s.audit.setHead)
		for _, tenantID := range order {
			h := heads[tenantID]
			if _, err := setHead.ExecContext(rowCtx, tenantID, h.seq, h.hash); err != nil {
				return err
			}
		}
		for _, u := range units {
			for _, a := range u.Turns {
				if _, err := appendTurnsTx(rowCtx, tx, a.TenantID, a.SessionID, a.Turns, a.Usage); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	copy(entries, out)
	return nil
}

// auditStmts are the append path's statements, prepared once on the writer
// connection at Open (a statement prepared inside a transaction is parsed
// again for every batch, and the writer pool's one connection is busy during
// a transaction, so they cannot be prepared lazily). A transaction uses them
// through Tx.StmtContext, which re-prepares only if the connection was
// replaced.
//
// A batch is inserted with multi-row INSERTs of 64, 32, …, 1 rows (13
// parameters each, far below SQLite's limit of 32,766): one statement per row
// cost a call through database/sql and the driver per entry.
type auditStmts struct {
	getHead, setHead *sql.Stmt
	insert           []*sql.Stmt // insert[k] carries 1<<k rows
}

// auditInsertMaxShift: the largest INSERT carries 1<<6 = 64 rows.
const auditInsertMaxShift = 6

func prepareAudit(ctx context.Context, db *sql.DB) (*auditStmts, error) {
	as := &auditStmts{}
	var err error
	if as.getHead, err = db.PrepareContext(ctx,
		`SELECT seq, hash FROM komand_audit_heads WHERE tenant_id = ?`); err != nil {
		return nil, err
	}
	if as.setHead, err = db.PrepareContext(ctx,
		`INSERT INTO komand_audit_heads (tenant_id, seq, hash) VALUES (?, ?, ?)
		 ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`); err != nil {
		as.close()
		return nil, err
	}
	for k := 0; k <= auditInsertMaxShift; k++ {
		st, err := db.PrepareContext(ctx, auditInsertSQL(1<<k))
		if err != nil {
			as.close()
			return nil, err
		}
		as.insert = append(as.insert, st)
	}
	return as, nil
}

func (as *auditStmts) close() {
	for _, st := range append([]*sql.Stmt{as.getHead, as.setHead}, as.insert...) {
		if st != nil {
			st.Close()
		}
	}
}

// insertAll stores sealed entries in tx, largest chunks first; ctx is
// checked between statements.
func (as *auditStmts) insertAll(ctx, rowCtx context.Context, tx txQuerier, entries []store.AuditEntry) error {
	args := make([]any, 0, 13<<auditInsertMaxShift)
	for k := auditInsertMaxShift; k >= 0; k-- {
		n := 1 << k
		if len(entries) < n {
			continue
		}
		st := tx.StmtContext(ctx, as.insert[k])
		for len(entries) >= n {
			if err := ctx.Err(); err != nil {
				return err
			}
			args = args[:0]
			for i := range entries[:n] {
				e := &entries[i]
				// details is bound as a string: the column is TEXT and the
				// bytes must come back unchanged.
				args = append(args, e.ID, e.TenantID, e.Seq, e.Action, e.ActorID, e.AgentID,
					e.SessionID, e.SkillID, string(e.Details), e.RequestID, micros(e.Timestamp),
					e.PrevHash, e.Hash)
			}
			if _, err := st.ExecContext(rowCtx, args...); err != nil {
				return err
			}
			entries = entries[n:]
		}
	}
	return nil
}

// auditInsertSQL is an INSERT of n rows into the audit log.
func auditInsertSQL(n int) string {
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	var b strings.Builder
	b.WriteString("INSERT INTO komand_audit_log (" + auditCols + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// auditWhere builds the WHERE clause of a listing. Only fixed column names
// are concatenated; every value is a bound parameter.
func auditWhere(tenantID string, f store.AuditFilter) (string, []any) {
	conds := []string{"tenant_id = ?"}
	args := []any{tenantID}
	eq := func(col, v string) {
		if v != "" {
			conds = append(conds, col+" = ?")
			args = append(args, v)
		}
	}
	eq("action", f.Action)
	eq("actor_id", f.ActorID)
	eq("agent_id", f.AgentID)
	eq("session_id", f.SessionID)
	eq("skill_id", f.SkillID)
	if f.From != nil {
		conds = append(conds, "ts >= ?")
		args = append(args, micros(*f.From))
	}
	if f.To != nil {
		conds = append(conds, "ts <= ?")
		args = append(args, micros(*f.To))
	}
	return strings.Join(conds, " AND "), args
}

// ListAudit returns one page of the tenant's entries matching f, newest
// (highest Seq) first, and the total that match. From and To are inclusive.
func (s *Store) ListAudit(ctx context.Context, tenantID string, f store.AuditFilter, p store.Page) ([]store.AuditEntry, int, error) {
	where, args := auditWhere(tenantID, f)
	var seq int64
	return listPage(ctx, s, listQuery{op: "list audit", tenantID: tenantID, from: "komand_audit_log",
		cols: auditCols, where: where, args: args, order: "seq DESC",
		list: store.AuditList, after: "seq < ?", key: []any{&seq}}, p, scanAudit)
}

// ScanAudit returns up to limit entries of the tenant with Seq > afterSeq in
// chain order. A limit of zero or less returns nothing.
func (s *Store) ScanAudit(ctx context.Context, tenantID string, afterSeq int64, limit int) ([]store.AuditEntry, error) {
	out := []store.AuditEntry{}
	if limit <= 0 {
		return out, nil
	}
	rows, err := s.rq.QueryContext(ctx,
		`SELECT `+auditCols+` FROM komand_audit_log
		 WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`, tenantID, afterSeq, limit)
	if err != nil {
		return nil, wrap("scan audit", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, wrap("scan audit", err)
		}
		out = append(out, e)
	}
	return out, wrap("scan audit", rows.Err())
}

// AuditHead returns the tenant's chain head, 0 and "" for an empty chain.
func (s *Store) AuditHead(ctx context.Context, tenantID string) (int64, string, error) {
	var (
		seq  int64
		hash string
	)
	err := s.rq.QueryRowContext(ctx,
		`SELECT seq, hash FROM komand_audit_heads WHERE tenant_id = ?`, tenantID).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", wrap("audit head", err)
	}
	return seq, hash, nil
}
