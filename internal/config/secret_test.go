package config

import (
	"bytes"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func testLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestEnsureSecretGeneratesAndReuses(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "nested", "data")
	var logs bytes.Buffer

	key, generated, err := EnsureSecret(dataDir, "jwt.key", 64, testLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if !generated || len(key) != 64 {
		t.Fatalf("generated=%v len=%d, want true 64", generated, len(key))
	}

	path := filepath.Join(dataDir, "jwt.key")
	if !strings.Contains(logs.String(), "generated new jwt.key in "+path) {
		t.Errorf("log does not announce the key: %s", logs.String())
	}
	if strings.Contains(logs.String(), hex.EncodeToString(key)) {
		t.Error("log contains the key")
	}

	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("key file mode = %04o, want 0600", perm)
		}
		di, err := os.Stat(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		if perm := di.Mode().Perm(); perm != 0o700 {
			t.Errorf("data dir mode = %04o, want 0700", perm)
		}
	}

	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(content) != hex.EncodeToString(key)+"\n" {
		t.Errorf("file content %q is not the hex key plus a newline", content)
	}
	entries, _ := os.ReadDir(dataDir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only the key (temporary file left behind?)", len(entries))
	}

	logs.Reset()
	again, generated, err := EnsureSecret(dataDir, "jwt.key", 64, testLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if generated || !bytes.Equal(again, key) {
		t.Fatalf("second call: generated=%v, same key=%v", generated, bytes.Equal(again, key))
	}
	if logs.Len() != 0 {
		t.Errorf("second call logged: %s", logs.String())
	}
}

func TestEnsureSecretEntropy(t *testing.T) {
	a, _, err := EnsureSecret(t.TempDir(), "k", 32, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := EnsureSecret(t.TempDir(), "k", 32, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 32 || len(b) != 32 {
		t.Fatalf("sizes %d %d", len(a), len(b))
	}
	if bytes.Equal(a, b) {
		t.Fatal("two generations produced the same key")
	}
	if bytes.Equal(a, make([]byte, 32)) {
		t.Fatal("key is all zeros")
	}
	distinct := map[byte]bool{}
	for _, x := range a {
		distinct[x] = true
	}
	if len(distinct) < 16 { // 32 random bytes have ~30 distinct values
		t.Fatalf("key has only %d distinct bytes", len(distinct))
	}
}

func TestEnsureSecretRefusesOpenPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "jwt.key")
	if err := os.WriteFile(path, []byte(strings.Repeat("ab", 64)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := EnsureSecret(dir, "jwt.key", 64, nil)
	if err == nil {
		t.Fatal("0644 key file accepted")
	}
	for _, w := range []string{path, "0644", "chmod 600"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	// Group-readable is refused too; after chmod 600 it is accepted.
	_ = os.Chmod(path, 0o640)
	if _, _, err := EnsureSecret(dir, "jwt.key", 64, nil); err == nil {
		t.Error("0640 key file accepted")
	}
	_ = os.Chmod(path, 0o600)
	key, generated, err := EnsureSecret(dir, "jwt.key", 64, nil)
	if err != nil || generated || !bytes.Equal(key, bytes.Repeat([]byte{0xab}, 64)) {
		t.Fatalf("after chmod 600: generated=%v err=%v", generated, err)
	}
}

func TestEnsureSecretBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("short.key", strings.Repeat("ab", 16)+"\n")
	write("nothex.key", "this is not hex\n")
	write("empty.key", "")
	if err := os.Mkdir(filepath.Join(dir, "dir.key"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"short.key":  "holds 16 bytes, want at least 64",
		"nothex.key": "not a hex-encoded key",
		"empty.key":  "holds 0 bytes",
		"dir.key":    "not a regular file",
	} {
		_, _, err := EnsureSecret(dir, name, 64, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", name, err, want)
		}
	}
	// Longer keys are accepted.
	write("long.key", strings.Repeat("cd", 100))
	key, _, err := EnsureSecret(dir, "long.key", 64, nil)
	if err != nil || len(key) != 100 {
		t.Errorf("long key: len=%d err=%v", len(key), err)
	}
}

func TestEnsureSecretArguments(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		dir, name string
		size      int
	}{
		{"", "jwt.key", 64},
		{dir, "", 64},
		{dir, "..", 64},
		{dir, "../jwt.key", 64},
		{dir, "sub/jwt.key", 64},
		{dir, "jwt.key", 8},
	} {
		if _, _, err := EnsureSecret(tc.dir, tc.name, tc.size, nil); err == nil {
			t.Errorf("EnsureSecret(%q, %q, %d) succeeded", tc.dir, tc.name, tc.size)
		}
	}
}

func TestEnsureSecretConcurrentStartsAgree(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], _, errs[i] = EnsureSecret(dir, "jwt.key", 64, slog.New(slog.NewTextHandler(io.Discard, nil)))
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("concurrent callers got different keys")
		}
	}
	onDisk, _, err := EnsureSecret(dir, "jwt.key", 64, nil)
	if err != nil || !bytes.Equal(onDisk, keys[0]) {
		t.Fatalf("key on disk differs from the returned one (err %v)", err)
	}
}

func TestLoadKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "komand-data")
	var logs bytes.Buffer

	c := Default()
	c.Server.DataDir = dir
	if err := c.LoadKeys(testLogger(&logs)); err != nil {
		t.Fatal(err)
	}
	if len(c.Jwt.SecretKey) != 128 {
		t.Fatalf("SecretKey has %d bytes, want 128 hex characters", len(c.Jwt.SecretKey))
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("generated key does not validate: %v", err)
	}
	if !strings.Contains(logs.String(), "generated new jwt.key") {
		t.Errorf("log: %s", logs.String())
	}

	// The key file can be handed to another replica with Jwt__SecretKey_FILE.
	other, err := Load(LoadOptions{Env: []string{"Jwt__SecretKey_FILE=" + filepath.Join(dir, JwtKeyFile)}})
	if err != nil {
		t.Fatal(err)
	}
	if other.Jwt.SecretKey != c.Jwt.SecretKey {
		t.Error("Jwt__SecretKey_FILE=jwt.key does not give the same key")
	}

	// A restart reuses it.
	d := Default()
	d.Server.DataDir = dir
	if err := d.LoadKeys(nil); err != nil || d.Jwt.SecretKey != c.Jwt.SecretKey {
		t.Fatalf("restart: err=%v, same=%v", err, d.Jwt.SecretKey == c.Jwt.SecretKey)
	}

	// Configured keys are left alone and nothing is written.
	e := Default()
	e.Server.DataDir = filepath.Join(t.TempDir(), "unused")
	e.Jwt.SecretKey = strings.Repeat("x", 32)
	e.Vault.Kek = strings.Repeat("ab", 32)
	if err := e.LoadKeys(nil); err != nil || e.Jwt.SecretKey != strings.Repeat("x", 32) || e.Vault.Kek != strings.Repeat("ab", 32) {
		t.Fatalf("configured key changed: err=%v", err)
	}
	if _, err := os.Stat(e.Server.DataDir); !os.IsNotExist(err) {
		t.Error("LoadKeys created the data dir although a key is configured")
	}
}

// TestVaultKeys: with nothing configured LoadKeys generates a 32-byte
// vault.kek (mode 0600) and reuses it; vault.kek.previous is read when
// present and refused when readable by others; WriteKEKs round-trips.
func TestVaultKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c := Default()
	c.Server.DataDir = dir
	if err := c.LoadKeys(slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	cur, prev, err := c.Vault.KEKs()
	if err != nil || len(cur) != 32 || len(prev) != 0 {
		t.Fatalf("KEKs: %d %d %v", len(cur), len(prev), err)
	}
	fi, err := os.Stat(filepath.Join(dir, VaultKekFile))
	if err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Fatalf("vault.kek: %v %v", fi, err)
	}
	d := Default()
	d.Server.DataDir = dir
	if err := d.LoadKeys(nil); err != nil || d.Vault.Kek != c.Vault.Kek {
		t.Fatalf("restart changed the KEK: %v", err)
	}

	next := bytes.Repeat([]byte{7}, 32)
	if err := WriteKEKs(dir, next, [][]byte{cur}); err != nil {
		t.Fatal(err)
	}
	e := Default()
	e.Server.DataDir = dir
	if err := e.LoadKeys(nil); err != nil {
		t.Fatal(err)
	}
	cur2, prev2, err := e.Vault.KEKs()
	if err != nil || !bytes.Equal(cur2, next) || len(prev2) != 1 || !bytes.Equal(prev2[0], cur) {
		t.Fatalf("after WriteKEKs: %x %x %v", cur2, prev2, err)
	}
	if runtime.GOOS != "windows" {
		if err := os.Chmod(filepath.Join(dir, VaultPreviousKekFile), 0o644); err != nil {
			t.Fatal(err)
		}
		f := Default()
		f.Server.DataDir = dir
		if err := f.LoadKeys(nil); err == nil || !strings.Contains(err.Error(), "too open") {
			t.Fatalf("a world-readable vault.kek.previous was accepted: %v", err)
		}
	}
	if strings.Contains(e.String(), e.Vault.Kek) || strings.Contains(e.String(), hex.EncodeToString(cur)) {
		t.Fatal("the configuration dump shows a vault key")
	}
	for _, bad := range []string{"abc", strings.Repeat("ab", 16), strings.Repeat("zz", 32)} {
		g := Default()
		g.Vault.Kek = bad
		if err := g.Validate(); err == nil || !strings.Contains(err.Error(), "Vault:Kek") {
			t.Errorf("Vault:Kek %q accepted: %v", bad, err)
		}
		g = Default()
		g.Vault.PreviousKeks = strings.Repeat("ab", 32) + "," + bad
		if err := g.Validate(); err == nil || !strings.Contains(err.Error(), "Vault:PreviousKeks") {
			t.Errorf("Vault:PreviousKeks with %q accepted: %v", bad, err)
		}
	}
}
