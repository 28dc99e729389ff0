// Command startup measures how long `komand serve` takes to become ready,
// over -n starts, and prints one JSON line with the medians.
//
// Each start gets a free loopback port (appended as --addr 127.0.0.1:PORT to
// the command), and three times are taken from just before exec:
//
//   - startup_ms: what the server itself logs in its "komand ready" line
//     (from the start of serve's work to listening);
//   - ready_line_ms: wall time until that line is read from its stderr;
//   - health_ms: wall time until GET /health first answers 200 (polled
//     every 500 µs), which includes process exec and the Go runtime start.
//
// The server is then stopped with SIGTERM.
//
//	startup -n 10 -- ./komand serve --data-dir /tmp/d
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

type summary struct {
	Starts        int       `json:"starts"`
	StartupMs     float64   `json:"startup_ms_median"`
	ReadyLineMs   float64   `json:"ready_line_ms_median"`
	HealthMs      float64   `json:"health_ms_median"`
	HealthMinMs   float64   `json:"health_ms_min"`
	HealthMaxMs   float64   `json:"health_ms_max"`
	StartupAll    []float64 `json:"startup_ms"`
	HealthAllMs   []float64 `json:"health_ms"`
	ReadyLineAllM []float64 `json:"ready_line_ms"`
}

func main() {
	n := flag.Int("n", 10, "number of starts")
	timeout := flag.Duration("timeout", 15*time.Second, "give up on one start after this long")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 || *n < 1 {
		fmt.Fprintln(os.Stderr, "usage: startup [-n 10] -- komand serve [flags]")
		os.Exit(2)
	}
	var s summary
	for i := range *n {
		st, rl, h, err := once(args, *timeout)
		if err != nil {
			fmt.Fprintf(os.Stderr, "startup: start %d: %v\n", i+1, err)
			os.Exit(1)
		}
		s.StartupAll = append(s.StartupAll, st)
		s.ReadyLineAllM = append(s.ReadyLineAllM, rl)
		s.HealthAllMs = append(s.HealthAllMs, h)
	}
	s.Starts = *n
	s.StartupMs = median(s.StartupAll)
	s.ReadyLineMs = median(s.ReadyLineAllM)
	s.HealthMs = median(s.HealthAllMs)
	s.HealthMinMs = slices.Min(s.HealthAllMs)
	s.HealthMaxMs = slices.Max(s.HealthAllMs)
	_ = json.NewEncoder(os.Stdout).Encode(s)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func once(args []string, timeout time.Duration) (startupMs, readyLineMs, healthMs float64, err error) {
	port, err := freePort()
	if err != nil {
		return 0, 0, 0, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(args[0], append(slices.Clone(args[1:]), "--addr", addr)...)
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, 0, 0, err
	}
	type ready struct {
		ms   float64
		at   time.Time
		err  error
		tail string
	}
	readyc := make(chan ready, 1)
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var last string
		sent := false
		for sc.Scan() {
			line := sc.Text()
			last = line
			if sent || !strings.Contains(line, `"komand ready"`) {
				continue
			}
			var rec struct {
				StartupMs float64 `json:"startup_ms"`
			}
			at := time.Now()
			err := json.Unmarshal([]byte(line), &rec)
			readyc <- ready{ms: rec.StartupMs, at: at, err: err}
			sent = true
		}
		if !sent {
			readyc <- ready{err: errors.New("server exited without a ready line"), tail: last}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()

	client := &http.Client{Timeout: 200 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := t0.Add(timeout)
	var healthAt time.Time
	for time.Now().Before(deadline) {
		resp, err := client.Get("http://" + addr + "/health")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				healthAt = time.Now()
				break
			}
		}
		time.Sleep(500 * time.Microsecond)
	}
	if healthAt.IsZero() {
		return 0, 0, 0, fmt.Errorf("no healthy answer on %s within %v", addr, timeout)
	}
	var r ready
	select {
	case r = <-readyc:
	case <-time.After(time.Until(deadline)):
		return 0, 0, 0, errors.New("no ready line")
	}
	if r.err != nil {
		return 0, 0, 0, fmt.Errorf("%v (last line: %s)", r.err, r.tail)
	}
	return r.ms, ms(r.at.Sub(t0)), ms(healthAt.Sub(t0)), nil
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return math.Round(m*1000) / 1000
}
