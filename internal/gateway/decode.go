package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// DecodeJSON reads one JSON object from body into dst, strictly: the content
// type must be application/json, unknown fields are rejected, and nothing may
// follow the object. Errors are apperr values with plain messages; they name
// the field when there is one but never echo a value.
func DecodeJSON(contentType string, body io.Reader, dst any) error {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return apperr.New(apperr.UnsupportedMedia, "Content-Type must be application/json")
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return decodeError(err)
		}
		return apperr.New(apperr.Invalid, "request body must contain a single JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return apperr.Wrap(err, apperr.TooLarge, "request body is too large")
	case errors.Is(err, io.EOF):
		return apperr.New(apperr.Invalid, "request body is required")
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.Wrap(err, apperr.Invalid, "request body is not valid JSON")
	case errors.As(err, &ute):
		if ute.Field == "" {
			return apperr.Wrap(err, apperr.Invalid, "request body must be a JSON object")
		}
		return apperr.Field(safeFieldName(ute.Field), "has the wrong type")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return apperr.Field(safeFieldName(name), "is not a known field")
	}
	return apperr.Wrap(err, apperr.Invalid, "request body is not valid JSON")
}

// safeFieldName keeps a client-chosen field name printable and short before
// it goes into an error message.
func safeFieldName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 64 {
			b.WriteString("…")
			break
		}
		if r == '.' || r == '_' || r == '-' || r == '[' || r == ']' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteRune('?')
		}
	}
	if b.Len() == 0 {
		return "?"
	}
	return b.String()
}

func decode(r *http.Request, dst any) error {
	return DecodeJSON(r.Header.Get("Content-Type"), r.Body, dst)
}

// pagination reads page and pageSize from the query (defaults 1 and 50).
func pagination(r *http.Request) (store.Page, error) {
	pg := store.Page{Page: validate.DefaultPage, PageSize: validate.DefaultPerPage}
	q := r.URL.Query()
	for _, f := range []struct {
		name string
		dst  *int
	}{{"page", &pg.Page}, {"pageSize", &pg.PageSize}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || len(v) > 9 {
			return pg, apperr.Field(f.name, "must be an integer")
		}
		*f.dst = n
	}
	return pg, validate.Pagination(pg.Page, pg.PageSize)
}

// pathID reads a route parameter that must be a slug (agentId, skillId…).
func pathSlug(r *http.Request, name string) (string, error) {
	v := r.PathValue(name)
	return v, validate.Slug(name, v, validate.MaxIDLen)
}

// pathUUID reads a route parameter that must be a server-issued ID.
func pathUUID(r *http.Request, name string) (string, error) {
	v := r.PathValue(name)
	return v, validate.UUID(name, v)
}

// opt is a JSON field that remembers whether it was present and whether it
// was an explicit null, so that an update can tell "keep" (absent) from
// "clear" (null) and a non-nullable field can reject null instead of
// silently ignoring it.
type opt[T any] struct {
	set, null bool
	v         T
}

// UnmarshalJSON implements json.Unmarshaler; encoding/json calls it for an
// explicit null too.
func (o *opt[T]) UnmarshalJSON(b []byte) error {
	o.set = true
	if string(b) == "null" {
		o.null = true
		return nil
	}
	return json.Unmarshal(b, &o.v)
}

// ptr returns the value when one was given, nil when the field was absent,
// and a validation error naming field when it was an explicit null: for
// fields that must not be null.
func (o opt[T]) ptr(field string) (*T, error) {
	if o.null {
		return nil, apperr.Field(field, "must not be null")
	}
	if !o.set {
		return nil, nil
	}
	v := o.v
	return &v, nil
}
