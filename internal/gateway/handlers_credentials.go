package gateway

import (
	"net/http"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/vault"
)

// credentialResponse is a credential's metadata. There is deliberately no
// value field: values are write-only.
type credentialResponse struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Source     string     `json:"source,omitempty"`
	CreatedBy  string     `json:"createdBy"`
	CreatedAt  time.Time  `json:"createdAt"`
	UpdatedAt  time.Time  `json:"updatedAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
}

type grantResponse struct {
	AgentID   string    `json:"agentId"`
	SkillID   string    `json:"skillId"`
	Hosts     []string  `json:"hosts"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
}

func grantJSON(g vault.Grant) grantResponse {
	hosts := g.Hosts
	if hosts == nil {
		hosts = []string{}
	}
	return grantResponse{AgentID: g.AgentID, SkillID: g.SkillID, Hosts: hosts, CreatedBy: g.CreatedBy, CreatedAt: g.CreatedAt}
}

func credentialJSON(c vault.Credential) credentialResponse {
	return credentialResponse{ID: c.ID, Name: c.Name, Type: c.Type, Source: c.Source, CreatedBy: c.CreatedBy,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, LastUsedAt: c.LastUsedAt}
}

// credentialBody is the body of create and update. Every field is optional
// in the decoding; the service says what is required.
type credentialBody struct {
	Name      opt[string]      `json:"name"`
	Type      opt[string]      `json:"type"`
	Value     opt[string]      `json:"value"`
	Source    opt[string]      `json:"source"`
	Reference *vault.Reference `json:"reference"`
}

func (b credentialBody) update() (vault.Update, error) {
	var (
		u   vault.Update
		err error
	)
	if u.Name, err = b.Name.ptr("name"); err != nil {
		return u, err
	}
	if u.Type, err = b.Type.ptr("type"); err != nil {
		return u, err
	}
	u.Value, err = b.Value.ptr("value")
	return u, err
}

func (s *Server) createCredential(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	var b credentialBody
	if err := decode(r, &b); err != nil {
		return err
	}
	u, err := b.update()
	if err != nil {
		return err
	}
	if b.Source.set || b.Reference != nil {
		// A reference to an external secret manager instead of a value.
		if u.Value != nil || !b.Source.set || b.Source.null || b.Reference == nil || u.Name == nil || u.Type == nil {
			return apperr.New(apperr.Invalid, "a reference needs name, type, source and reference, and no value")
		}
		c, err := s.deps.Credentials.CreateReference(r.Context(), p, *u.Name, *u.Type, b.Source.v, *b.Reference)
		if err != nil {
			return err
		}
		return ok(w, http.StatusCreated, credentialJSON(c))
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"name", u.Name}, {"type", u.Type}, {"value", u.Value}} {
		if f.v == nil {
			return apperr.Field(f.name, "is required")
		}
	}
	c, err := s.deps.Credentials.Create(r.Context(), p, *u.Name, *u.Type, *u.Value)
	if err != nil {
		return err
	}
	return ok(w, http.StatusCreated, credentialJSON(c))
}

func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	pg, err := pagination(r)
	if err != nil {
		return err
	}
	cs, total, err := s.deps.Credentials.List(r.Context(), p, pg)
	if err != nil {
		return err
	}
	out := make([]credentialResponse, len(cs))
	for i, c := range cs {
		out[i] = credentialJSON(c)
	}
	return okList(w, out, total, pg, store.Next(p.TenantID, pg, cs))
}

func (s *Server) getCredential(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "credentialId")
	if err != nil {
		return err
	}
	c, err := s.deps.Credentials.Get(r.Context(), p, id)
	if err != nil {
		return err
	}
	gs, err := s.deps.Credentials.Grants(r.Context(), p, id)
	if err != nil {
		return err
	}
	out := struct {
		credentialResponse
		Grants []grantResponse `json:"grants"`
	}{credentialJSON(c), make([]grantResponse, len(gs))}
	for i, g := range gs {
		out.Grants[i] = grantJSON(g)
	}
	return ok(w, http.StatusOK, out)
}

func (s *Server) grantCredential(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "credentialId")
	if err != nil {
		return err
	}
	var b struct {
		AgentID string   `json:"agentId"`
		SkillID string   `json:"skillId"`
		Hosts   []string `json:"hosts"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	g, err := s.deps.Credentials.Grant(r.Context(), p, id, b.AgentID, b.SkillID, b.Hosts)
	if err != nil {
		return err
	}
	return ok(w, http.StatusCreated, grantJSON(g))
}

func (s *Server) revokeCredential(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "credentialId")
	if err != nil {
		return err
	}
	if err := s.deps.Credentials.Revoke(r.Context(), p, id, r.PathValue("agentId"), r.PathValue("skillId")); err != nil {
		return err
	}
	return ok(w, http.StatusOK, map[string]bool{"revoked": true})
}

func (s *Server) updateCredential(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "credentialId")
	if err != nil {
		return err
	}
	var b credentialBody
	if err := decode(r, &b); err != nil {
		return err
	}
	if b.Source.set || b.Reference != nil {
		return apperr.New(apperr.Invalid, "source and reference cannot be changed; create a new credential")
	}
	u, err := b.update()
	if err != nil {
		return err
	}
	c, err := s.deps.Credentials.Update(r.Context(), p, id, u)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, credentialJSON(c))
}

func (s *Server) deleteCredential(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "credentialId")
	if err != nil {
		return err
	}
	if err := s.deps.Credentials.Delete(r.Context(), p, id); err != nil {
		return err
	}
	return ok(w, http.StatusOK, map[string]bool{"deleted": true})
}

func (s *Server) rotateDataKey(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	v, err := s.deps.Credentials.RotateDataKey(r.Context(), p)
	if err != nil {
		return err
	}
	return ok(w, http.StatusAccepted, map[string]any{"version": v, "reencryption": "started"})
}
