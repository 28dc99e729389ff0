// Package config loads, validates and reports Komand's configuration.
//
// There is one [Config] value. main builds it and passes it down; no
// package reads the environment or keeps configuration in globals:
//
//	cfg, err := config.Load(config.LoadOptions{File: *configFlag, Env: os.Environ()})
//	// apply command-line flags: cfg.Server.Addr = *addrFlag, …
//	err = cfg.Validate()        // every problem at once; normalises Environment and Log
//	err = cfg.LoadKeys(logger)  // generates DataDir/jwt.key when Jwt:SecretKey is unset
//	logger.Info("configuration", "config", cfg) // redacted (Config implements slog.LogValuer)
//
// # Sources
//
// Later sources override earlier ones:
//
//  1. [Default].
//  2. An optional appsettings-style JSON file, named by LoadOptions.File or
//     else by the KOMAND_CONFIG variable; no file is read implicitly.
//  3. Environment variables, named Section__Key as in .NET.
//  4. Command-line flags, applied by main to the returned Config.
//
// The JSON file keeps Komand's documented, case-sensitive key names, grouped
// in sections:
//
//	{
//	  "Environment": "Production",
//	  "Server": {"Addr": "0.0.0.0:5000", "TrustedProxies": ["10.0.0.0/8"]},
//	  "ConnectionStrings": {"Komand": "postgres://komand:…@db:5432/komand"},
//	  "Cors": {"AllowedOrigins": ["https://app.example.com"]},
//	  "RateLimits": {"ApiPermitLimit": 100, "ApiWindowSeconds": 60},
//	  "Jwt": {"Issuer": "komand.ai", "ExpirationMinutes": 60},
//	  "Log": {"Level": "info", "Format": "json"}
//	}
//
// An unknown key is an error that names it. Numbers may also be written as
// strings ("100"); null leaves the value alone.
//
// In the environment, lists are comma-separated
// (Cors__AllowedOrigins=https://a.example,https://b.example) or use .NET's
// indexed form (Cors__AllowedOrigins__0, Cors__AllowedOrigins__1, …; not
// both); a list from the environment replaces the file's list. An empty
// variable counts as unset. A variable that names a key with the wrong case
// (JWT__SECRETKEY) is an error rather than silently ignored, and so is a
// variable of one of Komand's sections (its first part, in any case) that
// names no key of it (Channels__Delivery__MaxAtempts: unknown key
// "Channels:Delivery:MaxAtempts"), as in the file. Variables of any other
// first part (PATH, GOFLAGS, Foo__Bar) are other software's and ignored.
//
// Secrets can instead be read from a file named by the same variable with a
// _FILE suffix (Jwt__SecretKey_FILE=/run/secrets/jwt): one trailing newline
// is removed, an empty file is an error, and setting both the variable and
// its _FILE variant is an error.
//
// # Keys
//
//	Key (file)                    Environment variable               Default          Secret
//	Environment                   KOMAND_ENVIRONMENT or Environment  Production
//	Server:Addr                   Server__Addr                       127.0.0.1:5000
//	Server:DataDir                Server__DataDir                    ./komand-data
//	Server:TrustedProxies         Server__TrustedProxies (list)      none
//	Server:MaxBodyBytes           Server__MaxBodyBytes               1048576 (1 MiB)
//	Server:ShutdownTimeout        Server__ShutdownTimeout            30s
//	ConnectionStrings:Komand      ConnectionStrings__Komand          "" = SQLite      yes (_FILE)
//	ConnectionStrings:Redis       ConnectionStrings__Redis           "" = in-process  yes (_FILE)
//	Cors:AllowedOrigins           Cors__AllowedOrigins (list)        none
//	RateLimits:ApiPermitLimit     RateLimits__ApiPermitLimit         100
//	RateLimits:ApiWindowSeconds   RateLimits__ApiWindowSeconds       60
//	RateLimits:ChatPermitLimit    RateLimits__ChatPermitLimit        30
//	RateLimits:ChatWindowSeconds  RateLimits__ChatWindowSeconds      60
//	RateLimits:MaxKeys            RateLimits__MaxKeys                100000
//	Agents:MaxToolIterations      Agents__MaxToolIterations          10 (1–100)
//	Agents:TurnTimeout            Agents__TurnTimeout                2m (1s–30m)
//	Agents:SessionIdleTimeout     Agents__SessionIdleTimeout         24h (0 = never)
//	Limits:MaxAgents              Limits__MaxAgents                  1000 (1–100000)
//	Limits:MaxActiveSessions      Limits__MaxActiveSessions          10000 (1–1000000; ended sessions do not count)
//	Limits:MaxCredentials         Limits__MaxCredentials             1000 (1–100000)
//	Limits:MaxSkills              Limits__MaxSkills                  10000 (1–100000; product.md's registry size)
//	Injection:ClassifierUrl       Injection__ClassifierUrl           "" (no external classifier)
//	Injection:ClassifierApiKey    Injection__ClassifierApiKey        ""               yes (_FILE)
//	Injection:ClassifierTimeout   Injection__ClassifierTimeout       500ms (10ms–10s)
//	Providers:Anthropic:BaseUrl   Providers__Anthropic__BaseUrl      "" (https://api.anthropic.com with a key)
//	Providers:Anthropic:ApiKey    Providers__Anthropic__ApiKey       ""               yes (_FILE)
//	Providers:OpenAI:BaseUrl      Providers__OpenAI__BaseUrl         "" (https://api.openai.com/v1 with a key)
//	Providers:OpenAI:ApiKey       Providers__OpenAI__ApiKey          ""               yes (_FILE)
//	Channels:Telegram:ApiBaseUrl  Channels__Telegram__ApiBaseUrl     https://api.telegram.org
//	Channels:Slack:ApiBaseUrl     Channels__Slack__ApiBaseUrl        https://slack.com
//	Channels:WebChat:VisitorTokenMinutes  Channels__WebChat__VisitorTokenMinutes  60 (5–1440)
//	Channels:Delivery:MaxAttempts     Channels__Delivery__MaxAttempts     10 (1–100)
//	Channels:Delivery:MaxAge          Channels__Delivery__MaxAge          1h (1m–72h)
//	Channels:Delivery:InitialBackoff  Channels__Delivery__InitialBackoff  2s (100ms–1h)
//	Channels:Delivery:MaxBackoff      Channels__Delivery__MaxBackoff      5m (InitialBackoff–24h)
//	Channels:Delivery:PollInterval    Channels__Delivery__PollInterval    1s (10ms–1m)
//	Skills:TrustedPublishers      Skills__TrustedPublishers          "" (publisherId=<base64 Ed25519 key>,…)
//	Sandbox:CacheDir              Sandbox__CacheDir                  DataDir/wasm-cache
//	Sandbox:MaxMemoryMb           Sandbox__MaxMemoryMb               1024 (16–4096)
//	Sandbox:MaxConcurrent         Sandbox__MaxConcurrent             64
//	Sandbox:EgressAllowPrivate    Sandbox__EgressAllowPrivate (list) none
//	Sandbox:Container             Sandbox__Container                 "" (off), bubblewrap or docker
//	Sandbox:DockerHost            Sandbox__DockerHost                unix:///var/run/docker.sock (a local unix socket)
//	Sandbox:TempDir               Sandbox__TempDir                   system temp dir
//	Sandbox:EgressCaFile          Sandbox__EgressCaFile              "" (system roots only; a PEM file adds CAs)
//	Jwt:SecretKey                 Jwt__SecretKey                     DataDir/jwt.key  yes (_FILE)
//	Jwt:Issuer                    Jwt__Issuer                        komand.ai
//	Jwt:Audience                  Jwt__Audience                      komand.ai
//	Jwt:ExpirationMinutes         Jwt__ExpirationMinutes             60
//	Jwt:RefreshExpirationDays     Jwt__RefreshExpirationDays         7
//	Vault:Kek                     Vault__Kek                         DataDir/vault.kek yes (_FILE)
//	SecretManagers:HashiCorpVault:Address  SecretManagers__HashiCorpVault__Address  ""
//	SecretManagers:HashiCorpVault:Token    SecretManagers__HashiCorpVault__Token    ""  yes (_FILE)
//	SecretManagers:HashiCorpVault:RoleId   SecretManagers__HashiCorpVault__RoleId   ""
//	SecretManagers:HashiCorpVault:SecretId SecretManagers__HashiCorpVault__SecretId ""  yes (_FILE)
//	SecretManagers:HashiCorpVault:TenantPrefix …__TenantPrefix   "" (none; e.g. secret/tenants/{tenant}/)
//	SecretManagers:AwsSecretsManager:Region          …__Region           ""
//	SecretManagers:AwsSecretsManager:Endpoint        …__Endpoint         "" (the regional endpoint)
//	SecretManagers:AwsSecretsManager:AccessKeyId     …__AccessKeyId      ""
//	SecretManagers:AwsSecretsManager:SecretAccessKey …__SecretAccessKey  ""  yes (_FILE)
//	SecretManagers:AwsSecretsManager:SessionToken    …__SessionToken     ""  yes (_FILE)
//	SecretManagers:AwsSecretsManager:TenantPrefix    …__TenantPrefix     "" (none; e.g. komand/{tenant}/)
//	SecretManagers:AzureKeyVault:VaultUrl      SecretManagers__AzureKeyVault__VaultUrl  "" (https://<vault>.vault.azure.net; https only)
//	SecretManagers:AzureKeyVault:TenantId      …__TenantId       ""
//	SecretManagers:AzureKeyVault:ClientId      …__ClientId       ""
//	SecretManagers:AzureKeyVault:ClientSecret  …__ClientSecret   ""  yes (_FILE)
//	SecretManagers:AzureKeyVault:AuthorityHost …__AuthorityHost  https://login.microsoftonline.com/ (another cloud's, https only)
//	SecretManagers:AzureKeyVault:TenantPrefix  …__TenantPrefix   "" (none; e.g. komand-{tenant}-)
//	Vault:PreviousKeks            Vault__PreviousKeks                DataDir/vault.kek.previous yes (_FILE)
//	Log:Level                     Log__Level                         info
//	Log:Format                    Log__Format                        json
//
// KOMAND_ENVIRONMENT takes precedence over Environment. Durations accept Go
// syntax ("30s", "1m") or a whole number of seconds. Error messages name
// file keys as Section:Key and variables by their exact name.
//
// # Security rules
//
// [Config.Validate] refuses insecure or malformed combinations in every
// environment (a Jwt:SecretKey under 32 bytes, a wildcard or malformed CORS
// origin, a non-PostgreSQL database URL, …) and, in Production, trusting
// X-Forwarded-For from every address. Production is the default. With no
// configuration at all Komand is still safe: it listens on loopback only,
// uses SQLite in its data directory, allows no cross-origin requests, and
// [Config.LoadKeys] generates a 64-byte signing key with mode 0600 ([EnsureSecret]).
//
// [Config.AllowedOrigin] implements security.md's CORS policy: Development
// allows localhost origins only, Production exactly the origins in
// Cors:AllowedOrigins (none when empty).
//
// # Dumps
//
// [Config.Redacted] returns a copy with secrets replaced by [Redaction]
// (only the password of a connection URL, otherwise the whole value).
// Config's String, GoString and LogValue methods use it, so printing or
// logging a Config does not leak secrets.
package config
