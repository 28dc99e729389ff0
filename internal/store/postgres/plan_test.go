package postgres

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/storetest"
)

// TestListPlans explains every listing's statements, by page number and
// by cursor, with and without filters, as the application role under the
// tenant's row-level security, and requires a plan with no Seq Scan and no
// Sort: each list is an index range scan in the list's order, so a page
// costs the same whatever the size of the tenant. Sequential scans, sorts
// and bitmap scans are disabled for the explain so that the answer does not
// depend on the rows present (the planner prefers a sequential scan of a
// tiny table): a disabled node still appears when no index can serve the
// query, which is what this test catches. A cursor page must also bound the
// index scan by the cursor's key (Index Cond with < or >).
// BenchmarkListAgents shows the planner choosing the same plans on its own
// at 100,000 rows.
func TestListPlans(t *testing.T) {
	s, _ := openStore(t)
	tn, _ := seedTenant(t, s, "plans")
	ctx := context.Background()
	for _, c := range storetest.ListCalls(s, tn.ID) {
		for _, p := range []store.Page{{Page: 3, PageSize: 20}, {Page: 1, PageSize: 20, Cursor: c.Cursor}} {
			var stmts []string
			var args [][]any
			s.onList = func(q string, a []any) { stmts, args = append(stmts, q), append(args, a) }
			if err := c.Run(ctx, p); err != nil {
				t.Fatalf("%s %+v: %v", c.Name, p, err)
			}
			s.onList = nil
			if len(stmts) != 2 {
				t.Fatalf("%s: saw %d statements, want the count and the page", c.Name, len(stmts))
			}
			for i, q := range stmts {
				plan := explainJSON(t, s, tn.ID, q, args[i])
				var nodes []map[string]any
				walkPlan(plan, &nodes)
				bounded := false
				for _, n := range nodes {
					switch typ, _ := n["Node Type"].(string); typ {
					case "Seq Scan", "Sort", "Incremental Sort", "Bitmap Heap Scan":
						t.Errorf("%s (cursor %v): %s on %v\nsql: %s", c.Name, p.Cursor != "", typ, n["Relation Name"], q)
					}
					if cond, _ := n["Index Cond"].(string); strings.ContainsAny(cond, "<>") {
						bounded = true
					}
				}
				if i == 1 && p.Cursor != "" && !bounded {
					t.Errorf("%s: the cursor does not bound the index scan\nsql: %s", c.Name, q)
				}
			}
		}
	}
}

func explainJSON(t *testing.T, s *Store, tenantID, q string, args []any) map[string]any {
	t.Helper()
	var out []byte
	err := s.inTenant(context.Background(), tenantID, func(tx pgx.Tx) error {
		for _, set := range []string{"enable_seqscan", "enable_sort", "enable_bitmapscan"} {
			if _, err := tx.Exec(context.Background(), "SET LOCAL "+set+" = off"); err != nil {
				return err
			}
		}
		return tx.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+q, args...).Scan(&out)
	})
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	var plans []struct {
		Plan map[string]any `json:"Plan"`
	}
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("explain output %s: %v", out, err)
	}
	return plans[0].Plan
}

// walkPlan appends a plan node and all of its descendants (subplans
// included) to out.
func walkPlan(n map[string]any, out *[]map[string]any) {
	*out = append(*out, n)
	kids, _ := n["Plans"].([]any)
	for _, k := range kids {
		if m, ok := k.(map[string]any); ok {
			walkPlan(m, out)
		}
	}
}
