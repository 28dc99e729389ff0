package gateway

import (
	"net/http"
	"sort"
	"strings"

	"github.com/komand-ai/komand/internal/web"

	"github.com/komand-ai/komand/internal/apperr"
)

// route is one line of the route table.
type route struct {
	method, path string
	h            http.Handler
}

// routes is the whole API in one table. Collection paths are served with
// and without the trailing slash; any other method on a known path gets 405
// with an Allow header, and unknown paths get 404, both in the envelope.
//
// A route that takes no request body is served by authedNoBody (no public
// route is body-less: the public ones read a JSON body or, under /hooks/,
// a signed raw one).
func (s *Server) routes() http.Handler {
	table := s.table()
	chat := web.Handler(s.opts.FrameAncestors)
	for _, p := range web.Paths() {
		table = append(table, route{"GET", p, s.static(func(w http.ResponseWriter, r *http.Request) error {
			chat.ServeHTTP(w, r)
			return nil
		})})
	}

	mux := http.NewServeMux()
	methods := map[string][]string{}
	// The console's pages: exact patterns ("/{$}" is the overview), limited
	// by client address like the chat page's files.
	for _, pg := range s.opts.Pages {
		h := pg.Handler
		mux.Handle(pg.Method+" "+pg.Path, s.static(func(w http.ResponseWriter, r *http.Request) error {
			h.ServeHTTP(w, r)
			return nil
		}))
		methods[pg.Path] = append(methods[pg.Path], pg.Method)
	}
	for _, rt := range table {
		for _, p := range paths(rt.path) {
			mux.Handle(rt.method+" "+p, rt.h)
			methods[p] = append(methods[p], rt.method)
		}
	}
	for p, ms := range methods {
		allow := allowHeader(ms)
		mux.Handle(p, s.public(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", allow)
			return apperr.New(apperr.MethodNotAllowed, "method not allowed")
		}))
	}
	mux.Handle("/", s.public(func(w http.ResponseWriter, r *http.Request) error {
		return apperr.New(apperr.NotFound, "not found")
	}))
	return mux
}

// table is the API's routes (the dashboard's files are added by routes).
func (s *Server) table() []route {
	return []route{
		// Probes are never rate limited: an orchestrator must not see a
		// healthy server as dead because one address browsed too much.
		{"GET", "/health", s.probe(s.health)},
		{"GET", "/ready", s.probe(s.ready)},

		{"POST", "/api/auth/login", s.public(s.login)},
		{"POST", "/api/auth/refresh", s.public(s.refresh)},
		{"POST", "/api/auth/accept-invite", s.public(s.acceptInvite)},
		{"POST", "/api/auth/logout", s.authedNoBody(s.logout)},
		{"GET", "/api/auth/me", s.authed(s.me)},

		{"GET", "/api/users/", s.authed(s.listUsers)},
		{"POST", "/api/users/", s.authed(s.createUser)},
		{"GET", "/api/users/{userId}", s.authed(s.getUser)},
		{"PUT", "/api/users/{userId}/role", s.authed(s.setUserRole)},
		{"DELETE", "/api/users/{userId}", s.authedNoBody(s.deactivateUser)},
		{"POST", "/api/users/{userId}/reactivate", s.authedNoBody(s.reactivateUser)},

		{"GET", "/api/apikeys/", s.authed(s.listAPIKeys)},
		{"POST", "/api/apikeys/", s.authed(s.createAPIKey)},
		{"DELETE", "/api/apikeys/{keyId}", s.authedNoBody(s.revokeAPIKey)},

		{"GET", "/api/agents/", s.authed(s.listAgents)},
		{"POST", "/api/agents/", s.authed(s.createAgent)},
		{"GET", "/api/agents/{agentId}", s.authed(s.getAgent)},
		{"PUT", "/api/agents/{agentId}", s.authed(s.updateAgent)},
		{"DELETE", "/api/agents/{agentId}", s.authedNoBody(s.deleteAgent)},

		{"GET", "/api/agents/{agentId}/memory/", s.authed(s.listMemory)},
		{"GET", "/api/agents/{agentId}/memory/{key}", s.authed(s.getMemory)},
		{"PUT", "/api/agents/{agentId}/memory/{key}", s.authed(s.putMemory)},
		{"DELETE", "/api/agents/{agentId}/memory/{key}", s.authedNoBody(s.deleteMemory)},

		{"GET", "/api/skills/", s.authed(s.listSkills)},
		{"POST", "/api/skills/", s.authed(s.registerSkill)},
		{"GET", "/api/skills/{skillId}", s.authed(s.getSkill)},
		{"DELETE", "/api/skills/{skillId}", s.authedNoBody(s.deleteSkill)},
		{"GET", "/api/skills/{skillId}/versions", s.authed(s.skillVersions)},
		{"GET", "/api/tenant/skill-policy", s.authed(s.getSkillPolicy)},
		{"PUT", "/api/tenant/skill-policy", s.authed(s.putSkillPolicy)},
		{"GET", "/api/agents/{agentId}/skills/", s.authed(s.listAgentSkills)},
		{"GET", "/api/agents/{agentId}/skills/{skillId}/consent", s.authed(s.skillConsent)},
		{"PUT", "/api/agents/{agentId}/skills/{skillId}", s.authed(s.installSkill)},
		{"DELETE", "/api/agents/{agentId}/skills/{skillId}", s.authedNoBody(s.uninstallSkill)},

		{"GET", "/api/crm/contacts/", s.authed(s.listContacts)},
		{"POST", "/api/crm/contacts/", s.authed(s.createContact)},
		{"GET", "/api/crm/contacts/{contactId}", s.authed(s.getContact)},
		{"PUT", "/api/crm/contacts/{contactId}", s.authed(s.updateContact)},
		{"DELETE", "/api/crm/contacts/{contactId}", s.authedNoBody(s.deleteContact)},

		{"GET", "/api/credentials/", s.authed(s.listCredentials)},
		{"POST", "/api/credentials/", s.authed(s.createCredential)},
		{"GET", "/api/credentials/{credentialId}", s.authed(s.getCredential)},
		{"PUT", "/api/credentials/{credentialId}", s.authed(s.updateCredential)},
		{"DELETE", "/api/credentials/{credentialId}", s.authedNoBody(s.deleteCredential)},
		{"POST", "/api/credentials/{credentialId}/grants", s.authed(s.grantCredential)},
		{"POST", "/api/vault/rotate-data-key", s.authedNoBody(s.rotateDataKey)},
		{"DELETE", "/api/credentials/{credentialId}/grants/{agentId}/{skillId}", s.authedNoBody(s.revokeCredential)},

		{"GET", "/api/channels/accounts/", s.authed(s.listChannelAccounts)},
		{"POST", "/api/channels/accounts/", s.authed(s.createChannelAccount)},
		{"GET", "/api/channels/accounts/{accountId}", s.authed(s.getChannelAccount)},
		{"PUT", "/api/channels/accounts/{accountId}", s.authed(s.updateChannelAccount)},
		{"DELETE", "/api/channels/accounts/{accountId}", s.authedNoBody(s.deleteChannelAccount)},
		{"GET", "/api/channels/accounts/{accountId}/identities/", s.authed(s.listChannelIdentities)},
		{"POST", "/api/channels/accounts/{accountId}/identities/", s.authed(s.mapChannelIdentity)},
		{"DELETE", "/api/channels/accounts/{accountId}/identities/{externalId}", s.authedNoBody(s.unmapChannelIdentity)},
		{"POST", "/hooks/webhook/{accountId}", s.public(s.receiveWebhook)},
		{"POST", "/hooks/telegram/{accountId}", s.public(s.receiveTelegram)},
		{"POST", "/hooks/slack/{accountId}", s.public(s.receiveSlack)},
		{"POST", "/hooks/slack/{accountId}/interactivity", s.public(s.receiveSlackAction)},

		{"POST", "/api/webchat/visitor", s.public(s.startVisitor)},
		{"POST", "/api/webchat/message", s.webchat(s.webchatMessage)},
		{"POST", "/api/webchat/message/stream", s.webchat(s.webchatStream)},

		{"GET", "/api/sessions/", s.authed(s.listSessions)},
		{"GET", "/api/sessions/{sessionId}", s.authed(s.getSession)},
		{"GET", "/api/sessions/{sessionId}/history", s.authed(s.sessionHistory)},
		{"POST", "/api/sessions/{sessionId}/end", s.authedNoBody(s.endSession)},
		{"GET", "/api/injection/policy", s.authed(s.getInjectionPolicy)},
		{"PUT", "/api/injection/policy", s.authed(s.putInjectionPolicy)},
		{"GET", "/api/injection/reviews/", s.authed(s.listReviews)},
		{"GET", "/api/injection/reviews/{reviewId}", s.authed(s.getReview)},
		{"POST", "/api/injection/reviews/{reviewId}/approve", s.authedNoBody(s.decideReview(true))},
		{"POST", "/api/injection/reviews/{reviewId}/reject", s.authedNoBody(s.decideReview(false))},

		{"GET", "/api/audit/", s.authed(s.listAudit)},
	}
}

// paths returns the mux patterns for a table path: "/x/" matches exactly
// "/x/" and "/x" (not the whole subtree).
func paths(p string) []string {
	if strings.HasSuffix(p, "/") {
		return []string{p + "{$}", strings.TrimSuffix(p, "/")}
	}
	return []string{p}
}

func allowHeader(ms []string) string {
	set := map[string]bool{"OPTIONS": true}
	for _, m := range ms {
		set[m] = true
		if m == "GET" {
			set["HEAD"] = true
		}
	}
	out := make([]string, 0, len(set))
	for m := range set {
		out = append(out, m)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
