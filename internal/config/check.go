package config

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strings"
)

// Finding is one problem `komand config check` reports.
type Finding struct {
	Key     string // "Jwt:SecretKey"
	Message string
}

// CheckFile reports the secrets that sit in the configuration file at path
// in plaintext (a connection string counts only when it carries a
// password), and a file with secrets that group or others can read. A
// file without secrets gives no finding. Secrets belong in the
// environment or in files named by NAME_FILE variables.
func CheckFile(path string) ([]Finding, error) {
	c, err := Load(LoadOptions{File: path})
	if err != nil {
		return nil, err
	}
	var out []Finding
	for _, s := range settings {
		if !s.secret {
			continue
		}
		v, _ := s.field(&c).(*string)
		if v == nil || *v == "" {
			continue
		}
		if s.section == "ConnectionStrings" && DSNPassword(*v) == "" {
			continue
		}
		out = append(out, Finding{Key: s.key(), Message: fmt.Sprintf(
			"is stored in plaintext in %s; remove it and set %s (or %s_FILE, naming a file readable only by Komand)",
			path, s.envName(), s.envName())})
	}
	if len(out) > 0 && runtime.GOOS != "windows" {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			out = append(out, Finding{Key: path, Message: fmt.Sprintf(
				"holds secrets and has permissions %04o: other users can read them", fi.Mode().Perm())})
		}
	}
	return out, nil
}

// dsnPasswordRe finds password=… in a keyword/value connection string.
var dsnPasswordRe = regexp.MustCompile(`(?i)(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// DSNPassword returns the password of a URL or keyword/value connection
// string, or "".
func DSNPassword(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			return p
		}
	}
	if m := dsnPasswordRe.FindStringSubmatch(dsn); m != nil {
		return strings.Trim(m[1], "'")
	}
	return ""
}
