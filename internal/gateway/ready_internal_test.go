package gateway

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestReadyCacheBoundsTheWriteProbe (issue 15, defect 13): /ready pings on
// every call but runs the write probe at most once per ReadyCacheTTL, so
// a flood of probes cannot amplify writes; a failed probe is remembered
// for as long, and the next one after it counts.
func TestReadyCacheBoundsTheWriteProbe(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var pings, probes int
	var probeErr error
	c := &readyCache{
		ping:  func(context.Context) error { pings++; return nil },
		probe: func(context.Context) error { probes++; return probeErr },
		now:   func() time.Time { return now },
	}
	for range 100 {
		if err := c.check(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if pings != 100 || probes != 1 {
		t.Fatalf("100 checks in one instant: %d pings, %d write probes; want 100 and 1", pings, probes)
	}
	now = now.Add(ReadyCacheTTL - time.Nanosecond)
	_ = c.check(context.Background())
	if probes != 1 {
		t.Fatalf("probed again within the TTL: %d", probes)
	}
	probeErr = errors.New("disk full")
	now = now.Add(time.Nanosecond)
	if err := c.check(context.Background()); !errors.Is(err, probeErr) || probes != 2 {
		t.Fatalf("after the TTL: %v, %d probes", err, probes)
	}
	probeErr = nil
	if err := c.check(context.Background()); err == nil || probes != 2 {
		t.Fatalf("the failure is not kept for the TTL: %v, %d probes", err, probes)
	}
	now = now.Add(ReadyCacheTTL)
	if err := c.check(context.Background()); err != nil || probes != 3 {
		t.Fatalf("recovery: %v, %d probes", err, probes)
	}
	// A failed ping answers at once, without the write probe.
	c.ping = func(context.Context) error { return errors.New("gone") }
	now = now.Add(ReadyCacheTTL)
	if err := c.check(context.Background()); err == nil || probes != 3 {
		t.Fatalf("failed ping: %v, %d probes", err, probes)
	}
}
