package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

// benchRows are the tenant sizes of the listing benchmarks: issue 15 saw
// GET /api/agents/ go from 1–2 ms at 1k agents to 14–16 ms at 84k.
var benchRows = []int{1_000, 100_000}

// seedLists makes a store with one tenant holding rows agents, sessions
// and audit entries (inserted in one statement each, not through the
// store's API, so that seeding 100k rows takes a second), next to a second
// tenant of the same size.
func seedLists(b *testing.B, rows int) (*Store, string) {
	b.Helper()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "k.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	tenants := []string{"11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"}
	for i, tn := range tenants {
		if err := s.CreateTenant(ctx, store.Tenant{ID: tn, Slug: fmt.Sprintf("t%d", i), Name: "T", CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
		for _, q := range []string{
			`INSERT INTO komand_agents (` + agentCols + `) SELECT ?1, printf('agent-%07d', x), 'Agent', NULL, '',
			   'anthropic', 'claude', 1000, '[]', '[]', '', 0, 0, '{}' FROM c`,
			`INSERT INTO komand_sessions (` + sessionCols + `) SELECT ?1 || printf('-%07d', x), ?1, printf('WebChat:default:s%d', x),
			   'WebChat', 'default', printf('s%d', x), 'agent-0000001', '{}', 2, x * 1000000, x * 1000000 + (x % 7), NULL, '', 0, 0, 0, 0 FROM c`,
			`INSERT INTO komand_audit_log (` + auditCols + `) SELECT ?1 || printf('-%07d', x), ?1, x, 'agent.created', 'u', '', '', '',
			   '{}', 'r', x, 'p', 'h' FROM c`,
		} {
			if _, err := s.writer.ExecContext(ctx, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?2) `+q,
				tn, rows); err != nil {
				b.Fatalf("seed: %v", err)
			}
		}
	}
	if _, err := s.writer.ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	return s, tenants[0]
}

// BenchmarkList lists agents, sessions and audit entries of a tenant of 1k
// and of 100k rows: the first page, a page 500 rows deep by number, and a
// page in the middle of the tenant by cursor (with a total that counts to
// store.CountLimit+1). Each should cost the same at both sizes.
//
//	go test -run '^$' -bench 'BenchmarkList$' -benchtime 2000x ./internal/store/sqlite/
func BenchmarkList(b *testing.B) {
	for _, rows := range benchRows {
		s, tn := seedLists(b, rows)
		ctx := context.Background()
		mid := int64(rows / 2)
		lists := []struct {
			name   string
			cursor string
			run    func(store.Page) (int, error)
		}{
			{"agents", store.EncodeCursor(tn, store.AgentList, fmt.Sprintf("agent-%07d", mid)), func(p store.Page) (int, error) {
				l, _, err := s.ListAgents(ctx, tn, p)
				return len(l), err
			}},
			{"sessions", store.EncodeCursor(tn, store.SessionList, mid*1_000_000+mid%7, fmt.Sprintf("%s-%07d", tn, mid)), func(p store.Page) (int, error) {
				l, _, err := s.ListSessions(ctx, tn, store.SessionFilter{}, p)
				return len(l), err
			}},
			{"audit", store.EncodeCursor(tn, store.AuditList, mid), func(p store.Page) (int, error) {
				l, _, err := s.ListAudit(ctx, tn, store.AuditFilter{}, p)
				return len(l), err
			}},
		}
		for _, l := range lists {
			for _, c := range []struct {
				name string
				page store.Page
			}{
				{"page1", store.Page{Page: 1, PageSize: 20}},
				{"offset500", store.Page{Page: 26, PageSize: 20}},
				{"cursorMiddle", store.Page{Page: 1, PageSize: 20, Cursor: l.cursor}},
			} {
				b.Run(fmt.Sprintf("%s/rows=%dk/%s", l.name, rows/1000, c.name), func(b *testing.B) {
					cpu := cpuTime()
					for b.Loop() {
						n, err := l.run(c.page)
						if err != nil || n != 20 {
							b.Fatalf("%d rows, %v", n, err)
						}
					}
					if d := cpuTime() - cpu; d > 0 {
						b.ReportMetric(float64(d.Microseconds())/float64(b.N), "cpu-µs/op")
					}
				})
			}
		}
	}
}
