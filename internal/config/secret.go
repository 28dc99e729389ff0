package config

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// MinSecretSize is the smallest key EnsureSecret generates or accepts, in
// bytes (128 bits).
const MinSecretSize = 16

// jwtKeySize is the size of the generated JWT signing key: 64 random bytes,
// the block size of HMAC-SHA-256.
const jwtKeySize = 64

// EnsureSecret returns the key stored in dataDir/name, creating it on first
// use, so that Komand starts with strong keys even when nothing is
// configured.
//
// dataDir is created with mode 0700 if it does not exist (an existing
// directory is left as it is). If the file exists, it must hold at least
// size hex-encoded bytes and, except on Windows, must not be accessible to
// group or others: like ssh with a private key, EnsureSecret refuses a file
// with a mode such as 0644 and says how to fix it, rather than use a key
// that may have leaked. Otherwise it generates size bytes with crypto/rand
// and writes them hex-encoded, followed by a newline, to a temporary file
// with mode 0600 that it then links (or renames) into place, so that the
// key file is never seen half-written and two processes starting at once
// end up with the same key. It logs "generated new <name> in <path>" at
// warning level (never the key) and returns generated = true.
//
// The returned bytes are the decoded key. The file's content (hex, one
// line) is what [Config.LoadKeys] uses as Jwt:SecretKey, so the same file
// can be given to other replicas with Jwt__SecretKey_FILE.
//
// A nil logger means slog.Default().
func EnsureSecret(dataDir, name string, size int, logger *slog.Logger) (key []byte, generated bool, err error) {
	if logger == nil {
		logger = slog.Default()
	}
	if dataDir == "" {
		return nil, false, errors.New("secret key: no data directory (Server:DataDir)")
	}
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || filepath.Base(name) != name {
		return nil, false, fmt.Errorf("secret key: %q is not a plain file name", name)
	}
	if size < MinSecretSize {
		return nil, false, fmt.Errorf("secret key %s: size %d is below the minimum of %d bytes", name, size, MinSecretSize)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("secret key: create data directory: %w", err)
	}
	path := filepath.Join(dataDir, name)

	key, err = readKeyFile(path, size)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}

	key = make([]byte, size)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("secret key %s: %w", path, err)
	}
	won, err := writeKeyFile(dataDir, path, name, key)
	if err != nil {
		return nil, false, err
	}
	if !won {
		// Another process created the file first: use its key.
		key, err = readKeyFile(path, size)
		if err != nil {
			return nil, false, err
		}
		return key, false, nil
	}
	logger.Warn("generated new "+name+" in "+path,
		slog.String("path", path),
		slog.String("hint", "keep this file private and back it up; deleting or replacing it invalidates everything signed or encrypted with it"))
	return key, true, nil
}

// readKeyFile reads and checks an existing key file.
func readKeyFile(path string, size int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("secret key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secret key %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("secret key %s: permissions %04o are too open: the key must not be accessible to group or others; "+
			"run `chmod 600 %s` (and, if others could read it, delete it so Komand generates a new one)", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	key, err := hex.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil {
		return nil, fmt.Errorf("secret key %s: not a hex-encoded key; write at least %d random bytes in hex (`openssl rand -hex %d`), or delete the file so Komand generates a new one", path, size, size)
	}
	if len(key) < size {
		return nil, fmt.Errorf("secret key %s: holds %d bytes, want at least %d; write a longer key (`openssl rand -hex %d`), or delete the file so Komand generates a new one", path, len(key), size, size)
	}
	return key, nil
}

// writeKeyFile writes key, hex-encoded, to path without ever exposing a
// partial file, and without replacing a file another process created in the
// meantime. won is false when such a file already existed.
func writeKeyFile(dir, path, name string, key []byte) (won bool, err error) {
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp") // mode 0600
	if err != nil {
		return false, fmt.Errorf("secret key: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a successful link or rename this is a no-op or removes the extra link

	enc := make([]byte, hex.EncodedLen(len(key))+1)
	hex.Encode(enc, key)
	enc[len(enc)-1] = '\n'
	_ = tmp.Chmod(0o600)
	if _, err := tmp.Write(enc); err != nil {
		tmp.Close()
		return false, fmt.Errorf("secret key: write %s: %w", tmpName, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("secret key: sync %s: %w", tmpName, err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("secret key: close %s: %w", tmpName, err)
	}

	// A hard link fails if path exists, which a rename would not.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		// Hard links unsupported (some file systems): fall back to rename.
		if err := os.Rename(tmpName, path); err != nil {
			return false, fmt.Errorf("secret key: %w", err)
		}
	}
	syncDir(dir)
	return true, nil
}

// syncDir makes a new directory entry durable where the platform allows it.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// LoadKeys fills in the key material that was not configured. When
// Jwt.SecretKey is empty it becomes the content of Server.DataDir/jwt.key
// (64 random bytes, hex-encoded, generated on first start by
// [EnsureSecret]). When Vault.Kek is empty it becomes the content of
// Server.DataDir/vault.kek (32 random bytes, generated likewise), and
// Vault.PreviousKeks, when empty, the content of vault.kek.previous if that
// file exists (it is checked like a key file). Call it after
// [Config.Validate], which checks DataDir.
func (c *Config) LoadKeys(logger *slog.Logger) error {
	if c.Jwt.SecretKey == "" {
		key, _, err := EnsureSecret(c.Server.DataDir, JwtKeyFile, jwtKeySize, logger)
		if err != nil {
			return fmt.Errorf("Jwt:SecretKey is not set: %w", err)
		}
		c.Jwt.SecretKey = hex.EncodeToString(key)
	}
	if c.Vault.Kek == "" {
		key, _, err := EnsureSecret(c.Server.DataDir, VaultKekFile, kekSize, logger)
		if err != nil {
			return fmt.Errorf("Vault:Kek is not set: %w", err)
		}
		if len(key) != kekSize {
			return fmt.Errorf("Vault:Kek is not set and %s holds %d bytes, want exactly %d",
				filepath.Join(c.Server.DataDir, VaultKekFile), len(key), kekSize)
		}
		c.Vault.Kek = hex.EncodeToString(key)
		if c.Vault.PreviousKeks == "" {
			prev, err := ReadPreviousKEKs(c.Server.DataDir)
			if err != nil {
				return err
			}
			c.Vault.PreviousKeks = prev
		}
	}
	return nil
}

// ReadPreviousKEKs returns the content of dataDir/vault.kek.previous (hex
// keys, one per line), or "" when the file does not exist. The file must
// not be accessible to group or others.
func ReadPreviousKEKs(dataDir string) (string, error) {
	path := filepath.Join(dataDir, VaultPreviousKekFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("secret key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("secret key: %w", err)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return "", fmt.Errorf("secret key %s: permissions %04o are too open; run `chmod 600 %s`", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", fmt.Errorf("secret key: %w", err)
	}
	for _, k := range splitKeys(string(data)) {
		if _, err := decodeKEK(k); err != nil {
			return "", fmt.Errorf("secret key %s: every line %v", path, err)
		}
	}
	return strings.TrimSpace(string(data)), nil
}

// WriteKEKs replaces dataDir/vault.kek with current and
// dataDir/vault.kek.previous with previous (hex, one per line), each
// through a temporary file with mode 0600 renamed into place; the previous
// file is written first, so a crash in between leaves every key readable.
func WriteKEKs(dataDir string, current []byte, previous [][]byte) error {
	var b strings.Builder
	for _, k := range previous {
		b.WriteString(hex.EncodeToString(k))
		b.WriteByte('\n')
	}
	if err := replaceFile(dataDir, VaultPreviousKekFile, []byte(b.String())); err != nil {
		return err
	}
	return replaceFile(dataDir, VaultKekFile, []byte(hex.EncodeToString(current)+"\n"))
}

// replaceFile atomically replaces dataDir/name with data (mode 0600).
func replaceFile(dataDir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dataDir, "."+name+".*.tmp")
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_ = tmp.Chmod(0o600)
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("secret key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("secret key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dataDir, name)); err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	syncDir(dataDir)
	return nil
}
