package gateway

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// TestHTTPServerTimeouts: all four timeouts are set by default, and
// Options.Timeouts overrides them one by one.
func TestHTTPServerTimeouts(t *testing.T) {
	s := New(Deps{}, Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	hs := s.httpServer(context.Background())
	if hs.ReadHeaderTimeout != ReadHeaderTimeout || hs.ReadTimeout != ReadTimeout ||
		hs.WriteTimeout != WriteTimeout || hs.IdleTimeout != IdleTimeout {
		t.Fatalf("default timeouts: %v %v %v %v", hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout)
	}
	for _, d := range []time.Duration{hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout} {
		if d <= 0 {
			t.Fatalf("a timeout is unset: %+v", hs)
		}
	}
	if hs.MaxHeaderBytes <= 0 || hs.MaxHeaderBytes > 1<<20 {
		t.Fatalf("MaxHeaderBytes %d", hs.MaxHeaderBytes)
	}
	s = New(Deps{}, Options{Timeouts: Timeouts{ReadHeader: time.Second}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if hs := s.httpServer(context.Background()); hs.ReadHeaderTimeout != time.Second || hs.ReadTimeout != ReadTimeout {
		t.Fatalf("override: %v %v", hs.ReadHeaderTimeout, hs.ReadTimeout)
	}
}
