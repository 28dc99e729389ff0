package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

const sessionCols = "id, tenant_id, session_key, channel, channel_account_id, sender_id, agent_id, " +
	"metadata, message_count, first_message_at, last_message_at, ended_at, end_reason, " +
	"tool_calls, input_tokens, output_tokens, busy_ms"

const turnCols = "tenant_id, session_id, seq, role, text, tool_calls, tool_call_id, tool_name, " +
	"is_error, request_id, created_at, flag"

func encodeMetadata(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map[string]string always marshals
	return string(b)
}

func decodeMetadata(s string) (map[string]string, error) {
	m := map[string]string{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]string{}
	}
	return m, nil
}

func scanSession(sc scanner) (store.Session, error) {
	var (
		se          store.Session
		meta        string
		first, last int64
		ended       sql.NullInt64
	)
	if err := sc.Scan(&se.ID, &se.TenantID, &se.Key, &se.Channel, &se.ChannelAccountID, &se.SenderID,
		&se.AgentID, &meta, &se.MessageCount, &first, &last, &ended, &se.EndReason,
		&se.Usage.ToolCalls, &se.Usage.InputTokens, &se.Usage.OutputTokens, &se.Usage.BusyMillis); err != nil {
		return store.Session{}, err
	}
	var err error
	if se.Metadata, err = decodeMetadata(meta); err != nil {
		return store.Session{}, err
	}
	se.FirstMessageAt, se.LastMessageAt = fromMicros(first), fromMicros(last)
	se.EndedAt = fromNullMicros(ended)
	return se, nil
}

func scanTurn(sc scanner) (store.Turn, error) {
	var (
		t       store.Turn
		calls   sql.NullString
		isError int
		created int64
	)
	if err := sc.Scan(&t.TenantID, &t.SessionID, &t.Seq, &t.Role, &t.Text, &calls, &t.ToolCallID,
		&t.ToolName, &isError, &t.RequestID, &created, &t.Flag); err != nil {
		return store.Turn{}, err
	}
	if calls.Valid {
		t.ToolCalls = []byte(calls.String)
	}
	t.IsError = isError != 0
	t.CreatedAt = fromMicros(created)
	return t, nil
}

// CreateSession stores a new active session, unless the tenant has
// maxActive active sessions (counted on the partial index of active
// sessions, at most maxActive rows).
func (s *Store) CreateSession(ctx context.Context, se store.Session, maxActive int) error {
	return s.write(ctx, "create session", func(tx txQuerier) error {
		if err := atLimit(ctx, tx, `SELECT 1 FROM komand_sessions WHERE tenant_id = ? AND ended_at IS NULL`,
			maxActive, se.TenantID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO komand_sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			se.ID, se.TenantID, se.Key, se.Channel, se.ChannelAccountID, se.SenderID, se.AgentID,
			encodeMetadata(se.Metadata), se.MessageCount, micros(se.FirstMessageAt),
			micros(se.LastMessageAt), nullMicros(se.EndedAt), se.EndReason,
			se.Usage.ToolCalls, se.Usage.InputTokens, se.Usage.OutputTokens, se.Usage.BusyMillis)
		return err
	})
}

// ActiveSession returns the tenant's active session for key.
func (s *Store) ActiveSession(ctx context.Context, tenantID, key string) (store.Session, error) {
	se, err := scanSession(s.rq.QueryRowContext(ctx,
		`SELECT `+sessionCols+` FROM komand_sessions
		 WHERE tenant_id = ? AND session_key = ? AND ended_at IS NULL`, tenantID, key))
	return se, wrap("active session", err)
}

// GetSession returns one session of the tenant.
func (s *Store) GetSession(ctx context.Context, tenantID, id string) (store.Session, error) {
	se, err := scanSession(s.rq.QueryRowContext(ctx,
		`SELECT `+sessionCols+` FROM komand_sessions WHERE tenant_id = ? AND id = ?`, tenantID, id))
	return se, wrap("get session", err)
}

// sessionWhere builds a listing's WHERE clause from fixed column names; every
// value is a bound parameter.
func sessionWhere(tenantID string, f store.SessionFilter) (string, []any) {
	conds := []string{"tenant_id = ?"}
	args := []any{tenantID}
	for _, c := range []struct{ col, v string }{
		{"agent_id", f.AgentID}, {"channel", f.Channel}, {"session_key", f.Key},
	} {
		if c.v != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	switch f.Status {
	case "active":
		conds = append(conds, "ended_at IS NULL")
	case "ended":
		conds = append(conds, "ended_at IS NOT NULL")
	}
	return strings.Join(conds, " AND "), args
}

// ListSessions returns one page, most recently active first (ties newest
// id first), in the order of the index komand_sessions_list.
func (s *Store) ListSessions(ctx context.Context, tenantID string, f store.SessionFilter, p store.Page) ([]store.Session, int, error) {
	where, args := sessionWhere(tenantID, f)
	var (
		at int64
		id string
	)
	return listPage(ctx, s, listQuery{op: "list sessions", tenantID: tenantID, from: "komand_sessions", cols: sessionCols,
		where: where, args: args, order: "last_message_at DESC, id DESC",
		list: store.SessionList, after: "(last_message_at, id) < (?, ?)", key: []any{&at, &id}}, p, scanSession)
}

// countsAsMessage reports whether a turn adds to a session's MessageCount.
func countsAsMessage(role string) bool {
	return role == store.RoleUser || role == store.RoleAssistant
}

// AppendTurns appends turns to an active session in one transaction.
// The statements of AppendTurns, run on every agent turn, are prepared
// when the store opens (hotWrites).
const (
	activeSessionForUpdateSQL = `SELECT ` + sessionCols + ` FROM komand_sessions WHERE tenant_id = ? AND id = ? AND ended_at IS NULL`
	lastSeqSQL                = `SELECT coalesce(max(seq), 0) FROM komand_session_turns WHERE tenant_id = ? AND session_id = ?`
	insertTurnSQL             = `INSERT INTO komand_session_turns (` + turnCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	updateSessionCountsSQL    = `UPDATE komand_sessions SET message_count = ?, last_message_at = ?,
		tool_calls = tool_calls + ?, input_tokens = input_tokens + ?, output_tokens = output_tokens + ?, busy_ms = busy_ms + ?
		WHERE tenant_id = ? AND id = ?`
)

var hotWrites = []string{activeSessionForUpdateSQL, lastSeqSQL, insertTurnSQL, updateSessionCountsSQL}

func (s *Store) AppendTurns(ctx context.Context, tenantID, sessionID string, turns []store.Turn) (store.Session, error) {
	var se store.Session
	err := s.write(ctx, "append turns", func(tx txQuerier) error {
		var err error
		se, err = appendTurnsTx(ctx, tx, tenantID, sessionID, turns, store.SessionUsage{})
		return err
	})
	if err != nil {
		return store.Session{}, err
	}
	return se, nil
}

// AddSessionUsage adds u to an active session's counters.
func (s *Store) AddSessionUsage(ctx context.Context, tenantID, sessionID string, u store.SessionUsage) error {
	return s.write(ctx, "add session usage", func(tx txQuerier) error {
		_, err := appendTurnsTx(ctx, tx, tenantID, sessionID, nil, u)
		return err
	})
}

// appendTurnsTx appends turns to an active session inside the write
// transaction tx (AppendTurns, and CommitAudit for a unit's turns after an audit batch).
// An ended or unknown session gives sql.ErrNoRows.
func appendTurnsTx(ctx context.Context, tx txQuerier, tenantID, sessionID string, turns []store.Turn, u store.SessionUsage) (store.Session, error) {
	se, err := scanSession(tx.QueryRowContext(ctx, activeSessionForUpdateSQL, tenantID, sessionID))
	if err != nil {
		return store.Session{}, err
	}
	var last int64
	if err := tx.QueryRowContext(ctx, lastSeqSQL, tenantID, sessionID).Scan(&last); err != nil {
		return store.Session{}, err
	}
	for i := range turns {
		t := &turns[i]
		last++
		t.TenantID, t.SessionID, t.Seq = tenantID, sessionID, last
		var calls any
		if t.ToolCalls != nil {
			calls = string(t.ToolCalls)
		}
		if _, err := tx.ExecContext(ctx, insertTurnSQL, t.TenantID, t.SessionID, t.Seq, t.Role, t.Text, calls,
			t.ToolCallID, t.ToolName, boolInt(t.IsError), t.RequestID, micros(t.CreatedAt), t.Flag); err != nil {
			return store.Session{}, err
		}
		if countsAsMessage(t.Role) {
			se.MessageCount++
		}
		if t.CreatedAt.After(se.LastMessageAt) {
			se.LastMessageAt = t.CreatedAt.UTC().Truncate(time.Microsecond)
		}
	}
	_, err = tx.ExecContext(ctx, updateSessionCountsSQL, se.MessageCount, micros(se.LastMessageAt),
		u.ToolCalls, u.InputTokens, u.OutputTokens, u.BusyMillis, tenantID, sessionID)
	se.Usage = se.Usage.Add(u)
	return se, err
}

// ListTurns returns one page of a session's history, oldest first.
func (s *Store) ListTurns(ctx context.Context, tenantID, sessionID string, p store.Page) ([]store.Turn, int, error) {
	var seq int64
	return listPage(ctx, s, listQuery{op: "list turns", tenantID: tenantID, from: "komand_session_turns", cols: turnCols,
		where: "tenant_id = ? AND session_id = ?", args: []any{tenantID, sessionID}, order: "seq",
		list: store.TurnList, after: "seq > ?", key: []any{&seq}}, p, scanTurn)
}

func collectTurns(rows *sql.Rows, out []store.Turn) ([]store.Turn, error) {
	defer rows.Close()
	for rows.Next() {
		t, err := scanTurn(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RecentTurns returns the last limit turns of a session, oldest first.
func (s *Store) RecentTurns(ctx context.Context, tenantID, sessionID string, limit int) ([]store.Turn, error) {
	out := []store.Turn{}
	if limit <= 0 {
		return out, nil
	}
	rows, err := s.rq.QueryContext(ctx, `SELECT `+turnCols+` FROM (
		SELECT `+turnCols+` FROM komand_session_turns WHERE tenant_id = ? AND session_id = ?
		ORDER BY seq DESC LIMIT ?) ORDER BY seq`, tenantID, sessionID, limit)
	if err != nil {
		return nil, wrap("recent turns", err)
	}
	out, err = collectTurns(rows, out)
	return out, wrap("recent turns", err)
}

// LoadTurn reads the session, its agent and its recent history. SQLite has
// no round trips to save, so these are the three reads the caller would
// make; the caller holds the session's lock, so nothing it reads changes
// in between.
func (s *Store) LoadTurn(ctx context.Context, tenantID string, q store.TurnQuery) (store.TurnState, error) {
	var (
		st  store.TurnState
		err error
	)
	if q.SessionID != "" {
		st.Session, err = s.GetSession(ctx, tenantID, q.SessionID)
	} else {
		st.Session, err = s.ActiveSession(ctx, tenantID, q.Key)
	}
	if err != nil {
		return store.TurnState{}, err
	}
	switch a, err := s.GetAgent(ctx, tenantID, st.Session.AgentID); {
	case err == nil:
		st.Agent = &a
	case !errors.Is(err, store.ErrNotFound):
		return store.TurnState{}, err
	}
	if st.History, err = s.RecentTurns(ctx, tenantID, st.Session.ID, q.History); err != nil {
		return store.TurnState{}, err
	}
	return st, nil
}

// EndSession marks an active session ended.
func (s *Store) EndSession(ctx context.Context, tenantID, id string, now time.Time, reason string) (store.Session, error) {
	var se store.Session
	err := s.write(ctx, "end session", func(tx txQuerier) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE komand_sessions SET ended_at = ?, end_reason = ?
			 WHERE tenant_id = ? AND id = ? AND ended_at IS NULL`, micros(now), reason, tenantID, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		se, err = scanSession(tx.QueryRowContext(ctx,
			`SELECT `+sessionCols+` FROM komand_sessions WHERE tenant_id = ? AND id = ?`, tenantID, id))
		return err
	})
	if err != nil {
		return store.Session{}, err
	}
	return se, nil
}

// IdleSessions returns active sessions whose last message is before cutoff.
func (s *Store) IdleSessions(ctx context.Context, tenantID string, cutoff time.Time, limit int) ([]store.Session, error) {
	out := []store.Session{}
	if limit <= 0 {
		return out, nil
	}
	rows, err := s.rq.QueryContext(ctx, `SELECT `+sessionCols+` FROM komand_sessions
		WHERE tenant_id = ? AND ended_at IS NULL AND last_message_at < ?
		ORDER BY last_message_at LIMIT ?`, tenantID, micros(cutoff), limit)
	if err != nil {
		return nil, wrap("idle sessions", err)
	}
	defer rows.Close()
	for rows.Next() {
		se, err := scanSession(rows)
		if err != nil {
			return nil, wrap("idle sessions", err)
		}
		out = append(out, se)
	}
	return out, wrap("idle sessions", rows.Err())
}

// LockSession is a no-op on SQLite: one process owns the database file, and
// the session service's in-process lock serialises its messages.
func (s *Store) LockSession(ctx context.Context, tenantID, key string) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return func() {}, nil
}

// PutMemory creates or replaces one memory key of an agent.
func (s *Store) PutMemory(ctx context.Context, e store.MemoryEntry, maxEntries int) (bool, error) {
	created := false
	err := s.write(ctx, "put memory", func(tx txQuerier) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM komand_agents WHERE tenant_id = ? AND agent_id = ?`,
			e.TenantID, e.AgentID).Scan(&one); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE komand_agent_memory SET value = ?, provenance = ?, updated_at = ?
			WHERE tenant_id = ? AND agent_id = ? AND mem_key = ?`,
			e.Value, store.MemoryProvenance(e.Provenance), micros(e.UpdatedAt), e.TenantID, e.AgentID, e.Key)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		var count int
		if err := tx.QueryRowContext(ctx,
			`SELECT count(*) FROM komand_agent_memory WHERE tenant_id = ? AND agent_id = ?`,
			e.TenantID, e.AgentID).Scan(&count); err != nil {
			return err
		}
		if count >= maxEntries {
			return store.ErrLimit
		}
		created = true
		_, err = tx.ExecContext(ctx, `INSERT INTO komand_agent_memory
			(tenant_id, agent_id, mem_key, value, provenance, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			e.TenantID, e.AgentID, e.Key, e.Value, store.MemoryProvenance(e.Provenance), micros(e.CreatedAt), micros(e.UpdatedAt))
		return err
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

const memoryCols = "tenant_id, agent_id, mem_key, value, provenance, created_at, updated_at"

func scanMemory(sc scanner) (store.MemoryEntry, error) {
	var (
		e                store.MemoryEntry
		created, updated int64
	)
	if err := sc.Scan(&e.TenantID, &e.AgentID, &e.Key, &e.Value, &e.Provenance, &created, &updated); err != nil {
		return store.MemoryEntry{}, err
	}
	e.CreatedAt, e.UpdatedAt = fromMicros(created), fromMicros(updated)
	return e, nil
}

// GetMemory returns one memory key of an agent.
func (s *Store) GetMemory(ctx context.Context, tenantID, agentID, key string) (store.MemoryEntry, error) {
	e, err := scanMemory(s.rq.QueryRowContext(ctx, `SELECT `+memoryCols+` FROM komand_agent_memory
		WHERE tenant_id = ? AND agent_id = ? AND mem_key = ?`, tenantID, agentID, key))
	return e, wrap("get memory", err)
}

// ListMemory returns one page of an agent's memory ordered by key.
func (s *Store) ListMemory(ctx context.Context, tenantID, agentID string, p store.Page) ([]store.MemoryEntry, int, error) {
	var key string
	return listPage(ctx, s, listQuery{op: "list memory", tenantID: tenantID, from: "komand_agent_memory", cols: memoryCols,
		where: "tenant_id = ? AND agent_id = ?", args: []any{tenantID, agentID}, order: "mem_key",
		list: store.MemoryList, after: "mem_key > ?", key: []any{&key}}, p, scanMemory)
}

// DeleteMemory removes one memory key; an unknown key gives ErrNotFound.
func (s *Store) DeleteMemory(ctx context.Context, tenantID, agentID, key string) error {
	return s.write(ctx, "delete memory", func(tx txQuerier) error {
		res, err := tx.ExecContext(ctx,
			`DELETE FROM komand_agent_memory WHERE tenant_id = ? AND agent_id = ? AND mem_key = ?`,
			tenantID, agentID, key)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
}
