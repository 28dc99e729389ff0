package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Decision is the outcome of one Allow call.
type Decision struct {
	Allowed   bool
	Limit     int
	Remaining int       // never negative
	Reset     time.Time // end of the current window
}

// Limiter decides whether one more event for key fits in the fixed window.
type Limiter interface {
	Allow(ctx context.Context, key string, limit int, window time.Duration) (Decision, error)
}

// ErrInvalidArgument is returned (wrapped) by Allow for a negative limit or a
// window that is too short. The Decision returned with it denies the event.
var ErrInvalidArgument = errors.New("ratelimit: invalid argument")

var (
	_ Limiter = (*Memory)(nil)
	_ Limiter = (*Redis)(nil)
)

// checkArgs validates limit and window. A limit of 0 is valid and denies
// every event.
func checkArgs(limit int, window time.Duration) error {
	if limit < 0 {
		return fmt.Errorf("%w: limit %d < 0", ErrInvalidArgument, limit)
	}
	if window <= 0 {
		return fmt.Errorf("%w: window %v <= 0", ErrInvalidArgument, window)
	}
	return nil
}

// deny returns a denial for the window that contains now.
func deny(limit int, window time.Duration, now time.Time) Decision {
	d := Decision{Limit: limit}
	if window > 0 {
		_, end := windowBounds(now.UnixNano(), window)
		d.Reset = time.Unix(0, end)
	}
	return d
}

// decide builds the Decision for the count'th event of a window.
func decide(count, limit int, reset time.Time) Decision {
	d := Decision{Allowed: count <= limit, Limit: limit, Reset: reset}
	if d.Allowed {
		d.Remaining = limit - count
	}
	return d
}

// windowBounds returns the fixed window of length w that contains the
// instant n (Unix nanoseconds): [start, end). Windows are aligned to the
// Unix epoch, the same in every store and on every replica, so a window
// that divides a day starts on the minute or hour as a reader expects. It is
// integer arithmetic only (no time.Time), as Allow runs on every request.
func windowBounds(n int64, w time.Duration) (start, end int64) {
	r := n % int64(w)
	if r < 0 {
		r += int64(w)
	}
	start = n - r
	return start, start + int64(w)
}
