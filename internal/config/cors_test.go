package config

import "testing"

func TestAllowedOriginDevelopment(t *testing.T) {
	c := Default()
	c.Environment = Development
	// Configured origins are not consulted in Development.
	c.Cors.AllowedOrigins = []string{"https://app.example.com"}

	tests := []struct {
		origin string
		want   bool
	}{
		{"http://localhost", true},
		{"http://localhost:3000", true},
		{"https://localhost:8443", true},
		{"http://127.0.0.1:5173", true},
		{"http://127.0.0.1", true},
		{"http://[::1]:3000", true},
		{"https://[::1]", true},
		{"HTTP://LOCALHOST:3000", true},
		{"http://LocalHost:3000", true},

		{"http://localhost.evil.com", false},
		{"http://localhost.evil.com:3000", false},
		{"http://evil-localhost:3000", false},
		{"http://evil.com@localhost", false},
		{"http://localhost@evil.com", false},
		{"http://localhost:3000/", false},
		{"http://localhost/", false},
		{"http://localhost:3000/path", false},
		{"http://localhost:3000?x=1", false},
		{"http://localhost:3000#f", false},
		{"http://localhost:", false},
		{"http://localhost:99999", false},
		{"http://localhost:abc", false},
		{"http://localhost:3000 ", false},
		{" http://localhost:3000", false},
		{"http://localhost%2eevil.com", false},
		{"http://127.0.0.2", false},
		{"http://[::2]", false},
		{"http://[::1%25lo]", false},
		{"http://::1", false},
		{"http://0.0.0.0:3000", false},
		{"ws://localhost:3000", false},
		{"file://localhost", false},
		{"localhost:3000", false},
		{"//localhost:3000", false},
		{"null", false},
		{"", false},
		{"*", false},
		{"https://app.example.com", false},
	}
	for _, tt := range tests {
		if got := c.AllowedOrigin(tt.origin); got != tt.want {
			t.Errorf("Development AllowedOrigin(%q) = %v, want %v", tt.origin, got, tt.want)
		}
	}
}

func TestAllowedOriginProduction(t *testing.T) {
	c := Default()
	c.Cors.AllowedOrigins = []string{"https://app.example.com", "https://admin.example.com:8443", "HTTP://Legacy.Example.com"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		origin string
		want   bool
	}{
		{"https://app.example.com", true},
		{"HTTPS://APP.EXAMPLE.COM", true},
		{"https://admin.example.com:8443", true},
		{"http://legacy.example.com", true},

		{"http://app.example.com", false},           // scheme differs
		{"https://app.example.com:443", false},      // browsers never send the default port
		{"https://app.example.com/", false},         // trailing slash
		{"https://app.example.com.evil.com", false}, // suffix
		{"https://evil.app.example.com", false},     // subdomain
		{"https://admin.example.com", false},        // port differs
		{"https://admin.example.com:8444", false},   // port differs
		{"https://\u212aapp.example.com", false},    // Kelvin sign
		{"https://app.example.com\x00", false},      // control byte
		{"http://localhost:3000", false},            // localhost is not special in Production
		{"null", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := c.AllowedOrigin(tt.origin); got != tt.want {
			t.Errorf("Production AllowedOrigin(%q) = %v, want %v", tt.origin, got, tt.want)
		}
	}
}

func TestAllowedOriginProductionEmptyListAllowsNothing(t *testing.T) {
	c := Default()
	for _, o := range []string{"http://localhost:3000", "https://app.example.com", "null", "*"} {
		if c.AllowedOrigin(o) {
			t.Errorf("AllowedOrigin(%q) = true with no configured origins", o)
		}
	}
	// Unvalidated wildcard entries never match anything either.
	c.Cors.AllowedOrigins = []string{"*", "null", "https://*.example.com"}
	for _, o := range []string{"https://a.example.com", "null", "*", "https://*.example.com"} {
		if c.AllowedOrigin(o) {
			t.Errorf("AllowedOrigin(%q) = true with wildcard entries", o)
		}
	}
}

func TestAllowedOriginUnknownEnvironmentIsProduction(t *testing.T) {
	c := Default()
	c.Environment = "Staging"
	if c.AllowedOrigin("http://localhost:3000") {
		t.Error("unknown environment got Development's CORS rules")
	}
	c.Environment = "development"
	if !c.IsDevelopment() || !c.AllowedOrigin("http://localhost:3000") {
		t.Error("lower-case development not recognised")
	}
}
