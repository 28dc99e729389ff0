// Command loadgen drives authenticated GET load against one Komand URL and
// prints the result as one JSON line.
//
// Closed loop (-rate 0): -concurrency workers each send a request as soon as
// the previous one answered; this measures maximum throughput.
//
// Open loop (-rate N): requests are scheduled at N per second regardless of
// how fast the server answers, and each latency is measured from the
// request's scheduled send time, not from when a worker got round to
// sending it. A server that stalls therefore shows the full delay of every
// request queued behind the stall (no coordinated omission). -concurrency
// bounds the requests in flight; requests waiting for a worker are counted
// in the latency.
//
// The run is bounded by -duration and by -max-requests; requests are sent
// only to the given URL, which must be a loopback address unless
// -allow-remote is set.
//
//	loadgen -url http://127.0.0.1:5000/api/agents/ -key kmd_… -duration 10s -concurrency 16
//	loadgen -url … -key … -duration 10s -rate 2000 -concurrency 64
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Mode        string         `json:"mode"`
	URL         string         `json:"url"`
	Concurrency int            `json:"concurrency"`
	Rate        float64        `json:"rate,omitempty"`
	DurationS   float64        `json:"duration_s"`
	Requests    int64          `json:"requests"`
	Errors      int64          `json:"errors"`
	RPS         float64        `json:"rps"`
	P50ms       float64        `json:"p50_ms"`
	P90ms       float64        `json:"p90_ms"`
	P99ms       float64        `json:"p99_ms"`
	P999ms      float64        `json:"p999_ms"`
	Maxms       float64        `json:"max_ms"`
	Status      map[string]int `json:"status"`
	Unsent      int64          `json:"unsent,omitempty"` // open loop: scheduled but not sent before the drain deadline
	FirstError  string         `json:"first_error,omitempty"`
}

type worker struct {
	lat    []time.Duration
	status map[int]int
	errs   int64
	n      int64
}

func main() {
	var (
		target      = flag.String("url", "", "URL to GET (required)")
		key         = flag.String("key", "", "bearer credential (API key or access token)")
		duration    = flag.Duration("duration", 10*time.Second, "measured run time")
		warmup      = flag.Duration("warmup", 0, "unmeasured warm-up before the run")
		concurrency = flag.Int("concurrency", 16, "workers (closed loop) or maximum requests in flight (open loop)")
		rate        = flag.Float64("rate", 0, "requests per second; 0 = closed loop at maximum throughput")
		maxReq      = flag.Int64("max-requests", 2_000_000, "stop after this many measured requests")
		timeout     = flag.Duration("timeout", 5*time.Second, "per-request timeout")
		drain       = flag.Duration("drain", 5*time.Second, "open loop: how long to wait for queued requests after the run")
		remote      = flag.Bool("allow-remote", false, "allow a non-loopback target")
	)
	flag.Parse()
	if err := run(*target, *key, *duration, *warmup, *concurrency, *rate, *maxReq, *timeout, *drain, *remote); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(target, key string, duration, warmup time.Duration, concurrency int, rate float64,
	maxReq int64, timeout, drain time.Duration, remote bool) error {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-url must be an http(s) URL, got %q", target)
	}
	if !remote && !loopback(u.Hostname()) {
		return fmt.Errorf("-url %s is not a loopback address (use -allow-remote)", u.Host)
	}
	if concurrency < 1 || duration <= 0 || maxReq < 1 || rate < 0 || math.IsInf(rate, 0) || math.IsNaN(rate) {
		return errors.New("need -concurrency ≥ 1, -duration > 0, -max-requests ≥ 1, -rate ≥ 0")
	}
	tr := &http.Transport{
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		MaxConnsPerHost:     concurrency,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	client := &http.Client{Transport: tr, Timeout: timeout}
	defer tr.CloseIdleConnections()
	newReq := func(ctx context.Context) *http.Request {
		r, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if key != "" {
			r.Header.Set("Authorization", "Bearer "+key)
		}
		return r
	}
	var firstErr atomic.Value
	do := func(w *worker, record bool, sched time.Time) {
		resp, err := client.Do(newReq(context.Background()))
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if !record {
			return
		}
		w.lat = append(w.lat, time.Since(sched))
		w.n++
		switch {
		case err != nil:
			w.errs++
			w.status[0]++
			firstErr.CompareAndSwap(nil, err.Error())
		case resp.StatusCode < 200 || resp.StatusCode > 299:
			w.errs++
			w.status[resp.StatusCode]++
			firstErr.CompareAndSwap(nil, "HTTP "+strconv.Itoa(resp.StatusCode))
		default:
			w.status[resp.StatusCode]++
		}
	}

	workers := make([]*worker, concurrency)
	for i := range workers {
		workers[i] = &worker{status: map[int]int{}}
	}

	// Warm-up: closed loop, nothing recorded.
	if warmup > 0 {
		end := time.Now().Add(warmup)
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(end) {
					do(w, false, time.Now())
				}
			}()
		}
		wg.Wait()
	}

	res := result{URL: target, Concurrency: concurrency, Status: map[string]int{}}
	var budget atomic.Int64
	budget.Store(maxReq)
	start := time.Now()
	end := start.Add(duration)
	var wg sync.WaitGroup
	var unsent atomic.Int64
	if rate == 0 {
		res.Mode = "closed"
		for _, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(end) && budget.Add(-1) >= 0 {
					do(w, true, time.Now())
				}
			}()
		}
		wg.Wait()
	} else {
		res.Mode = "open"
		res.Rate = rate
		total := min(int64(rate*duration.Seconds()), maxReq)
		// The queue holds scheduled send times; it never blocks the
		// scheduler (sized for the whole run), so a slow server shows up
		// as latency, not as a lower sending rate.
		queue := make(chan time.Time, total)
		deadline := end.Add(drain)
		for _, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for sched := range queue {
					if time.Now().After(deadline) {
						unsent.Add(1)
						continue
					}
					do(w, true, sched)
				}
			}()
		}
		interval := float64(time.Second) / rate
		var sent int64
		for sent < total {
			now := time.Now()
			due := min(int64(float64(now.Sub(start))/interval)+1, total)
			for ; sent < due; sent++ {
				queue <- start.Add(time.Duration(float64(sent) * interval))
			}
			if sent < total {
				next := start.Add(time.Duration(float64(sent) * interval))
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
			}
		}
		close(queue)
		wg.Wait()
	}
	// For the open loop this includes the time to drain what was queued,
	// so rps falls below -rate when the server could not keep up.
	elapsed := time.Since(start)

	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.lat...)
		res.Requests += w.n
		res.Errors += w.errs
		for code, n := range w.status {
			k := strconv.Itoa(code)
			if code == 0 {
				k = "transport_error"
			}
			res.Status[k] += n
		}
	}
	res.Unsent = unsent.Load()
	res.DurationS = round(elapsed.Seconds(), 3)
	res.RPS = round(float64(res.Requests)/elapsed.Seconds(), 1)
	if len(all) > 0 {
		slices.Sort(all)
		q := func(p float64) float64 {
			return round(float64(all[int(p*float64(len(all)-1))])/1e6, 3)
		}
		res.P50ms, res.P90ms, res.P99ms, res.P999ms = q(0.5), q(0.9), q(0.99), q(0.999)
		res.Maxms = round(float64(all[len(all)-1])/1e6, 3)
	}
	if v := firstErr.Load(); v != nil {
		res.FirstError = v.(string)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}
