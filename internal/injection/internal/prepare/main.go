// Command prepare builds the prompt-injection training set: it verifies the
// public files under <data>/raw against the committed manifest and writes
// <data>/examples.jsonl.
//
//	go run ./internal/injection/internal/prepare -data /work/data/injection
//
// With -write-manifest it instead scans <data>/raw, builds, and rewrites
// the manifest (digests and counts); use it only after changing sources.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/komand-ai/komand/internal/injection/internal/dataset"
)

func main() {
	data := flag.String("data", "", "data directory holding raw/; examples.jsonl is written there")
	manifest := flag.String("manifest", "internal/injection/training/manifest.json", "committed manifest")
	write := flag.Bool("write-manifest", false, "rescan raw/ and rewrite the manifest")
	flag.Parse()
	if *data == "" {
		fmt.Fprintln(os.Stderr, "usage: prepare -data DIR [-manifest FILE] [-write-manifest]")
		os.Exit(2)
	}
	if err := run(*data, *manifest, *write); err != nil {
		slog.Error("prepare", "err", err)
		os.Exit(1)
	}
}

func run(data, manifestPath string, write bool) error {
	raw := os.DirFS(filepath.Join(data, "raw"))
	var m *dataset.Manifest
	if write {
		files, err := dataset.Scan(raw, dataset.Table)
		if err != nil {
			return err
		}
		m = &dataset.Manifest{Files: files}
	} else {
		var err error
		if m, err = dataset.ReadManifestFile(manifestPath); err != nil {
			return err
		}
	}
	examples, err := dataset.Build(raw, m, dataset.Table)
	if err != nil {
		return err
	}
	counts := dataset.CountByOrigin(examples)
	if write {
		dataset.Summarise(m, examples)
		var buf bytes.Buffer
		if err := dataset.WriteManifest(&buf, m); err != nil {
			return err
		}
		if err := os.WriteFile(manifestPath, buf.Bytes(), 0o644); err != nil {
			return err
		}
	} else if err := sameCounts(m.Origins, counts); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := dataset.WriteJSONL(&buf, examples); err != nil {
		return err
	}
	out := filepath.Join(data, "examples.jsonl")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	names := make([]string, 0, len(counts))
	for k := range counts {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Printf("%-26s injection %6d  benign %6d\n", k, counts[k].Injection, counts[k].Benign)
	}
	fmt.Printf("%d examples written to %s\n", len(examples), out)
	return nil
}

// sameCounts checks the build reproduced the manifest's counts.
func sameCounts(want, got map[string]dataset.Counts) error {
	if len(want) != len(got) {
		return fmt.Errorf("built %d origins, manifest records %d", len(got), len(want))
	}
	for k, w := range want {
		if got[k] != w {
			return fmt.Errorf("origin %s: built %+v, manifest records %+v", k, got[k], w)
		}
	}
	return nil
}
