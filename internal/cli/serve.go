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
	"github.com/komand-ai/komand/internal/config"
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

// healthcheck asks a running server's /health, the liveness probe (never
// rate limited), and exits 0 when it answers 200. The server is --url, or
// --addr, or else the configured Server__Addr (from the environment or
// --config / KOMAND_CONFIG, default 127.0.0.1:5000); an unspecified host
// (":5000", "0.0.0.0:5000") means this machine's loopback.
func healthcheck(e *env, args []string) int {
	fs := flagSet(e, "healthcheck", "healthcheck [--addr host:port | --url http://127.0.0.1:5000/health] [--config file]")
	url := fs.String("url", "", "health URL (default: http://<addr>/health)")
	addrFlag := fs.String("addr", "", "server address host:port (default: the configured Server__Addr, 127.0.0.1:5000)")
	configFile := fs.String("config", "", "configuration file to read Server__Addr from (also KOMAND_CONFIG)")
	timeout := fs.Duration("timeout", 3*time.Second, "request timeout (greater than 0)")
	_, code, ok := parseComplete(e, fs, args, 0, 0, "")
	if !ok {
		return code
	}
	if *timeout <= 0 {
		// http.Client reads 0 as no timeout: a hung server would hang
		// the probe.
		return usageError(e, fs, "--timeout must be greater than 0")
	}
	if *url != "" && *addrFlag != "" {
		return usageError(e, fs, "--addr and --url are exclusive; give one")
	}
	target := *url
	if target == "" {
		addr := *addrFlag
		if addr == "" {
			cfg, err := config.Load(config.LoadOptions{File: *configFile, Env: e.environ})
			if err != nil {
				fmt.Fprintf(e.stderr, "komand healthcheck: reading the configuration: %v\n", err)
				return exitFail
			}
			addr = cfg.Server.Addr
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return usageError(e, fs, fmt.Sprintf("address %q is not host:port", addr))
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		target = "http://" + net.JoinHostPort(host, port) + "/health"
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
