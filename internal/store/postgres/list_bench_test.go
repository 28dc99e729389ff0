package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/komand-ai/komand/internal/store"
)

// seedLists makes a store with one tenant holding rows agents, sessions
// and audit entries (one INSERT … SELECT generate_series each, as the
// owner under the tenant's row-level security, not through the store's
// API), next to a second tenant of the same size, and analyzes the tables.
func seedLists(b *testing.B, rows int) (*Store, string) {
	b.Helper()
	s, _ := openStore(b)
	ctx := context.Background()
	var first string
	for i := range 2 {
		tn := store.Tenant{ID: uuid.NewString(), Slug: randomName("t"), Name: "bench", CreatedAt: time.Now()}
		must(b, "CreateTenant", s.CreateTenant(ctx, tn))
		if i == 0 {
			first = tn.ID
		}
		err := pgx.BeginTxFunc(ctx, s.owner, pgx.TxOptions{}, func(tx pgx.Tx) error {
			for _, q := range []string{
				setTenantSQL,
				`INSERT INTO komand_agents (` + agentCols + `) SELECT $1, 'agent-' || lpad(g::text, 7, '0'), 'Agent', NULL, '',
				   'anthropic', 'claude', 1000, '{}', '{}', '', now(), now(), '{}' FROM generate_series(1, $2::int) g`,
				`INSERT INTO komand_sessions (` + sessionCols + `) SELECT $1 || '-' || lpad(g::text, 7, '0'), $1,
				   'WebChat:default:s' || g, 'WebChat', 'default', 's' || g, 'agent-0000001', '{}', 2,
				   to_timestamp(g), to_timestamp(g) + (g % 7) * interval '1 microsecond', NULL, '', 0, 0, 0, 0 FROM generate_series(1, $2::int) g`,
				`INSERT INTO komand_audit_log (` + auditCols + `) SELECT $1 || '-' || lpad(g::text, 7, '0'), $1, g, 'agent.created',
				   'u', '', '', '', '{}', 'r', to_timestamp(g), 'p', 'h' FROM generate_series(1, $2::int) g`,
			} {
				args := []any{tn.ID, rows}
				if q == setTenantSQL {
					args = args[:1]
				}
				if _, err := tx.Exec(ctx, q, args...); err != nil {
					return fmt.Errorf("%.40s: %w", q, err)
				}
			}
			return nil
		})
		must(b, "seed", err)
	}
	if _, err := s.owner.Exec(ctx, `ANALYZE komand_agents, komand_sessions, komand_audit_log`); err != nil {
		b.Fatal(err)
	}
	return s, first
}

// BenchmarkList lists agents, sessions and audit entries of a tenant of 1k
// and of 100k rows: the first page, a page 500 rows deep by number, and a
// page in the middle of the tenant by cursor (with a total that counts to
// store.CountLimit+1). Each should cost the same at both sizes. At 100k
// rows it first explains each listing with the planner's own choices
// (nothing disabled, unlike TestListPlans) and fails on a Seq Scan or a
// Sort.
//
//	KOMAND_TEST_POSTGRES_DSN=... go test -run '^$' -bench 'BenchmarkList$' ./internal/store/postgres/
func BenchmarkList(b *testing.B) {
	for _, rows := range []int{1_000, 100_000} {
		s, tn := seedLists(b, rows)
		ctx := context.Background()
		mid := int64(rows / 2)
		midAt := time.Unix(mid, 0).Add(time.Duration(mid%7) * time.Microsecond).UnixMicro()
		lists := []struct {
			name   string
			cursor string
			run    func(store.Page) (int, error)
		}{
			{"agents", store.EncodeCursor(tn, store.AgentList, fmt.Sprintf("agent-%07d", mid)), func(p store.Page) (int, error) {
				l, _, err := s.ListAgents(ctx, tn, p)
				return len(l), err
			}},
			{"sessions", store.EncodeCursor(tn, store.SessionList, midAt, fmt.Sprintf("%s-%07d", tn, mid)), func(p store.Page) (int, error) {
				l, _, err := s.ListSessions(ctx, tn, store.SessionFilter{}, p)
				return len(l), err
			}},
			{"audit", store.EncodeCursor(tn, store.AuditList, mid), func(p store.Page) (int, error) {
				l, _, err := s.ListAudit(ctx, tn, store.AuditFilter{}, p)
				return len(l), err
			}},
		}
		pages := func(cursor string) []struct {
			name string
			page store.Page
		} {
			return []struct {
				name string
				page store.Page
			}{
				{"page1", store.Page{Page: 1, PageSize: 20}},
				{"offset500", store.Page{Page: 26, PageSize: 20}},
				{"cursorMiddle", store.Page{Page: 1, PageSize: 20, Cursor: cursor}},
			}
		}
		if rows == 100_000 {
			for _, l := range lists {
				for _, c := range pages(l.cursor) {
					explainPlanner(b, s, tn, l.name+"/"+c.name, func() error { _, err := l.run(c.page); return err })
				}
			}
		}
		for _, l := range lists {
			for _, c := range pages(l.cursor) {
				b.Run(fmt.Sprintf("%s/rows=%dk/%s", l.name, rows/1000, c.name), func(b *testing.B) {
					blocks := pagesRead(b, s, tn, func() error { _, err := l.run(c.page); return err })
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
					b.ReportMetric(blocks, "buffers/op")
				})
			}
		}
	}
}

// explainPlanner explains the statements run makes with the planner's own
// choices and fails on a Seq Scan or a Sort.
func explainPlanner(b *testing.B, s *Store, tn, name string, run func() error) {
	b.Helper()
	var stmts []string
	var args [][]any
	s.onList = func(q string, a []any) { stmts, args = append(stmts, q), append(args, a) }
	err := run()
	s.onList = nil
	must(b, name, err)
	for i, q := range stmts {
		var out []byte
		err := s.inTenant(context.Background(), tn, func(tx pgx.Tx) error {
			return tx.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+q, args[i]...).Scan(&out)
		})
		must(b, "explain "+name, err)
		if plan := string(out); strings.Contains(plan, `"Seq Scan"`) || strings.Contains(plan, `"Sort"`) {
			b.Fatalf("%s at 100k rows: the planner chose a Seq Scan or a Sort:\n%s\nsql: %s", name, plan, q)
		}
	}
}

// pagesRead runs EXPLAIN (ANALYZE, BUFFERS) on the statements run makes
// (the bounded count and the page) and returns the shared buffers they
// touched: the work a listing does, independent of the machine's load.
func pagesRead(b *testing.B, s *Store, tn string, run func() error) float64 {
	b.Helper()
	var stmts []string
	var args [][]any
	s.onList = func(q string, a []any) { stmts, args = append(stmts, q), append(args, a) }
	err := run()
	s.onList = nil
	must(b, "run", err)
	total := 0.0
	for i, q := range stmts {
		var out []byte
		err := s.inTenant(context.Background(), tn, func(tx pgx.Tx) error {
			return tx.QueryRow(context.Background(), "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+q, args[i]...).Scan(&out)
		})
		must(b, "explain analyze", err)
		var plans []struct {
			Plan struct {
				Hit  float64 `json:"Shared Hit Blocks"`
				Read float64 `json:"Shared Read Blocks"`
			} `json:"Plan"`
		}
		if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
			b.Fatalf("explain output %s: %v", out, err)
		}
		total += plans[0].Plan.Hit + plans[0].Plan.Read
	}
	return total
}
