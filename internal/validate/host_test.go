package validate

import (
	"errors"
	"testing"
)

func TestNormalHost(t *testing.T) {
	for in, want := range map[string]string{
		"API.Example.com.": "api.example.com", "*.Example.com": "*.example.com", " 127.0.0.1 ": "127.0.0.1",
		"2001:DB8::1": "2001:db8::1", "localhost": "localhost",
	} {
		if got, err := NormalHost(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]error{
		"*.com": ErrWildcardTLD, "*": ErrNotHost, "": ErrNotHost, "a..b": ErrNotHost, "api.example.com/x": ErrNotHost,
		"user@host": ErrNotHost, "*.*.example.com": ErrNotHost, "-a.example.com": ErrNotHost, "a b": ErrNotHost,
	} {
		if _, err := NormalHost(in); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", in, err, want)
		}
	}
}

func TestHostAllowed(t *testing.T) {
	allow := []string{"api.example.com", "*.files.example.net"}
	for host, want := range map[string]bool{
		"api.example.com": true, "eu.files.example.net": true, "a.b.files.example.net": true,
		"files.example.net": false, "example.com": false, "api.example.com.evil.test": false, "xapi.example.com": false, "": false,
	} {
		if got := HostAllowed(host, allow); got != want {
			t.Errorf("%q: %v, want %v", host, got, want)
		}
	}
}
