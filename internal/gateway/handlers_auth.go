package gateway

import (
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	return ok(w, http.StatusOK, map[string]string{"status": "ok", "version": s.opts.Version})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	if err := s.readiness.check(r.Context()); err != nil {
		s.log.WarnContext(r.Context(), "readiness check failed", "err", err)
		msg := "database unavailable"
		writeJSON(w, http.StatusServiceUnavailable, envelope{Error: &msg, Code: "unavailable",
			Data: map[string]string{"status": "unavailable"}, RequestID: requestIDOf(r)})
		return nil
	}
	return ok(w, http.StatusOK, map[string]string{"status": "ready"})
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type refreshRequest struct {
	RefreshToken string `json:"refreshToken"`
}

type acceptInviteRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

type userSummary struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Initials string `json:"initials"`
}

type tokenResponse struct {
	Token        string       `json:"token"`
	RefreshToken string       `json:"refreshToken"`
	ExpiresAt    time.Time    `json:"expiresAt"`
	User         *userSummary `json:"user,omitempty"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validate.First(
		validate.Text("email", req.Email, validate.MaxNameLen),
		validate.Required("password", req.Password),
		validate.MaxLen("password", req.Password, 1024),
	); err != nil {
		return err
	}
	t, u, err := s.deps.Auth.Login(r.Context(), req.Email, req.Password, clientIP(r, s.opts.TrustedProxies))
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, tokens(t, &u))
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) error {
	var req refreshRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validate.Text("refreshToken", req.RefreshToken, validate.MaxNameLen); err != nil {
		return err
	}
	t, err := s.deps.Auth.Refresh(r.Context(), req.RefreshToken, clientIP(r, s.opts.TrustedProxies))
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, tokens(t, nil))
}

// acceptInvite sets an invited user's first password with the invitation
// token. The answer is the user; it then logs in as usual.
func (s *Server) acceptInvite(w http.ResponseWriter, r *http.Request) error {
	var req acceptInviteRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validate.First(
		validate.Text("token", req.Token, validate.MaxNameLen),
		validate.Required("password", req.Password),
	); err != nil {
		return err
	}
	u, err := s.deps.Users.AcceptInvite(r.Context(), req.Token, req.Password)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, userJSON(u))
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	if err := s.deps.Auth.Logout(r.Context(), p); err != nil {
		return err
	}
	return ok(w, http.StatusOK, nil)
}

type principalResponse struct {
	ID       string `json:"id"`
	TenantID string `json:"tenantId"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Initials string `json:"initials"`
	APIKeyID string `json:"apiKeyId,omitempty"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	return ok(w, http.StatusOK, principalResponse{
		ID: p.UserID, TenantID: p.TenantID, Email: p.Email, Name: p.Name,
		Role: string(p.Role), Initials: initials(p.Name), APIKeyID: p.APIKeyID,
	})
}

func tokens(t authn.Tokens, u *store.User) tokenResponse {
	out := tokenResponse{Token: t.AccessToken, RefreshToken: t.RefreshToken, ExpiresAt: t.ExpiresAt}
	if u != nil {
		out.User = &userSummary{ID: u.ID, Name: u.Name, Email: u.Email, Initials: initials(u.Name)}
	}
	return out
}

// initials returns up to two uppercase initials of a name.
func initials(name string) string {
	var b strings.Builder
	for _, f := range strings.Fields(name) {
		for _, r := range f {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				b.WriteRune(unicode.ToUpper(r))
				break
			}
		}
		if b.Len() >= 2 && len([]rune(b.String())) >= 2 {
			break
		}
	}
	return b.String()
}
