package tool

import (
	"bytes"
	"context"
	"sync"

	"github.com/komand-ai/komand/internal/logging"
	"github.com/komand-ai/komand/internal/vault"
)

// CredentialSource resolves a credential for a running skill; the vault's
// credential service is the one implementation. It enforces grants and
// audits every read.
type CredentialSource interface {
	Resolve(ctx context.Context, u vault.Use, name string) (string, error)
}

// Context is everything a running skill may reach of the platform
// (product.md's SkillContext): its credentials, by name, when granted. A
// skill never gets the vault, another skill's grants, or a list of names.
// One Context serves one run; the values it hands out are scrubbed from
// the run's output before the model (or anyone) sees it.
type Context struct {
	inv     Invocation
	skillID string
	creds   CredentialSource

	mu   sync.Mutex
	read []string
}

// NewContext returns the context of one run of skillID for inv.
func NewContext(inv Invocation, skillID string, creds CredentialSource) *Context {
	return &Context{inv: inv, skillID: skillID, creds: creds}
}

// GetCredential returns the value of the credential called name if this
// skill on this agent holds a grant for it, and vault.ErrNotGranted
// otherwise (recorded as PermissionDenied).
func (c *Context) GetCredential(ctx context.Context, name string) (string, error) {
	return c.credential(ctx, name, "")
}

// credential is GetCredential for the module (host "") or for a request
// to host that the platform makes with the value attached by reference
// (a grant bound to hosts allows only those, and only by reference).
func (c *Context) credential(ctx context.Context, name, host string) (string, error) {
	if c.creds == nil {
		return "", vault.ErrNotGranted
	}
	v, err := c.creds.Resolve(ctx, vault.Use{TenantID: c.inv.TenantID, UserID: c.inv.UserID,
		AgentID: c.inv.AgentID, SkillID: c.skillID, SessionID: c.inv.SessionID, Audit: c.inv.Audit, Host: host}, name)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.read = append(c.read, v)
	c.mu.Unlock()
	return v, nil
}

// minScrubLen is the shortest credential value scrubbed from output:
// replacing a one- to three-character value everywhere would destroy the
// output and hide nothing.
const minScrubLen = 4

// Scrubbed is what a credential value becomes in a skill's output.
const Scrubbed = "[REDACTED]"

// Scrub replaces every credential value this run read, in each of its
// encoded forms (logging.EncodedForms), in out (the run's JSON output).
func (c *Context) Scrub(out []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.read {
		if len(v) < minScrubLen {
			continue
		}
		for _, form := range logging.EncodedForms(v) {
			out = bytes.ReplaceAll(out, []byte(form), []byte(Scrubbed))
		}
	}
	return out
}
