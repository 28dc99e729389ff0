package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// DecodeJSON reads one JSON object from body into dst, strictly: the content
// type must be application/json, the body an object (not null, an array or
// a scalar), unknown fields are rejected, nothing may
// follow the object, and no object (at any depth) may give a key twice.
// encoding/json keeps the last of two equal keys, and matches field names
// without regard to case, so keys that differ only in case are refused as
// duplicates too: a body must mean the same to every reader of it (a proxy
// or log that keeps the first "agentId", a service that keeps the last).
// Errors are apperr values with plain messages; they name the field when
// there is one but never echo a value.
func DecodeJSON(contentType string, body io.Reader, dst any) error {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return apperr.New(apperr.UnsupportedMedia, "Content-Type must be application/json")
	}
	// The body is bounded (the server's MaxBytesReader); it is read once
	// and scanned twice, by the decoder and by the duplicate-key check.
	data, err := io.ReadAll(body)
	if err != nil {
		return decodeError(err)
	}
	// One object, not null (which encoding/json decodes as "change
	// nothing", so {} for a struct and a reset for a document) nor any
	// other value.
	if v := bytes.TrimLeft(data, " \t\r\n"); len(v) > 0 && v[0] != '{' {
		return apperr.New(apperr.Invalid, "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return apperr.New(apperr.Invalid, "request body must contain a single JSON object")
	}
	if key, dup := duplicateKey(data); dup {
		return apperr.Field(safeFieldName(key), "is given more than once")
	}
	return nil
}

// duplicateKey reports the first key that an object of doc (one valid
// JSON value, as the decoder has just checked) gives twice, comparing keys
// as encoding/json matches field names (case-folded), with the path of
// objects it is in ("meta.a"). It is a byte scan, not a second parse:
// values are skipped, and only keys are looked at (unescaped only when
// they hold a backslash), so it costs a fraction of the decoding.
func duplicateKey(doc []byte) (string, bool) {
	type frame struct {
		obj  bool
		keys map[string]struct{}
		path string
	}
	var stack []frame
	wantKey := false // the next string is a key of the innermost object
	lastKey := ""
	for i := 0; i < len(doc); i++ {
		switch c := doc[i]; c {
		case '{', '[':
			path := ""
			if n := len(stack); n > 0 {
				path = stack[n-1].path
				if stack[n-1].obj {
					path = joinKey(path, lastKey)
				}
			}
			stack = append(stack, frame{obj: c == '{', path: path})
			wantKey = c == '{'
		case '}', ']':
			stack = stack[:len(stack)-1]
		case ',':
			wantKey = len(stack) > 0 && stack[len(stack)-1].obj
		case '"':
			j := i + 1
			escaped := false
			for ; j < len(doc) && doc[j] != '"'; j++ {
				if doc[j] == '\\' {
					escaped = true
					j++
				}
			}
			if wantKey {
				key := string(doc[i+1 : j])
				if escaped {
					if err := json.Unmarshal(doc[i:j+1], &key); err != nil {
						return "", false // cannot happen: doc is valid
					}
				}
				top := &stack[len(stack)-1]
				k := string(foldKey(key))
				if _, seen := top.keys[k]; seen {
					return joinKey(top.path, key), true
				}
				if top.keys == nil {
					top.keys = make(map[string]struct{})
				}
				top.keys[k] = struct{}{}
				wantKey, lastKey = false, key
			}
			i = j
		}
	}
	return "", false
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// foldKey folds a key the way encoding/json folds field names to match
// them: ASCII upper case, and every other rune to the smallest rune of its
// Unicode simple fold orbit (so "K" and the Kelvin sign K match).
func foldKey(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r < utf8.RuneSelf {
			c := byte(r)
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			continue
		}
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		out = utf8.AppendRune(out, r)
	}
	return out
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
	case errors.As(err, &se) && strings.Contains(se.Error(), "exceeded max depth"):
		// encoding/json's own limit: 10000 nested objects and arrays.
		return apperr.Wrap(err, apperr.Invalid, "request body is nested too deeply (at most 10000 levels)")
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

// pagination reads page, pageSize and cursor from the query (defaults 1, 50
// and none). A cursor (meta.nextCursor of the previous page) replaces the
// page number; the store checks that it belongs to the list and tenant.
func pagination(r *http.Request) (store.Page, error) {
	pg := store.Page{Page: validate.DefaultPage, PageSize: validate.DefaultPerPage}
	q := r.URL.Query()
	if c := q.Get("cursor"); c != "" {
		if len(c) > maxCursorLen || strings.Trim(c, cursorChars) != "" {
			return pg, errBadCursor
		}
		if v := q.Get("page"); v != "" && v != "1" {
			return pg, apperr.Field("page", "cannot be combined with cursor (a cursor continues after the previous page)")
		}
		pg.Cursor = c
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"page", &pg.Page}, {"pageSize", &pg.PageSize}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if ne := (*strconv.NumError)(nil); errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			// An integer too large for int is out of range, which
			// validate.Pagination says with the range.
			n, err = math.MaxInt, nil
			if strings.HasPrefix(v, "-") {
				n = math.MinInt
			}
		}
		if err != nil {
			return pg, apperr.Field(f.name, "must be an integer")
		}
		*f.dst = n
	}
	return pg, validate.Pagination(pg.Page, pg.PageSize)
}

const (
	maxCursorLen = 1024
	cursorChars  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" // base64url
)

// errBadCursor is a cursor that is not one of this list's (altered, of
// another list or tenant, or not a cursor at all).
var errBadCursor = apperr.Field("cursor", "is not a cursor of this list; start again from the first page without it")

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
