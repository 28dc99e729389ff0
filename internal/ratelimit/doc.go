// Package ratelimit implements fixed-window rate limiting for the Komand API
// gateway (API requests, chat messages, login throttling).
//
// # Fixed windows
//
// A fixed window limiter counts the events for a key inside a window of
// length w and allows at most limit of them. When the window ends the count
// starts again from zero. Each event costs one counter increment and one
// comparison, which makes it the cheapest exact limiter; the known trade-off
// is that up to 2*limit events can pass around a window boundary (limit at the
// end of one window, limit at the start of the next).
//
// # Alignment
//
// Windows are aligned to the clock rather than to a key's first event:
//
//	windowStart = now - now mod window   (Unix nanoseconds, epoch-aligned)
//	Reset       = windowStart + window
//
// Every replica therefore computes the same window, and so the same Reset
// (the value for X-RateLimit-Reset / Retry-After), for a key at a given moment
// without sharing any state, and the in-process ([Memory]) and shared
// ([Redis]) limiters agree with each other. A key's state is identified by
// (key, window), so one limiter can serve several policies (for example
// 100/60s for the API and 30/60s for chat) without their counters colliding.
//
// # Bounded memory
//
// [Memory] keeps at most maxKeys (key, window) entries. A new key that arrives
// while the limiter is full first triggers the removal of entries whose window
// has already ended. If the limiter is still full, the new key is refused:
// Allow returns Allowed=false and Remaining=0, and no state is created. Komand
// deliberately does not evict live entries, whether least recently used or at
// random: an attacker who sprays distinct keys (random IPs, user names) could
// then push a victim's entry out and reset its window, which would also reset
// the login throttle. Refusing new keys keeps memory bounded, keeps every
// existing window intact, and fails closed. The cost is that while the table
// is full of live windows, new clients are refused until those windows end
// (at most one window length). Size maxKeys well above the number of
// legitimate keys per window.
//
// The zero value of [Memory] and a nil *Memory deny every event: a limiter
// that was never set up fails closed instead of silently allowing everything.
//
// # Redis and the fallback
//
// [Redis] keeps the counters in Redis so that all Komand replicas share one
// window per key. One Lua script does INCR on the window's key and, on the
// first increment, PEXPIREAT at the window end, so the counter deletes itself
// when the window ends. If Redis fails (down, timeout, network error), Redis
// logs a warning and asks the fallback limiter (normally a [Memory]) instead,
// and returns a nil error. An outage therefore degrades to per-replica limits.
// It does not disable rate limiting, and it does not make API requests fail.
// With n replicas behind a load balancer, a client can get up to about n times
// the limit while Redis is unavailable.
//
// A failover continues the window rather than starting a fresh budget.
// While Redis answers, each shared count is mirrored into the [Memory]
// fallback (one more table lookup per event), so the fallback starts from
// the count it last saw. When Redis comes back, the script receives the
// replica's count as a floor: a counter below it (Redis restarted empty,
// or a promoted replica that had not seen the last increments) is raised
// to it, so recovery does not grant a fresh budget either. A window thus
// allows the limit once per replica at most, not once per outage.
package ratelimit
