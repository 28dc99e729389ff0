package config

import (
	"net/netip"
	"strconv"
	"strings"
)

// AllowedOrigin reports whether a cross-origin request from origin (the
// Origin request header, verbatim) is allowed, as security.md's CORS table
// says:
//
//   - Development: localhost only, that is an http or https origin whose
//     host is localhost, 127.0.0.1 or [::1], on any port. Cors.AllowedOrigins
//     is not consulted.
//   - Production (and any other environment value): an exact match against
//     Cors.AllowedOrigins, ignoring the case of the scheme and host. An empty
//     list allows nothing.
//
// origin must be a serialised origin, scheme://host[:port], as browsers
// send it; anything else ("null", a trailing slash or path, user
// information, a wildcard, non-ASCII) is refused in both environments.
func (c Config) AllowedOrigin(origin string) bool {
	o, ok := parseOrigin(origin)
	if !ok {
		return false
	}
	if c.IsDevelopment() {
		switch o.host {
		case "localhost", "127.0.0.1", "[::1]":
			return true
		}
		return false
	}
	for _, allowed := range c.Cors.AllowedOrigins {
		if asciiEqualFold(origin, allowed) {
			return true
		}
	}
	return false
}

// origin is a parsed serialised origin, scheme and host in lower case.
type origin struct {
	scheme string // "http" or "https"
	host   string // a DNS name, an IPv4 address, or [IPv6]
	port   string // digits, or "" for the scheme's default port
}

// parseOrigin parses scheme://host[:port] strictly: http or https only, an
// ASCII host name, IPv4 address or bracketed IPv6 address (no zone), an
// optional port 0..65535, and nothing else (no path, not even "/", no query,
// fragment or user information).
func parseOrigin(s string) (origin, bool) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return origin{}, false
	}
	scheme = asciiLower(scheme)
	if scheme != "http" && scheme != "https" {
		return origin{}, false
	}

	var host, after string
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return origin{}, false
		}
		a, err := netip.ParseAddr(rest[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return origin{}, false
		}
		host, after = asciiLower(rest[:end+1]), rest[end+1:]
	} else {
		i := strings.IndexByte(rest, ':')
		if i < 0 {
			i = len(rest)
		}
		host, after = asciiLower(rest[:i]), rest[i:]
		if !validHostName(host) {
			return origin{}, false
		}
	}

	var port string
	if after != "" {
		p, ok := strings.CutPrefix(after, ":")
		if !ok || !isDigits(p) || len(p) > 5 {
			return origin{}, false
		}
		if n, err := strconv.Atoi(p); err != nil || n > 65535 {
			return origin{}, false
		}
		port = p
	}
	return origin{scheme: scheme, host: host, port: port}, true
}

// validHostName accepts ASCII letters, digits, '.', '-' and '_' (browsers
// allow underscores), not starting or ending with a dot and without empty
// labels.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 || h[0] == '.' || h[len(h)-1] == '.' || strings.Contains(h, "..") {
		return false
	}
	for i := 0; i < len(h); i++ {
		b := h[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '.', b == '-', b == '_':
		default:
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// asciiEqualFold is strings.EqualFold restricted to ASCII, so that no
// Unicode folding (the Kelvin sign folds to "k") can make two different
// origins equal.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
