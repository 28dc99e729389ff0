package sandbox

import (
	"encoding/binary"
	"encoding/json"

	"golang.org/x/net/bpf"
)

// The container sandbox's seccomp filter (x86-64). Default allow, with a
// deny list of what a skill never needs and what container escapes use:
// kernel modules, mounts, namespaces (unshare, setns, clone with
// CLONE_NEWUSER), ptrace and cross-process memory access, BPF, perf,
// keyrings, io_uring, userfaultfd, clock and host settings, reboot, swap,
// kexec. A denied call fails with EPERM; any other architecture or the
// x32 ABI kills the process. clone3 gets ENOSYS, so libc falls back to
// clone, whose flags the filter can inspect.

const (
	auditArchX8664 = 0xc000003e
	x32SyscallBit  = 0x40000000
	cloneNewUser   = 0x10000000

	seccompRetKillProcess = 0x80000000
	seccompRetErrno       = 0x00050000
	seccompRetAllow       = 0x7fff0000
	errnoEPERM            = 1
	errnoENOSYS           = 38

	sysClone  = 56
	sysClone3 = 435
)

// deniedSyscalls are the x86-64 system calls answered with EPERM, by
// number for the bubblewrap filter and by name for the Docker profile.
var deniedSyscalls = []struct {
	nr   uint32
	name string
}{
	{101, "ptrace"},
	{103, "syslog"},
	{134, "uselib"},
	{135, "personality"},
	{155, "pivot_root"},
	{159, "adjtimex"},
	{161, "chroot"},
	{163, "acct"},
	{164, "settimeofday"},
	{165, "mount"},
	{166, "umount2"},
	{167, "swapon"},
	{168, "swapoff"},
	{169, "reboot"},
	{170, "sethostname"},
	{171, "setdomainname"},
	{172, "iopl"},
	{173, "ioperm"},
	{175, "init_module"},
	{176, "delete_module"},
	{179, "quotactl"},
	{212, "lookup_dcookie"},
	{227, "clock_settime"},
	{246, "kexec_load"},
	{248, "add_key"},
	{249, "request_key"},
	{250, "keyctl"},
	{272, "unshare"},
	{279, "move_pages"},
	{298, "perf_event_open"},
	{300, "fanotify_init"},
	{303, "name_to_handle_at"},
	{304, "open_by_handle_at"},
	{305, "clock_adjtime"},
	{308, "setns"},
	{310, "process_vm_readv"},
	{311, "process_vm_writev"},
	{313, "finit_module"},
	{320, "kexec_file_load"},
	{321, "bpf"},
	{323, "userfaultfd"},
	{425, "io_uring_setup"},
	{426, "io_uring_enter"},
	{427, "io_uring_register"},
	{428, "open_tree"},
	{429, "move_mount"},
	{430, "fsopen"},
	{431, "fsconfig"},
	{432, "fsmount"},
	{433, "fspick"},
	{442, "mount_setattr"},
}

// seccompFilter returns the filter as struct sock_filter[] bytes, the form
// bwrap --seccomp reads.
func seccompFilter() ([]byte, error) {
	deny := bpf.RetConstant{Val: seccompRetErrno | errnoEPERM}
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: auditArchX8664, SkipTrue: 1},
		bpf.RetConstant{Val: seccompRetKillProcess},
		bpf.LoadAbsolute{Off: 0, Size: 4}, // seccomp_data.nr
		bpf.JumpIf{Cond: bpf.JumpBitsNotSet, Val: x32SyscallBit, SkipTrue: 1},
		bpf.RetConstant{Val: seccompRetKillProcess},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: sysClone3, SkipFalse: 1},
		bpf.RetConstant{Val: seccompRetErrno | errnoENOSYS},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: sysClone, SkipFalse: 4},
		bpf.LoadAbsolute{Off: 16, Size: 4}, // args[0], low 32 bits (little endian)
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: cloneNewUser, SkipFalse: 1},
		deny,
		bpf.RetConstant{Val: seccompRetAllow},
	}
	for _, sc := range deniedSyscalls {
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: sc.nr, SkipFalse: 1}, deny)
	}
	prog = append(prog, bpf.RetConstant{Val: seccompRetAllow})
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 8*len(raw))
	for _, ins := range raw {
		out = binary.LittleEndian.AppendUint16(out, ins.Op)
		out = append(out, ins.Jt, ins.Jf)
		out = binary.LittleEndian.AppendUint32(out, ins.K)
	}
	return out, nil
}

// seccompProfile returns the same policy as seccompFilter in the JSON form
// Docker reads (SecurityOpt "seccomp=<profile>"): allow by default, the
// deny list with EPERM, clone with CLONE_NEWUSER with EPERM, clone3 with
// ENOSYS. Only the x86-64 architecture is listed, so libseccomp kills a
// call of any other architecture or of the x32 ABI, as seccompFilter does.
// It replaces Docker's default profile: that one is an allow list, but
// with every capability dropped the calls it keeps from a process are
// those this deny list names (and io_uring, which Docker 20.10 allows).
func seccompProfile() (string, error) {
	type arg struct {
		Index    uint   `json:"index"`
		Value    uint64 `json:"value"`
		ValueTwo uint64 `json:"valueTwo"`
		Op       string `json:"op"`
	}
	type rule struct {
		Names    []string `json:"names"`
		Action   string   `json:"action"`
		ErrnoRet uint     `json:"errnoRet"`
		Args     []arg    `json:"args,omitempty"`
	}
	names := make([]string, len(deniedSyscalls))
	for i, sc := range deniedSyscalls {
		names[i] = sc.name
	}
	b, err := json.Marshal(struct {
		DefaultAction string   `json:"defaultAction"`
		Architectures []string `json:"architectures"`
		Syscalls      []rule   `json:"syscalls"`
	}{"SCMP_ACT_ALLOW", []string{"SCMP_ARCH_X86_64"}, []rule{
		{Names: names, Action: "SCMP_ACT_ERRNO", ErrnoRet: errnoEPERM},
		{Names: []string{"clone3"}, Action: "SCMP_ACT_ERRNO", ErrnoRet: errnoENOSYS},
		{Names: []string{"clone"}, Action: "SCMP_ACT_ERRNO", ErrnoRet: errnoEPERM,
			Args: []arg{{Index: 0, Value: cloneNewUser, ValueTwo: cloneNewUser, Op: "SCMP_CMP_MASKED_EQ"}}},
	}})
	return string(b), err
}
