package audit

import (
	"context"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// Trail is the read side of the audit trail: listing a tenant's entries
// for the API and dashboard (authorized like any other read), and
// verifying hash chains.
type Trail struct {
	st    store.Audit
	authz *authz.Authorizer
}

// NewTrail returns a Trail over st.
func NewTrail(st store.Audit, az *authz.Authorizer) *Trail { return &Trail{st: st, authz: az} }

// List returns one page of p's tenant's entries, newest first. A filter's
// action must be in the Catalogue.
func (t *Trail) List(ctx context.Context, p authz.Principal, f store.AuditFilter, pg store.Page) ([]store.AuditEntry, int, error) {
	if err := t.authz.Check(ctx, p, authz.Read, authz.AuditLog, authz.Target{}); err != nil {
		return nil, 0, err
	}
	if err := validate.Pagination(pg.Page, pg.PageSize); err != nil {
		return nil, 0, err
	}
	if _, ok := ParseAction(f.Action); f.Action != "" && !ok {
		return nil, 0, apperr.Field("action", "is not a known audit action")
	}
	for _, c := range []struct{ field, v string }{
		{"actorId", f.ActorID}, {"agentId", f.AgentID}, {"sessionId", f.SessionID}, {"skillId", f.SkillID},
	} {
		if err := validate.MaxLen(c.field, c.v, validate.MaxNameLen); err != nil {
			return nil, 0, err
		}
	}
	if f.From != nil && f.To != nil && f.To.Before(*f.From) {
		return nil, 0, apperr.Field("to", "must not be before from")
	}
	return t.st.ListAudit(ctx, p.TenantID, f, pg)
}

// Verify checks one tenant's chain. It is a platform operation (CLI).
func (t *Trail) Verify(ctx context.Context, tenantID string) (VerifyResult, error) {
	return Verify(ctx, t.st, tenantID)
}

// ParseTime parses an RFC 3339 filter bound.
func ParseTime(field, v string) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, apperr.Field(field, "must be an RFC 3339 timestamp")
	}
	t = t.UTC()
	return &t, nil
}
