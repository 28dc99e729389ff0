package gateway_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/gateway"
	"github.com/komand-ai/komand/internal/store"
)

// serveReal runs srv.Serve on a loopback listener; cancel stops it. done is
// closed when Serve returns, and *result is then what it returned.
func serveReal(t *testing.T, srv *gateway.Server) (addr string, cancel context.CancelFunc, done <-chan struct{}, result *error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{})
	result = new(error)
	go func() {
		*result = srv.Serve(ctx, ln, 30*time.Second)
		close(ch)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	})
	return ln.Addr().String(), cancel, ch, result
}

// TestSlowHeadersAreCut: a client that never finishes its request headers
// (Slowloris) loses its connection; it does not hold it open.
func TestSlowHeadersAreCut(t *testing.T) {
	env := apptest.New(t, "sqlite", nil)
	srv, err := env.App.ServerWith("test", gateway.Timeouts{ReadHeader: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	addr, _, _, _ := serveReal(t, srv)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	// The deadline only guards against a hang; the server must close first.
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept a connection with unfinished headers open")
	}
	if strings.Contains(string(got), " 200 ") {
		t.Fatalf("a request with unfinished headers was answered: %q", got)
	}
}

// TestShutdownFinishesInFlight: a request that is still being received when
// shutdown starts is served to the end, its change and its audit entry are
// stored, and only then does Serve return.
func TestShutdownFinishesInFlight(t *testing.T) {
	env := apptest.New(t, "sqlite", nil)
	ten := env.Tenant("acme")
	key := env.APIKey(ten, env.User(ten, "admin@example.com", "admin"))
	srv, err := env.App.Server("test")
	if err != nil {
		t.Fatal(err)
	}
	addr, cancel, done, result := serveReal(t, srv)

	body := `{"agentId":"in-flight","name":"Started before shutdown"}`
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Expect: 100-continue makes the server say when the handler starts
	// reading the body, so shutdown begins while the request is provably
	// inside the handler (not merely queued in the kernel).
	head := fmt.Sprintf("POST /api/agents/ HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n"+
		"X-Request-Id: in-flight-1\r\n\r\n", addr, key, len(body))
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	cont, err := http.ReadResponse(br, nil)
	if err != nil || cont.StatusCode != http.StatusContinue {
		t.Fatalf("no 100 Continue: %v %v", cont, err)
	}
	cancel() // SIGTERM: shutdown begins while the handler waits for the body
	select {
	case <-done:
		t.Fatalf("Serve returned with a request in flight: %v", *result)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := io.WriteString(c, body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight request: %d", resp.StatusCode)
	}
	select {
	case <-done:
		if err := *result; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after the last request")
	}
	if _, err := env.App.Store.GetAgent(t.Context(), ten, "in-flight"); err != nil {
		t.Fatalf("the in-flight change is missing: %v", err)
	}
	es, _, err := env.App.Store.ListAudit(t.Context(), ten, store.AuditFilter{Action: string(audit.AgentConfigured)}, store.Page{Page: 1, PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range es {
		found = found || (e.AgentID == "in-flight" && e.RequestID == "in-flight-1")
	}
	if !found {
		t.Fatalf("the in-flight request's audit entry is missing: %+v", es)
	}
	// New connections are refused once the server has stopped.
	if c2, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c2.Close()
		t.Fatal("the stopped server still accepts connections")
	}
}
