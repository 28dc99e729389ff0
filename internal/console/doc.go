// Package console is the operator console: server-rendered pages under /
// (the API stays under /api/). A page is a handler that decodes the
// request, calls a domain service with the signed-in principal and renders
// an html/template; it holds no SQL and makes no authorization decision, so
// a page can never do what the API would refuse.
//
// Every response carries a strict CSP with a per-response nonce, every
// state-changing form a synchronizer CSRF token bound to the console
// session (with net/http.CrossOriginProtection as a second wall), and
// errors leave as a plain page that shows only the request ID.
package console
