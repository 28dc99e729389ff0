package ratelimit

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// takeScript is MemoryBackoff.Take on a Redis hash {n: failures, l: Unix ms
// of the last one}. ARGV: now, Free, Base, Max, Decay (ms). It returns
// {allowed (0/1), failures before this attempt, retry-at ms, the stored
// failures and last-failure ms before it (for refundScript)}. ARGV[6] is
// Doubling. The delay is
// computed by doubling with a cap, so it never overflows.
var takeScript = redis.NewScript(`
local now, free, base, maxd, decay, dbl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'l') or '0')
local storedN = n
if n > 0 and now > last then
  n = math.max(0, n - math.floor((now - last) / decay))
end
local function wait(k)
  if k < free then return 0 end
  local w = base
  for _ = 1, k - math.max(free, dbl) do
    if w > maxd / 2 then return maxd end
    w = w * 2
  end
  return math.min(w, maxd)
end
if n >= free and now < last + wait(n) then
  return {0, n, last + wait(n), 0, 0}
end
n = n + 1
redis.call('HSET', KEYS[1], 'n', n, 'l', now)
redis.call('PEXPIREAT', KEYS[1], now + math.max(n * decay, wait(n)))
return {1, n - 1, 0, storedN, last}
`)

// refundScript takes an attempt back: when the key is still as the attempt
// left it (ARGV: its failures and ms), it is restored to what it was
// before (ARGV: failures and last-failure ms); otherwise one failure is
// taken back. The key goes when no failure is left.
var refundScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'l') or '0')
if ARGV[1] ~= '' and n == tonumber(ARGV[1]) and last == tonumber(ARGV[2]) then
  n = tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], 'n', n, 'l', ARGV[4])
else
  n = redis.call('HINCRBY', KEYS[1], 'n', -1)
end
if n <= 0 then redis.call('DEL', KEYS[1]) end
return n
`)

// RedisBackoff is a Backoff whose state lives in Redis under prefix, shared
// by every replica using the same Redis and prefix. While Redis fails it
// logs a warning (at most once per second) and answers from fallback, so an
// outage degrades to per-replica throttling; it never disables it. Every
// operation touches one key, so it works on Redis Cluster too.
type RedisBackoff struct {
	client   redis.UniversalClient
	prefix   string
	fallback Backoff
	logger   *slog.Logger
	now      func() time.Time

	lastWarn atomic.Int64
}

// NewRedisBackoff returns a RedisBackoff. fallback answers while Redis is
// unavailable (pass a MemoryBackoff; nil refuses every attempt then); now
// nil means time.Now, logger nil slog.Default().
func NewRedisBackoff(client redis.UniversalClient, prefix string, fallback Backoff, logger *slog.Logger, now func() time.Time) *RedisBackoff {
	if logger == nil {
		logger = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &RedisBackoff{client: client, prefix: prefix, fallback: fallback, logger: logger, now: now}
}

// Take implements Backoff.
func (r *RedisBackoff) Take(ctx context.Context, key string, p BackoffPolicy) (Attempt, error) {
	if err := p.Validate(); err != nil {
		return Attempt{}, err
	}
	now := r.now()
	res, err := takeScript.Run(ctx, r.client, []string{r.prefix + key},
		now.UnixMilli(), p.Free, p.Base.Milliseconds(), p.Max.Milliseconds(), p.Decay.Milliseconds(), p.Doubling).Int64Slice()
	if err != nil || len(res) != 5 {
		r.warn(err)
		if r.fallback == nil {
			return Attempt{RetryAt: now.Add(p.Base)}, nil
		}
		return r.fallback.Take(ctx, key, p)
	}
	a := Attempt{Allowed: res[0] == 1, Failures: int(res[1])}
	if !a.Allowed {
		a.RetryAt = time.UnixMilli(res[2])
	} else {
		a.charged = &charged{prevN: int(res[3]), prevLast: time.UnixMilli(res[4]), n: int(res[1]) + 1, at: time.UnixMilli(now.UnixMilli())}
	}
	return a, nil
}

// Refund implements Backoff.
func (r *RedisBackoff) Refund(ctx context.Context, key string, a Attempt) error {
	args := []any{"", "", "", ""}
	if c := a.charged; c != nil {
		args = []any{c.n, c.at.UnixMilli(), c.prevN, c.prevLast.UnixMilli()}
	}
	if err := refundScript.Run(ctx, r.client, []string{r.prefix + key}, args...).Err(); err != nil {
		r.warn(err)
		if r.fallback != nil {
			return r.fallback.Refund(ctx, key, a)
		}
	}
	return nil
}

// Reset implements Backoff.
func (r *RedisBackoff) Reset(ctx context.Context, key string) error {
	if err := r.client.Del(ctx, r.prefix+key).Err(); err != nil {
		r.warn(err)
		if r.fallback != nil {
			return r.fallback.Reset(ctx, key)
		}
	}
	return nil
}

func (r *RedisBackoff) warn(err error) {
	now := time.Now().UnixNano()
	last := r.lastWarn.Load()
	if now-last >= int64(warnEvery) && r.lastWarn.CompareAndSwap(last, now) {
		// Not the key: it names an account and an address.
		r.logger.Warn("ratelimit: Redis unavailable, login backoff uses the in-process fallback (per-replica state)",
			slog.Any("err", err))
	}
}
