package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

// Manifest records every public file the build reads and what came of it.
// It is committed (internal/injection/training/manifest.json); the build
// refuses a data directory whose files do not match it.
type Manifest struct {
	Seed    uint64            `json:"seed"`
	Files   []File            `json:"files"`
	Origins map[string]Counts `json:"origins"`
	Total   Counts            `json:"total"`
}

// File is one raw file: where it came from and its digest.
type File struct {
	Origin  string `json:"origin"`
	Repo    string `json:"repo"`
	Commit  string `json:"commit"`
	Path    string `json:"path"`
	Licence string `json:"licence"`
	SHA256  string `json:"sha256"`
	Bytes   int64  `json:"bytes"`
}

// RawPath is the file's place under the data directory's raw/ folder.
func (f File) RawPath() string { return path.Join(f.Repo, f.Path) }

// ReadManifest parses a manifest.
func ReadManifest(r io.Reader) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return &m, nil
}

// ReadManifestFile parses the manifest at name.
func ReadManifestFile(name string) (*Manifest, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadManifest(f)
}

// WriteManifest writes m as indented JSON.
func WriteManifest(w io.Writer, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// Reserved lists repositories kept for outside evaluation: the build must
// never read them (issue 16). Matching is by prefix of owner/name, case
// insensitive, so every allenai/wildguard* repository is covered.
var Reserved = []string{
	"meta-llama/purplellama",
	"leolee99/injecguard",
	"deepset/",
	"sinanw/llm-security-prompt-injection",
	"lakeraai/pint-benchmark",
	"giskard-ai/prompt-injections",
	"tatsu-lab/stanford_alpaca",
	"allenai/wildguard",
}

// IsReserved reports whether repo (owner/name) or file (path inside it)
// is reserved for outside evaluation. Besides the repositories above, the
// test splits of microsoft/BIPIA are reserved.
func IsReserved(repo, file string) bool {
	r := strings.ToLower(repo)
	for _, p := range Reserved {
		if strings.HasPrefix(r, p) {
			return true
		}
	}
	if r == "microsoft/bipia" {
		base := path.Base(strings.ToLower(file))
		if strings.Contains(base, "test") {
			return true
		}
	}
	return false
}

// Verify checks that every manifest file exists under raw with the
// recorded digest and that none is reserved.
func (m *Manifest) Verify(raw fs.FS) error {
	for _, f := range m.Files {
		if IsReserved(f.Repo, f.Path) {
			return fmt.Errorf("manifest lists %s/%s, which is reserved for outside evaluation", f.Repo, f.Path)
		}
		sum, n, err := digest(raw, f.RawPath())
		if err != nil {
			return err
		}
		if sum != f.SHA256 || n != f.Bytes {
			return fmt.Errorf("%s: sha256 %s (%d bytes), manifest says %s (%d bytes)", f.RawPath(), sum, n, f.SHA256, f.Bytes)
		}
	}
	return nil
}

func digest(raw fs.FS, name string) (string, int64, error) {
	f, err := raw.Open(name)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Scan lists the raw files the source table selects, with their digests:
// the file part of a new manifest.
func Scan(raw fs.FS, table []Source) ([]File, error) {
	var out []File
	for _, s := range table {
		if IsReserved(s.Repo, "") {
			return nil, fmt.Errorf("source table lists %s, which is reserved", s.Repo)
		}
		var names []string
		err := fs.WalkDir(raw, s.Repo, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			rel := strings.TrimPrefix(p, s.Repo+"/")
			if s.Match(rel) {
				names = append(names, rel)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scanning %s: %w", s.Repo, err)
		}
		sort.Strings(names)
		if len(names) == 0 {
			return nil, fmt.Errorf("no file under raw/%s matches %s", s.Repo, s.Pattern)
		}
		for _, n := range names {
			if IsReserved(s.Repo, n) {
				return nil, fmt.Errorf("%s/%s is reserved for outside evaluation", s.Repo, n)
			}
			f := File{Origin: s.Origin, Repo: s.Repo, Commit: s.Commit, Path: n, Licence: s.Licence}
			sum, size, err := digest(raw, f.RawPath())
			if err != nil {
				return nil, err
			}
			f.SHA256, f.Bytes = sum, size
			out = append(out, f)
		}
	}
	return out, nil
}

// CheckTable reports manifest files that no source-table entry selects,
// entries whose repository, commit or licence differ from the table, and
// table entries with no file.
func (m *Manifest) CheckTable(table []Source) error {
	used := make([]bool, len(table))
	for _, f := range m.Files {
		i := lookup(table, f)
		if i < 0 {
			return fmt.Errorf("manifest file %s/%s matches no source", f.Repo, f.Path)
		}
		s := table[i]
		if f.Commit != s.Commit || f.Licence != s.Licence || f.Origin != s.Origin {
			return fmt.Errorf("manifest file %s/%s: commit, licence or origin differ from the source table", f.Repo, f.Path)
		}
		used[i] = true
	}
	for i, u := range used {
		if !u {
			return fmt.Errorf("source %s %s has no file in the manifest", table[i].Repo, table[i].Pattern)
		}
	}
	return nil
}

func lookup(table []Source, f File) int {
	for i, s := range table {
		if s.Repo == f.Repo && s.Match(f.Path) {
			return i
		}
	}
	return -1
}
