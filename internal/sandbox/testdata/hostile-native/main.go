//go:build linux

// Command hostile-native is a native (container) skill that tries what a
// malicious program would; the container sandbox tests run it and check
// that each attempt fails closed. It reports what it managed to get.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
	"unsafe"
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

var sink [][]byte

func res(data string, err error) output {
	if err != nil {
		return output{Err: err.Error()}
	}
	return output{OK: true, Data: data}
}

func broker(path string, body any) (int, string, error) {
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", os.Getenv("KOMAND_SOCKET"))
	}}}
	b, _ := json.Marshal(body)
	resp, err := c.Post("http://komand"+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out), nil
}

func run(in input) output {
	switch in.Mode {
	case "echo":
		return output{OK: true, Data: in.Arg}
	case "read":
		b, err := os.ReadFile(in.Arg)
		return res(string(b), err)
	case "list":
		es, err := os.ReadDir(in.Arg)
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return res(strings.Join(names, ","), err)
	case "write":
		return res("", os.WriteFile(in.Arg, []byte("komand"), 0o600))
	case "env":
		return output{OK: true, Data: strings.Join(os.Environ(), "\n")}
	case "status":
		b, _ := os.ReadFile("/proc/self/status")
		var keep []string
		for _, l := range strings.Split(string(b), "\n") {
			for _, k := range []string{"Uid:", "Gid:", "CapEff:", "CapBnd:", "NoNewPrivs:", "Seccomp:"} {
				if strings.HasPrefix(l, k) {
					keep = append(keep, strings.Join(strings.Fields(l), " "))
				}
			}
		}
		return output{OK: true, Data: strings.Join(keep, ";")}
	case "interfaces":
		ifs, err := net.Interfaces()
		var names []string
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return res(strings.Join(names, ","), err)
	case "socket":
		c, err := net.DialTimeout("tcp", in.Arg, 2*time.Second)
		if err == nil {
			c.Close()
		}
		return res("connected", err)
	case "dns":
		addrs, err := net.LookupHost(in.Arg)
		return res(strings.Join(addrs, ","), err)
	case "fork":
		started := 0
		var cmds []*exec.Cmd
		for i := int64(0); i < in.Bytes; i++ {
			c := exec.Command("/bin/sleep", "30")
			if err := c.Start(); err != nil {
				break
			}
			cmds = append(cmds, c)
			started++
		}
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
		return output{OK: started == int(in.Bytes), Data: fmt.Sprint(started)}
	case "alloc":
		for n := int64(0); n < in.Bytes; n += 64 << 20 {
			b := make([]byte, 64<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			sink = append(sink, b)
		}
		return output{OK: true}
	case "spin":
		x := 0
		for {
			x++
		}
	case "stdout":
		chunk := []byte(strings.Repeat("A", 1<<20))
		for n := int64(0); n < in.Bytes; n += int64(len(chunk)) {
			if _, err := os.Stdout.Write(chunk); err != nil {
				break
			}
		}
		return output{OK: true}
	case "syscalls":
		var got []string
		try := func(name string, err error) {
			if err == nil {
				got = append(got, name)
			}
		}
		try("unshare-user", syscall.Unshare(syscall.CLONE_NEWUSER))
		try("unshare-net", syscall.Unshare(syscall.CLONE_NEWNET))
		try("mount", syscall.Mount("tmpfs", "/tmp", "tmpfs", 0, ""))
		try("setuid0", syscall.Setuid(0))
		try("chroot", syscall.Chroot("/tmp"))
		_, _, e := syscall.RawSyscall(syscall.SYS_PTRACE, syscall.PTRACE_TRACEME, 0, 0)
		if e == 0 {
			got = append(got, "ptrace")
		}
		_, _, e = syscall.RawSyscall(321, 0, 0, 0) // bpf
		if e == 0 || e != syscall.EPERM {
			got = append(got, fmt.Sprintf("bpf:%v", e))
		}
		// io_uring_setup(4, &struct io_uring_params{})
		var params [120]byte
		fd, _, e := syscall.RawSyscall(425, 4, uintptr(unsafe.Pointer(&params)), 0)
		if e == 0 {
			syscall.Close(int(fd))
		}
		if e != syscall.EPERM {
			got = append(got, fmt.Sprintf("io_uring_setup:%v", e))
		}
		return output{OK: len(got) == 0, Data: strings.Join(got, ",")}
	case "broker-http":
		code, body, err := broker("/v1/http", map[string]any{"method": "GET", "url": in.Arg})
		if err != nil {
			return res("", err)
		}
		return output{OK: code == 200, Data: body}
	case "broker-credential":
		code, body, err := broker("/v1/credential", map[string]any{"name": in.Arg})
		if err != nil {
			return res("", err)
		}
		return output{OK: code == 200, Data: body}
	case "broker-config":
		code, body, err := broker("/v1/config", map[string]any{"key": in.Arg})
		if err != nil {
			return res("", err)
		}
		return output{OK: code == 200, Data: body}
	case "exit":
		os.Exit(3)
	}
	return output{Err: "unknown mode"}
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		json.NewEncoder(os.Stdout).Encode(map[string]string{"error": "bad input"})
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(run(in))
}
