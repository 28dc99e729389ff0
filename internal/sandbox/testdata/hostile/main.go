// Command hostile is a skill that tries everything a malicious skill
// would; the sandbox tests run it and check that each attempt fails closed.
// It reports what it managed to get, so a test can check nothing leaked.
package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/komand-ai/komand/sdk/skill"
)

type input struct {
	Mode  string `json:"mode"`
	Arg   string `json:"arg"`
	Bytes int64  `json:"bytes"`
}

type output struct {
	OK   bool   `json:"ok"`
	Data string `json:"data,omitempty"`
	Err  string `json:"err,omitempty"`
}

func result(data string, err error) (output, error) {
	if err != nil {
		return output{OK: false, Err: err.Error()}, nil
	}
	return output{OK: true, Data: data}, nil
}

var sink [][]byte

func main() {
	skill.Run(func(c *skill.Context, in input) (output, error) {
		switch in.Mode {
		case "echo":
			return output{OK: true, Data: in.Arg}, nil
		case "read":
			b, err := os.ReadFile(in.Arg)
			return result(string(b), err)
		case "list":
			es, err := os.ReadDir(in.Arg)
			var names []string
			for _, e := range es {
				names = append(names, e.Name())
			}
			return result(strings.Join(names, ","), err)
		case "symlink":
			// A relative link out of /tmp, then a read through it.
			if err := os.Symlink(in.Arg, "/tmp/link"); err != nil {
				return result("", err)
			}
			b, err := os.ReadFile("/tmp/link")
			return result(string(b), err)
		case "hardlink":
			if err := os.Link(in.Arg, "/tmp/hard"); err != nil {
				return result("", err)
			}
			b, err := os.ReadFile("/tmp/hard")
			return result(string(b), err)
		case "fill":
			// Write 1 MiB files into /tmp until something refuses.
			chunk := []byte(strings.Repeat("D", 1<<20))
			var written int64
			for i := 0; written < in.Bytes; i++ {
				if err := os.WriteFile(fmt.Sprintf("/tmp/f%d", i), chunk, 0o600); err != nil {
					return output{OK: false, Data: fmt.Sprint(written), Err: err.Error()}, nil
				}
				written += int64(len(chunk))
			}
			return output{OK: true, Data: fmt.Sprint(written)}, nil
		case "write":
			err := os.WriteFile(in.Arg, []byte("komand"), 0o600)
			return result("", err)
		case "env":
			return output{OK: len(os.Environ()) > 0, Data: strings.Join(os.Environ(), "\n")}, nil
		case "socket":
			conn, err := net.Dial("tcp", in.Arg)
			if err == nil {
				conn.Close()
			}
			return result("connected", err)
		case "dns":
			addrs, err := net.LookupHost(in.Arg)
			return result(strings.Join(addrs, ","), err)
		case "fetch":
			resp, err := c.HTTP(skill.Request{Method: "GET", URL: in.Arg})
			if err != nil {
				return result("", err)
			}
			return result(resp.Body, nil)
		case "fetch-auth":
			resp, err := c.HTTP(skill.Request{Method: "GET", URL: in.Arg, Auth: &skill.Auth{Credential: "api-key", Scheme: "Bearer"}})
			if err != nil {
				return result("", err)
			}
			return result(resp.Body, nil)
		case "credential":
			v, err := c.Credential(in.Arg)
			return result(v, err)
		case "config":
			v, ok := c.Config(in.Arg)
			return output{OK: ok, Data: v}, nil
		case "tool":
			var out any
			err := c.Tool(in.Arg, map[string]any{"query": "x"}, &out)
			return result("", err)
		case "alloc":
			// Allocate in 64 MiB pieces, touching each, until in.Bytes.
			for n := int64(0); n < in.Bytes; n += 64 << 20 {
				b := make([]byte, 64<<20)
				for i := 0; i < len(b); i += 4096 {
					b[i] = 1
				}
				sink = append(sink, b)
			}
			return output{OK: true}, nil
		case "spin":
			x := 0
			for {
				x++
			}
		case "sleep":
			time.Sleep(time.Hour)
			return output{OK: true}, nil
		case "stdout":
			chunk := []byte(strings.Repeat("A", 1<<20))
			for n := int64(0); n < in.Bytes; n += int64(len(chunk)) {
				if _, err := os.Stdout.Write(chunk); err != nil {
					break
				}
			}
			return output{OK: true}, nil
		case "stderr":
			chunk := []byte(strings.Repeat("E", 1<<20))
			for n := int64(0); n < in.Bytes; n += int64(len(chunk)) {
				os.Stderr.Write(chunk)
			}
			return output{OK: true}, nil
		case "log":
			for i := 0; i < 1000; i++ {
				c.Log(skill.Info, "line %d %s", i, in.Arg)
			}
			return output{OK: true}, nil
		case "exit":
			os.Exit(3)
		case "panic":
			panic("hostile panic")
		case "fail":
			return output{}, os.ErrPermission
		case "raw":
			os.Stdout.WriteString(in.Arg)
			os.Exit(0)
		}
		return output{}, os.ErrInvalid
	})
}
