package e2e_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/config"
)

// TestRateLimitSharedAcrossReplicas starts two Komand servers on one Redis:
// their windows are shared, so the limit holds for the pair, not for each.
func TestRateLimitSharedAcrossReplicas(t *testing.T) {
	t.Parallel()
	url := os.Getenv("KOMAND_TEST_REDIS_URL")
	if url == "" {
		t.Skip("Redis tests are disabled; set KOMAND_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	o := app.Options{RedisPrefix: "komand-test-" + hex.EncodeToString(b[:]) + ":"}
	mutate := func(c *config.Config) {
		c.ConnectionStrings.Redis = url
		c.RateLimits.ApiPermitLimit = 5
	}
	a := apptest.NewWith(t, "sqlite", mutate, o)
	bsrv := apptest.NewWith(t, "sqlite", mutate, o)
	allowed := 0
	for i := 0; i < 4; i++ {
		for _, env := range []*apptest.Env{a, bsrv} {
			// An unknown path: public, so limited by address (probes
			// are not limited at all).
			if r := env.Do("GET", "/nope", "", nil); r.Status == 404 {
				allowed++
			} else {
				expectError(t, r, 429, "rate_limited")
			}
		}
	}
	if allowed != 5 {
		t.Fatalf("two replicas allowed %d requests in one window, want 5", allowed)
	}
}
