package egress

import (
	"errors"
	"net/netip"
	"net/url"
	"testing"
)

// TestCheckAddr: the addresses an attacker's skill would aim at are
// refused; an allowed private range opens itself but never metadata.
func TestCheckAddr(t *testing.T) {
	b := New(Options{})
	for _, s := range []string{
		"127.0.0.1", "::1", "10.0.0.5", "172.16.3.4", "192.168.1.1", "169.254.169.254", "169.254.170.2",
		"fd00:ec2::254", "100.100.100.200", "169.254.1.1", "fe80::1", "0.0.0.0", "0.1.2.3", "::", "224.0.0.1",
		"255.255.255.255", "100.64.0.1", "192.0.0.8", "198.18.0.1", "240.0.0.1", "64:ff9b::a00:1", "2002:a00:1::",
		"::ffff:127.0.0.1", "::ffff:169.254.169.254", "fec0::1", "fc00::1",
	} {
		var d *ErrDenied
		if err := b.checkAddr(netip.MustParseAddr(s)); !errors.As(err, &d) {
			t.Errorf("%s: %v, want refused", s, err)
		}
	}
	for _, s := range []string{"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "1.1.1.1"} {
		if err := b.checkAddr(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s: %v, want allowed", s, err)
		}
	}
	open := New(Options{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("169.254.0.0/16")}})
	if err := open.checkAddr(netip.MustParseAddr("10.1.2.3")); err != nil {
		t.Errorf("allowed private range refused: %v", err)
	}
	if err := open.checkAddr(netip.MustParseAddr("169.254.169.254")); err == nil {
		t.Error("metadata reachable through an allowed range")
	}
}

// TestCheckURL: scheme, userinfo, allowlist and port.
func TestCheckURL(t *testing.T) {
	b := New(Options{})
	allow := []string{"api.example.com", "*.example.org"}
	for raw, ok := range map[string]bool{
		"https://api.example.com/x":        true,
		"http://api.example.com:8080/":     true,
		"https://API.EXAMPLE.COM./":        true,
		"https://a.example.org/":           true,
		"https://example.org/":             false,
		"https://evil.com/":                false,
		"https://api.example.com.evil.com": false,
		"ftp://api.example.com/":           false,
		"file:///etc/passwd":               false,
		"https://u:p@api.example.com/":     false,
		"https://api.example.com:0/":       false,
		"https://api.example.com:99999/":   false,
		"https:///nohost":                  false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if err := b.checkURL(u, allow); (err == nil) != ok {
			t.Errorf("%s: %v, want allowed=%v", raw, err, ok)
		}
	}
}

// TestHeaderAllowed: headers that would redirect or forge a request are
// refused.
func TestHeaderAllowed(t *testing.T) {
	for _, h := range []string{"Host", "connection", "Transfer-Encoding", "X-Forwarded-For", "Forwarded", "Content-Length", ""} {
		if HeaderAllowed(h) {
			t.Errorf("%q allowed", h)
		}
	}
	if !HeaderAllowed("Accept") || !HeaderAllowed("X-Api-Version") {
		t.Error("ordinary header refused")
	}
}
