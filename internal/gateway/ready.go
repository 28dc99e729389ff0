package gateway

import (
	"context"
	"sync"
	"time"
)

// ReadyCacheTTL is how long an answer of the write probe is reused. The
// probe writes to the database (readiness must reflect writability), so
// without the cache every GET /ready, which is not rate limited, would be
// a write.
const ReadyCacheTTL = time.Second

// readyCache is the readiness check: ping (a read) on every call, then
// the write probe at most once per ReadyCacheTTL; callers that arrive
// while the probe runs wait for its answer.
type readyCache struct {
	ping, probe func(ctx context.Context) error
	now         func() time.Time

	mu   sync.Mutex
	at   time.Time // when last was found; zero before the first probe
	last error
}

func (c *readyCache) check(ctx context.Context) error {
	if c.ping != nil {
		if err := c.ping(ctx); err != nil {
			return err
		}
	}
	if c.probe == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if age := c.now().Sub(c.at); !c.at.IsZero() && age >= 0 && age < ReadyCacheTTL {
		return c.last
	}
	// The probe is the server's, not the caller's: a client that hangs
	// up does not make the cached answer an error.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	c.last = c.probe(pctx)
	c.at = c.now()
	return c.last
}
