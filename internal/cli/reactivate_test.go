package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

// TestUsersReactivate deactivates a user in the database and reactivates it
// with the CLI, which records UserReactivated with actor "cli".
func TestUsersReactivate(t *testing.T) {
	dir := t.TempDir()
	dd := "--data-dir=" + dir
	if code, _, errs := runCLI(t, "", "tenants", "create", "acme", dd); code != 0 {
		t.Fatalf("tenants create: %d %q", code, errs)
	}
	for _, u := range []struct{ email, role string }{{"boss@example.com", "owner"}, {"op@example.com", "operator"}} {
		if code, _, errs := runCLI(t, "a long enough password\n", "users", "create", "--tenant", "acme", "--email", u.email, "--role", u.role, "--password-stdin", dd); code != 0 {
			t.Fatalf("users create %s: %d %q", u.email, code, errs)
		}
	}
	open := func() *sqlite.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(dir, "komand.db"))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	ctx := context.Background()
	tid, err := st.TenantIDByEmail(ctx, "op@example.com")
	if err != nil {
		t.Fatal(err)
	}
	op, err := st.GetUserByEmail(ctx, tid, "op@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeactivateUser(ctx, tid, op.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()

	if code, _, _ := runCLI(t, "", "users", "reactivate", "--tenant", "acme", dd); code != exitUsage {
		t.Fatalf("reactivate without --email: exit %d", code)
	}
	if code, _, errs := runCLI(t, "", "users", "reactivate", "--tenant", "acme", "--email", "nobody@example.com", dd); code != exitFail || !strings.Contains(errs, "user not found") {
		t.Fatalf("reactivate unknown: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "", "users", "reactivate", "--tenant", "nope", "--email", "op@example.com", dd); code != exitFail {
		t.Fatalf("reactivate in unknown tenant: %d %q", code, errs)
	}
	if code, out, errs := runCLI(t, "", "users", "reactivate", "--tenant", "acme", "--email", " OP@example.com ", dd); code != 0 || !strings.Contains(out, "op@example.com") || !strings.Contains(out, "is active") {
		t.Fatalf("users reactivate: %d %q %q", code, out, errs)
	}

	st = open()
	defer st.Close()
	if u, err := st.GetUser(ctx, tid, op.ID); err != nil || !u.Active {
		t.Fatalf("user after reactivate: %+v %v", u, err)
	}
	evs, n, err := st.ListAudit(ctx, tid, store.AuditFilter{Action: "UserReactivated"}, store.Page{Page: 1, PageSize: 10})
	if err != nil || n != 1 || evs[0].ActorID != "cli" {
		t.Fatalf("UserReactivated entries: %d %+v %v", n, evs, err)
	}
}
