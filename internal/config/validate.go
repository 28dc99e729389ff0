package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Limits enforced by Validate.
const (
	MinJwtSecretBytes = 32

	minMaxBodyBytes    = 1 << 10
	maxMaxBodyBytes    = 64 << 20
	maxShutdownTimeout = 10 * time.Minute
	maxPermitLimit     = 1_000_000
	maxWindowSeconds   = 86_400 // one day
	maxRateLimitKeys   = 10_000_000
	maxExpiration      = 1440 // minutes: one day
	maxRefreshDays     = 90
)

// Validate checks c and reports every problem at once (errors.Join), each
// message starting with the key it is about ("Jwt:SecretKey: …"). Messages
// never contain a secret. Validate also normalises Environment
// ("production" → "Production"), Log.Level and Log.Format (lower case).
//
// Rules, in every environment:
//   - Environment is Production or Development (any case).
//   - Server:Addr is host:port with a numeric port; Server:DataDir is set;
//     Server:TrustedProxies are IP addresses or CIDR prefixes;
//     Server:MaxBodyBytes is 1 KiB..64 MiB; Server:ShutdownTimeout is
//     > 0 and ≤ 10m.
//   - ConnectionStrings:Komand is empty or a postgres:// or postgresql://
//     URL; ConnectionStrings:Redis is empty or a redis:// or rediss:// URL
//     with a host.
//   - Cors:AllowedOrigins holds only serialised http(s) origins
//     (scheme://host[:port], no path, not even a trailing slash, no default
//     port, no wildcard, not "null").
//   - RateLimits: limits 1..1,000,000, windows 1..86,400 seconds, MaxKeys
//     1..10,000,000.
//   - Jwt:SecretKey, when set, is at least 32 bytes; Jwt:Issuer and
//     Jwt:Audience are set; Jwt:ExpirationMinutes is 1..1440 and
//     Jwt:RefreshExpirationDays 1..90.
//   - Log:Level is debug, info, warn (or warning) or error; Log:Format is
//     json or text.
//   - SecretManagers:AzureKeyVault, when any key is set: VaultUrl (and
//     AuthorityHost, when set) is an https URL with no credentials, path
//     or query; TenantId and ClientId are IDs; ClientSecret is set.
//
// In Production only: Server:TrustedProxies may not contain a prefix that
// covers every address (0.0.0.0/0, ::/0), which would let any client forge
// its address through X-Forwarded-For and escape per-client rate limits.
//
// A non-loopback Server:Addr is valid in both environments (deployments
// behind a proxy need it); Validate does not log.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	// Environment.
	switch strings.ToLower(strings.TrimSpace(c.Environment)) {
	case "production":
		c.Environment = Production
	case "development":
		c.Environment = Development
	default:
		add("Environment", "must be Production or Development, got %q", c.Environment)
	}
	production := !c.IsDevelopment()

	// Server.
	if err := checkAddr(c.Server.Addr); err != nil {
		add("Server:Addr", "%v", err)
	}
	if strings.TrimSpace(c.Server.DataDir) == "" {
		add("Server:DataDir", "must not be empty")
	}
	for i, p := range c.Server.TrustedProxies {
		prefix, err := parseProxy(p)
		switch {
		case err != nil:
			add(fmt.Sprintf("Server:TrustedProxies[%d]", i), "%v", err)
		case production && prefix.Bits() == 0:
			add(fmt.Sprintf("Server:TrustedProxies[%d]", i), "%q trusts every address, so any client could forge X-Forwarded-For; list your proxies' addresses or networks", p)
		}
	}
	if n := c.Server.MaxBodyBytes; n < minMaxBodyBytes || n > maxMaxBodyBytes {
		add("Server:MaxBodyBytes", "must be between %d (1 KiB) and %d (64 MiB), got %d", minMaxBodyBytes, maxMaxBodyBytes, n)
	}
	if n := c.Sandbox.MaxMemoryMb; n < 16 || n > 4096 {
		add("Sandbox:MaxMemoryMb", "must be between 16 and 4096, got %d", n)
	}
	if n := c.Sandbox.MaxConcurrent; n < 1 || n > 4096 {
		add("Sandbox:MaxConcurrent", "must be between 1 and 4096, got %d", n)
	}
	if v := c.Sandbox.Container; v != "" && v != "bubblewrap" && v != "docker" {
		add("Sandbox:Container", "must be empty (off), bubblewrap or docker, got %q", v)
	}
	if h := c.Sandbox.DockerHost; h != "" && (!strings.HasPrefix(h, "unix:///") || strings.ContainsAny(h, "?#")) {
		add("Sandbox:DockerHost", "must be a local unix socket, unix:///path (the program and the broker are bind-mounted from this host), got %q", h)
	}
	if _, err := c.EgressAllowPrefixes(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.EgressRootCAs(); err != nil {
		errs = append(errs, err)
	}
	for name, p := range map[string]string{"HashiCorpVault": c.SecretManagers.HashiCorpVault.TenantPrefix,
		"AwsSecretsManager": c.SecretManagers.AwsSecretsManager.TenantPrefix, "AzureKeyVault": c.SecretManagers.AzureKeyVault.TenantPrefix} {
		if p != "" && (!strings.Contains(p, "{tenant}") || len(p) > 200 || strings.ContainsAny(p, " \t\r\n\x00")) {
			add("SecretManagers:"+name+":TenantPrefix", "must contain {tenant} (replaced by the tenant's ID), at most 200 characters without spaces")
		}
	}
	if n := c.Channels.WebChat.VisitorTokenMinutes; n < 5 || n > 1440 {
		add("Channels:WebChat:VisitorTokenMinutes", "must be between 5 and 1440, got %d", n)
	}
	{
		d := c.Channels.Delivery
		if d.MaxAttempts < 1 || d.MaxAttempts > 100 {
			add("Channels:Delivery:MaxAttempts", "must be between 1 and 100, got %d", d.MaxAttempts)
		}
		if d.MaxAge < time.Minute || d.MaxAge > 72*time.Hour {
			add("Channels:Delivery:MaxAge", "must be between 1m and 72h, got %v", d.MaxAge)
		}
		if d.InitialBackoff < 100*time.Millisecond || d.InitialBackoff > time.Hour {
			add("Channels:Delivery:InitialBackoff", "must be between 100ms and 1h, got %v", d.InitialBackoff)
		}
		if d.MaxBackoff < d.InitialBackoff || d.MaxBackoff > 24*time.Hour {
			add("Channels:Delivery:MaxBackoff", "must be between Channels:Delivery:InitialBackoff (%v) and 24h, got %v", d.InitialBackoff, d.MaxBackoff)
		}
		if d.PollInterval < 10*time.Millisecond || d.PollInterval > time.Minute {
			add("Channels:Delivery:PollInterval", "must be between 10ms and 1m, got %v", d.PollInterval)
		}
	}
	if n := c.Agents.MaxToolIterations; n < 1 || n > 100 {
		add("Agents:MaxToolIterations", "must be between 1 and 100, got %d", n)
	}
	if d := c.Agents.TurnTimeout; d < time.Second || d > 30*time.Minute {
		add("Agents:TurnTimeout", "must be between 1s and 30m, got %v", d)
	}
	for _, l := range []struct {
		key    string
		v, max int
	}{
		{"Limits:MaxAgents", c.Limits.MaxAgents, 100_000},
		{"Limits:MaxActiveSessions", c.Limits.MaxActiveSessions, 1_000_000},
		{"Limits:MaxCredentials", c.Limits.MaxCredentials, 100_000},
		{"Limits:MaxSkills", c.Limits.MaxSkills, 100_000},
	} {
		if l.v < 1 || l.v > l.max {
			add(l.key, "must be between 1 and %d, got %d", l.max, l.v)
		}
	}
	if d := c.Injection.ClassifierTimeout; d < 10*time.Millisecond || d > 10*time.Second {
		add("Injection:ClassifierTimeout", "must be between 10ms and 10s, got %v", d)
	}
	if d := c.Agents.SessionIdleTimeout; d < 0 || (d > 0 && d < time.Minute) {
		add("Agents:SessionIdleTimeout", "must be 0 (never) or at least 1m, got %v", d)
	}
	for key, u := range map[string]string{"Providers:Anthropic:BaseUrl": c.Providers.Anthropic.BaseUrl,
		"Providers:OpenAI:BaseUrl": c.Providers.OpenAI.BaseUrl, "Channels:Telegram:ApiBaseUrl": c.Channels.Telegram.ApiBaseUrl,
		"Channels:Slack:ApiBaseUrl": c.Channels.Slack.ApiBaseUrl, "SecretManagers:HashiCorpVault:Address": c.SecretManagers.HashiCorpVault.Address,
		"Injection:ClassifierUrl": c.Injection.ClassifierUrl} {
		if u == "" {
			continue
		}
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" || pu.User != nil || pu.RawQuery != "" {
			add(key, "must be an http(s) URL without credentials or query")
		}
	}
	if d := c.Server.ShutdownTimeout; d <= 0 || d > maxShutdownTimeout {
		add("Server:ShutdownTimeout", "must be more than 0 and at most %v, got %v", maxShutdownTimeout, d)
	}

	// ConnectionStrings (never echo the value: it may hold a password).
	if dsn := c.ConnectionStrings.Komand; dsn != "" {
		if msg := checkURL(dsn, false, "postgres", "postgresql"); msg != "" {
			add("ConnectionStrings:Komand", "%s; use postgres://user:password@host:5432/database, or leave it empty for the embedded SQLite database", msg)
		}
	}
	if dsn := c.ConnectionStrings.Redis; dsn != "" {
		if msg := checkURL(dsn, true, "redis", "rediss"); msg != "" {
			add("ConnectionStrings:Redis", "%s; use redis://[:password@]host:6379[/db] or rediss://…, or leave it empty", msg)
		}
	}

	// Cors.
	for i, o := range c.Cors.AllowedOrigins {
		if msg := checkOrigin(o); msg != "" {
			add(fmt.Sprintf("Cors:AllowedOrigins[%d]", i), "%q %s", o, msg)
		}
	}

	// RateLimits.
	checkRange := func(key string, v, lo, hi int) {
		if v < lo || v > hi {
			add(key, "must be between %d and %d, got %d", lo, hi, v)
		}
	}
	checkRange("RateLimits:ApiPermitLimit", c.RateLimits.ApiPermitLimit, 1, maxPermitLimit)
	checkRange("RateLimits:ApiWindowSeconds", c.RateLimits.ApiWindowSeconds, 1, maxWindowSeconds)
	checkRange("RateLimits:ChatPermitLimit", c.RateLimits.ChatPermitLimit, 1, maxPermitLimit)
	checkRange("RateLimits:ChatWindowSeconds", c.RateLimits.ChatWindowSeconds, 1, maxWindowSeconds)
	checkRange("RateLimits:MaxKeys", c.RateLimits.MaxKeys, 1, maxRateLimitKeys)

	// Jwt.
	if n := len(c.Jwt.SecretKey); n > 0 && n < MinJwtSecretBytes {
		add("Jwt:SecretKey", "must be at least %d bytes, got %d; use a random value (for example `openssl rand -hex 32`), or leave it unset and Komand generates one in Server:DataDir", MinJwtSecretBytes, n)
	}
	if strings.TrimSpace(c.Jwt.Issuer) == "" {
		add("Jwt:Issuer", "must not be empty")
	}
	if strings.TrimSpace(c.Jwt.Audience) == "" {
		add("Jwt:Audience", "must not be empty")
	}
	checkRange("Jwt:ExpirationMinutes", c.Jwt.ExpirationMinutes, 1, maxExpiration)
	checkRange("Jwt:RefreshExpirationDays", c.Jwt.RefreshExpirationDays, 1, maxRefreshDays)

	if h := c.SecretManagers.HashiCorpVault; h.Address != "" && h.Token == "" && (h.RoleId == "" || h.SecretId == "") {
		add("SecretManagers:HashiCorpVault", "needs Token, or RoleId and SecretId, with Address")
	}
	if az := c.SecretManagers.AzureKeyVault; az != (AzureKeyVaultConfig{}) {
		// https only: the client secret's token and the values travel
		// here. Never echo the values (the secret is one of them).
		if !httpsBase(az.VaultUrl) {
			add("SecretManagers:AzureKeyVault:VaultUrl", "must be an https URL without credentials, path or query (https://<vault>.vault.azure.net)")
		}
		if az.AuthorityHost != "" && !httpsBase(az.AuthorityHost) {
			add("SecretManagers:AzureKeyVault:AuthorityHost", "must be an https URL without credentials, path or query (https://login.microsoftonline.com/)")
		}
		if !azureIDRe.MatchString(az.TenantId) {
			add("SecretManagers:AzureKeyVault:TenantId", "must be the directory (tenant) ID: 1–128 letters, digits, '.' or '-'")
		}
		if !azureIDRe.MatchString(az.ClientId) {
			add("SecretManagers:AzureKeyVault:ClientId", "must be the application (client) ID: 1–128 letters, digits, '.' or '-'")
		}
		if az.ClientSecret == "" {
			add("SecretManagers:AzureKeyVault:ClientSecret", "must be set (SecretManagers__AzureKeyVault__ClientSecret or its _FILE)")
		}
	}

	// Vault.
	if c.Vault.Kek != "" {
		if _, err := decodeKEK(c.Vault.Kek); err != nil {
			add("Vault:Kek", "%v", err)
		}
	}
	for _, k := range splitKeys(c.Vault.PreviousKeks) {
		if _, err := decodeKEK(k); err != nil {
			add("Vault:PreviousKeks", "every key %v", err)
			break
		}
	}

	// Log.
	switch level := strings.ToLower(strings.TrimSpace(c.Log.Level)); level {
	case "debug", "info", "warn", "error":
		c.Log.Level = level
	case "warning":
		c.Log.Level = "warn"
	default:
		add("Log:Level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch format := strings.ToLower(strings.TrimSpace(c.Log.Format)); format {
	case "json", "text":
		c.Log.Format = format
	default:
		add("Log:Format", "must be json or text, got %q", c.Log.Format)
	}

	return errors.Join(errs...)
}

// azureIDRe is a Microsoft Entra tenant or application ID (a GUID, or a
// tenant's domain name).
var azureIDRe = regexp.MustCompile(`^[A-Za-z0-9.-]{1,128}$`)

// httpsBase reports whether u is an https URL with a host and at most "/"
// as its path: no credentials, query or fragment.
func httpsBase(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Scheme == "https" && p.Hostname() != "" && p.User == nil && p.Opaque == "" &&
		(p.Path == "" || p.Path == "/") && p.RawQuery == "" && !p.ForceQuery && p.Fragment == ""
}

// checkAddr checks a listen address: host:port, port numeric 0..65535, host
// empty (all interfaces), an IP address or a host name.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (for example 127.0.0.1:5000 or :5000)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || !isDigits(port) {
		return fmt.Errorf("%q: port must be a number between 0 and 65535", addr)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if !validHostName(host) {
		return fmt.Errorf("%q: %q is not an IP address or host name", addr, host)
	}
	return nil
}

// checkURL checks a connection URL's scheme (case-insensitive) and, when
// needHost, that it names a host. It returns a message that does not
// contain the URL (it may hold a password), or "".
func checkURL(s string, needHost bool, schemes ...string) string {
	want := strings.Join(schemes, ":// or ") + "://"
	scheme, _, ok := strings.Cut(s, "://")
	if !ok {
		return "must be a " + want + " URL"
	}
	if !validScheme(scheme) {
		return "must be a " + want + " URL"
	}
	found := false
	for _, sc := range schemes {
		if strings.EqualFold(scheme, sc) {
			found = true
		}
	}
	if !found {
		return fmt.Sprintf("must be a %s URL, got scheme %q", want, scheme)
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error repeats the URL; report only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Sprintf("is not a valid URL (%v; special characters in the password must be percent-encoded)", err)
	}
	if strings.Contains(u.Path, "@") || strings.Contains(u.RawQuery, "@") || strings.Contains(u.Fragment, "@") {
		return "is not a valid URL (special characters in the password, such as / ? #, must be percent-encoded)"
	}
	if needHost && u.Hostname() == "" {
		return "has no host"
	}
	return ""
}

func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z':
		case i > 0 && ('0' <= b && b <= '9' || b == '+' || b == '-' || b == '.'):
		default:
			return false
		}
	}
	return true
}

// checkOrigin checks one Cors:AllowedOrigins entry and returns what is
// wrong with it, or "".
func checkOrigin(s string) string {
	switch {
	case s == "*":
		return "is a wildcard; list each allowed origin (scheme://host[:port]) instead"
	case strings.Contains(s, "*"):
		return "contains a wildcard; list each allowed origin (scheme://host[:port]) instead"
	case strings.EqualFold(s, "null"):
		return `is not allowed: "null" is sent by sandboxed and file:// documents, which anyone can create`
	}
	o, ok := parseOrigin(s)
	if !ok {
		if t := strings.TrimRight(s, "/"); t != s {
			if _, ok := parseOrigin(t); ok {
				return fmt.Sprintf("must not end with a slash: browsers send %q", t)
			}
		}
		return "is not an origin: use scheme://host[:port] with http or https and no path, query or user information"
	}
	if (o.scheme == "https" && o.port == "443") || (o.scheme == "http" && o.port == "80") {
		return fmt.Sprintf("must not name the default port: browsers send %q", o.scheme+"://"+o.host)
	}
	return ""
}
