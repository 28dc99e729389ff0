package gateway

import (
	"net/http"
	"time"

	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/user"
)

type userResponse struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Initials string `json:"initials"`
	Role     string `json:"role"`
	Active   bool   `json:"active"`
	// Invited means the user has an invitation it has not accepted (it
	// may have expired) and so no password yet.
	Invited   bool      `json:"invited"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func userJSON(u store.User) userResponse {
	return userResponse{ID: u.ID, Email: u.Email, Name: u.Name, Initials: initials(u.Name),
		Role: u.Role, Active: u.Active, Invited: u.InviteHash != "",
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// invitedUserResponse is the answer to an invitation: the user and, this
// once, the token the Owner hands to the invitee.
type invitedUserResponse struct {
	userResponse
	InviteToken     string    `json:"inviteToken"`
	InviteExpiresAt time.Time `json:"inviteExpiresAt"`
}

// createUserRequest creates a user with a password, or invites one when
// password is absent or empty.
type createUserRequest struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

type setRoleRequest struct {
	Role string `json:"role"`
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	var req createUserRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, inv, err := s.deps.Users.Create(r.Context(), p, user.CreateInput(req))
	if err != nil {
		return err
	}
	if inv.Token != "" {
		return ok(w, http.StatusCreated, invitedUserResponse{
			userResponse: userJSON(u), InviteToken: inv.Token, InviteExpiresAt: inv.ExpiresAt,
		})
	}
	return ok(w, http.StatusCreated, userJSON(u))
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	pg, err := pagination(r)
	if err != nil {
		return err
	}
	us, total, err := s.deps.Users.List(r.Context(), p, pg)
	if err != nil {
		return err
	}
	out := make([]userResponse, len(us))
	for i, u := range us {
		out[i] = userJSON(u)
	}
	return okList(w, out, total, pg, store.Next(p.TenantID, pg, us))
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "userId")
	if err != nil {
		return err
	}
	u, err := s.deps.Users.Get(r.Context(), p, id)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, userJSON(u))
}

func (s *Server) setUserRole(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "userId")
	if err != nil {
		return err
	}
	var req setRoleRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, err := s.deps.Users.SetRole(r.Context(), p, id, req.Role)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, userJSON(u))
}

func (s *Server) deactivateUser(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "userId")
	if err != nil {
		return err
	}
	u, err := s.deps.Users.Deactivate(r.Context(), p, id)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, userJSON(u))
}

// reactivateUser lets a deactivated user log in again (Owner only); an
// active user is answered as it is.
func (s *Server) reactivateUser(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "userId")
	if err != nil {
		return err
	}
	u, err := s.deps.Users.Reactivate(r.Context(), p, id)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, userJSON(u))
}
