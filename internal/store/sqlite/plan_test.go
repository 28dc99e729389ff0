package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/storetest"
)

// TestListPlans explains every listing's statements, by page number and
// by cursor, with and without filters, and requires an index search for
// each table: no full scan of a table and no sort (USE TEMP B-TREE), so a
// page costs the same whatever the size of the tenant. SQLite plans without
// statistics here, so the plan does not depend on the rows present and the
// test cannot be defeated by timing noise.
func TestListPlans(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tn := "11111111-1111-1111-1111-111111111111"
	if err := s.CreateTenant(ctx, store.Tenant{ID: tn, Slug: "plans", Name: "P", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, c := range storetest.ListCalls(s, tn) {
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
				plan := explain(t, s, q, args[i])
				// A cursor page must start at the cursor: a range on the key
				// in the index search, not a walk from the first row.
				if i == 1 && p.Cursor != "" && !strings.ContainsAny(plan[0], "<>") {
					t.Errorf("%s: the cursor is not an index range: %s\nsql: %s", c.Name, strings.Join(plan, " | "), q)
				}
				for _, line := range plan {
					if strings.Contains(line, "TEMP B-TREE") ||
						(strings.HasPrefix(line, "SCAN ") && !strings.HasPrefix(line, "SCAN (subquery")) {
						t.Errorf("%s (cursor %v): %q\nplan: %s\nsql: %s", c.Name, p.Cursor != "", line, strings.Join(plan, " | "), q)
					}
				}
			}
		}
	}
}

func explain(t *testing.T, s *Store, q string, args []any) []string {
	t.Helper()
	rows, err := s.reader.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		out = append(out, detail)
	}
	return out
}
