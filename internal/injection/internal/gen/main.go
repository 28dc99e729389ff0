// Command gen trains the injection detector's classifier and writes the
// embedded model file. It is run by `go generate ./internal/injection`
// and reads the project's corpus (its training split only) plus, when
// KOMAND_TRAINING_DATA names a directory, $KOMAND_TRAINING_DATA/examples.jsonl
// (the public training data, see docs/injection.md). The same data always
// gives the same file.
//
// With -report FILE it also writes the leave-one-source-out and
// in-distribution figures as markdown (docs/injection.md quotes them).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/komand-ai/komand/internal/injection"
)

func main() {
	corpus := flag.String("corpus", "testdata/corpus.jsonl", "the project's labelled corpus (its training split is used)")
	out := flag.String("out", "model.bin", "model file to write")
	report := flag.String("report", "", "also measure the in-distribution split and write the figures as markdown to this file")
	loso := flag.Bool("loso", false, "only measure (leave one source out, in-distribution split) and write -report; do not write the model")
	dump := flag.String("dump", "", "also write every example's out-of-fold log-odds and score as JSON Lines to this file")
	workers := flag.Int("workers", min(2, runtime.NumCPU()), "folds trained at once")
	flag.Parse()
	if err := run(*corpus, os.Getenv("KOMAND_TRAINING_DATA"), *out, *report, *dump, *loso, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(corpus, dataDir, out, report, dump string, losoOnly bool, workers int) error {
	ex, err := injection.LoadTrainingData(corpus, dataDir)
	if err != nil {
		return err
	}
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "gen: %6.1fs "+format+"\n", append([]any{time.Since(start).Seconds()}, args...)...)
	}
	logf("%d examples", len(ex))
	model, rep := injection.Train(ex, injection.TrainOptions{Workers: workers, InDist: report != "", Log: logf})
	if report != "" {
		host, _ := os.Hostname()
		md := formatReport(rep, fmt.Sprintf("%s, %d cores (%s), %s", runtime.GOARCH, runtime.NumCPU(), cpuName(), time.Now().UTC().Format("2006-01-02")), host)
		if err := os.WriteFile(report, []byte(md), 0o644); err != nil {
			return err
		}
		logf("wrote %s", report)
	}
	if dump != "" {
		var b []byte
		for i, e := range rep.Examples {
			s := rep.OOF[i]
			line, _ := json.Marshal(map[string]any{"origin": e.Origin, "label": e.Label, "source": e.Source, "kind": e.Kind,
				"zu": s.ZU, "zd": s.ZD, "score": s.Score, "len": len(e.Text), "text": e.Text})
			b = append(append(b, line...), '\n')
		}
		if err := os.WriteFile(dump, b, 0o644); err != nil {
			return err
		}
	}
	if losoOnly {
		return nil
	}
	if err := os.WriteFile(out, model, 0o644); err != nil {
		return err
	}
	logf("wrote %s (%d bytes)", filepath.Base(out), len(model))
	return nil
}

func cpuName() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range splitLines(string(b)) {
		if len(line) > 10 && line[:10] == "model name" {
			for i := range line {
				if line[i] == ':' {
					return trim(line[i+1:])
				}
			}
		}
	}
	return "unknown CPU"
}
