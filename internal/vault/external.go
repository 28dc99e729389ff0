package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	hcvault "github.com/hashicorp/vault/api"
)

// SourceHashiCorpVault is the Source of a credential whose value lives in a
// HashiCorp Vault KV version 2 secrets engine.
const SourceHashiCorpVault = "hashicorp_vault"

// Reference names a value in an external secret manager. Each source
// says which fields it uses (see their CheckReference).
type Reference struct {
	Mount   string `json:"mount"`             // KV v2 mount, e.g. "secret"
	Path    string `json:"path"`              // secret path under the mount, e.g. "crm/stripe"
	Key     string `json:"key"`               // field of the secret's data, e.g. "api_key"
	Version string `json:"version,omitempty"` // Azure Key Vault only: a secret version
}

var refPartRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)

// check validates a reference: plain path segments, no "..", bounded.
func (r Reference) check() error {
	for _, p := range []struct{ name, v string }{{"mount", r.Mount}, {"path", r.Path}, {"key", r.Key}} {
		if p.v == "" || len(p.v) > 256 || !refPartRe.MatchString(p.v) || strings.Contains(p.v, "..") {
			return fmt.Errorf("reference.%s must be 1–256 characters of letters, digits, '_', '.', '-' and '/' separators, without '..'", p.name)
		}
	}
	if strings.Contains(r.Key, "/") {
		return errors.New("reference.key must be one field name")
	}
	if r.Version != "" {
		return errors.New("reference.version is not used by hashicorp_vault")
	}
	return nil
}

// ExternalSource reads referenced values.
type ExternalSource interface {
	Fetch(ctx context.Context, ref Reference) (string, error)
}

// HashiCorpOptions configure the HashiCorp Vault source.
type HashiCorpOptions struct {
	Address  string
	Token    string // token auth, or:
	RoleID   string // AppRole auth
	SecretID string
	CacheTTL time.Duration // how long a fetched value is reused; default 60 s
	Now      func() time.Time
}

// HashiCorp reads KV v2 secrets with github.com/hashicorp/vault/api,
// logging in with AppRole when no token is given (and again when the token
// is refused). Values are cached for CacheTTL.
type HashiCorp struct {
	opts   HashiCorpOptions
	client *hcvault.Client

	mu    sync.Mutex
	token string
	cache valueCache
}

type cachedValue struct {
	v       string
	expires time.Time
}

// sourceDefaults fills in what the external sources default alike: a
// 60 s value cache, the real clock and, where hc is not nil, an HTTP
// client with a 10 s timeout.
func sourceDefaults(ttl *time.Duration, now *func() time.Time, hc **http.Client) {
	if *ttl <= 0 {
		*ttl = 60 * time.Second
	}
	if *now == nil {
		*now = time.Now
	}
	if hc != nil && *hc == nil {
		*hc = &http.Client{Timeout: 10 * time.Second}
	}
}

// valueCache keeps a source's resolved values until they expire; past
// 10,000 entries it is emptied. The zero value is ready.
type valueCache struct {
	mu sync.Mutex
	m  map[Reference]cachedValue
}

func (c *valueCache) get(ref Reference, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[ref]
	if !ok || !now.Before(v.expires) {
		return "", false
	}
	return v.v, true
}

func (c *valueCache) put(ref Reference, v string, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[Reference]cachedValue{}
	}
	c.m[ref] = cachedValue{v: v, expires: expires}
}

// jsonField returns the string field key of v, a JSON object; errors name
// source (for the log) and never hold the value.
func jsonField(source, v, key string) (string, error) {
	var fields map[string]any
	if json.Unmarshal([]byte(v), &fields) != nil {
		return "", fmt.Errorf("%w (%s: the secret is not a JSON object)", errExternal, source)
	}
	s, ok := fields[key].(string)
	if !ok {
		return "", fmt.Errorf("%w (%s: no string field %q)", errExternal, source, key)
	}
	return s, nil
}

// NewHashiCorp returns the source, or an error for a bad address.
func NewHashiCorp(o HashiCorpOptions) (*HashiCorp, error) {
	sourceDefaults(&o.CacheTTL, &o.Now, nil)
	cfg := hcvault.DefaultConfig()
	cfg.Address = o.Address
	cfg.MaxRetries = 1
	cfg.Timeout = 10 * time.Second
	c, err := hcvault.NewClient(cfg)
	if err != nil {
		return nil, errors.New("vault: HashiCorp Vault client: bad configuration")
	}
	c.ClearToken()
	return &HashiCorp{opts: o, client: c, token: o.Token}, nil
}

// errExternal is what callers see of any failure: which manager, never
// its response.
var errExternal = errors.New("vault: the external secret manager did not return the value")

// Fetch returns the referenced field.
func (h *HashiCorp) Fetch(ctx context.Context, ref Reference) (string, error) {
	now := h.opts.Now()
	if v, ok := h.cache.get(ref, now); ok {
		return v, nil
	}
	v, err := h.read(ctx, ref, false)
	if err != nil {
		return "", err
	}
	h.cache.put(ref, v, now.Add(h.opts.CacheTTL))
	return v, nil
}

func (h *HashiCorp) read(ctx context.Context, ref Reference, retried bool) (string, error) {
	token, err := h.currentToken(ctx)
	if err != nil {
		return "", err
	}
	c, err := h.client.Clone()
	if err != nil {
		return "", errExternal
	}
	c.SetToken(token)
	s, err := c.KVv2(ref.Mount).Get(ctx, ref.Path)
	var re *hcvault.ResponseError
	if errors.As(err, &re) && re.StatusCode == 403 && !retried && h.opts.RoleID != "" {
		h.mu.Lock()
		h.token = "" // expired or revoked: log in again
		h.mu.Unlock()
		return h.read(ctx, ref, true)
	}
	if err != nil || s == nil {
		return "", errExternal
	}
	v, ok := s.Data[ref.Key].(string)
	if !ok {
		return "", fmt.Errorf("vault: the referenced secret has no string field %q", ref.Key)
	}
	return v, nil
}

// currentToken returns the token, logging in with AppRole when needed.
func (h *HashiCorp) currentToken(ctx context.Context) (string, error) {
	h.mu.Lock()
	t := h.token
	h.mu.Unlock()
	if t != "" {
		return t, nil
	}
	if h.opts.RoleID == "" || h.opts.SecretID == "" {
		return "", errors.New("vault: HashiCorp Vault has no token and no AppRole")
	}
	c, err := h.client.Clone()
	if err != nil {
		return "", errExternal
	}
	s, err := c.Logical().WriteWithContext(ctx, "auth/approle/login", map[string]any{
		"role_id": h.opts.RoleID, "secret_id": h.opts.SecretID})
	if err != nil || s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return "", errors.New("vault: HashiCorp Vault AppRole login failed")
	}
	h.mu.Lock()
	h.token = s.Auth.ClientToken
	h.mu.Unlock()
	return s.Auth.ClientToken, nil
}
