package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	type mod func(c *Config)
	tests := []struct {
		name string
		mod  mod
		// wantProd and wantDev: "" means valid, otherwise substrings of
		// the error separated by "|".
		wantProd, wantDev string
	}{
		{"defaults", func(c *Config) {}, "", ""},

		// Environment.
		{"bad environment", func(c *Config) { c.Environment = "Staging" }, `Environment: must be Production or Development, got "Staging"`, `Environment: must be Production or Development, got "Staging"`},
		{"empty environment", func(c *Config) { c.Environment = "" }, "Environment:", "Environment:"},

		// Server.
		{"addr all interfaces", func(c *Config) { c.Server.Addr = ":5000" }, "", ""},
		{"addr non-loopback allowed", func(c *Config) { c.Server.Addr = "0.0.0.0:5000" }, "", ""},
		{"addr ipv6", func(c *Config) { c.Server.Addr = "[::1]:5000" }, "", ""},
		{"addr hostname", func(c *Config) { c.Server.Addr = "localhost:5000" }, "", ""},
		{"addr no port", func(c *Config) { c.Server.Addr = "127.0.0.1" }, "Server:Addr", "Server:Addr"},
		{"addr empty", func(c *Config) { c.Server.Addr = "" }, "Server:Addr", "Server:Addr"},
		{"addr bad port", func(c *Config) { c.Server.Addr = "127.0.0.1:http" }, "Server:Addr|port", "Server:Addr"},
		{"addr port range", func(c *Config) { c.Server.Addr = ":70000" }, "Server:Addr", "Server:Addr"},
		{"addr bad host", func(c *Config) { c.Server.Addr = "bad host:5000" }, "Server:Addr", "Server:Addr"},
		{"data dir empty", func(c *Config) { c.Server.DataDir = " " }, "Server:DataDir", "Server:DataDir"},
		{"proxies ok", func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "::1"} }, "", ""},
		{"proxy bad", func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "proxy.local"} }, "Server:TrustedProxies[1]", "Server:TrustedProxies[1]"},
		{"proxy bad prefix", func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/33"} }, "Server:TrustedProxies[0]", "Server:TrustedProxies[0]"},
		{"proxy trusts everyone", func(c *Config) { c.Server.TrustedProxies = []string{"0.0.0.0/0"} }, "Server:TrustedProxies[0]|every address", ""},
		{"proxy trusts everyone v6", func(c *Config) { c.Server.TrustedProxies = []string{"::/0"} }, "Server:TrustedProxies[0]", ""},
		{"body too small", func(c *Config) { c.Server.MaxBodyBytes = 1023 }, "Server:MaxBodyBytes", "Server:MaxBodyBytes"},
		{"body min", func(c *Config) { c.Server.MaxBodyBytes = 1024 }, "", ""},
		{"body max", func(c *Config) { c.Server.MaxBodyBytes = 64 << 20 }, "", ""},
		{"body too large", func(c *Config) { c.Server.MaxBodyBytes = 64<<20 + 1 }, "Server:MaxBodyBytes", "Server:MaxBodyBytes"},
		{"shutdown zero", func(c *Config) { c.Server.ShutdownTimeout = 0 }, "Server:ShutdownTimeout", "Server:ShutdownTimeout"},
		{"shutdown long", func(c *Config) { c.Server.ShutdownTimeout = time.Hour }, "Server:ShutdownTimeout", "Server:ShutdownTimeout"},

		// Limits.
		{"limits min", func(c *Config) { c.Limits = LimitsConfig{1, 1, 1, 1} }, "", ""},
		{"limits max", func(c *Config) { c.Limits = LimitsConfig{100_000, 1_000_000, 100_000, 100_000} }, "", ""},
		{"agents zero", func(c *Config) { c.Limits.MaxAgents = 0 }, "Limits:MaxAgents: must be between 1 and 100000, got 0", "Limits:MaxAgents"},
		{"agents over", func(c *Config) { c.Limits.MaxAgents = 100_001 }, "Limits:MaxAgents", "Limits:MaxAgents"},
		{"sessions negative", func(c *Config) { c.Limits.MaxActiveSessions = -1 }, "Limits:MaxActiveSessions", "Limits:MaxActiveSessions"},
		{"sessions over", func(c *Config) { c.Limits.MaxActiveSessions = 1_000_001 }, "Limits:MaxActiveSessions", "Limits:MaxActiveSessions"},
		{"credentials zero", func(c *Config) { c.Limits.MaxCredentials = 0 }, "Limits:MaxCredentials", "Limits:MaxCredentials"},
		{"skills over", func(c *Config) { c.Limits.MaxSkills = 100_001 }, "Limits:MaxSkills", "Limits:MaxSkills"},

		// ConnectionStrings.
		{"postgres", func(c *Config) { c.ConnectionStrings.Komand = "postgres://u:p@db:5432/komand?sslmode=require" }, "", ""},
		{"postgresql upper", func(c *Config) { c.ConnectionStrings.Komand = "PostgreSQL://u@db/komand" }, "", ""},
		{"postgres socket", func(c *Config) { c.ConnectionStrings.Komand = "postgres:///komand?host=/run/postgresql" }, "", ""},
		{"mysql", func(c *Config) { c.ConnectionStrings.Komand = "mysql://u:p@db/komand" }, `ConnectionStrings:Komand|"mysql"`, "ConnectionStrings:Komand"},
		{"keyword dsn", func(c *Config) { c.ConnectionStrings.Komand = "host=db user=u password=p" }, "ConnectionStrings:Komand", "ConnectionStrings:Komand"},
		{"unescaped password", func(c *Config) { c.ConnectionStrings.Komand = "postgres://u:pa/ss@db/komand" }, "ConnectionStrings:Komand|percent-encoded", "ConnectionStrings:Komand"},
		{"redis", func(c *Config) { c.ConnectionStrings.Redis = "redis://:pw@cache:6379/0" }, "", ""},
		{"rediss", func(c *Config) { c.ConnectionStrings.Redis = "rediss://cache" }, "", ""},
		{"redis http", func(c *Config) { c.ConnectionStrings.Redis = "http://cache" }, "ConnectionStrings:Redis", "ConnectionStrings:Redis"},
		{"redis no host", func(c *Config) { c.ConnectionStrings.Redis = "redis:///0" }, "ConnectionStrings:Redis|no host", "ConnectionStrings:Redis"},
		{"redis bare host", func(c *Config) { c.ConnectionStrings.Redis = "cache:6379" }, "ConnectionStrings:Redis", "ConnectionStrings:Redis"},

		// SecretManagers tenant prefixes.
		{"tenant prefix", func(c *Config) { c.SecretManagers.HashiCorpVault.TenantPrefix = "secret/tenants/{tenant}/" }, "", ""},
		{"tenant prefix without placeholder", func(c *Config) { c.SecretManagers.AwsSecretsManager.TenantPrefix = "komand/" }, "SecretManagers:AwsSecretsManager:TenantPrefix", "SecretManagers:AwsSecretsManager:TenantPrefix"},
		{"tenant prefix with space", func(c *Config) { c.SecretManagers.AzureKeyVault.TenantPrefix = "k {tenant}" }, "SecretManagers:AzureKeyVault:TenantPrefix", "SecretManagers:AzureKeyVault:TenantPrefix"},

		// Channels.
		{"visitor token 5 min", func(c *Config) { c.Channels.WebChat.VisitorTokenMinutes = 5 }, "", ""},
		{"visitor token too short", func(c *Config) { c.Channels.WebChat.VisitorTokenMinutes = 4 }, "Channels:WebChat:VisitorTokenMinutes", "Channels:WebChat:VisitorTokenMinutes"},
		{"delivery 1 attempt", func(c *Config) { c.Channels.Delivery.MaxAttempts = 1 }, "", ""},
		{"delivery 0 attempts", func(c *Config) { c.Channels.Delivery.MaxAttempts = 0 }, "Channels:Delivery:MaxAttempts", "Channels:Delivery:MaxAttempts"},
		{"delivery 101 attempts", func(c *Config) { c.Channels.Delivery.MaxAttempts = 101 }, "Channels:Delivery:MaxAttempts", "Channels:Delivery:MaxAttempts"},
		{"delivery max age short", func(c *Config) { c.Channels.Delivery.MaxAge = 59 * time.Second }, "Channels:Delivery:MaxAge", "Channels:Delivery:MaxAge"},
		{"delivery max age long", func(c *Config) { c.Channels.Delivery.MaxAge = 73 * time.Hour }, "Channels:Delivery:MaxAge", "Channels:Delivery:MaxAge"},
		{"delivery backoff zero", func(c *Config) { c.Channels.Delivery.InitialBackoff = 0 }, "Channels:Delivery:InitialBackoff", "Channels:Delivery:InitialBackoff"},
		{"delivery cap below backoff", func(c *Config) { c.Channels.Delivery.MaxBackoff = time.Second }, "Channels:Delivery:MaxBackoff", "Channels:Delivery:MaxBackoff"},
		{"delivery cap = backoff", func(c *Config) { c.Channels.Delivery.MaxBackoff = c.Channels.Delivery.InitialBackoff }, "", ""},
		{"delivery cap long", func(c *Config) { c.Channels.Delivery.MaxBackoff = 25 * time.Hour }, "Channels:Delivery:MaxBackoff", "Channels:Delivery:MaxBackoff"},
		{"delivery poll fast", func(c *Config) { c.Channels.Delivery.PollInterval = time.Millisecond }, "Channels:Delivery:PollInterval", "Channels:Delivery:PollInterval"},
		{"delivery poll slow", func(c *Config) { c.Channels.Delivery.PollInterval = 2 * time.Minute }, "Channels:Delivery:PollInterval", "Channels:Delivery:PollInterval"},
		{"visitor token too long", func(c *Config) { c.Channels.WebChat.VisitorTokenMinutes = 1441 }, "Channels:WebChat:VisitorTokenMinutes", "Channels:WebChat:VisitorTokenMinutes"},

		// Sandbox.
		{"container bubblewrap", func(c *Config) { c.Sandbox.Container = "bubblewrap" }, "", ""},
		{"container docker", func(c *Config) { c.Sandbox.Container = "docker" }, "", ""},
		{"container podman", func(c *Config) { c.Sandbox.Container = "podman" }, `Sandbox:Container|"podman"`, "Sandbox:Container"},
		{"docker host socket", func(c *Config) { c.Sandbox.DockerHost = "unix:///run/docker.sock" }, "", ""},
		{"docker host tcp", func(c *Config) { c.Sandbox.DockerHost = "tcp://10.0.0.5:2375" }, "Sandbox:DockerHost|unix socket", "Sandbox:DockerHost"},
		{"docker host relative", func(c *Config) { c.Sandbox.DockerHost = "unix://docker.sock" }, "Sandbox:DockerHost", "Sandbox:DockerHost"},

		// Cors.
		{"origins ok", func(c *Config) {
			c.Cors.AllowedOrigins = []string{"https://app.example.com", "http://localhost:3000", "https://[2001:db8::1]:8443", "HTTPS://Upper.Example"}
		}, "", ""},
		{"wildcard", func(c *Config) { c.Cors.AllowedOrigins = []string{"*"} }, "Cors:AllowedOrigins[0]|wildcard", "Cors:AllowedOrigins[0]|wildcard"},
		{"subdomain wildcard", func(c *Config) { c.Cors.AllowedOrigins = []string{"https://a.example", "https://*.example.com"} }, "Cors:AllowedOrigins[1]|wildcard", "Cors:AllowedOrigins[1]|wildcard"},
		{"null origin", func(c *Config) { c.Cors.AllowedOrigins = []string{"null"} }, "Cors:AllowedOrigins[0]", "Cors:AllowedOrigins[0]"},
		{"trailing slash", func(c *Config) { c.Cors.AllowedOrigins = []string{"https://a.example/"} }, "Cors:AllowedOrigins[0]|must not end with a slash", "Cors:AllowedOrigins[0]"},
		{"path", func(c *Config) { c.Cors.AllowedOrigins = []string{"https://a.example/app"} }, "Cors:AllowedOrigins[0]|not an origin", "Cors:AllowedOrigins[0]"},
		{"no scheme", func(c *Config) { c.Cors.AllowedOrigins = []string{"a.example"} }, "Cors:AllowedOrigins[0]", "Cors:AllowedOrigins[0]"},
		{"ftp", func(c *Config) { c.Cors.AllowedOrigins = []string{"ftp://a.example"} }, "Cors:AllowedOrigins[0]", "Cors:AllowedOrigins[0]"},
		{"userinfo", func(c *Config) { c.Cors.AllowedOrigins = []string{"https://u@a.example"} }, "Cors:AllowedOrigins[0]", "Cors:AllowedOrigins[0]"},
		{"query", func(c *Config) { c.Cors.AllowedOrigins = []string{"https://a.example?x"} }, "Cors:AllowedOrigins[0]", "Cors:AllowedOrigins[0]"},
		{"default port", func(c *Config) { c.Cors.AllowedOrigins = []string{"https://a.example:443"} }, "Cors:AllowedOrigins[0]|default port", "Cors:AllowedOrigins[0]"},

		// RateLimits.
		{"api limit 0", func(c *Config) { c.RateLimits.ApiPermitLimit = 0 }, "RateLimits:ApiPermitLimit", "RateLimits:ApiPermitLimit"},
		{"api limit huge", func(c *Config) { c.RateLimits.ApiPermitLimit = 2_000_000 }, "RateLimits:ApiPermitLimit", "RateLimits:ApiPermitLimit"},
		{"api window 0", func(c *Config) { c.RateLimits.ApiWindowSeconds = 0 }, "RateLimits:ApiWindowSeconds", "RateLimits:ApiWindowSeconds"},
		{"api window 2 days", func(c *Config) { c.RateLimits.ApiWindowSeconds = 172_800 }, "RateLimits:ApiWindowSeconds", "RateLimits:ApiWindowSeconds"},
		{"chat limit negative", func(c *Config) { c.RateLimits.ChatPermitLimit = -1 }, "RateLimits:ChatPermitLimit", "RateLimits:ChatPermitLimit"},
		{"chat window 0", func(c *Config) { c.RateLimits.ChatWindowSeconds = 0 }, "RateLimits:ChatWindowSeconds", "RateLimits:ChatWindowSeconds"},
		{"max keys 0", func(c *Config) { c.RateLimits.MaxKeys = 0 }, "RateLimits:MaxKeys", "RateLimits:MaxKeys"},
		{"max keys huge", func(c *Config) { c.RateLimits.MaxKeys = 100_000_000 }, "RateLimits:MaxKeys", "RateLimits:MaxKeys"},
		{"limits at bounds", func(c *Config) {
			c.RateLimits = RateLimitsConfig{1, 1, 1_000_000, 86_400, 1}
		}, "", ""},

		// Jwt.
		{"key 31 bytes", func(c *Config) { c.Jwt.SecretKey = strings.Repeat("k", 31) }, "Jwt:SecretKey|at least 32 bytes, got 31", "Jwt:SecretKey"},
		{"key 32 bytes", func(c *Config) { c.Jwt.SecretKey = strings.Repeat("k", 32) }, "", ""},
		{"key unset", func(c *Config) { c.Jwt.SecretKey = "" }, "", ""},
		{"issuer empty", func(c *Config) { c.Jwt.Issuer = "" }, "Jwt:Issuer", "Jwt:Issuer"},
		{"audience empty", func(c *Config) { c.Jwt.Audience = "" }, "Jwt:Audience", "Jwt:Audience"},
		{"expiration 0", func(c *Config) { c.Jwt.ExpirationMinutes = 0 }, "Jwt:ExpirationMinutes", "Jwt:ExpirationMinutes"},
		{"expiration 1441", func(c *Config) { c.Jwt.ExpirationMinutes = 1441 }, "Jwt:ExpirationMinutes", "Jwt:ExpirationMinutes"},
		{"expiration bounds", func(c *Config) { c.Jwt.ExpirationMinutes = 1440; c.Jwt.RefreshExpirationDays = 90 }, "", ""},
		{"refresh 0", func(c *Config) { c.Jwt.RefreshExpirationDays = 0 }, "Jwt:RefreshExpirationDays", "Jwt:RefreshExpirationDays"},
		{"refresh 91", func(c *Config) { c.Jwt.RefreshExpirationDays = 91 }, "Jwt:RefreshExpirationDays", "Jwt:RefreshExpirationDays"},

		// Log.
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, "Log:Level", "Log:Level"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "Log:Format", "Log:Format"},
	}
	for _, tt := range tests {
		for _, env := range []string{Production, Development} {
			t.Run(env+"/"+tt.name, func(t *testing.T) {
				c := Default()
				c.Environment = env
				tt.mod(&c)
				want := tt.wantProd
				if env == Development {
					want = tt.wantDev
				}
				err := c.Validate()
				if want == "" {
					if err != nil {
						t.Fatalf("Validate: %v", err)
					}
					return
				}
				if err == nil {
					t.Fatalf("Validate succeeded, want an error containing %q", want)
				}
				for _, w := range strings.Split(want, "|") {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
			})
		}
	}
}

func TestValidateCollectsAllAndNormalises(t *testing.T) {
	c := Default()
	c.Environment = "pRoDuCtIoN"
	c.Log.Level = "WARNING"
	c.Log.Format = "Text"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Environment != Production || c.Log.Level != "warn" || c.Log.Format != "text" {
		t.Fatalf("not normalised: %q %q %q", c.Environment, c.Log.Level, c.Log.Format)
	}
	c.Environment = "development"
	if err := c.Validate(); err != nil || c.Environment != Development {
		t.Fatalf("Environment = %q, err %v", c.Environment, err)
	}

	c = Default()
	c.Jwt.SecretKey = "short"
	c.Cors.AllowedOrigins = []string{"*"}
	c.RateLimits.ApiPermitLimit = 0
	c.Server.Addr = "nope"
	err := c.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, key := range []string{"Jwt:SecretKey", "Cors:AllowedOrigins[0]", "RateLimits:ApiPermitLimit", "Server:Addr"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not mention %s:\n%v", key, err)
		}
	}
	if n := len(strings.Split(err.Error(), "\n")); n != 4 {
		t.Errorf("got %d problems, want 4:\n%v", n, err)
	}
}

func TestValidateDoesNotLeakSecrets(t *testing.T) {
	c := Default()
	c.Jwt.SecretKey = "hunter2"
	c.ConnectionStrings.Komand = "mysql://u:hunter2@db/x"
	c.ConnectionStrings.Redis = "redis://u:hunter2@cache/x y%zz"
	err := c.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error leaks a secret: %v", err)
	}
	c = Default()
	c.ConnectionStrings.Komand = "postgres://u:hunter2@db/x%zz"
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error = %v", err)
	}
}

func TestTrustedProxyPrefixes(t *testing.T) {
	c := Default()
	c.Server.TrustedProxies = []string{"10.1.2.3/8", "192.0.2.1", "::ffff:10.0.0.1", "2001:db8::/32", "::ffff:10.0.0.0/104"}
	got, err := c.TrustedProxyPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.1/32", "10.0.0.1/32", "2001:db8::/32", "10.0.0.0/8"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	c.Server.TrustedProxies = []string{"fe80::1%eth0"}
	if _, err := c.TrustedProxyPrefixes(); err == nil {
		t.Error("zoned address accepted")
	}
}
