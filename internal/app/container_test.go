package app_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/app/apptest"
)

// TestContainerBackendUnavailable: a container backend that was asked for
// but cannot run is a start-up error that says why, never a server
// without it.
func TestContainerBackendUnavailable(t *testing.T) {
	cfg := apptest.Config(t, "sqlite")
	cfg.Sandbox.Container, cfg.Sandbox.DockerHost = "docker", "unix:///nonexistent/docker.sock"
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), app.Options{PasswordParams: apptest.TestParams})
	if err == nil {
		a.Close()
		t.Fatal("started without its Docker engine")
	}
	for _, want := range []string{"Sandbox__Container=docker", "unix:///nonexistent/docker.sock", "not reachable"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q lacks %q", err, want)
		}
	}
}
