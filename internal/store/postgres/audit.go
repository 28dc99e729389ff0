package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/komand-ai/komand/internal/store"
)

const auditCols = "id, tenant_id, seq, action, actor_id, agent_id, session_id, skill_id, " +
	"details, request_id, ts, prev_hash, hash"

func scanAudit(row pgx.Row) (store.AuditEntry, error) {
	var (
		e       store.AuditEntry
		details string
	)
	if err := row.Scan(&e.ID, &e.TenantID, &e.Seq, &e.Action, &e.ActorID, &e.AgentID, &e.SessionID,
		&e.SkillID, &details, &e.RequestID, &e.Timestamp, &e.PrevHash, &e.Hash); err != nil {
		return store.AuditEntry{}, err
	}
	e.Details = []byte(details)
	e.Timestamp = utc(e.Timestamp)
	return e, nil
}

// AppendAudit appends entries, possibly of several tenants, in one
// transaction: either the whole batch is stored or nothing is.
//
// Entries are grouped by tenant (keeping their order within a tenant) and the
// groups are handled in tenant-ID order, in two pipelined round trips:
//
//  1. For each tenant: set the row-level-security tenant (set_config is
//     transaction-local and may be called again: the last call wins, so the
//     statements that follow see only that tenant), create its head row if
//     missing (ON CONFLICT DO NOTHING) and lock it with SELECT ... FOR
//     UPDATE. Another replica appending for the same tenant waits on that
//     lock until this transaction commits and then reads the new head, so a
//     chain never forks. Taking the head locks in tenant-ID order means two
//     multi-tenant batches cannot deadlock.
//  2. Locally, set Seq, PrevHash, the UTC-microsecond Timestamp and Hash
//     (seal) of each entry, so the hash covers exactly the values stored.
//     Then, for each tenant: set the tenant again, insert its entries with
//     one multi-row INSERT ... SELECT FROM unnest(...) (PostgreSQL refuses
//     COPY FROM into a table with row-level security) and move its head.
//
// The caller's entries get Seq, PrevHash, the normalised Timestamp and Hash
// once the transaction has committed; after a failure they are unchanged.
func (s *Store) AppendAudit(ctx context.Context, entries []store.AuditEntry, seal store.SealFunc) error {
	return s.CommitAudit(ctx, entries, seal, nil)
}

// CommitAudit is AppendAudit whose first round trip also carries the
// statements of every write of units (queueAppendTurns for their turns):
// one transaction, one commit for an agent turn's history and its audit
// entries. It is the unit-of-work boundary.
func (s *Store) CommitAudit(ctx context.Context, entries []store.AuditEntry, seal store.SealFunc, units []*store.Unit) error {
	if len(entries) == 0 && len(units) == 0 {
		return nil
	}
	if seal == nil {
		return errors.New("postgres: append audit: nil seal")
	}
	out := slices.Clone(entries)

	groups := map[string][]int{}
	for i := range out {
		groups[out[i].TenantID] = append(groups[out[i].TenantID], i)
	}
	tenants := make([]string, 0, len(groups))
	for t := range groups {
		tenants = append(tenants, t)
	}
	slices.Sort(tenants)

	heads := make([]chainHead, len(tenants))
	dones := make([]func() store.Session, 0, len(units))
	err := s.twoBatchTx(ctx, func(b *pgx.Batch) error {
		for k, t := range tenants {
			b.Queue(setTenantSQL, t)
			b.Queue(`INSERT INTO komand_audit_heads (tenant_id, seq, hash) VALUES ($1, 0, '')
				ON CONFLICT (tenant_id) DO NOTHING`, t)
			b.Queue(`SELECT seq, hash FROM komand_audit_heads WHERE tenant_id = $1 FOR UPDATE`, t).
				QueryRow(func(row pgx.Row) error { return row.Scan(&heads[k].seq, &heads[k].hash) })
		}
		// The units' writes go in the first round trip: an append to a session
		// that is not active fails on the client (no row to scan), and
		// only a failure seen before the second round trip keeps its
		// COMMIT from being sent.
		for _, u := range units {
			for _, a := range u.Turns {
				dones = append(dones, queueAppendTurns(b, a.TenantID, a.SessionID, a.Turns, a.Usage))
			}
		}
		return nil
	}, func(b *pgx.Batch) error {
		for k, t := range tenants {
			if err := queueChain(b, t, heads[k], out, groups[t], seal); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wrapErr("append audit", err)
	}
	copy(entries, out)
	for _, done := range dones {
		done()
	}
	return nil
}

// chainHead is a tenant's last seq and hash.
type chainHead struct {
	seq  int64
	hash string
}

// queueChain seals out[i] for each i in idx as the continuation of
// tenantID's chain from head, and queues the statements that store them and
// move the head.
func queueChain(b *pgx.Batch, tenantID string, head chainHead, out []store.AuditEntry, idx []int, seal store.SealFunc) error {
	n := len(idx)
	var (
		ids, actions, actors, agents = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		sessions, skills, details    = make([]string, n), make([]string, n), make([]string, n)
		requests, prevs, hashes      = make([]string, n), make([]string, n), make([]string, n)
		seqs                         = make([]int64, n)
		stamps                       = make([]time.Time, n)
	)
	for j, i := range idx {
		e := &out[i]
		head.seq++
		e.Seq = head.seq
		e.PrevHash = head.hash
		e.Timestamp = e.Timestamp.UTC().Truncate(time.Microsecond)
		e.Hash = seal(e)
		if e.Hash == "" {
			return fmt.Errorf("seal returned an empty hash for entry %d", i)
		}
		head.hash = e.Hash
		ids[j], seqs[j], actions[j], actors[j] = e.ID, e.Seq, e.Action, e.ActorID
		agents[j], sessions[j], skills[j] = e.AgentID, e.SessionID, e.SkillID
		// details is bound as a string: the column is text and the bytes
		// must come back unchanged.
		details[j], requests[j], stamps[j] = string(e.Details), e.RequestID, e.Timestamp
		prevs[j], hashes[j] = e.PrevHash, e.Hash
	}

	b.Queue(setTenantSQL, tenantID)
	b.Queue(`INSERT INTO komand_audit_log (`+auditCols+`)
		SELECT u.id, $1, u.seq, u.action, u.actor_id, u.agent_id, u.session_id, u.skill_id,
		       u.details, u.request_id, u.ts, u.prev_hash, u.hash
		FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
		            $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::text[], $13::text[])
		     AS u(id, seq, action, actor_id, agent_id, session_id, skill_id,
		          details, request_id, ts, prev_hash, hash)`,
		tenantID, ids, seqs, actions, actors, agents, sessions, skills,
		details, requests, stamps, prevs, hashes)
	b.Queue(`UPDATE komand_audit_heads SET seq = $2, hash = $3 WHERE tenant_id = $1`,
		tenantID, head.seq, head.hash)
	return nil
}

// auditWhere builds the WHERE clause of a listing. Only fixed column names
// and placeholder numbers are concatenated; every value is a bound
// parameter.
func auditWhere(tenantID string, f store.AuditFilter) (string, []any) {
	conds := []string{"tenant_id = $1"}
	args := []any{tenantID}
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, cond+" $"+strconv.Itoa(len(args)))
	}
	eq := func(col, v string) {
		if v != "" {
			add(col+" =", v)
		}
	}
	eq("action", f.Action)
	eq("actor_id", f.ActorID)
	eq("agent_id", f.AgentID)
	eq("session_id", f.SessionID)
	eq("skill_id", f.SkillID)
	if f.From != nil {
		add("ts >=", *f.From)
	}
	if f.To != nil {
		add("ts <=", *f.To)
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
		list: store.AuditList, after: "seq < $K1", key: []any{&seq}}, p, scanAudit)
}

// ScanAudit returns up to limit entries of the tenant with Seq > afterSeq in
// chain order. A limit of zero or less returns nothing.
func (s *Store) ScanAudit(ctx context.Context, tenantID string, afterSeq int64, limit int) ([]store.AuditEntry, error) {
	out := []store.AuditEntry{}
	if limit <= 0 {
		return out, nil
	}
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+auditCols+` FROM komand_audit_log
			WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, tenantID, afterSeq, limit).
			Query(func(rows pgx.Rows) (err error) {
				out, err = pgx.AppendRows(out, rows, func(r pgx.CollectableRow) (store.AuditEntry, error) {
					return scanAudit(r)
				})
				return err
			})
	})
	if err != nil {
		return nil, wrapErr("scan audit", err)
	}
	return out, nil
}

// AuditHead returns the tenant's chain head, 0 and "" for an empty chain.
func (s *Store) AuditHead(ctx context.Context, tenantID string) (int64, string, error) {
	var (
		seq  int64
		hash string
	)
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT seq, hash FROM komand_audit_heads WHERE tenant_id = $1`, tenantID).
			QueryRow(func(row pgx.Row) error {
				if err := row.Scan(&seq, &hash); !errors.Is(err, pgx.ErrNoRows) {
					return err
				}
				return nil
			})
	})
	if err != nil {
		return 0, "", wrapErr("audit head", err)
	}
	return seq, hash, nil
}
