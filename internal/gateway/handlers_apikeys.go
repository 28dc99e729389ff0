package gateway

import (
	"net/http"
	"time"

	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
)

// apiKeyResponse is a key's metadata: never the key, never its hash. Keys
// do not expire; they work until revoked (or their user is deactivated).
type apiKeyResponse struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"` // "kmd_" and 8 characters, to tell keys apart
	UserID     string     `json:"userId"` // the user the key acts as
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"` // to the minute
	RevokedAt  *time.Time `json:"revokedAt"`
}

func apiKeyJSON(k store.APIKey) apiKeyResponse {
	return apiKeyResponse{ID: k.ID, Name: k.Name, Prefix: k.Prefix, UserID: k.UserID,
		CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

// createdAPIKeyResponse is the answer to POST /api/apikeys/: the metadata
// and, this once, the key.
type createdAPIKeyResponse struct {
	apiKeyResponse
	Key string `json:"key"`
}

// createAPIKeyRequest: userId is the user the key acts as (default: the
// caller).
type createAPIKeyRequest struct {
	Name   string `json:"name"`
	UserID string `json:"userId"`
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	pg, err := pagination(r)
	if err != nil {
		return err
	}
	ks, total, err := s.deps.APIKeys.List(r.Context(), p, pg)
	if err != nil {
		return err
	}
	out := make([]apiKeyResponse, len(ks))
	for i, k := range ks {
		out[i] = apiKeyJSON(k)
	}
	return okList(w, out, total, pg, store.Next(p.TenantID, pg, ks))
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	var req createAPIKeyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	key, k, err := s.deps.APIKeys.Create(r.Context(), p, req.UserID, req.Name)
	if err != nil {
		return err
	}
	return ok(w, http.StatusCreated, createdAPIKeyResponse{apiKeyResponse: apiKeyJSON(k), Key: key})
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "keyId")
	if err != nil {
		return err
	}
	k, err := s.deps.APIKeys.Revoke(r.Context(), p, id)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, apiKeyJSON(k))
}
