// Package egress is the SSRF-safe broker every sandboxed skill's network
// request goes through (Broker.Do): the only way out of a sandbox to the
// network. It imports nothing of Komand but validate (host patterns), so
// the sandboxes, the app and the CLI share one implementation of the rule.
package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/komand-ai/komand/internal/validate"
)

// Broker is the only way out of a sandbox to the network. A skill asks it
// for one HTTP request; it checks the URL's host against the skill's
// granted allowlist, resolves the name itself, refuses any address that is
// loopback, private, link-local, multicast, unspecified, shared (CGNAT) or
// a cloud metadata endpoint (SSRF), dials the address it checked (so a
// second resolution cannot swap it: DNS rebinding), re-checks every
// redirect the same way, and caps the response's size and time.
//
// One Broker serves the whole process; the per-execution allowlist comes
// with each request.
type Broker struct {
	resolver *net.Resolver
	// allowPrivate are the address ranges a deployment opened on purpose
	// (an internal API); metadata addresses stay refused even inside them.
	allowPrivate []netip.Prefix
	timeout      time.Duration
	maxBody      int64
	maxRedirects int
	// dial is net.Dialer.DialContext, replaceable in tests of the dial
	// step itself.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// tlsConfig is for tests that serve HTTPS with their own CA.
	tlsConfig *tls.Config
}

// Options configure an Broker. Zero values take the defaults.
type Options struct {
	Resolver      *net.Resolver
	AllowPrivate  []netip.Prefix
	Timeout       time.Duration // per request, default 10 s
	MaxBodyBytes  int64         // response body cap, default 1 MiB
	MaxRedirects  int           // default 3
	TLSClientConf *tls.Config
}

// New returns the egress broker.
func New(o Options) *Broker {
	e := &Broker{resolver: o.Resolver, allowPrivate: o.AllowPrivate, timeout: o.Timeout,
		maxBody: o.MaxBodyBytes, maxRedirects: o.MaxRedirects, tlsConfig: o.TLSClientConf}
	if e.resolver == nil {
		e.resolver = net.DefaultResolver
	}
	if e.timeout <= 0 {
		e.timeout = 10 * time.Second
	}
	if e.maxBody <= 0 {
		e.maxBody = 1 << 20
	}
	if e.maxRedirects <= 0 {
		e.maxRedirects = 3
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	e.dial = d.DialContext
	return e
}

// Request is what a skill asks for (the host ABI's http_request).
type Request struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	// Auth attaches a credential by reference: the host reads the granted
	// credential and sets the header; the module never sees the value.
	Auth *Auth `json:"auth,omitempty"`
}

// Auth names a credential and where it goes.
type Auth struct {
	Credential string `json:"credential"`
	Header     string `json:"header,omitempty"` // default Authorization
	Scheme     string `json:"scheme,omitempty"` // e.g. Bearer; "" puts the bare value
}

// Response is what the skill gets back.
type Response struct {
	Status    int               `json:"status"`
	Headers   map[string]string `json:"headers"`
	Body      string            `json:"body"`
	Truncated bool              `json:"truncated,omitempty"`
}

// Call is the audit record of one request (allowed or not): never
// the path, query, headers or body, which may carry customer data.
type Call struct {
	Method   string `json:"method"`
	Host     string `json:"host"`
	Status   int    `json:"status,omitempty"`
	Bytes    int    `json:"bytes,omitempty"`
	Denied   string `json:"denied,omitempty"`
	Redirect bool   `json:"redirect,omitempty"`
}

// ErrDenied is a request the policy refused; its message is safe to
// show the skill (and the model).
type ErrDenied struct{ Reason string }

func (e *ErrDenied) Error() string { return "network request refused: " + e.Reason }

func denied(format string, args ...any) error {
	return &ErrDenied{Reason: fmt.Sprintf(format, args...)}
}

// metadata are cloud instance-metadata addresses, refused even inside an
// allowed private range.
var metadata = []netip.Prefix{
	netip.MustParsePrefix("169.254.169.254/32"), // AWS, GCP, Azure, OpenStack
	netip.MustParsePrefix("169.254.170.2/32"),   // ECS task metadata
	netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS IPv6
	netip.MustParsePrefix("100.100.100.200/32"), // Alibaba
}

// special are ranges netip's predicates do not cover that a skill must not
// reach: shared address space (CGNAT), IETF protocol assignments,
// benchmarking, reserved, and IPv6 forms that embed an IPv4 address (NAT64,
// 6to4, IPv4-compatible) or are site-local.
var special = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2002::/16"),
	netip.MustParsePrefix("::/96"),
	netip.MustParsePrefix("fec0::/10"),
}

// checkAddr refuses what a skill must never reach.
func (e *Broker) checkAddr(a netip.Addr) error {
	a = a.Unmap()
	for _, p := range metadata {
		if p.Contains(a) {
			return denied("metadata address")
		}
	}
	for _, p := range e.allowPrivate {
		if p.Contains(a) {
			return nil
		}
	}
	switch {
	case a.IsLoopback():
		return denied("loopback address")
	case a.IsPrivate():
		return denied("private address")
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return denied("link-local address")
	case a.IsUnspecified(), a.IsMulticast(), a.IsInterfaceLocalMulticast():
		return denied("non-unicast address")
	case a.Is4() && a.As4()[0] == 0: // 0.0.0.0/8 "this network"
		return denied("non-unicast address")
	case a == netip.IPv4Unspecified() || !a.IsGlobalUnicast():
		return denied("non-unicast address")
	}
	for _, p := range special {
		if p.Contains(a) {
			return denied("reserved or translated address")
		}
	}
	return nil
}

// checkURL validates scheme and host of one hop.
func (e *Broker) checkURL(u *url.URL, allow []string) error {
	if u.Scheme != "https" && u.Scheme != "http" {
		return denied("only http and https")
	}
	if u.User != nil {
		return denied("credentials in the URL")
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "" {
		return denied("no host")
	}
	if !validate.HostAllowed(host, allow) {
		return denied("host %q is not on the skill's allowlist", truncateRunes(host, 100))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return denied("bad port")
		}
	}
	return nil
}

// dialChecked resolves addr's host, refuses it when any address is one a
// skill may not reach, and dials the first allowed address. A name that
// resolves to a mix of public and private addresses is refused whole.
func (e *Broker) dialChecked(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, denied("bad address")
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ips, err = e.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil || len(ips) == 0 {
			return nil, denied("host does not resolve")
		}
	}
	for _, ip := range ips {
		if err := e.checkAddr(ip); err != nil {
			return nil, err
		}
	}
	return e.dial(ctx, network, net.JoinHostPort(ips[0].Unmap().String(), port))
}

// Do runs one request for a skill whose granted allowlist is allow. auth,
// when set, is the resolved credential header (name and value) to attach;
// the caller scrubs its value from the response. Every hop is appended to
// calls.
func (e *Broker) Do(ctx context.Context, req Request, allow []string, auth *[2]string, calls *[]Call) (Response, error) {
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return Response{}, denied("method not allowed")
	}
	u, err := url.Parse(req.URL)
	if err != nil || !u.IsAbs() {
		return Response{}, denied("bad URL")
	}
	rec := func(c Call) {
		if calls != nil && len(*calls) < 100 {
			*calls = append(*calls, c)
		}
	}
	if err := e.checkURL(u, allow); err != nil {
		rec(Call{Method: method, Host: truncateRunes(u.Hostname(), 100), Denied: err.(*ErrDenied).Reason})
		return Response{}, err
	}
	if auth != nil && u.Scheme != "https" {
		rec(Call{Method: method, Host: truncateRunes(u.Hostname(), 100), Denied: "credential over plain http"})
		return Response{}, denied("credentials are sent over https only")
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, method, u.String(), strings.NewReader(req.Body))
	if err != nil {
		return Response{}, denied("bad request")
	}
	for k, v := range req.Headers {
		if !HeaderAllowed(k) {
			return Response{}, denied("header %q not allowed", truncateRunes(k, 64))
		}
		hr.Header.Set(k, v)
	}
	if auth != nil {
		hr.Header.Set(auth[0], auth[1])
	}
	// The transport dials only checked addresses; no proxy from the
	// environment (it would bypass the check); no connection reuse across
	// executions.
	tr := &http.Transport{
		DialContext:            e.dialChecked,
		Proxy:                  nil,
		TLSClientConfig:        e.tlsConfig,
		DisableKeepAlives:      true,
		ForceAttemptHTTP2:      false,
		ResponseHeaderTimeout:  e.timeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
	defer tr.CloseIdleConnections()
	hops := 0
	client := &http.Client{Transport: tr, CheckRedirect: func(next *http.Request, via []*http.Request) error {
		hops++
		prev := via[len(via)-1]
		rec(Call{Method: prev.Method, Host: prev.URL.Hostname(), Status: next.Response.StatusCode, Redirect: true})
		if hops > e.maxRedirects {
			return denied("too many redirects")
		}
		if err := e.checkURL(next.URL, allow); err != nil {
			return err
		}
		// A credential goes only to the scheme, host and port it was
		// attached for.
		if auth != nil && (next.URL.Scheme != u.Scheme || !strings.EqualFold(next.URL.Host, u.Host)) {
			next.Header.Del(auth[0])
		}
		return nil
	}}
	resp, err := client.Do(hr)
	if err != nil {
		var de *ErrDenied
		if errors.As(err, &de) {
			rec(Call{Method: method, Host: hr.URL.Hostname(), Denied: de.Reason})
			return Response{}, de
		}
		rec(Call{Method: method, Host: hr.URL.Hostname(), Denied: "unreachable"})
		if ctx.Err() != nil {
			return Response{}, &ErrDenied{Reason: "timed out"}
		}
		return Response{}, &ErrDenied{Reason: "request failed"}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, e.maxBody+1))
	if err != nil && ctx.Err() != nil {
		return Response{}, &ErrDenied{Reason: "timed out"}
	}
	out := Response{Status: resp.StatusCode, Headers: map[string]string{}}
	if int64(len(body)) > e.maxBody {
		body, out.Truncated = body[:e.maxBody], true
	}
	out.Body = string(body)
	for _, k := range []string{"Content-Type", "Content-Length", "Etag", "Last-Modified", "Location", "Retry-After"} {
		if v := resp.Header.Get(k); v != "" {
			out.Headers[k] = v
		}
	}
	rec(Call{Method: method, Host: resp.Request.URL.Hostname(), Status: resp.StatusCode, Bytes: len(body)})
	return out, nil
}

// HeaderAllowed refuses headers that would change where or how the
// request goes (hop-by-hop, Host) or forge the platform's identity.
func HeaderAllowed(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Host", "Connection", "Proxy-Authorization", "Proxy-Connection", "Transfer-Encoding",
		"Te", "Trailer", "Upgrade", "Keep-Alive", "Content-Length", "X-Forwarded-For", "Forwarded":
		return false
	}
	return k != "" && len(k) <= 128
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
