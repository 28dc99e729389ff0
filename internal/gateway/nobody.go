package gateway

import (
	"bytes"
	"io"
	"net/http"
	"sort"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/authz"
)

// maxNoBody is how much of a body-less route's body is read: enough for
// "{}" with some whitespace around and inside it.
const maxNoBody = 64

// errBodyNotTaken refuses a body sent to a route that takes none (POST
// /api/users/{id}/reactivate with {"x":1}): the server would ignore it, so
// the client would believe a field was honoured that was not.
var errBodyNotTaken = apperr.New(apperr.Invalid, "this request takes no body (send none or {})")

// bodyless is the handler of a route that takes no request body; the type
// marks the route in the table (see BodylessRoutes).
type bodyless struct{ http.Handler }

// authedNoBody is authed for a route that takes no body: after
// authentication (the unauthenticated still get 401) and the rate limit,
// a body other than none, whitespace or {} is refused with 400.
func (s *Server) authedNoBody(h authedHandler) http.Handler {
	return bodyless{s.authed(func(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
		if err := noBody(r); err != nil {
			return err
		}
		return h(w, r, p)
	})}
}

// noBody reads at most maxNoBody+1 bytes of r's body and refuses anything
// but JSON whitespace or an empty object.
func noBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxNoBody+1))
	if err != nil {
		return decodeError(err)
	}
	if len(b) > maxNoBody {
		return errBodyNotTaken
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	if len(b) >= 2 && b[0] == '{' && b[len(b)-1] == '}' && len(bytes.TrimSpace(b[1:len(b)-1])) == 0 {
		return nil
	}
	return errBodyNotTaken
}

// BodylessRoutes lists the API's routes that take no request body, as
// "METHOD /path" with the table's path patterns ({userId}), sorted. It is
// read from the route table, for the tests that send each a body.
func BodylessRoutes() []string {
	var out []string
	for _, rt := range (&Server{}).table() {
		if _, ok := rt.h.(bodyless); ok {
			out = append(out, rt.method+" "+rt.path)
		}
	}
	sort.Strings(out)
	return out
}
