// Command gen trains the injection detector's classifier from the labelled
// corpus (its training split only) and writes the embedded model file. It
// is run by `go generate ./internal/injection`; the same corpus always
// gives the same file.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/komand-ai/komand/internal/injection"
)

func main() {
	corpus := flag.String("corpus", "testdata/corpus.jsonl", "labelled JSON Lines corpus")
	out := flag.String("out", "model.bin", "model file to write")
	flag.Parse()
	if err := run(*corpus, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(corpus, out string) error {
	f, err := os.Open(corpus)
	if err != nil {
		return err
	}
	defer f.Close()
	all, err := injection.ReadCorpus(f)
	if err != nil {
		return err
	}
	var train []injection.Example
	for _, e := range all {
		if !injection.InTestSplit(e.Text) {
			train = append(train, e)
		}
	}
	model, cv := injection.Train(train)
	for _, r := range cv {
		mark := ""
		if r.Chosen {
			mark = "  <- chosen"
		}
		fmt.Printf("gen: L2 %-6g held-out log-loss %.4f  tp %d fp %d tn %d fn %d%s\n", r.L2, r.LogLoss, r.TP, r.FP, r.TN, r.FN, mark)
	}
	if err := os.WriteFile(out, model, 0o644); err != nil {
		return err
	}
	fmt.Printf("gen: trained on %d of %d examples, wrote %s\n", len(train), len(all), out)
	return nil
}
