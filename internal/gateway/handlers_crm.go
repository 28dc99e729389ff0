package gateway

import (
	"net/http"
	"time"

	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/crm"
	"github.com/komand-ai/komand/internal/store"
)

type contactResponse struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Phone     string    `json:"phone"`
	Company   string    `json:"company"`
	Notes     string    `json:"notes"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func contactJSON(c store.Contact) contactResponse {
	return contactResponse{ID: c.ID, Name: c.Name, Email: c.Email, Phone: c.Phone, Company: c.Company, Notes: c.Notes,
		CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

type contactBody struct {
	Name    string `json:"name"`
	Email   string `json:"email"`
	Phone   string `json:"phone"`
	Company string `json:"company"`
	Notes   string `json:"notes"`
}

func (b contactBody) input() crm.Input {
	return crm.Input{Name: b.Name, Email: b.Email, Phone: b.Phone, Company: b.Company, Notes: b.Notes}
}

func (s *Server) createContact(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	var b contactBody
	if err := decode(r, &b); err != nil {
		return err
	}
	c, err := s.deps.CRM.Create(r.Context(), p, b.input())
	if err != nil {
		return err
	}
	return ok(w, http.StatusCreated, contactJSON(c))
}

func (s *Server) listContacts(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	pg, err := pagination(r)
	if err != nil {
		return err
	}
	cs, total, err := s.deps.CRM.List(r.Context(), p, r.URL.Query().Get("q"), pg)
	if err != nil {
		return err
	}
	out := make([]contactResponse, len(cs))
	for i, c := range cs {
		out[i] = contactJSON(c)
	}
	return okList(w, out, total, pg, store.Next(p.TenantID, pg, cs))
}

func (s *Server) getContact(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	c, err := s.deps.CRM.Get(r.Context(), p, r.PathValue("contactId"))
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, contactJSON(c))
}

func (s *Server) updateContact(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	var b contactBody
	if err := decode(r, &b); err != nil {
		return err
	}
	c, err := s.deps.CRM.Update(r.Context(), p, r.PathValue("contactId"), b.input())
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, contactJSON(c))
}

func (s *Server) deleteContact(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	if err := s.deps.CRM.Delete(r.Context(), p, r.PathValue("contactId")); err != nil {
		return err
	}
	return ok(w, http.StatusOK, map[string]bool{"deleted": true})
}
