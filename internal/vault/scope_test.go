package vault

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// anySecret is an external source that accepts every reference and returns
// a fixed value: what is under test here is which references a tenant may
// store and resolve, not a manager's protocol (each has its own test).
type anySecret struct{ fetched int }

func (a *anySecret) Fetch(context.Context, Reference) (string, error) {
	a.fetched++
	return "value", nil
}
func (a *anySecret) CheckReference(Reference) error { return nil }

// TestTenantPrefixConfinesReferences: with a tenant prefix, a tenant may
// reference only the secrets under its own prefix, in every source, and a
// stored reference outside it (the prefix set later) does not resolve.
func TestTenantPrefixConfinesReferences(t *testing.T) {
	ctx := context.Background()
	gw := newGrantWorld(t, nil)
	svc, tn, admin, other := gw.svc, gw.tn, gw.admin, uuid.NewString()
	src := &anySecret{}
	svc.SetExternal(SourceHashiCorpVault, src, "secret/tenants/{tenant}/")
	svc.SetExternal(SourceAWSSecretsManager, src, "komand/{tenant}/")
	svc.SetExternal(SourceAzureKeyVault, src, "komand-{tenant}-")
	arn := "arn:aws:secretsmanager:eu-central-1:123456789012:secret:"
	n := 0
	create := func(source string, ref Reference) error {
		n++
		_, err := svc.CreateReference(ctx, admin, "ref-"+strings.Repeat("x", n), "api_key", source, ref)
		return err
	}
	for _, c := range []struct {
		source string
		ref    Reference
		ok     bool
	}{
		{SourceHashiCorpVault, Reference{Mount: "secret", Path: "tenants/" + tn + "/stripe", Key: "k"}, true},
		{SourceHashiCorpVault, Reference{Mount: "secret", Path: "tenants/" + other + "/stripe", Key: "k"}, false},
		{SourceHashiCorpVault, Reference{Mount: "kv", Path: "tenants/" + tn + "/stripe", Key: "k"}, false},
		{SourceHashiCorpVault, Reference{Mount: "secret", Path: "tenants/" + tn, Key: "k"}, false},
		{SourceAWSSecretsManager, Reference{Path: "komand/" + tn + "/stripe"}, true},
		{SourceAWSSecretsManager, Reference{Path: arn + "komand/" + tn + "/stripe-AbCdEf"}, true},
		{SourceAWSSecretsManager, Reference{Path: arn + "komand/" + other + "/stripe-AbCdEf"}, false},
		{SourceAWSSecretsManager, Reference{Path: "komand/" + other + "/stripe"}, false},
		{SourceAWSSecretsManager, Reference{Path: "prod/stripe"}, false},
		{SourceAzureKeyVault, Reference{Path: "komand-" + tn + "-stripe"}, true},
		{SourceAzureKeyVault, Reference{Path: "komand-" + other + "-stripe"}, false},
	} {
		if err := create(c.source, c.ref); (err == nil) != c.ok {
			t.Errorf("%s %+v: %v, want ok=%v", c.source, c.ref, err, c.ok)
		}
	}
	// A reference stored before the prefix was set does not resolve after.
	svc.SetExternal(SourceAzureKeyVault, src, "")
	cr, err := svc.CreateReference(ctx, admin, "before", "api_key", SourceAzureKeyVault, Reference{Path: "shared-stripe"})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := svc.PlatformSecret(ctx, tn, cr.ID); err != nil || v != "value" {
		t.Fatalf("unscoped: %q %v", v, err)
	}
	svc.SetExternal(SourceAzureKeyVault, src, "komand-{tenant}-")
	fetched := src.fetched
	if _, err := svc.PlatformSecret(ctx, tn, cr.ID); err == nil || src.fetched != fetched {
		t.Fatalf("a reference outside the prefix resolved (%v) or reached the manager (%d fetches)", err, src.fetched-fetched)
	}
}
