package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/logging"
)

func serve(e *env, args []string) int {
	start := time.Now()
	fs := flagSet(e, "serve", "serve [--addr host:port] [--data-dir dir] [--dsn postgres://…] [--config file]")
	var sf storeFlags
	sf.register(fs)
	addr := fs.String("addr", "", "listen address (default 127.0.0.1:5000, loopback only)")
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	boot := logging.New(e.stderr, "info", "json")
	cfg, err := sf.loadConfig(e, boot)
	if err != nil {
		return fail(e, err)
	}
	if *addr != "" {
		cfg.Server.Addr = *addr
		if err := cfg.Validate(); err != nil {
			return fail(e, err)
		}
	}
	secrets := app.LogSecrets(cfg)
	log := logging.NewRedacting(e.stderr, cfg.Log.Level, cfg.Log.Format, secrets)
	gcPercent, gcSet := app.TuneGC(e.environ)

	ctx := e.ctx
	if ctx == nil {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
	}

	a, err := app.New(ctx, cfg, log, app.Options{Secrets: secrets})
	if err != nil {
		return fail(e, err)
	}
	defer func() {
		if err := a.Close(); err != nil {
			log.Error("closing", "err", err)
		}
	}()
	// Idle sessions end in the background; the loop stops with ctx.
	go a.Sessions.RunExpiry(ctx, time.Minute)
	srv, err := a.Server(version())
	if err != nil {
		return fail(e, err)
	}
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fail(e, fmt.Errorf("listening on %s: %w", cfg.Server.Addr, err))
	}
	storeKind := "sqlite"
	if cfg.ConnectionStrings.Komand != "" {
		storeKind = "postgres"
	}
	log.Info("komand ready", "addr", ln.Addr().String(), "environment", cfg.Environment,
		"store", storeKind, "version", version(), "gc_percent", gcPercent, "gc_percent_from_env", !gcSet,
		"startup_ms", float64(time.Since(start).Microseconds())/1000)
	if e.onReady != nil {
		e.onReady(ln.Addr().String())
	}
	if err := srv.Serve(ctx, ln, cfg.Server.ShutdownTimeout); err != nil && err != http.ErrServerClosed {
		log.Error("server stopped", "err", err)
		return exitFail
	}
	log.Info("komand stopped")
	return exitOK
}

func healthcheck(e *env, args []string) int {
	fs := flagSet(e, "healthcheck", "healthcheck [--url http://127.0.0.1:5000/health]")
	url := fs.String("url", "", "health URL (default: http://<Server__Addr>/health, 127.0.0.1:5000)")
	timeout := fs.Duration("timeout", 3*time.Second, "request timeout")
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	target := *url
	if target == "" {
		addr := "127.0.0.1:5000"
		for _, kv := range e.environ {
			if v, ok := cutPrefix(kv, "Server__Addr="); ok && v != "" {
				addr = v
			}
		}
		host, port, err := net.SplitHostPort(addr)
		if err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		target = "http://" + addr + "/health"
	}
	client := &http.Client{Timeout: *timeout}
	resp, err := client.Get(target)
	if err != nil {
		fmt.Fprintf(e.stderr, "komand healthcheck: %v\n", err)
		return exitFail
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(e.stderr, "komand healthcheck: %s answered %d\n", target, resp.StatusCode)
		return exitFail
	}
	fmt.Fprintln(e.stdout, "ok")
	return exitOK
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}
