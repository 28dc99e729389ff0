package e2e_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/vault"
)

// fakeAzure speaks the parts of two Azure services Komand's SDK clients
// use, over TLS, under their real host names:
//
//   - Microsoft Entra ID (login.microsoftonline.com, or another authority
//     host): instance discovery, the tenant's OpenID configuration and the
//     v2.0 token endpoint's client-credentials grant;
//   - Key Vault's data plane (<vault>.vault.azure.net): GET
//     /secrets/{name}/{version}?api-version=…, answering a request without
//     a valid bearer token with 401 and Key Vault's WWW-Authenticate
//     challenge (the SDK sends its first request unauthenticated to learn
//     the tenant and resource from it).
//
// Every connection, whatever host it names, reaches this one server (see
// client); it answers by the Host the request names.
type fakeAzure struct {
	srv                                *httptest.Server
	loginHost, vaultHost               string
	tenant, clientID, clientSecret     string
	secrets                            map[string]map[string]string // lower-case name → version → value
	current                            map[string]string            // lower-case name → current version
	tokenCalls, reads, unauthenticated atomic.Int32

	mu     sync.Mutex
	tokens map[string]bool
	seen   []string // "METHOD host/path" of every request
	// The challenge's tenant and resource; "" means the real ones.
	challengeTenant, challengeResource string
}

const (
	azureTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	azureClientID = "8c1a7f04-6d2e-4b8a-9f3c-2a5e1d0b7c61"
)

func newFakeAzure(t *testing.T, loginHost, vaultHost, clientSecret string) *fakeAzure {
	f := &fakeAzure{loginHost: loginHost, vaultHost: vaultHost, tenant: azureTenant, clientID: azureClientID,
		clientSecret: clientSecret, secrets: map[string]map[string]string{}, current: map[string]string{}, tokens: map[string]bool{}}
	f.srv = httptest.NewUnstartedServer(f)
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t, loginHost, vaultHost)}}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// put stores a version of a secret and makes it the current one.
func (f *fakeAzure) put(name, version, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := strings.ToLower(name)
	if f.secrets[n] == nil {
		f.secrets[n] = map[string]string{}
	}
	f.secrets[n][version] = value
	f.current[n] = version
}

// selfSigned is a certificate for hosts, valid for an hour.
func selfSigned(t *testing.T, hosts ...string) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: hosts[0]}, DNSNames: hosts,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// client is the HTTP client Komand's Azure source gets: it trusts the fake's
// certificate (and nothing else) and dials the fake whatever the host.
func (f *fakeAzure) client() *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(f.srv.Certificate())
	addr := f.srv.Listener.Addr().String()
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

func (f *fakeAzure) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, r.Method+" "+r.Host+r.URL.Path)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	switch r.Host {
	case f.loginHost:
		f.login(w, r)
	case f.vaultHost:
		f.vault(w, r)
	default:
		w.WriteHeader(http.StatusMisdirectedRequest)
	}
}

func (f *fakeAzure) login(w http.ResponseWriter, r *http.Request) {
	base := "https://" + f.loginHost
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/common/discovery/instance":
		// Entra ID vouches only for its own instances.
		ae, err := url.Parse(r.URL.Query().Get("authorization_endpoint"))
		if err != nil || ae.Host != f.loginHost || r.URL.Query().Get("api-version") == "" {
			f.oauthError(w, 400, "invalid_instance", "AADSTS50049: Unknown or invalid instance.")
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"tenant_discovery_endpoint": base + "/" + f.tenant + "/v2.0/.well-known/openid-configuration",
			"api-version":               "1.1",
			"metadata": []map[string]any{{"preferred_network": f.loginHost, "preferred_cache": f.loginHost,
				"aliases": []string{f.loginHost}}},
		})
	case r.Method == http.MethodGet && r.URL.Path == "/"+f.tenant+"/v2.0/.well-known/openid-configuration":
		json.NewEncoder(w).Encode(map[string]any{
			"token_endpoint":                        base + "/" + f.tenant + "/oauth2/v2.0/token",
			"authorization_endpoint":                base + "/" + f.tenant + "/oauth2/v2.0/authorize",
			"device_authorization_endpoint":         base + "/" + f.tenant + "/oauth2/v2.0/devicecode",
			"issuer":                                base + "/" + f.tenant + "/v2.0",
			"jwks_uri":                              base + "/" + f.tenant + "/discovery/v2.0/keys",
			"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
			"tenant_region_scope":                   "EU",
		})
	case r.Method == http.MethodPost && r.URL.Path == "/"+f.tenant+"/oauth2/v2.0/token":
		f.tokenCalls.Add(1)
		if err := r.ParseForm(); err != nil {
			f.oauthError(w, 400, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'grant_type'.")
			return
		}
		switch {
		case r.PostForm.Get("grant_type") != "client_credentials":
			f.oauthError(w, 400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")
		case r.PostForm.Get("client_id") != f.clientID:
			f.oauthError(w, 400, "unauthorized_client", "AADSTS700016: Application with identifier '"+r.PostForm.Get("client_id")+"' was not found in the directory.")
		case r.PostForm.Get("client_secret") != f.clientSecret:
			f.oauthError(w, 401, "invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+f.clientID+"'.")
		case !vaultScope(r.PostForm.Get("scope")):
			f.oauthError(w, 400, "invalid_scope", "AADSTS70011: The provided value for the input parameter 'scope' is not valid.")
		default:
			tok := "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + rand.Text() + "." + rand.Text()
			f.mu.Lock()
			f.tokens[tok] = true
			f.mu.Unlock()
			json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok})
		}
	default:
		f.oauthError(w, 404, "invalid_request", "AADSTS90002: endpoint not found")
	}
}

// vaultScope reports whether a token request's scope is Key Vault's
// (MSAL adds the OpenID Connect scopes to every request).
func vaultScope(scope string) bool {
	found := false
	for _, s := range strings.Fields(scope) {
		switch s {
		case "https://vault.azure.net/.default":
			found = true
		case "openid", "offline_access", "profile":
		default:
			return false
		}
	}
	return found
}

func (f *fakeAzure) oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": code, "error_description": desc + "\r\nTrace ID: 0f1e\r\nCorrelation ID: 3c2b\r\nTimestamp: 2026-12-06 10:00:00Z",
		"error_codes": []int{7000215}, "timestamp": "2026-12-06 10:00:00Z", "trace_id": "0f1e", "correlation_id": "3c2b"})
}

func (f *fakeAzure) vaultError(w http.ResponseWriter, status int, code, msg string) {
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func (f *fakeAzure) vault(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	valid := ok && f.tokens[tok]
	f.mu.Unlock()
	if !valid {
		f.unauthenticated.Add(1)
		tenant, resource := f.tenant, "https://vault.azure.net"
		f.mu.Lock()
		if f.challengeTenant != "" {
			tenant = f.challengeTenant
		}
		if f.challengeResource != "" {
			resource = f.challengeResource
		}
		f.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://`+f.loginHost+`/`+tenant+`", resource="`+resource+`"`)
		f.vaultError(w, 401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		f.vaultError(w, 400, "BadParameter", "The 'api-version' query parameter is missing.")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/secrets/")
	if r.Method != http.MethodGet || !ok {
		f.vaultError(w, 405, "BadParameter", "Method not allowed")
		return
	}
	name, version, _ := strings.Cut(strings.TrimSuffix(rest, "/"), "/")
	n := strings.ToLower(name)
	f.mu.Lock()
	if version == "" {
		version = f.current[n]
	}
	v, found := f.secrets[n][version]
	f.mu.Unlock()
	if !found {
		f.vaultError(w, 404, "SecretNotFound", "A secret with (name/id) "+name+" was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command.")
		return
	}
	f.reads.Add(1)
	json.NewEncoder(w).Encode(map[string]any{"value": v, "id": "https://" + f.vaultHost + "/secrets/" + name + "/" + version,
		"attributes": map[string]any{"enabled": true, "created": 1764000000, "updated": 1764000000, "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90},
		"tags":       map[string]string{}})
}

func (f *fakeAzure) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

// azureWorld starts Komand with Azure Key Vault configured against f.
func azureWorld(t *testing.T, f *fakeAzure, clientSecret, authority string) *world {
	t.Helper()
	env := apptest.NewWith(t, "sqlite", func(c *config.Config) {
		c.SecretManagers.AzureKeyVault = config.AzureKeyVaultConfig{VaultUrl: "https://" + f.vaultHost + "/",
			TenantId: f.tenant, ClientId: f.clientID, ClientSecret: clientSecret, AuthorityHost: authority}
	}, app.Options{AzureKeyVaultHTTPClient: f.client()})
	return worldOn(t, env)
}

// TestAzureKeyVaultReference: a credential can reference a Key Vault
// secret; a granted skill gets the value (the SDK answers the vault's
// challenge, signs in with the client secret, reads; both token and value
// are then cached), others get PermissionDenied; versions and JSON fields
// resolve; a missing secret is a clean error; no value, token or client
// secret reaches an API response, the audit log or the logs; hostile
// references are refused before anything is stored or sent.
func TestAzureKeyVaultReference(t *testing.T) {
	value := "sk_live_from_azure_key_vault_3e8"
	clientSecret := "Qx8~PLANTED.azure-client.secret_4hT2"
	oldVersion, newVersion := "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	// The SDK's environment variables change nothing: Komand's sign-in uses
	// its configuration only.
	t.Setenv("AZURE_AUTHORITY_HOST", "https://login.attacker.example/")
	t.Setenv("AZURE_CLIENT_SECRET", "ambient-secret-not-to-be-used")
	t.Setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-00000000aaaa")
	f := newFakeAzure(t, "login.microsoftonline.com", "komand-test.vault.azure.net", clientSecret)
	f.put("crm-stripe", oldVersion, `{"api_key":"`+value+`","n":7}`)
	f.put("plain-token", oldVersion, "plain-token-OLD-value-1")
	f.put("plain-token", newVersion, "plain-token-NEW-value-2")
	w := azureWorld(t, f, clientSecret, "")
	admin := w.keys["a/admin"]

	for _, bad := range []map[string]any{
		{"path": "../keys/signing"},
		{"path": "crm/stripe"},
		{"path": "/crm-stripe"},
		{"path": "crm-stripe?api-version=2016-10-01"},
		{"path": "crm-stripe#x"},
		{"path": "crm%2F..%2Fkeys"},
		{"path": "crm_stripe"},
		{"path": ""},
		{"path": strings.Repeat("a", 128)},
		{"path": strings.Repeat("a", 64<<10)},
		{"path": "crm-stripe", "version": "../../keys/x"},
		{"path": "crm-stripe", "version": oldVersion + "/"},
		{"path": "crm-stripe", "version": oldVersion[:31]},
		{"path": "crm-stripe", "version": strings.Repeat("z", 32)},
		{"path": "crm-stripe", "key": "a/b"},
		{"path": "crm-stripe", "mount": "secret"},
		{"path": "crm-stripe", "extra": "x"},
	} {
		r := w.env.Do("POST", "/api/credentials/", admin, map[string]any{"name": "x", "type": "api_key", "source": "azure_key_vault", "reference": bad})
		if r.Status != 400 {
			t.Fatalf("reference %.80v: %d %s", bad, r.Status, r.Body)
		}
	}
	// The other sources refuse a version rather than ignore it (they are not
	// configured here, so this is the source check).
	expectError(t, w.env.Do("POST", "/api/credentials/", admin, map[string]any{"name": "x", "type": "api_key",
		"source": "aws_secrets_manager", "reference": map[string]any{"path": "crm"}}), 400, "validation_failed")

	mk := func(name string, ref map[string]any) string {
		t.Helper()
		r := w.env.Do("POST", "/api/credentials/", admin, map[string]any{"name": name, "type": "api_key", "source": "azure_key_vault", "reference": ref})
		if r.Status != 201 || !strings.Contains(string(r.Data), `"source":"azure_key_vault"`) {
			t.Fatalf("create %s: %d %s", name, r.Status, r.Body)
		}
		return decodeData[credentialView](t, r).ID
	}
	stripe := mk("stripe", map[string]any{"path": "crm-stripe", "key": "api_key"})
	current := mk("current", map[string]any{"path": "plain-token"})
	pinned := mk("pinned", map[string]any{"path": "plain-token", "version": oldVersion})
	longest := mk("longest", map[string]any{"path": strings.Repeat("a", 127)})
	missing := mk("missing", map[string]any{"path": "gone-secret"})
	if n := len(f.requests()); n != 0 {
		t.Fatalf("creating references sent %d requests to Azure", n)
	}
	expectError(t, w.env.Do("PUT", "/api/credentials/"+stripe, admin, map[string]any{"value": "x"}), 400, "validation_failed")

	// Grants: only the granted skill on the granted agent.
	if r := w.env.Do("POST", "/api/credentials/"+stripe+"/grants", admin, map[string]any{"agentId": w.agent, "skillId": "billing"}); r.Status != 201 {
		t.Fatalf("grant: %d %s", r.Status, r.Body)
	}
	use := vault.Use{TenantID: w.tenA, AgentID: w.agent, SkillID: "billing"}
	for _, u := range []vault.Use{
		{TenantID: w.tenA, AgentID: w.agent, SkillID: "other"},
		{TenantID: w.tenB, AgentID: w.agent, SkillID: "billing"},
	} {
		if v, err := w.env.App.Secrets.Resolve(t.Context(), u, "stripe"); !errors.Is(err, vault.ErrNotGranted) || v != "" {
			t.Fatalf("ungranted %+v: %q %v", u, v, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("refused reads sent %d requests to Azure", n)
	}
	for i := range 3 {
		if v, err := w.env.App.Secrets.Resolve(t.Context(), use, "stripe"); err != nil || v != value {
			t.Fatalf("resolve %d: %q %v", i, v, err)
		}
	}
	// One challenge, one sign-in, one read: the rest came from the caches.
	if f.unauthenticated.Load() != 1 || f.tokenCalls.Load() != 1 || f.reads.Load() != 1 {
		t.Fatalf("challenges %d, token requests %d, reads %d; want 1, 1, 1 (requests: %v)",
			f.unauthenticated.Load(), f.tokenCalls.Load(), f.reads.Load(), f.requests())
	}
	for _, owner := range []string{"a/owner", "b/owner"} {
		var denied int
		for _, e := range auditEntries(t, w, owner, "PermissionDenied") {
			if strings.Contains(e, "credentials") && strings.Contains(e, `"billing"`) == (owner == "b/owner") {
				denied++
			}
		}
		if denied != 1 {
			t.Fatalf("%s: %d PermissionDenied entries for the refused read, want 1", owner, denied)
		}
	}

	// Versions: none is the current one, a pinned one stays.
	for id, want := range map[string]string{current: "plain-token-NEW-value-2", pinned: "plain-token-OLD-value-1", longest: ""} {
		if id == longest {
			f.put(strings.Repeat("a", 127), newVersion, "longest-name-value")
			want = "longest-name-value"
		}
		if v, err := w.env.App.Secrets.PlatformSecret(t.Context(), w.tenA, id); err != nil || v != want {
			t.Fatalf("credential %s: %q %v, want %q", id, v, err, want)
		}
	}
	if f.tokenCalls.Load() != 1 {
		t.Fatalf("token requests %d: the token was not reused", f.tokenCalls.Load())
	}

	// A missing secret: a plain error with Key Vault's status and code for
	// the log, never its message.
	_, err := w.env.App.Secrets.PlatformSecret(t.Context(), w.tenA, missing)
	if err == nil || !strings.Contains(err.Error(), "HTTP 404 SecretNotFound") || strings.Contains(err.Error(), "was not found in this key vault") ||
		strings.Contains(err.Error(), "\n") {
		t.Fatalf("missing secret: %v", err)
	}
	if !strings.Contains(w.env.Logs(), "HTTP 404 SecretNotFound") {
		t.Fatal("the failure is not in the logs")
	}

	secrets := []string{value, "plain-token-NEW-value-2", "plain-token-OLD-value-1", clientSecret}
	f.mu.Lock()
	for tok := range f.tokens {
		secrets = append(secrets, tok)
	}
	f.mu.Unlock()
	// Azure's answers stay out of the API and the audit log too.
	azureText := []string{"SecretNotFound", "was not found in this key vault", "AKV10000", "vault.azure.net", "login.microsoftonline.com"}
	for _, path := range []string{"/api/credentials/", "/api/credentials/" + stripe, "/api/credentials/" + missing, "/api/audit/?pageSize=100"} {
		noSecret(t, path, w.env.Do("GET", path, w.keys["a/owner"], nil).Body, append(secrets, azureText...)...)
	}
	noSecret(t, "the logs", []byte(w.env.Logs()), secrets...)
}

// auditEntries returns the audit entries of action that the key's user
// sees, as JSON.
func auditEntries(t *testing.T, w *world, key, action string) []string {
	t.Helper()
	r := w.env.Do("GET", "/api/audit/?pageSize=100&action="+action, w.keys[key], nil)
	if r.Status != 200 {
		t.Fatalf("audit: %d %s", r.Status, r.Body)
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(r.Data, &entries); err != nil {
		t.Fatalf("audit: %v %s", err, r.Data)
	}
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = string(e)
	}
	return out
}

// TestAzureKeyVaultSignInFailures: a wrong client secret (Entra ID answers
// 401 invalid_client), a vault whose challenge names another tenant, or a
// resource the vault's host does not belong to, each give a plain error
// and no value; the configured authority host is the one signed in to.
func TestAzureKeyVaultSignInFailures(t *testing.T) {
	t.Parallel()
	clientSecret := "Qx8~PLANTED.azure-client.secret_9zQ1"
	f := newFakeAzure(t, "login.partner.example", "komand-test.vault.azure.net", clientSecret)
	f.put("crm-stripe", "0123456789abcdef0123456789abcdef", "value-from-azure-7c1")
	resolve := func(w *world) (string, error) {
		t.Helper()
		r := w.env.Do("POST", "/api/credentials/", w.keys["a/admin"], map[string]any{"name": "stripe", "type": "api_key",
			"source": "azure_key_vault", "reference": map[string]any{"path": "crm-stripe"}})
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		return w.env.App.Secrets.PlatformSecret(t.Context(), w.tenA, decodeData[credentialView](t, r).ID)
	}

	// The authority override: sign-in goes to the configured host (and to
	// no other: the fake refuses every other host).
	ok := azureWorld(t, f, clientSecret, "https://login.partner.example/")
	if v, err := resolve(ok); err != nil || v != "value-from-azure-7c1" {
		t.Fatalf("authority override: %q %v (requests %v)", v, err, f.requests())
	}
	for _, r := range f.requests() {
		if !strings.Contains(r, " login.partner.example/") && !strings.Contains(r, " komand-test.vault.azure.net/") {
			t.Fatalf("request to an unconfigured host: %s", r)
		}
	}

	wrong := azureWorld(t, f, "wrong-client-secret-value", "https://login.partner.example/")
	before := f.tokenCalls.Load()
	_, err := resolve(wrong)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401 invalid_client") || strings.Contains(err.Error(), "AADSTS") {
		t.Fatalf("wrong client secret: %v", err)
	}
	if f.tokenCalls.Load() == before {
		t.Fatal("the wrong secret never reached the token endpoint")
	}
	noSecret(t, "the logs", []byte(wrong.env.Logs()), "wrong-client-secret-value", "AADSTS7000215")

	// A vault whose challenge sends the token elsewhere gets none.
	before = f.tokenCalls.Load()
	f.mu.Lock()
	f.challengeTenant = "00000000-0000-0000-0000-0000000000ff"
	f.mu.Unlock()
	if v, err := resolve(azureWorld(t, f, clientSecret, "https://login.partner.example/")); err == nil || v != "" {
		t.Fatalf("challenge for another tenant: %q %v", v, err)
	}
	f.mu.Lock()
	f.challengeTenant, f.challengeResource = "", "https://vault.attacker.example"
	f.mu.Unlock()
	if v, err := resolve(azureWorld(t, f, clientSecret, "https://login.partner.example/")); err == nil || v != "" {
		t.Fatalf("challenge for another resource: %q %v", v, err)
	}
	if f.tokenCalls.Load() != before {
		t.Fatalf("%d token requests for a foreign challenge", f.tokenCalls.Load()-before)
	}
}

// TestAzureKeyVaultCacheExpires: a value is reused for 60 s, then read
// again.
func TestAzureKeyVaultCacheExpires(t *testing.T) {
	t.Parallel()
	clientSecret := "Qx8~PLANTED.azure-client.secret_c4c4"
	f := newFakeAzure(t, "login.microsoftonline.com", "komand-test.vault.azure.net", clientSecret)
	f.put("crm-stripe", "0123456789abcdef0123456789abcdef", "first-value-123")
	var clock time.Time
	src, err := vault.NewAzureKeyVault(vault.AzureOptions{VaultURL: "https://komand-test.vault.azure.net", TenantID: f.tenant,
		ClientID: f.clientID, ClientSecret: clientSecret, HTTPClient: f.client(), Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	read := func(want string, reads int32) {
		t.Helper()
		if v, err := src.Fetch(t.Context(), vault.Reference{Path: "crm-stripe"}); err != nil || v != want || f.reads.Load() != reads {
			t.Fatalf("read: %q %v, reads %d; want %q after %d reads", v, err, f.reads.Load(), want, reads)
		}
	}
	clock = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	read("first-value-123", 1)
	f.put("crm-stripe", "fedcba9876543210fedcba9876543210", "second-value-456")
	clock = clock.Add(59 * time.Second)
	read("first-value-123", 1)
	clock = clock.Add(2 * time.Second)
	read("second-value-456", 2)
}

// TestAzureKeyVaultReal reads a real Azure Key Vault when
// KOMAND_TEST_AZURE_KEYVAULT_URL, _TENANT_ID, _CLIENT_ID, _CLIENT_SECRET,
// _REF ("name[/version][#key]") and _VALUE (the value expected there) are
// set.
func TestAzureKeyVaultReal(t *testing.T) {
	t.Parallel()
	get := func(k string) string { return os.Getenv("KOMAND_TEST_AZURE_KEYVAULT_" + k) }
	if get("URL") == "" || get("TENANT_ID") == "" || get("CLIENT_ID") == "" || get("CLIENT_SECRET") == "" || get("REF") == "" {
		t.Skip("KOMAND_TEST_AZURE_KEYVAULT_URL, _TENANT_ID, _CLIENT_ID, _CLIENT_SECRET and _REF are not set; set them (and _VALUE) to test against a real Azure Key Vault")
	}
	nameVersion, key, _ := strings.Cut(get("REF"), "#")
	name, version, _ := strings.Cut(nameVersion, "/")
	src, err := vault.NewAzureKeyVault(vault.AzureOptions{VaultURL: get("URL"), TenantID: get("TENANT_ID"), ClientID: get("CLIENT_ID"),
		ClientSecret: get("CLIENT_SECRET"), AuthorityHost: get("AUTHORITY_HOST")})
	if err != nil {
		t.Fatal(err)
	}
	ref := vault.Reference{Path: name, Version: version, Key: key}
	if err := src.CheckReference(ref); err != nil {
		t.Fatal(err)
	}
	v, err := src.Fetch(t.Context(), ref)
	if err != nil || v != get("VALUE") {
		t.Fatalf("real Key Vault: %v (value matches: %v)", err, v == get("VALUE"))
	}
}
