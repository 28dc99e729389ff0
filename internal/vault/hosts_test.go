package vault

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/store"
)

// TestGrantBoundToHosts: a grant with hosts hands the value out only to be
// attached by reference to a request to one of those hosts; the skill may
// not read it, nor have it sent anywhere else. Every refusal is recorded.
func TestGrantBoundToHosts(t *testing.T) {
	ctx := context.Background()
	gw := newGrantWorld(t, nil)
	svc, st, tn, admin := gw.svc, gw.st, gw.tn, gw.admin
	c, err := svc.Create(ctx, admin, "stripe", "api_key", "sk_live_bound_value")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"*.com"}, {"API.stripe.com/x"}, {"stripe com"}, {""}, {"a..b"},
		strings.Split(strings.Repeat("h.example,", 17), ",")[:17]} {
		if _, err := svc.Grant(ctx, admin, c.ID, "sales", "billing", bad); err == nil {
			t.Errorf("hosts %q accepted", bad)
		}
	}
	g, err := svc.Grant(ctx, admin, c.ID, "sales", "billing", []string{"API.Stripe.com", "*.stripe-files.net", "api.stripe.com"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(g.Hosts, ",") != "*.stripe-files.net,api.stripe.com" {
		t.Fatalf("hosts not normalised: %v", g.Hosts)
	}
	if gs, _ := svc.Grants(ctx, admin, c.ID); len(gs) != 1 || len(gs[0].Hosts) != 2 {
		t.Fatalf("grants: %+v", gs)
	}
	use := func(host string) Use {
		return Use{TenantID: tn, UserID: "u", AgentID: "sales", SkillID: "billing", Host: host}
	}
	for _, host := range []string{"api.stripe.com", "eu.stripe-files.net"} {
		if v, err := svc.Resolve(ctx, use(host), "stripe"); err != nil || v != "sk_live_bound_value" {
			t.Fatalf("by reference to %s: %q %v", host, v, err)
		}
	}
	denied := func() int {
		_, n, _ := st.ListAudit(ctx, tn, store.AuditFilter{Action: string(audit.PermissionDenied)}, store.Page{Page: 1, PageSize: 1})
		return n
	}
	before := denied()
	for _, host := range []string{"", "evil.example", "stripe.com", "api.stripe.com.evil.example", "stripe-files.net"} {
		if _, err := svc.Resolve(ctx, use(host), "stripe"); !errors.Is(err, ErrNotGranted) {
			t.Errorf("host %q: %v, want ErrNotGranted", host, err)
		}
	}
	if n := denied() - before; n != 5 {
		t.Fatalf("PermissionDenied entries for the refused uses: %d, want 5", n)
	}
	// The reason says which rule refused (the value is never in it).
	ds, _, _ := st.ListAudit(ctx, tn, store.AuditFilter{Action: string(audit.PermissionDenied)}, store.Page{Page: 1, PageSize: 10})
	var reasons string
	for _, e := range ds {
		reasons += string(e.Details)
	}
	if !strings.Contains(reasons, "by reference only") || !strings.Contains(reasons, "not granted for host evil.example") ||
		strings.Contains(reasons, "sk_live") {
		t.Fatalf("refusal reasons: %s", reasons)
	}
	es, _, _ := st.ListAudit(ctx, tn, store.AuditFilter{Action: string(audit.CredentialRead)}, store.Page{Page: 1, PageSize: 1})
	if len(es) != 1 || !strings.Contains(string(es[0].Details), `"host":"eu.stripe-files.net"`) {
		t.Fatalf("CredentialRead without the host: %+v", es)
	}
}
