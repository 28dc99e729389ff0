package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/vault"
)

// fakeSecretsManager speaks the part of AWS Secrets Manager's wire
// protocol Komand uses: JSON 1.1 over HTTP POST with an X-Amz-Target of
// secretsmanager.GetSecretValue, signed with Signature Version 4 (the
// signature's shape and credential scope are checked; AWS's own keys are
// not reachable here).
type fakeSecretsManager struct {
	accessKey, region string
	secrets           map[string]string // secret name → SecretString
	reads             atomic.Int32
}

func (f *fakeSecretsManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fail := func(status int, typ, msg string) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "Message": msg})
	}
	auth := r.Header.Get("Authorization")
	scope := "Credential=" + f.accessKey + "/"
	if r.Method != http.MethodPost || r.URL.Path != "/" || !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") ||
		!strings.Contains(auth, scope) || !strings.Contains(auth, "/"+f.region+"/secretsmanager/aws4_request") ||
		!strings.Contains(auth, "Signature=") || r.Header.Get("X-Amz-Date") == "" {
		fail(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
		return
	}
	if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1") {
		fail(400, "UnknownOperationException", "")
		return
	}
	var in struct{ SecretId string }
	body, _ := io.ReadAll(r.Body)
	if json.Unmarshal(body, &in) != nil {
		fail(400, "SerializationException", "")
		return
	}
	f.reads.Add(1)
	v, ok := f.secrets[in.SecretId]
	if !ok {
		fail(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret "+in.SecretId)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"ARN": "arn:aws:secretsmanager:" + f.region + ":123456789012:secret:" + in.SecretId + "-AbCdEf",
		"Name": in.SecretId, "SecretString": v, "VersionId": "v1", "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1.7e9})
}

func TestAWSSecretsManagerReference(t *testing.T) {
	t.Parallel()
	value := "sk_live_from_aws_secrets_manager_5d1"
	fake := &fakeSecretsManager{accessKey: "AKIAKOMANDTEST", region: "eu-central-1",
		secrets: map[string]string{"prod/crm/stripe": `{"api_key":"` + value + `","n":7}`, "prod/plain": "plain-value-123"}}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	secretKey := "wJalrXUtnFEMI/K7MDENG/bPxRfiCYPLANTED"
	w := newWorldWith(t, "sqlite", func(c *config.Config) {
		c.SecretManagers.AwsSecretsManager = config.AwsSecretsManagerConfig{Region: "eu-central-1", Endpoint: srv.URL,
			AccessKeyId: fake.accessKey, SecretAccessKey: secretKey}
	})
	admin := w.keys["a/admin"]
	for _, bad := range []map[string]any{
		{"mount": "secret", "path": "prod/crm/stripe"},
		{"path": "prod/crm/stripe; rm -rf", "key": "api_key"},
		{"path": "prod/crm/stripe", "key": "a/b"},
		{"path": "arn:aws:iam::123456789012:role/admin"},
		{"path": ""},
	} {
		expectError(t, w.env.Do("POST", "/api/credentials/", admin, map[string]any{"name": "x", "type": "api_key",
			"source": "aws_secrets_manager", "reference": bad}), 400, "validation_failed")
	}
	mk := func(name string, ref map[string]any) string {
		r := w.env.Do("POST", "/api/credentials/", admin, map[string]any{"name": name, "type": "api_key", "source": "aws_secrets_manager", "reference": ref})
		if r.Status != 201 || !strings.Contains(string(r.Data), `"source":"aws_secrets_manager"`) {
			t.Fatalf("create %s: %d %s", name, r.Status, r.Body)
		}
		return decodeData[credentialView](t, r).ID
	}
	stripe := mk("stripe", map[string]any{"path": "prod/crm/stripe", "key": "api_key"})
	plain := mk("plain", map[string]any{"path": "prod/plain"})
	missing := mk("missing", map[string]any{"path": "arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod/gone"})
	if fake.reads.Load() != 0 {
		t.Fatal("creating a reference contacted the secret manager")
	}
	if r := w.env.Do("POST", "/api/credentials/"+stripe+"/grants", admin, map[string]any{"agentId": w.agent, "skillId": "billing"}); r.Status != 201 {
		t.Fatalf("grant: %d %s", r.Status, r.Body)
	}
	use := vault.Use{TenantID: w.tenA, AgentID: w.agent, SkillID: "billing"}
	for i := range 3 {
		if v, err := w.env.App.Secrets.Resolve(t.Context(), use, "stripe"); err != nil || v != value {
			t.Fatalf("resolve %d: %q %v", i, v, err)
		}
	}
	if fake.reads.Load() != 1 {
		t.Fatalf("reads %d, want 1 (cached)", fake.reads.Load())
	}
	if _, err := w.env.App.Secrets.Resolve(t.Context(), vault.Use{TenantID: w.tenA, AgentID: w.agent, SkillID: "other"}, "stripe"); err == nil {
		t.Fatal("resolved without a grant")
	}
	if v, err := w.env.App.Secrets.PlatformSecret(t.Context(), w.tenA, plain); err != nil || v != "plain-value-123" {
		t.Fatalf("whole SecretString: %q %v", v, err)
	}
	if _, err := w.env.App.Secrets.PlatformSecret(t.Context(), w.tenA, missing); err == nil {
		t.Fatal("a missing secret resolved")
	}
	expectError(t, w.env.Do("PUT", "/api/credentials/"+stripe, admin, map[string]any{"value": "x"}), 400, "validation_failed")
	for _, path := range []string{"/api/credentials/", "/api/credentials/" + stripe, "/api/audit/?pageSize=100"} {
		noSecret(t, path, w.env.Do("GET", path, w.keys["a/owner"], nil).Body, value, secretKey)
	}
	noSecret(t, "the logs", []byte(w.env.Logs()), value, secretKey)

	// Wrong keys: a plain error, nothing of AWS's answer in it.
	w2 := newWorldWith(t, "sqlite", func(c *config.Config) {
		c.SecretManagers.AwsSecretsManager = config.AwsSecretsManagerConfig{Region: "eu-central-1", Endpoint: srv.URL,
			AccessKeyId: "AKIAWRONG", SecretAccessKey: "nope-nope-nope"}
	})
	r := w2.env.Do("POST", "/api/credentials/", w2.keys["a/admin"], map[string]any{"name": "stripe", "type": "api_key",
		"source": "aws_secrets_manager", "reference": map[string]any{"path": "prod/crm/stripe", "key": "api_key"}})
	id2 := decodeData[credentialView](t, r).ID
	if _, err := w2.env.App.Secrets.PlatformSecret(t.Context(), w2.tenA, id2); err == nil {
		t.Fatal("resolved with the wrong keys")
	}
}
