package gateway

import (
	"net/http"
	"net/netip"
	"testing"
)

// TestClientIP: X-Forwarded-For counts only when the TCP peer is a trusted
// proxy, and then only the hops that trusted proxies appended; whatever the
// client wrote to the left is never taken.
func TestClientIP(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", " 192.0.2.7 ", "", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, remote string
		xff          []string
		trusted      []netip.Prefix
		want         string
	}{
		{"no proxies configured: header ignored", "198.51.100.9:4000", []string{"203.0.113.1"}, nil, "198.51.100.9"},
		{"untrusted peer: header ignored", "198.51.100.9:4000", []string{"203.0.113.1"}, trusted, "198.51.100.9"},
		{"trusted peer, one hop", "10.1.2.3:4000", []string{"203.0.113.1"}, trusted, "203.0.113.1"},
		{"forged left part is skipped", "10.1.2.3:4000", []string{"1.1.1.1, 203.0.113.1"}, trusted, "203.0.113.1"},
		{"chain of trusted proxies", "10.1.2.3:4000", []string{"203.0.113.1, 192.0.2.7", "10.9.9.9"}, trusted, "203.0.113.1"},
		{"malformed hop ends the chain", "10.1.2.3:4000", []string{"203.0.113.1, not-an-ip"}, trusted, "10.1.2.3"},
		{"only trusted hops: the last trusted one", "10.1.2.3:4000", []string{"10.4.4.4"}, trusted, "10.4.4.4"},
		{"no header from a trusted peer", "10.1.2.3:4000", nil, trusted, "10.1.2.3"},
		{"IPv4-mapped peer is unmapped", "[::ffff:10.1.2.3]:4000", []string{"203.0.113.1"}, trusted, "203.0.113.1"},
		{"IPv6", "[2001:db8::1]:4000", []string{"2001:db9::5"}, trusted, "2001:db9::5"},
		{"injection text in header", "10.1.2.3:4000", []string{"203.0.113.1\r\nX-Evil: 1"}, trusted, "10.1.2.3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: c.remote, Header: http.Header{}}
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r, c.trusted); got != c.want {
				t.Fatalf("clientIP = %q, want %q", got, c.want)
			}
		})
	}
	for _, bad := range []string{"10.0.0.0/33", "not-an-ip", "10.0.0.1/x"} {
		if _, err := ParseTrustedProxies([]string{bad}); err == nil {
			t.Errorf("ParseTrustedProxies(%q) accepted", bad)
		}
	}
}

// TestClientNet: IPv6 clients are keyed by their /64, IPv4 clients by
// their address.
func TestClientNet(t *testing.T) {
	for remote, want := range map[string]string{
		"[2001:db8:1:2::1]:4000":               "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff:ffff:ffff:ffff]:1": "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:4000":               "2001:db8:1:3::/64",
		"[fe80::1%eth0]:4000":                  "fe80::/64",
		"198.51.100.9:4000":                    "198.51.100.9",
		"[::ffff:198.51.100.9]:4000":           "198.51.100.9",
	} {
		if got := clientNet(&http.Request{RemoteAddr: remote, Header: http.Header{}}, nil); got != want {
			t.Errorf("clientNet(%s) = %q, want %q", remote, got, want)
		}
	}
}
