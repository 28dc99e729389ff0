package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// incrScript counts one event in the window stored at KEYS[1]. On the first
// event it sets the key to expire at the window end, ARGV[1] (Unix ms). It
// returns the count, including this event. It runs atomically, so no key
// exists without its expiry.
//
// ARGV[2] is the count this replica already holds for the window (its
// in-process mirror). A counter below it has lost events (Redis restarted
// empty, or failed over to a replica that had not seen them), so it is
// raised to that floor plus this event: a Redis that comes back does not
// grant a fresh budget either.
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[2])
if n <= floor then
  n = floor + 1
  redis.call('SET', KEYS[1], n)
  redis.call('PEXPIREAT', KEYS[1], ARGV[1])
elseif n == 1 then
  redis.call('PEXPIREAT', KEYS[1], ARGV[1])
end
return n
`)

// warnEvery is the minimum interval between two "Redis unavailable"
// warnings. During an outage every Allow fails. Without this limit a busy
// gateway would write one warning per request.
const warnEvery = time.Second

// Redis is a fixed-window Limiter that keeps its counters in Redis, so that
// every Komand replica using the same Redis and prefix shares one window per
// (key, window) pair.
//
// If Redis cannot be reached or returns an error, Allow logs a warning and
// returns the fallback's decision with a nil error. The outage degrades to
// per-replica limits. It does not stop rate limiting, and it does not fail
// the request. See the package documentation.
//
// The zero value and a nil *Redis deny every event. Use NewRedis.
type Redis struct {
	client   redis.UniversalClient
	prefix   string
	fallback Limiter
	logger   *slog.Logger
	now      func() time.Time // tests replace it

	lastWarn   atomic.Int64 // Unix ns of the last outage warning
	suppressed atomic.Int64 // failures not logged since lastWarn
	degraded   atomic.Bool  // the last call used the fallback
}

// NewRedis returns a limiter that keeps its windows in Redis under keys that
// start with prefix (for example "komand:rl:"). fallback answers while Redis
// is unavailable. Pass an in-process Memory. If fallback is nil, every event
// is denied while Redis is unavailable. logger receives the outage warnings.
// If it is nil, NewRedis uses slog.Default().
//
// During an outage, each Allow waits for the client to give up before the
// fallback answers, so configure client for the gateway's latency budget.
// The go-redis defaults (5s DialTimeout, 3s ReadTimeout, 5 dial attempts, 3
// command retries) can hold a request for seconds. For example:
//
//	redis.NewUniversalClient(&redis.UniversalOptions{
//		Addrs:         addrs,
//		DialTimeout:   100 * time.Millisecond,
//		ReadTimeout:   100 * time.Millisecond,
//		WriteTimeout:  100 * time.Millisecond,
//		DialerRetries: 1,  // one dial attempt per call
//		MaxRetries:    -1, // no command retries: go to the fallback at once
//	})
//
// A deadline on the ctx passed to Allow also bounds the wait.
func NewRedis(client redis.UniversalClient, prefix string, fallback Limiter, logger *slog.Logger) *Redis {
	if logger == nil {
		logger = slog.Default()
	}
	return &Redis{client: client, prefix: prefix, fallback: fallback, logger: logger, now: time.Now}
}

// Allow records one event for key in Redis. The window must be at least one
// millisecond, the resolution of Redis expiry. The error is non-nil only for
// invalid arguments. A Redis failure is logged and answered by the fallback.
func (r *Redis) Allow(ctx context.Context, key string, limit int, window time.Duration) (Decision, error) {
	if r == nil || r.client == nil {
		return deny(limit, window, time.Now()), nil // never set up: fail closed
	}
	now := r.now()
	if err := checkArgs(limit, window); err != nil {
		return deny(limit, window, now), err
	}
	if window < time.Millisecond {
		return deny(limit, window, now), fmt.Errorf("%w: window %v < 1ms", ErrInvalidArgument, window)
	}
	start, end := windowBounds(now.UnixNano(), window)
	ws, reset := time.Unix(0, start), time.Unix(0, end)
	if limit == 0 {
		return Decision{Limit: limit, Reset: reset}, nil
	}

	// A Memory fallback mirrors the shared count while Redis answers (see
	// the package documentation): a failover then continues the window,
	// and a Redis that comes back empty is raised to what this replica
	// has counted.
	mem, _ := r.fallback.(*Memory)
	floor := mem.count(key, window)
	n, err := incrScript.Run(ctx, r.client, []string{r.redisKey(key, window, ws)}, reset.UnixMilli(), floor).Int64()
	if err != nil {
		return r.useFallback(ctx, key, limit, window, err)
	}
	mem.raise(key, window, int(min(n, int64(math.MaxInt32))))
	if r.degraded.Load() && r.degraded.CompareAndSwap(true, false) {
		r.logger.Info("ratelimit: Redis is available again, shared windows restored")
	}
	count := limit + 1 // the count can exceed MaxInt on 32-bit platforms
	if n <= int64(limit) {
		count = int(n)
	}
	return decide(count, limit, reset), nil
}

// redisKey is prefix + key + ":" + window in ms + ":" + window start in Unix
// ms. The window length is part of the name so that two policies for one key
// never share a counter. Windows that start in the same second (such as
// windows shorter than a second, or a 1m and a 1h window at the top of the
// hour) then still get distinct keys. The last two fields are numbers, so
// different (key, window, start) triples never produce the same name.
func (r *Redis) redisKey(key string, window time.Duration, ws time.Time) string {
	b := make([]byte, 0, len(r.prefix)+len(key)+32)
	b = append(b, r.prefix...)
	b = append(b, key...)
	b = append(b, ':')
	b = strconv.AppendInt(b, window.Milliseconds(), 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, ws.UnixMilli(), 10)
	return string(b)
}

// useFallback logs the Redis failure (at most once per warnEvery) and asks
// the fallback limiter.
func (r *Redis) useFallback(ctx context.Context, key string, limit int, window time.Duration, cause error) (Decision, error) {
	r.degraded.Store(true)
	now := time.Now().UnixNano()
	last := r.lastWarn.Load()
	if now-last >= int64(warnEvery) && r.lastWarn.CompareAndSwap(last, now) {
		r.logger.Warn("ratelimit: Redis unavailable, using the in-process fallback (per-replica limits)",
			slog.String("key", key),
			slog.Int("limit", limit),
			slog.Duration("window", window),
			slog.Int64("suppressed", r.suppressed.Swap(0)),
			slog.Any("err", cause))
	} else {
		r.suppressed.Add(1)
	}
	if r.fallback == nil {
		return deny(limit, window, r.now()), nil
	}
	return r.fallback.Allow(ctx, key, limit, window)
}
