package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// SourceAzureKeyVault is the Source of a credential whose value lives in
// Azure Key Vault.
const SourceAzureKeyVault = "azure_key_vault"

// DefaultAzureAuthorityHost is Microsoft Entra ID's public-cloud sign-in
// host.
const DefaultAzureAuthorityHost = "https://login.microsoftonline.com/"

// AzureOptions configure the Azure Key Vault source. Authentication is a
// service principal's client secret only: Komand does not use the SDK's
// default credential chain, so it never reads managed-identity (instance
// metadata) or environment credentials on a skill's behalf.
type AzureOptions struct {
	VaultURL      string // https://<vault>.vault.azure.net
	TenantID      string
	ClientID      string
	ClientSecret  string
	AuthorityHost string        // default DefaultAzureAuthorityHost (another cloud: https://login.microsoftonline.us/)
	CacheTTL      time.Duration // default 60 s
	HTTPClient    *http.Client  // default: 10 s timeout (tests give it a local server's TLS trust)
	Now           func() time.Time
}

// AzureKeyVault reads secrets with the Azure SDK's azsecrets client,
// authenticated by azidentity's ClientSecretCredential. A reference is
// {"path": "<secret name>", "version": "<32 hex, optional>", "key":
// "<JSON field, optional>"}; without a version the current one is read,
// without a key the whole secret is the value. Values are cached for
// CacheTTL.
type AzureKeyVault struct {
	opts   AzureOptions
	client *azsecrets.Client

	cache valueCache
}

// NewAzureKeyVault returns the source, or an error for an incomplete
// configuration or a vault or authority URL that is not https.
func NewAzureKeyVault(o AzureOptions) (*AzureKeyVault, error) {
	if o.TenantID == "" || o.ClientID == "" || o.ClientSecret == "" {
		return nil, errors.New("vault: Azure Key Vault needs a tenant ID, a client ID and a client secret")
	}
	if o.AuthorityHost == "" {
		o.AuthorityHost = DefaultAzureAuthorityHost
	}
	if !httpsBase(o.VaultURL) || !httpsBase(o.AuthorityHost) {
		return nil, errors.New("vault: Azure Key Vault's vault URL and authority host must be https URLs without credentials, path or query")
	}
	sourceDefaults(&o.CacheTTL, &o.Now, &o.HTTPClient)
	hc := o.HTTPClient
	co := azcore.ClientOptions{
		// The cloud is always explicit, so AZURE_AUTHORITY_HOST in the
		// environment cannot redirect the client secret.
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: o.AuthorityHost},
		Transport: hc,
		Retry:     policy.RetryOptions{MaxRetries: 1},
	}
	cred, err := azidentity.NewClientSecretCredential(o.TenantID, o.ClientID, o.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: co,
			// Instance discovery asks login.microsoftonline.com about the
			// authority; a private one (Azure Stack) is not known there,
			// and the operator configured it explicitly.
			DisableInstanceDiscovery: !knownAuthority(o.AuthorityHost)})
	if err != nil {
		return nil, errors.New("vault: Azure Key Vault: bad tenant ID or client credentials")
	}
	// Challenge-resource verification stays on: a vault URL whose host is
	// not under the resource Key Vault names in its challenge gets no token.
	client, err := azsecrets.NewClient(o.VaultURL, cred, &azsecrets.ClientOptions{ClientOptions: co})
	if err != nil {
		return nil, errors.New("vault: Azure Key Vault client: bad configuration")
	}
	return &AzureKeyVault{opts: o, client: client}, nil
}

// knownAuthority reports whether host is the sign-in host of one of the
// Azure clouds the SDK knows (public, US Government, China).
func knownAuthority(host string) bool {
	u, err := url.Parse(host)
	if err != nil {
		return false
	}
	for _, c := range []cloud.Configuration{cloud.AzurePublic, cloud.AzureGovernment, cloud.AzureChina} {
		if k, err := url.Parse(c.ActiveDirectoryAuthorityHost); err == nil && strings.EqualFold(k.Host, u.Host) {
			return true
		}
	}
	return false
}

// httpsBase reports whether u is an https URL with a host and nothing
// else but an optional "/" path: no credentials, query or fragment.
func httpsBase(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Scheme == "https" && p.Host != "" && p.Hostname() != "" && p.User == nil &&
		(p.Path == "" || p.Path == "/") && p.RawQuery == "" && !p.ForceQuery && p.Fragment == "" && p.Opaque == ""
}

var (
	azureNameRe    = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)
	azureVersionRe = regexp.MustCompile(`^[0-9A-Fa-f]{32}$`)
)

// CheckReference validates an Azure reference: no mount; path is a secret
// name (1–127 letters, digits and '-'); version, when given, is 32 hex
// digits; key, when given, is one JSON field name.
func (a *AzureKeyVault) CheckReference(r Reference) error {
	if r.Mount != "" {
		return errors.New("reference.mount is not used by azure_key_vault")
	}
	if !azureNameRe.MatchString(r.Path) {
		return errors.New("reference.path must be a Key Vault secret name: 1–127 letters, digits and '-'")
	}
	if r.Version != "" && !azureVersionRe.MatchString(r.Version) {
		return errors.New("reference.version must be a Key Vault secret version: 32 hexadecimal digits")
	}
	if r.Key != "" && !awsKeyRe.MatchString(r.Key) {
		return errors.New("reference.key must be one JSON field name")
	}
	return nil
}

// Fetch returns the referenced value. Errors name the HTTP status and
// Key Vault's error code, for the log; they never hold the value.
func (a *AzureKeyVault) Fetch(ctx context.Context, ref Reference) (string, error) {
	if err := a.CheckReference(ref); err != nil {
		// Sealed references were checked when created; this guards the
		// request path against anything else.
		return "", fmt.Errorf("%w (azure: %v)", errExternal, err)
	}
	now := a.opts.Now()
	if v, ok := a.cache.get(ref, now); ok {
		return v, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := a.client.GetSecret(ctx, ref.Path, ref.Version, nil)
	if err != nil {
		return "", fmt.Errorf("%w (azure: %s)", errExternal, azureErr(err))
	}
	if out.Value == nil {
		return "", fmt.Errorf("%w (azure: the secret has no value)", errExternal)
	}
	v := *out.Value
	if ref.Key != "" {
		var err error
		if v, err = jsonField("azure", v, ref.Key); err != nil {
			return "", err
		}
	}
	a.cache.put(ref, v, now.Add(a.opts.CacheTTL))
	return v, nil
}

// azureErr condenses the SDK's multi-line errors to one line: the status
// and error code of a Key Vault answer, or that sign-in failed (with
// Entra ID's status and error code).
func azureErr(err error) string {
	var auth *azidentity.AuthenticationFailedError
	if errors.As(err, &auth) {
		if auth.RawResponse != nil {
			var body struct {
				Error string `json:"error"`
			}
			if auth.RawResponse.Body != nil {
				_ = json.NewDecoder(http.MaxBytesReader(nil, auth.RawResponse.Body, 64<<10)).Decode(&body)
			}
			return fmt.Sprintf("sign-in to Microsoft Entra ID failed: HTTP %d %s", auth.RawResponse.StatusCode, body.Error)
		}
		return "sign-in to Microsoft Entra ID failed"
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("HTTP %d %s", re.StatusCode, re.ErrorCode)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "request failed: " + oneLine(ue.Err.Error())
	}
	return "request failed: " + oneLine(err.Error())
}

// oneLine is the first line of s, at most 300 bytes.
func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}
