package gateway

import (
	"maps"
	"net/http"
	"slices"

	"github.com/komand-ai/komand/internal/apperr"
)

// queryOnce refuses a query that gives a parameter more than once
// (?pageSize=10&pageSize=1000): url.Values.Get reads the first, a proxy or
// a log may read the last, so the request would mean two things. No
// endpoint takes a repeated parameter. It is the one check of the query's
// shape, before the handler reads any parameter; the route wrappers of
// the API (public, authed, webchat) call it.
func queryOnce(r *http.Request) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	q := r.URL.Query()
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if len(q[k]) > 1 {
			return apperr.Field(safeFieldName(k), "must be given once")
		}
	}
	return nil
}
