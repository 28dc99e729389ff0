package app_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/config"
	"github.com/redis/go-redis/v9"
)

// TestRedisLogsGoThroughTheAppLogger (issue 15, defect 14): go-redis's own
// log lines reach the app's JSON logger (and so its redaction) instead of
// stderr.
func TestRedisLogsGoThroughTheAppLogger(t *testing.T) {
	url := os.Getenv("KOMAND_TEST_REDIS_URL")
	if url == "" {
		t.Skip("KOMAND_TEST_REDIS_URL not set")
	}
	env := apptest.New(t, "sqlite", func(c *config.Config) { c.ConnectionStrings.Redis = url })
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	key := "komand-test:redislog:" + t.Name()
	defer c.Del(context.Background(), key)
	// go-redis logs a warning for an expiry below its 1 ms resolution.
	if err := c.Set(context.Background(), key, "v", 500*time.Microsecond).Err(); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(env.Logs(), "\n") {
		if strings.Contains(l, `"component":"redis"`) && strings.Contains(l, "truncating to 1ms") &&
			strings.Contains(l, `"level":"WARN"`) {
			return
		}
	}
	t.Fatalf("go-redis's warning is not in the app's log:\n%s", env.Logs())
}
