package gateway

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/requestid"
	"github.com/komand-ai/komand/internal/store"
)

// envelope is product.md's ApiResponse<T>. Errors add a stable machine code
// and the request ID.
type envelope struct {
	Success   bool    `json:"success"`
	Data      any     `json:"data"`
	Error     *string `json:"error"`
	Code      string  `json:"code,omitempty"`
	RequestID string  `json:"requestId,omitempty"`
	Meta      *meta   `json:"meta"`
}

// meta is a list's pagination. Total is exact up to store.CountLimit; past
// it Total is CountLimit and TotalCapped is true (counting stops there, so
// a page costs the same whatever the size of the list). NextCursor, set
// after a full page, continues the list (?cursor=); a page without it is
// the last.
type meta struct {
	Total       int    `json:"total"`
	TotalCapped bool   `json:"totalCapped,omitempty"`
	Page        int    `json:"page"`
	PageSize    int    `json:"pageSize"`
	NextCursor  string `json:"nextCursor,omitempty"`
}

// jsonContentType is shared by every JSON response (no allocation per
// response). Header.Set replaces the slice and Add copies a full one, so the
// shared array is never written.
var jsonContentType = []string{"application/json; charset=utf-8"}

func writeJSON(w http.ResponseWriter, status int, v envelope) {
	w.Header()["Content-Type"] = jsonContentType // shared, never written
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func ok(w http.ResponseWriter, status int, data any) error {
	writeJSON(w, status, envelope{Success: true, Data: data})
	return nil
}

// okList renders one page of a list: its rows (data, as the API shows
// them), the store's bounded total and the cursor after the page.
func okList(w http.ResponseWriter, data any, total int, pg store.Page, next string) error {
	shown, capped := store.TotalCapped(total)
	writeJSON(w, http.StatusOK, envelope{Success: true, Data: data,
		Meta: &meta{Total: shown, TotalCapped: capped, Page: pg.Page, PageSize: pg.PageSize, NextCursor: next}})
	return nil
}

// storeRetryAfter is the Retry-After of an answer to a store outage.
const storeRetryAfter = 5 * time.Second

// publicError turns any error into what a client may see. Only apperr values
// and the store/authz sentinels carry their meaning out; everything else is
// "internal error".
func publicError(err error) *apperr.Error {
	var mbe *http.MaxBytesError
	var denied *authz.DeniedError
	switch e, isApp := apperr.As(err); {
	case errors.Is(err, store.ErrUnavailable) && (!isApp || e.Kind == apperr.Internal):
		// The database is unreachable or cannot write: a client may
		// retry, unlike after an internal error.
		u := apperr.Wrap(err, apperr.Unavailable, "service temporarily unavailable; retry later")
		u.RetryAfter = storeRetryAfter
		return u
	case isApp:
		return e
	case errors.As(err, &mbe):
		return apperr.New(apperr.TooLarge, "request body is too large")
	case errors.Is(err, store.ErrNotFound):
		return apperr.New(apperr.NotFound, "not found")
	case errors.As(err, &denied):
		return apperr.New(apperr.Forbidden, denied.Message())
	case errors.Is(err, authz.ErrDenied):
		return apperr.New(apperr.Forbidden, "permission denied")
	case errors.Is(err, store.ErrConflict):
		return apperr.New(apperr.Conflict, "conflict")
	case errors.Is(err, store.ErrBadCursor):
		return errBadCursor
	case errors.Is(err, store.ErrLimit):
		return apperr.New(apperr.LimitReached, "a limit of the tenant is reached")
	}
	return apperr.New(apperr.Internal, "internal error")
}

// logError logs err with the request's context (server errors at error
// level with their cause, rejections at debug) and returns what the client
// may see of it.
func logError(r *http.Request, log *slog.Logger, err error) *apperr.Error {
	pe := publicError(err)
	status := pe.Kind.Status()
	if status >= 500 {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	} else {
		log.DebugContext(r.Context(), "request rejected", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	return pe
}

// writeError logs err with the request's context and writes the envelope.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	pe := logError(r, log, err)
	status := pe.Kind.Status()
	ctx := r.Context()
	if pe.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((pe.RetryAfter+time.Second-1)/time.Second)))
	}
	msg := pe.Message
	writeJSON(w, status, envelope{Error: &msg, Code: pe.Kind.Code(), RequestID: requestid.From(ctx)})
}
