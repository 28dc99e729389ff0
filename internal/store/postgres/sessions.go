package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/komand-ai/komand/internal/store"
)

const sessionCols = "id, tenant_id, session_key, channel, channel_account_id, sender_id, agent_id, " +
	"metadata, message_count, first_message_at, last_message_at, ended_at, end_reason, " +
	"tool_calls, input_tokens, output_tokens, busy_ms"

const turnCols = "tenant_id, session_id, seq, role, text, tool_calls, tool_call_id, tool_name, " +
	"is_error, request_id, created_at, flag"

func metadata(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func scanSession(row pgx.Row) (store.Session, error) {
	var se store.Session
	if err := row.Scan(&se.ID, &se.TenantID, &se.Key, &se.Channel, &se.ChannelAccountID, &se.SenderID,
		&se.AgentID, &se.Metadata, &se.MessageCount, &se.FirstMessageAt, &se.LastMessageAt,
		&se.EndedAt, &se.EndReason, &se.Usage.ToolCalls, &se.Usage.InputTokens, &se.Usage.OutputTokens,
		&se.Usage.BusyMillis); err != nil {
		return store.Session{}, err
	}
	se.Metadata = metadata(se.Metadata)
	se.FirstMessageAt, se.LastMessageAt = utc(se.FirstMessageAt), utc(se.LastMessageAt)
	se.EndedAt = utcPtr(se.EndedAt)
	return se, nil
}

func scanTurn(row pgx.Row) (store.Turn, error) {
	var (
		t     store.Turn
		calls *string
	)
	if err := row.Scan(&t.TenantID, &t.SessionID, &t.Seq, &t.Role, &t.Text, &calls, &t.ToolCallID,
		&t.ToolName, &t.IsError, &t.RequestID, &t.CreatedAt, &t.Flag); err != nil {
		return store.Turn{}, err
	}
	if calls != nil {
		t.ToolCalls = []byte(*calls)
	}
	t.CreatedAt = utc(t.CreatedAt)
	return t, nil
}

// CreateSession stores a new active session, unless the tenant has
// maxActive active sessions (counted on the partial index of active
// sessions, at most maxActive rows; see atLimit).
func (s *Store) CreateSession(ctx context.Context, se store.Session, maxActive int) error {
	err := s.inTenant(ctx, se.TenantID, func(tx pgx.Tx) error {
		if err := atLimit(ctx, tx, "komand_sessions", `SELECT 1 FROM komand_sessions WHERE tenant_id = $1 AND ended_at IS NULL`,
			maxActive, se.TenantID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO komand_sessions (`+sessionCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
			se.ID, se.TenantID, se.Key, se.Channel, se.ChannelAccountID, se.SenderID, se.AgentID,
			metadata(se.Metadata), se.MessageCount, se.FirstMessageAt, se.LastMessageAt, se.EndedAt,
			se.EndReason, se.Usage.ToolCalls, se.Usage.InputTokens, se.Usage.OutputTokens, se.Usage.BusyMillis)
		return err
	})
	return wrapErr("create session", err)
}

func (s *Store) oneSession(ctx context.Context, op, tenantID, where string, args ...any) (store.Session, error) {
	var se store.Session
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+sessionCols+` FROM komand_sessions WHERE `+where, args...).
			QueryRow(func(row pgx.Row) (err error) {
				se, err = scanSession(row)
				return err
			})
	})
	return se, wrapErr(op, err)
}

// ActiveSession returns the tenant's active session for key.
func (s *Store) ActiveSession(ctx context.Context, tenantID, key string) (store.Session, error) {
	return s.oneSession(ctx, "active session", tenantID,
		`tenant_id = $1 AND session_key = $2 AND ended_at IS NULL`, tenantID, key)
}

// GetSession returns one session of the tenant.
func (s *Store) GetSession(ctx context.Context, tenantID, id string) (store.Session, error) {
	return s.oneSession(ctx, "get session", tenantID, `tenant_id = $1 AND id = $2`, tenantID, id)
}

// ListSessions returns one page, most recently active first.
func (s *Store) ListSessions(ctx context.Context, tenantID string, f store.SessionFilter, p store.Page) ([]store.Session, int, error) {
	where := "tenant_id = $1"
	args := []any{tenantID}
	for _, c := range []struct{ col, v string }{
		{"agent_id", f.AgentID}, {"channel", f.Channel}, {"session_key", f.Key},
	} {
		if c.v != "" {
			args = append(args, c.v)
			where += fmt.Sprintf(" AND %s = $%d", c.col, len(args))
		}
	}
	switch f.Status {
	case "active":
		where += " AND ended_at IS NULL"
	case "ended":
		where += " AND ended_at IS NOT NULL"
	}
	var (
		at int64
		id string
	)
	return listPage(ctx, s, listQuery{op: "list sessions", tenantID: tenantID, from: "komand_sessions", cols: sessionCols,
		where: where, args: args, order: `last_message_at DESC, id COLLATE "C" DESC`,
		list: store.SessionList, after: `(last_message_at, id COLLATE "C") < ($K1, $K2)`, key: []any{&at, &id}, micros: &at},
		p, scanSession)
}

// AppendTurns appends turns to an active session in one transaction and
// one round trip: a pipelined batch, which PostgreSQL runs as one implicit
// transaction (as readTenant does). See queueAppendTurns.
func (s *Store) AppendTurns(ctx context.Context, tenantID, sessionID string, turns []store.Turn) (store.Session, error) {
	b := &pgx.Batch{}
	done := queueAppendTurns(b, tenantID, sessionID, turns, store.SessionUsage{})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return store.Session{}, wrapErr("append turns", err)
	}
	return done(), nil
}

// AddSessionUsage adds u to an active session's counters (the UPDATE of
// queueAppendTurns with no turns).
func (s *Store) AddSessionUsage(ctx context.Context, tenantID, sessionID string, u store.SessionUsage) error {
	b := &pgx.Batch{}
	queueAppendTurns(b, tenantID, sessionID, nil, u)
	return wrapErr("add session usage", s.pool.SendBatch(ctx, b).Close())
}

// queueAppendTurns queues the statements that append turns to an active
// session of tenantID (its own set_config first, so it may follow another
// tenant's statements in a transaction). The UPDATE takes the session's
// row lock, so concurrent appends to one session are serialised, and each
// statement's fresh snapshot (READ COMMITTED) numbers the new turns after
// the ones committed before, or written before in the same transaction; an
// ended (or missing) session updates no row, which fails the batch
// (pgx.ErrNoRows), and inserts nothing. Once the batch has committed, done
// sets the turns' Seq, SessionID, TenantID and normalised CreatedAt and
// returns the updated session.
func queueAppendTurns(b *pgx.Batch, tenantID, sessionID string, turns []store.Turn, u store.SessionUsage) (done func() store.Session) {
	n := len(turns)
	var (
		roles, texts, calls, callIDs, tools, reqIDs = make([]string, n), make([]string, n), make([]*string, n), make([]string, n), make([]string, n), make([]string, n)
		flags                                       = make([]string, n)
		errs                                        = make([]bool, n)
		ats                                         = make([]time.Time, n)
		messages                                    int
		latest                                      time.Time
	)
	for i, t := range turns {
		roles[i], texts[i], callIDs[i], tools[i], reqIDs[i], errs[i] = t.Role, t.Text, t.ToolCallID, t.ToolName, t.RequestID, t.IsError
		flags[i] = t.Flag
		ats[i] = t.CreatedAt.UTC().Truncate(time.Microsecond)
		if t.ToolCalls != nil {
			c := string(t.ToolCalls)
			calls[i] = &c
		}
		if t.Role == store.RoleUser || t.Role == store.RoleAssistant {
			messages++
		}
		if ats[i].After(latest) {
			latest = ats[i]
		}
	}
	var (
		se    store.Session
		first int64
	)
	b.Queue(setTenantSQL, tenantID)
	b.Queue(`UPDATE komand_sessions SET message_count = message_count + $3,
		   last_message_at = greatest(last_message_at, coalesce($4, last_message_at)),
		   tool_calls = tool_calls + $5, input_tokens = input_tokens + $6, output_tokens = output_tokens + $7,
		   busy_ms = busy_ms + $8
		 WHERE tenant_id = $1 AND id = $2 AND ended_at IS NULL RETURNING `+sessionCols,
		tenantID, sessionID, messages, nullTime(latest), u.ToolCalls, u.InputTokens, u.OutputTokens, u.BusyMillis).
		QueryRow(func(row pgx.Row) (err error) {
			se, err = scanSession(row)
			return err
		})
	if n > 0 {
		b.Queue(`INSERT INTO komand_session_turns (`+turnCols+`)
			SELECT $1, $2, base.last + t.ord, t.role, t.text, t.calls, t.call_id, t.tool_name, t.is_error, t.request_id, t.created_at, t.flag
			  FROM (SELECT coalesce(max(seq), 0) AS last FROM komand_session_turns
			         WHERE tenant_id = $1 AND session_id = $2) base,
			       unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::boolean[], $9::text[], $10::timestamptz[], $11::text[])
			         WITH ORDINALITY AS t(role, text, calls, call_id, tool_name, is_error, request_id, created_at, flag, ord)
			 WHERE EXISTS (SELECT 1 FROM komand_sessions WHERE tenant_id = $1 AND id = $2 AND ended_at IS NULL)
			RETURNING seq`,
			tenantID, sessionID, roles, texts, calls, callIDs, tools, errs, reqIDs, ats, flags).
			Query(func(rows pgx.Rows) error {
				seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
				if err == nil && len(seqs) > 0 {
					first = slices.Min(seqs)
				}
				return err
			})
	}
	return func() store.Session {
		for i := range turns {
			turns[i].TenantID, turns[i].SessionID, turns[i].Seq = tenantID, sessionID, first+int64(i)
			turns[i].CreatedAt = ats[i]
		}
		return se
	}
}

// nullTime is nil for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *Store) turns(ctx context.Context, tenantID, op string, q string, args ...any) ([]store.Turn, error) {
	out := []store.Turn{}
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(q, args...).Query(appendRows(&out, scanTurn))
	})
	if err != nil {
		return nil, wrapErr(op, err)
	}
	return out, nil
}

// ListTurns returns one page of a session's history, oldest first.
func (s *Store) ListTurns(ctx context.Context, tenantID, sessionID string, p store.Page) ([]store.Turn, int, error) {
	var seq int64
	return listPage(ctx, s, listQuery{op: "list turns", tenantID: tenantID, from: "komand_session_turns", cols: turnCols,
		where: "tenant_id = $1 AND session_id = $2", args: []any{tenantID, sessionID}, order: "seq",
		list: store.TurnList, after: "seq > $K1", key: []any{&seq}}, p, scanTurn)
}

// RecentTurns returns the last limit turns of a session, oldest first.
func (s *Store) RecentTurns(ctx context.Context, tenantID, sessionID string, limit int) ([]store.Turn, error) {
	if limit <= 0 {
		return []store.Turn{}, nil
	}
	return s.turns(ctx, tenantID, "recent turns",
		`SELECT `+turnCols+` FROM (SELECT `+turnCols+` FROM komand_session_turns
		   WHERE tenant_id = $1 AND session_id = $2 ORDER BY seq DESC LIMIT $3) t ORDER BY seq`,
		tenantID, sessionID, limit)
}

// LoadTurn reads the session, its agent and its recent history in one
// pipelined round trip (readTenant: one implicit transaction under the
// tenant's row-level security). The agent and history statements find the
// session through the same condition as the first, so a session that does
// not exist (or is another tenant's) yields no rows in any of them.
func (s *Store) LoadTurn(ctx context.Context, tenantID string, q store.TurnQuery) (store.TurnState, error) {
	where, arg := `tenant_id = $1 AND session_key = $2 AND ended_at IS NULL`, q.Key
	if q.SessionID != "" {
		where, arg = `tenant_id = $1 AND id = $2`, q.SessionID
	}
	var (
		sessions []store.Session
		agents   []store.Agent
		st       = store.TurnState{History: []store.Turn{}}
	)
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+sessionCols+` FROM komand_sessions WHERE `+where, tenantID, arg).
			Query(appendRows(&sessions, scanSession))
		b.Queue(`SELECT `+agentCols+` FROM komand_agents
			WHERE tenant_id = $1 AND agent_id = (SELECT agent_id FROM komand_sessions WHERE `+where+`)`,
			tenantID, arg).Query(appendRows(&agents, scanAgent))
		if q.History > 0 {
			b.Queue(`SELECT `+turnCols+` FROM (SELECT `+turnCols+` FROM komand_session_turns
				  WHERE tenant_id = $1 AND session_id = (SELECT id FROM komand_sessions WHERE `+where+`)
				  ORDER BY seq DESC LIMIT $3) t ORDER BY seq`, tenantID, arg, q.History).
				Query(appendRows(&st.History, scanTurn))
		}
	})
	if err != nil {
		return store.TurnState{}, wrapErr("load turn", err)
	}
	if len(sessions) != 1 {
		return store.TurnState{}, wrapErr("load turn", store.ErrNotFound)
	}
	st.Session = sessions[0]
	if len(agents) == 1 {
		st.Agent = &agents[0]
	}
	return st, nil
}

// EndSession marks an active session ended.
func (s *Store) EndSession(ctx context.Context, tenantID, id string, now time.Time, reason string) (store.Session, error) {
	var se store.Session
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		se, err = scanSession(tx.QueryRow(ctx, `UPDATE komand_sessions SET ended_at = $3, end_reason = $4
			WHERE tenant_id = $1 AND id = $2 AND ended_at IS NULL RETURNING `+sessionCols,
			tenantID, id, now, reason))
		return err
	})
	if err != nil {
		return store.Session{}, wrapErr("end session", err)
	}
	return se, nil
}

// IdleSessions returns active sessions whose last message is before cutoff.
func (s *Store) IdleSessions(ctx context.Context, tenantID string, cutoff time.Time, limit int) ([]store.Session, error) {
	out := []store.Session{}
	if limit <= 0 {
		return out, nil
	}
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+sessionCols+` FROM komand_sessions
			WHERE tenant_id = $1 AND ended_at IS NULL AND last_message_at < $2
			ORDER BY last_message_at LIMIT $3`, tenantID, cutoff, limit).
			Query(appendRows(&out, scanSession))
	})
	if err != nil {
		return nil, wrapErr("idle sessions", err)
	}
	return out, nil
}

// sessionLockKey maps a tenant's session key to the 64-bit key of a
// PostgreSQL advisory lock. Two keys that collide are merely serialised
// together.
func sessionLockKey(tenantID, key string) int64 {
	h := sha256.Sum256([]byte("komand-session\x00" + tenantID + "\x00" + key))
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// LockSession takes a session-level advisory lock on a connection of its
// own (from the separate lock pool, see Store.locks), held until unlock, so every replica on this database handles one
// session's messages one at a time; PostgreSQL grants waiting lockers in
// the order they asked. A turn may wait on a model for minutes, so this is
// not a transaction-scoped lock: no transaction stays open meanwhile. If the
// unlock cannot be sent, the connection is closed, which releases the lock
// on the server.
func (s *Store) LockSession(ctx context.Context, tenantID, key string) (func(), error) {
	conn, err := s.locks.Acquire(ctx)
	if err != nil {
		return nil, wrapErr("lock session", err)
	}
	k := sessionLockKey(tenantID, key)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, k); err != nil {
		// A cancelled wait may leave the connection mid-query: drop it.
		_ = conn.Conn().Close(context.Background())
		conn.Release()
		return nil, wrapErr("lock session", err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var released bool
		if err := conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1)`, k).Scan(&released); err != nil || !released {
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
	}, nil
}

const memoryCols = "tenant_id, agent_id, mem_key, value, provenance, created_at, updated_at"

func scanMemory(row pgx.Row) (store.MemoryEntry, error) {
	var e store.MemoryEntry
	if err := row.Scan(&e.TenantID, &e.AgentID, &e.Key, &e.Value, &e.Provenance, &e.CreatedAt, &e.UpdatedAt); err != nil {
		return store.MemoryEntry{}, err
	}
	e.CreatedAt, e.UpdatedAt = utc(e.CreatedAt), utc(e.UpdatedAt)
	return e, nil
}

// PutMemory creates or replaces one memory key of an agent. The agent row is
// locked (FOR UPDATE) so two concurrent creations cannot both
// pass the entry limit.
func (s *Store) PutMemory(ctx context.Context, e store.MemoryEntry, maxEntries int) (bool, error) {
	created := false
	err := s.inTenant(ctx, e.TenantID, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM komand_agents WHERE tenant_id = $1 AND agent_id = $2
			FOR UPDATE`, e.TenantID, e.AgentID).Scan(&one); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE komand_agent_memory SET value = $4, updated_at = $5, provenance = $6
			WHERE tenant_id = $1 AND agent_id = $2 AND mem_key = $3`,
			e.TenantID, e.AgentID, e.Key, e.Value, e.UpdatedAt, store.MemoryProvenance(e.Provenance))
		if err != nil || tag.RowsAffected() > 0 {
			return err
		}
		var count int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM komand_agent_memory
			WHERE tenant_id = $1 AND agent_id = $2`, e.TenantID, e.AgentID).Scan(&count); err != nil {
			return err
		}
		if count >= maxEntries {
			return store.ErrLimit
		}
		created = true
		_, err = tx.Exec(ctx, `INSERT INTO komand_agent_memory (`+memoryCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.TenantID, e.AgentID, e.Key, e.Value, store.MemoryProvenance(e.Provenance),
			e.CreatedAt, e.UpdatedAt)
		return err
	})
	if err != nil {
		return false, wrapErr("put memory", err)
	}
	return created, nil
}

// GetMemory returns one memory key of an agent.
func (s *Store) GetMemory(ctx context.Context, tenantID, agentID, key string) (store.MemoryEntry, error) {
	var e store.MemoryEntry
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+memoryCols+` FROM komand_agent_memory
			WHERE tenant_id = $1 AND agent_id = $2 AND mem_key = $3`, tenantID, agentID, key).
			QueryRow(func(row pgx.Row) (err error) {
				e, err = scanMemory(row)
				return err
			})
	})
	return e, wrapErr("get memory", err)
}

// ListMemory returns one page of an agent's memory ordered by key.
func (s *Store) ListMemory(ctx context.Context, tenantID, agentID string, p store.Page) ([]store.MemoryEntry, int, error) {
	var key string
	return listPage(ctx, s, listQuery{op: "list memory", tenantID: tenantID, from: "komand_agent_memory", cols: memoryCols,
		where: "tenant_id = $1 AND agent_id = $2", args: []any{tenantID, agentID}, order: `mem_key COLLATE "C"`,
		list: store.MemoryList, after: `mem_key COLLATE "C" > $K1`, key: []any{&key}}, p, scanMemory)
}

// DeleteMemory removes one memory key; an unknown key gives ErrNotFound.
func (s *Store) DeleteMemory(ctx context.Context, tenantID, agentID, key string) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM komand_agent_memory
			WHERE tenant_id = $1 AND agent_id = $2 AND mem_key = $3`, tenantID, agentID, key)
		if err == nil && tag.RowsAffected() == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	return wrapErr("delete memory", err)
}

// appendRows is a batch query callback that appends every row, scanned by
// scan, to *out.
func appendRows[T any](out *[]T, scan func(pgx.Row) (T, error)) func(pgx.Rows) error {
	return func(rows pgx.Rows) (err error) {
		*out, err = pgx.AppendRows(*out, rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
		return err
	}
}
