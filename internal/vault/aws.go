package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// SourceAWSSecretsManager is the Source of a credential whose value lives
// in AWS Secrets Manager.
const SourceAWSSecretsManager = "aws_secrets_manager"

// AWSOptions configure the AWS Secrets Manager source. With no access key
// the SDK's default chain is not used: Komand never reads ambient cloud
// credentials (instance metadata) on a skill's behalf, so keys are
// configured explicitly.
type AWSOptions struct {
	Region          string
	Endpoint        string // optional (a VPC endpoint, or a local server in tests)
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	CacheTTL        time.Duration // default 60 s
	HTTPClient      *http.Client
	Now             func() time.Time
}

// AWSSecretsManager reads secrets with aws-sdk-go-v2's Secrets Manager
// client. A reference is {"path": "<secret name or ARN>", "key":
// "<JSON field>"}; without a key the whole SecretString is the value.
// Values are cached for CacheTTL.
type AWSSecretsManager struct {
	opts   AWSOptions
	client *secretsmanager.Client

	cache valueCache
}

// NewAWSSecretsManager returns the source.
func NewAWSSecretsManager(o AWSOptions) (*AWSSecretsManager, error) {
	if o.Region == "" || o.AccessKeyID == "" || o.SecretAccessKey == "" {
		return nil, errors.New("vault: AWS Secrets Manager needs a region, an access key ID and a secret access key")
	}
	sourceDefaults(&o.CacheTTL, &o.Now, &o.HTTPClient)
	hc := o.HTTPClient
	cfg := aws.Config{
		Region:           o.Region,
		Credentials:      credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, o.SessionToken),
		HTTPClient:       hc,
		RetryMaxAttempts: 2,
	}
	client := secretsmanager.NewFromConfig(cfg, func(opt *secretsmanager.Options) {
		if o.Endpoint != "" {
			opt.BaseEndpoint = aws.String(o.Endpoint)
		}
	})
	return &AWSSecretsManager{opts: o, client: client}, nil
}

// awsSecretIDRe is a secret name (letters, digits, /_+=.@-) or an ARN.
var (
	awsSecretIDRe = regexp.MustCompile(`^([A-Za-z0-9/_+=.@-]{1,512}|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]{1,512})$`)
	awsKeyRe      = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)
)

// CheckReference validates an AWS reference (no mount; path is the secret
// ID; key optional).
func (a *AWSSecretsManager) CheckReference(r Reference) error {
	if r.Mount != "" {
		return errors.New("reference.mount is not used by aws_secrets_manager")
	}
	if r.Version != "" {
		return errors.New("reference.version is not used by aws_secrets_manager")
	}
	if !awsSecretIDRe.MatchString(r.Path) || len(r.Path) > 2048 {
		return errors.New("reference.path must be a Secrets Manager secret name or ARN")
	}
	if r.Key != "" && !awsKeyRe.MatchString(r.Key) {
		return errors.New("reference.key must be one JSON field name")
	}
	return nil
}

// Fetch returns the referenced value.
func (a *AWSSecretsManager) Fetch(ctx context.Context, ref Reference) (string, error) {
	now := a.opts.Now()
	if v, ok := a.cache.get(ref, now); ok {
		return v, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := a.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref.Path)})
	if err != nil {
		// The SDK's error names the secret and AWS's message: for the log.
		return "", fmt.Errorf("%w (aws: %v)", errExternal, err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("%w (aws: binary secrets are not supported)", errExternal)
	}
	v := *out.SecretString
	if ref.Key != "" {
		var err error
		if v, err = jsonField("aws", v, ref.Key); err != nil {
			return "", err
		}
	}
	a.cache.put(ref, v, now.Add(a.opts.CacheTTL))
	return v, nil
}
