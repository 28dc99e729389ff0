package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	azTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	azClient = "8c1a7f04-6d2e-4b8a-9f3c-2a5e1d0b7c61"
	azSecret = "Qx8~s3cret.client_4hT2"
)

func azureConfig() Config {
	c := Default()
	c.SecretManagers.AzureKeyVault = AzureKeyVaultConfig{VaultUrl: "https://komand.vault.azure.net", TenantId: azTenant,
		ClientId: azClient, ClientSecret: azSecret}
	return c
}

// TestValidateAzureKeyVault: the vault and authority must be plain https
// URLs (the token and the values travel there), the IDs well-formed and
// the secret present; no message echoes the secret.
func TestValidateAzureKeyVault(t *testing.T) {
	for _, tt := range []struct {
		name string
		mod  func(a *AzureKeyVaultConfig)
		want string // "" valid, else a substring of the error
	}{
		{"complete", func(a *AzureKeyVaultConfig) {}, ""},
		{"trailing slash", func(a *AzureKeyVaultConfig) { a.VaultUrl = "https://komand.vault.azure.net/" }, ""},
		{"with port", func(a *AzureKeyVaultConfig) { a.VaultUrl = "https://kv.internal.example:8443" }, ""},
		{"another cloud", func(a *AzureKeyVaultConfig) {
			a.VaultUrl, a.AuthorityHost = "https://komand.vault.usgovcloudapi.net", "https://login.microsoftonline.us/"
		}, ""},
		{"tenant domain", func(a *AzureKeyVaultConfig) { a.TenantId = "contoso.onmicrosoft.com" }, ""},
		{"unset", func(a *AzureKeyVaultConfig) { *a = AzureKeyVaultConfig{} }, ""},

		{"http", func(a *AzureKeyVaultConfig) { a.VaultUrl = "http://komand.vault.azure.net" }, "SecretManagers:AzureKeyVault:VaultUrl"},
		{"HTTP upper", func(a *AzureKeyVaultConfig) { a.VaultUrl = "HTTP://komand.vault.azure.net" }, "SecretManagers:AzureKeyVault:VaultUrl"},
		{"no scheme", func(a *AzureKeyVaultConfig) { a.VaultUrl = "komand.vault.azure.net" }, "SecretManagers:AzureKeyVault:VaultUrl"},
		{"scheme relative", func(a *AzureKeyVaultConfig) { a.VaultUrl = "//komand.vault.azure.net" }, "SecretManagers:AzureKeyVault:VaultUrl"},
		{"no host", func(a *AzureKeyVaultConfig) { a.VaultUrl = "https:///secrets" }, "SecretManagers:AzureKeyVault:VaultUrl"},
		{"port only", func(a *AzureKeyVaultConfig) { a.VaultUrl = "https://:443" }, "SecretManagers:AzureKeyVault:VaultUrl"},
		{"credentials", func(a *AzureKeyVaultConfig) { a.VaultUrl = "https://u:p@komand.vault.azure.net" }, "SecretManagers:AzureKeyVault:VaultUrl"},
		{"path", func(a *AzureKeyVaultConfig) { a.VaultUrl = "https://komand.vault.azure.net/secrets/x" }, "SecretManagers:AzureKeyVault:VaultUrl"},
		{"query", func(a *AzureKeyVaultConfig) { a.VaultUrl = "https://komand.vault.azure.net/?api-version=1" }, "SecretManagers:AzureKeyVault:VaultUrl"},
		{"empty query", func(a *AzureKeyVaultConfig) { a.VaultUrl = "https://komand.vault.azure.net/?" }, "SecretManagers:AzureKeyVault:VaultUrl"},
		{"fragment", func(a *AzureKeyVaultConfig) { a.VaultUrl = "https://komand.vault.azure.net/#x" }, "SecretManagers:AzureKeyVault:VaultUrl"},
		{"no url", func(a *AzureKeyVaultConfig) { a.VaultUrl = "" }, "SecretManagers:AzureKeyVault:VaultUrl"},
		{"http authority", func(a *AzureKeyVaultConfig) { a.AuthorityHost = "http://login.microsoftonline.com/" }, "SecretManagers:AzureKeyVault:AuthorityHost"},
		{"authority path", func(a *AzureKeyVaultConfig) { a.AuthorityHost = "https://login.microsoftonline.com/common" }, "SecretManagers:AzureKeyVault:AuthorityHost"},
		{"no tenant", func(a *AzureKeyVaultConfig) { a.TenantId = "" }, "SecretManagers:AzureKeyVault:TenantId"},
		{"tenant path", func(a *AzureKeyVaultConfig) { a.TenantId = "../common" }, "SecretManagers:AzureKeyVault:TenantId"},
		{"no client", func(a *AzureKeyVaultConfig) { a.ClientId = "" }, "SecretManagers:AzureKeyVault:ClientId"},
		{"client query", func(a *AzureKeyVaultConfig) { a.ClientId = "x?y=1" }, "SecretManagers:AzureKeyVault:ClientId"},
		{"no secret", func(a *AzureKeyVaultConfig) { a.ClientSecret = "" }, "SecretManagers:AzureKeyVault:ClientSecret"},
		{"secret without vault", func(a *AzureKeyVaultConfig) { *a = AzureKeyVaultConfig{ClientSecret: azSecret} }, "SecretManagers:AzureKeyVault:VaultUrl"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := azureConfig()
			tt.mod(&c.SecretManagers.AzureKeyVault)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error about %s", err, tt.want)
			}
			if strings.Contains(err.Error(), azSecret) {
				t.Fatalf("the error echoes the client secret: %v", err)
			}
		})
	}
}

// TestAzureKeyVaultConfigSources: the keys load from the environment, the
// client secret also from a _FILE, and dumps and `config check` treat it
// as a secret.
func TestAzureKeyVaultConfigSources(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "azure-secret")
	if err := os.WriteFile(secretFile, []byte(azSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(LoadOptions{Env: []string{
		"SecretManagers__AzureKeyVault__VaultUrl=https://komand.vault.azure.net",
		"SecretManagers__AzureKeyVault__TenantId=" + azTenant,
		"SecretManagers__AzureKeyVault__ClientId=" + azClient,
		"SecretManagers__AzureKeyVault__ClientSecret_FILE=" + secretFile,
		"SecretManagers__AzureKeyVault__AuthorityHost=https://login.microsoftonline.us/",
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := AzureKeyVaultConfig{VaultUrl: "https://komand.vault.azure.net", TenantId: azTenant, ClientId: azClient,
		ClientSecret: azSecret, AuthorityHost: "https://login.microsoftonline.us/"}
	if c.SecretManagers.AzureKeyVault != want {
		t.Fatalf("loaded %+v", c.SecretManagers.AzureKeyVault)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if s := c.String(); strings.Contains(s, azSecret) || !strings.Contains(s, "SecretManagers__AzureKeyVault__ClientSecret=[REDACTED]\n") {
		t.Fatalf("dump:\n%s", s)
	}

	file := filepath.Join(dir, "appsettings.json")
	if err := os.WriteFile(file, []byte(`{"SecretManagers": {"AzureKeyVault": {"VaultUrl": "https://komand.vault.azure.net",
		"TenantId": "`+azTenant+`", "ClientId": "`+azClient+`", "ClientSecret": "`+azSecret+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	findings, err := CheckFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 1 || findings[0].Key != "SecretManagers:AzureKeyVault:ClientSecret" ||
		!strings.Contains(findings[0].Message, "SecretManagers__AzureKeyVault__ClientSecret_FILE") || strings.Contains(findings[0].Message, azSecret) {
		t.Fatalf("config check findings: %+v", findings)
	}
}
