package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/komand-ai/komand/internal/config"
)

// configCheck reports secrets stored in plaintext in the configuration
// file, and key files in the data directory that others can read. It exits
// 1 when it finds any, so it can gate a deployment.
func configCheck(e *env, args []string) int {
	fl := flagSet(e, "config check", "config check [--config file] [--data-dir dir]")
	var sf storeFlags
	sf.register(fl)
	_, code, ok := parseComplete(e, fl, args, 0, 0, "")
	if !ok {
		return code
	}
	file := config.LoadOptions{File: sf.configFile, Env: e.environ}.FilePath()
	var findings []config.Finding
	if file != "" {
		f, err := config.CheckFile(file)
		if err != nil {
			return fail(e, err)
		}
		findings = append(findings, f...)
	}
	cfg, err := config.Load(config.LoadOptions{File: file, Env: e.environ})
	if err != nil {
		return fail(e, err)
	}
	dir := cfg.Server.DataDir
	if sf.dataDir != "" {
		dir = sf.dataDir
	}
	for _, name := range []string{config.JwtKeyFile, config.VaultKekFile, config.VaultPreviousKekFile} {
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			findings = append(findings, config.Finding{Key: path, Message: err.Error()})
			continue
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
			findings = append(findings, config.Finding{Key: path, Message: fmt.Sprintf(
				"is a key file with permissions %04o: run `chmod 600 %s`", fi.Mode().Perm(), path)})
		}
	}
	for _, f := range findings {
		fmt.Fprintf(e.stdout, "%s %s\n", f.Key, f.Message)
	}
	if len(findings) > 0 {
		return exitFail
	}
	if file == "" {
		fmt.Fprintln(e.stdout, "ok: no configuration file; secrets come from the environment or _FILE variables")
	} else {
		fmt.Fprintf(e.stdout, "ok: no plaintext secrets in %s\n", file)
	}
	return exitOK
}
