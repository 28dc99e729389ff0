package vault

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// noNetwork fails the test if the source sends anything.
type noNetwork struct{ t *testing.T }

func (n noNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	n.t.Errorf("unexpected request: %s %s", r.Method, r.URL)
	return nil, errors.New("no network in this test")
}

func testAzure(t *testing.T) *AzureKeyVault {
	t.Helper()
	a, err := NewAzureKeyVault(AzureOptions{VaultURL: "https://komand.vault.azure.net", TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
		ClientID: "8c1a7f04-6d2e-4b8a-9f3c-2a5e1d0b7c61", ClientSecret: "client-secret-value",
		HTTPClient: &http.Client{Transport: noNetwork{t}}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestAzureReferences: a reference is a Key Vault secret name, an optional
// 32-hex-digit version and an optional JSON field; anything that could
// change the request's path or query is refused before it is stored, and
// again before it is sent.
func TestAzureReferences(t *testing.T) {
	a := testAzure(t)
	version := "0123456789abcdef0123456789ABCDEF"
	for _, ok := range []Reference{
		{Path: "crm-stripe"},
		{Path: "a"},
		{Path: strings.Repeat("a", 127)},
		{Path: "Crm-Stripe-2", Version: version},
		{Path: "crm-stripe", Key: "api_key"},
		{Path: "crm-stripe", Version: version, Key: "api.key-2"},
	} {
		if err := a.CheckReference(ok); err != nil {
			t.Errorf("%+v refused: %v", ok, err)
		}
	}
	for _, bad := range []Reference{
		{},
		{Path: strings.Repeat("a", 128)},
		{Path: strings.Repeat("a", 100000)},
		{Path: "../keys/signing"},
		{Path: ".."},
		{Path: "crm/stripe"},
		{Path: "crm-stripe/"},
		{Path: "/crm-stripe"},
		{Path: `crm\stripe`},
		{Path: "crm%2Fstripe"},
		{Path: "crm-stripe?api-version=1.0"},
		{Path: "crm-stripe#x"},
		{Path: "crm-stripe&x=1"},
		{Path: "crm_stripe"},
		{Path: "crm.stripe"},
		{Path: "crm stripe"},
		{Path: "crm-stripe\n"},
		{Path: "crm-stripe\x00"},
		{Path: "ｃｒｍ"},
		{Path: "crm-stripe", Mount: "secret"},
		{Path: "crm-stripe", Version: "latest"},
		{Path: "crm-stripe", Version: version[:31]},
		{Path: "crm-stripe", Version: version + "0"},
		{Path: "crm-stripe", Version: strings.Repeat("g", 32)},
		{Path: "crm-stripe", Version: "../" + version[:29]},
		{Path: "crm-stripe", Version: version[:31] + "/"},
		{Path: "crm-stripe", Version: version[:31] + "?"},
		{Path: "crm-stripe", Key: "a/b"},
		{Path: "crm-stripe", Key: strings.Repeat("k", 257)},
		{Path: "crm-stripe", Key: "k\"}"},
	} {
		if err := a.CheckReference(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
		if _, err := a.Fetch(t.Context(), bad); err == nil {
			t.Errorf("Fetch(%q) succeeded", bad)
		}
	}
}

// TestVersionOnlyForAzure: the other sources refuse a reference with a
// version rather than ignore it.
func TestVersionOnlyForAzure(t *testing.T) {
	ref := Reference{Mount: "secret", Path: "crm/stripe", Key: "api_key", Version: "0123456789abcdef0123456789abcdef"}
	if err := ref.check(); err == nil {
		t.Error("hashicorp_vault accepted a version")
	}
	aws, err := NewAWSSecretsManager(AWSOptions{Region: "eu-central-1", AccessKeyID: "AKIA", SecretAccessKey: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := aws.CheckReference(Reference{Path: "crm/stripe", Version: ref.Version}); err == nil {
		t.Error("aws_secrets_manager accepted a version")
	}
}

// TestNewAzureKeyVaultRefuses: no https, no source; an incomplete service
// principal is refused rather than replaced by ambient credentials.
func TestNewAzureKeyVaultRefuses(t *testing.T) {
	good := AzureOptions{VaultURL: "https://komand.vault.azure.net", TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
		ClientID: "8c1a7f04-6d2e-4b8a-9f3c-2a5e1d0b7c61", ClientSecret: "client-secret-value"}
	if _, err := NewAzureKeyVault(good); err != nil {
		t.Fatalf("good options: %v", err)
	}
	for name, mod := range map[string]func(o *AzureOptions){
		"http vault":         func(o *AzureOptions) { o.VaultURL = "http://komand.vault.azure.net" },
		"no vault":           func(o *AzureOptions) { o.VaultURL = "" },
		"vault with path":    func(o *AzureOptions) { o.VaultURL = "https://komand.vault.azure.net/secrets/x" },
		"vault with query":   func(o *AzureOptions) { o.VaultURL = "https://komand.vault.azure.net?x=1" },
		"vault with user":    func(o *AzureOptions) { o.VaultURL = "https://u:p@komand.vault.azure.net" },
		"http authority":     func(o *AzureOptions) { o.AuthorityHost = "http://login.microsoftonline.com/" },
		"no tenant":          func(o *AzureOptions) { o.TenantID = "" },
		"tenant with a path": func(o *AzureOptions) { o.TenantID = "../common" },
		"no client":          func(o *AzureOptions) { o.ClientID = "" },
		"no secret":          func(o *AzureOptions) { o.ClientSecret = "" },
	} {
		o := good
		mod(&o)
		if _, err := NewAzureKeyVault(o); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "client-secret-value") {
			t.Errorf("%s: the error names the secret", name)
		}
	}
}
