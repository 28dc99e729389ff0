package cli

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestHealthcheckAddress (issue 15, defect 1): healthcheck finds the server
// by --url, by --addr, or by the configured Server__Addr, from the
// environment or from the configuration file, and an unspecified host
// means loopback.
func TestHealthcheckAddress(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		hits.Add(1)
		w.WriteHeader(200)
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	cfgFile := filepath.Join(t.TempDir(), "appsettings.json")
	if err := os.WriteFile(cfgFile, []byte(`{"Server":{"Addr":"0.0.0.0:`+port+`"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		environ []string
		args    []string
	}{
		{"url", nil, []string{"--url", srv.URL + "/health"}},
		{"addr flag", nil, []string{"--addr", addr}},
		{"Server__Addr", []string{"Server__Addr=" + addr}, nil},
		{"Server__Addr without a host", []string{"Server__Addr=:" + port}, nil},
		{"config file", nil, []string{"--config", cfgFile}},
		{"KOMAND_CONFIG", []string{"KOMAND_CONFIG=" + cfgFile}, nil},
		{"the flag wins over the configuration", []string{"Server__Addr=127.0.0.1:1"}, []string{"--addr", addr}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, out, errb := testEnv(t, "")
			e.environ = append(e.environ, c.environ...)
			before := hits.Load()
			if code := run(e, append([]string{"healthcheck"}, c.args...)); code != 0 || out.String() != "ok\n" {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errb)
			}
			if hits.Load() != before+1 {
				t.Fatal("the server was not asked")
			}
		})
	}

	// Both --addr and --url: a usage error that says so.
	code, _, errs := runCLI(t, "", "healthcheck", "--addr", addr, "--url", srv.URL+"/health")
	if code != exitUsage || !strings.Contains(errs, "--addr and --url") || !strings.Contains(errs, "Usage") {
		t.Fatalf("both flags: %d %q", code, errs)
	}
	// Nothing listening at the configured address: exit 1.
	e, _, errb := testEnv(t, "")
	e.environ = append(e.environ, "Server__Addr=127.0.0.1:1")
	if code := run(e, []string{"healthcheck"}); code != exitFail {
		t.Fatalf("no server: exit %d, %q", code, errb)
	}
}

// TestHealthcheckTimeoutMustBePositive: --timeout 0 (which http.Client
// reads as no timeout at all, so a hung server hangs the probe) and
// negative timeouts are refused, naming the flag, before any request.
func TestHealthcheckTimeoutMustBePositive(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	for _, v := range []string{"0s", "0", "-1s", "-1ns"} {
		code, _, errs := runCLI(t, "", "healthcheck", "--url", srv.URL+"/health", "--timeout", v)
		if code != exitUsage || !strings.HasPrefix(errs, "komand healthcheck: --timeout must be greater than 0") {
			t.Errorf("--timeout %s: exit %d %q", v, code, errs)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("%d requests made with a refused timeout", hits.Load())
	}
	if code, _, errs := runCLI(t, "", "healthcheck", "--url", srv.URL+"/health", "--timeout", "30s"); code != exitOK {
		t.Fatalf("--timeout 30s: %d %q", code, errs)
	}
}
