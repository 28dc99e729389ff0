// Package auditlog is the read side of the audit trail: listing a tenant's
// entries for the API and dashboard, and verifying hash chains. Writing lives
// in package audit; this package is separate because reading needs
// authorization, and authz itself depends on audit to record denials.
package auditlog

import (
	"context"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// Service reads the audit trail.
type Service struct {
	st    store.Audit
	authz *authz.Authorizer
}

// New returns a Service.
func New(st store.Audit, az *authz.Authorizer) *Service { return &Service{st: st, authz: az} }

// List returns one page of p's tenant's entries, newest first.
func (s *Service) List(ctx context.Context, p authz.Principal, f store.AuditFilter, pg store.Page) ([]store.AuditEntry, int, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.AuditLog, authz.Target{}); err != nil {
		return nil, 0, err
	}
	if err := validate.Pagination(pg.Page, pg.PageSize); err != nil {
		return nil, 0, err
	}
	if f.Action != "" && !audit.Known(f.Action) {
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
	return s.st.ListAudit(ctx, p.TenantID, f, pg)
}

// Verify checks one tenant's chain. It is a platform operation (CLI).
func (s *Service) Verify(ctx context.Context, tenantID string) (audit.VerifyResult, error) {
	return audit.Verify(ctx, s.st, tenantID)
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
