package gateway

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/skill"
	"github.com/komand-ai/komand/internal/store"
)

// skillPackagePath is the one route whose body may be larger than
// Server__MaxBodyBytes: a skill package carries its module.
const skillPackagePath = "/api/skills"

func (s *Server) registerSkill(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	if err := s.deps.Skills.CanRegister(r.Context(), p); err != nil {
		return err
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return apperr.New(apperr.UnsupportedMedia, "Content-Type must be application/json")
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apperr.Wrap(err, apperr.TooLarge, "the skill package is too large")
		}
		return apperr.Wrap(err, apperr.Invalid, "the request body could not be read")
	}
	k, err := s.deps.Skills.Register(r.Context(), p, raw)
	if err != nil {
		return err
	}
	return ok(w, http.StatusCreated, k)
}

func (s *Server) listSkills(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	pg, err := pagination(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.SkillFilter{PublisherID: q.Get("publisherId"), Category: q.Get("category"), Query: q.Get("q")}
	if v := q.Get("verifiedOnly"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return apperr.Field("verifiedOnly", "must be true or false")
		}
		f.VerifiedOnly = b
	}
	ks, total, err := s.deps.Skills.List(r.Context(), p, f, pg)
	if err != nil {
		return err
	}
	return okList(w, ks, total, pg, store.Next(p.TenantID, pg, ks))
}

func (s *Server) getSkill(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	k, err := s.deps.Skills.Get(r.Context(), p, r.PathValue("skillId"), r.URL.Query().Get("version"))
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, k)
}

func (s *Server) skillVersions(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	ks, err := s.deps.Skills.Versions(r.Context(), p, r.PathValue("skillId"))
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, ks)
}

func (s *Server) deleteSkill(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	if err := s.deps.Skills.Delete(r.Context(), p, r.PathValue("skillId"), r.URL.Query().Get("version")); err != nil {
		return err
	}
	return ok(w, http.StatusOK, map[string]bool{"deleted": true})
}

func (s *Server) listAgentSkills(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	ins, err := s.deps.Skills.Installed(r.Context(), p, r.PathValue("agentId"))
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, ins)
}

func (s *Server) skillConsent(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	c, err := s.deps.Skills.Consent(r.Context(), p, r.PathValue("agentId"), r.PathValue("skillId"), r.URL.Query().Get("version"))
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, c)
}

type installResponse struct {
	skill.Installation
	PermissionsAdded   []skill.Permission `json:"permissionsAdded"`
	PermissionsRemoved []skill.Permission `json:"permissionsRemoved"`
}

func (s *Server) installSkill(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	var b struct {
		Version            string             `json:"version"`
		GrantedPermissions []skill.Permission `json:"grantedPermissions"`
		Config             map[string]string  `json:"config"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	in, added, removed, err := s.deps.Skills.Install(r.Context(), p, skill.InstallInput{AgentID: r.PathValue("agentId"),
		SkillID: r.PathValue("skillId"), Version: b.Version, Grant: b.GrantedPermissions, Config: b.Config})
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, installResponse{Installation: in, PermissionsAdded: added, PermissionsRemoved: removed})
}

func (s *Server) uninstallSkill(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	if err := s.deps.Skills.Uninstall(r.Context(), p, r.PathValue("agentId"), r.PathValue("skillId")); err != nil {
		return err
	}
	return ok(w, http.StatusOK, map[string]bool{"uninstalled": true})
}

func (s *Server) getSkillPolicy(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	pol, err := s.deps.Skills.GetPolicy(r.Context(), p)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, pol)
}

func (s *Server) putSkillPolicy(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	var b struct {
		AllowUnsigned *bool `json:"allowUnsigned"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	if b.AllowUnsigned == nil {
		return apperr.Field("allowUnsigned", "is required")
	}
	pol, err := s.deps.Skills.SetPolicy(r.Context(), p, *b.AllowUnsigned)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, pol)
}
