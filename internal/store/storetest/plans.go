package storetest

import (
	"context"

	"github.com/komand-ai/komand/internal/store"
)

// ListCall is one listing of a tenant, by page number or by cursor, with
// a cursor of that list to try. The stores' plan tests (TestListPlans)
// explain the statements each call runs.
type ListCall struct {
	Name   string
	Cursor string
	Run    func(ctx context.Context, p store.Page) error
}

// ListCalls returns every listing of the store, with the filters an API
// client can set, for tenant tn.
func ListCalls(s store.Store, tn string) []ListCall {
	cur := func(l store.List, key ...any) string { return store.EncodeCursor(tn, l, key...) }
	return []ListCall{
		{"agents", cur(store.AgentList, "a"), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListAgents(ctx, tn, p)
			return err
		}},
		{"sessions", cur(store.SessionList, int64(5), "x"), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListSessions(ctx, tn, store.SessionFilter{}, p)
			return err
		}},
		{"sessions by agent, channel and status", cur(store.SessionList, int64(5), "x"), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListSessions(ctx, tn, store.SessionFilter{AgentID: "a", Channel: "WebChat", Status: "active"}, p)
			return err
		}},
		{"turns", cur(store.TurnList, int64(3)), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListTurns(ctx, tn, "00000000-0000-0000-0000-000000000001", p)
			return err
		}},
		{"memory", cur(store.MemoryList, "k"), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListMemory(ctx, tn, "a", p)
			return err
		}},
		{"users", cur(store.UserList, "A@example.com"), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListUsers(ctx, tn, p)
			return err
		}},
		{"skills", cur(store.SkillList, "k"), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListSkills(ctx, tn, store.SkillFilter{}, p)
			return err
		}},
		{"skills searched", cur(store.SkillList, "k"), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListSkills(ctx, tn, store.SkillFilter{Query: "x", Category: "c", PublisherID: "p", VerifiedOnly: true}, p)
			return err
		}},
		{"contacts", cur(store.ContactList, "n", "i"), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListContacts(ctx, tn, "", p)
			return err
		}},
		{"contacts searched", cur(store.ContactList, "n", "i"), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListContacts(ctx, tn, "q", p)
			return err
		}},
		{"reviews", cur(store.ReviewList, int64(5), "i"), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListReviews(ctx, tn, store.ReviewFilter{}, p)
			return err
		}},
		{"reviews pending", cur(store.ReviewList, int64(5), "i"), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListReviews(ctx, tn, store.ReviewFilter{Status: store.ReviewPending}, p)
			return err
		}},
		{"credentials", cur(store.CredentialList, "n"), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListCredentials(ctx, tn, p)
			return err
		}},
		{"audit", cur(store.AuditList, int64(9)), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListAudit(ctx, tn, store.AuditFilter{}, p)
			return err
		}},
		{"audit by action", cur(store.AuditList, int64(9)), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListAudit(ctx, tn, store.AuditFilter{Action: "agent.created"}, p)
			return err
		}},
		{"api keys", cur(store.APIKeyList, int64(5), "i"), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListTenantAPIKeys(ctx, tn, store.APIKeyFilter{}, p)
			return err
		}},
		{"api keys of a user", cur(store.APIKeyList, int64(5), "i"), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListTenantAPIKeys(ctx, tn, store.APIKeyFilter{UserID: "u"}, p)
			return err
		}},
		{"channel accounts", cur(store.ChannelAccountList, "Slack", "a"), func(ctx context.Context, p store.Page) error {
			_, _, err := s.ListChannelAccounts(ctx, tn, p)
			return err
		}},
	}
}
