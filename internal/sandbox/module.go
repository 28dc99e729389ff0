package sandbox

import (
	"io/fs"
	"sync/atomic"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
)

// tmpFS is the guest's /tmp: the per-execution host directory, with link
// creation refused and writes under a quota. wazero refuses absolute
// symlink targets but follows a relative one ("../../etc/passwd") on the
// host, so a guest that could make links could reach any file the server
// can; without links it reaches only what it wrote. The quota counts every
// byte written (and every byte a truncate adds) and every file or
// directory created, so a skill cannot fill the host's disk; past it a
// write fails with EIO.
type tmpFS struct {
	experimentalsys.FS
	q *tmpQuota
}

// tmpQuota is one execution's remaining /tmp budget.
type tmpQuota struct {
	bytes atomic.Int64
	files atomic.Int64
}

// Per-execution /tmp limits.
const (
	MaxTempBytes = 64 << 20
	maxTempFiles = 1000
)

func newTmpFS(dir string) experimentalsys.FS {
	q := &tmpQuota{}
	q.bytes.Store(MaxTempBytes)
	q.files.Store(maxTempFiles)
	return tmpFS{FS: sysfs.DirFS(dir), q: q}
}

func (tmpFS) Symlink(oldPath, linkName string) experimentalsys.Errno { return experimentalsys.EPERM }
func (tmpFS) Link(oldPath, newPath string) experimentalsys.Errno     { return experimentalsys.EPERM }

func (f tmpFS) Mkdir(path string, perm fs.FileMode) experimentalsys.Errno {
	if f.q.files.Add(-1) < 0 {
		return experimentalsys.EIO
	}
	return f.FS.Mkdir(path, perm)
}

func (f tmpFS) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	if flag&experimentalsys.O_CREAT != 0 && f.q.files.Add(-1) < 0 {
		return nil, experimentalsys.EIO
	}
	file, errno := f.FS.OpenFile(path, flag, perm)
	if errno != 0 {
		return nil, errno
	}
	return quotaFile{File: file, q: f.q}, 0
}

// quotaFile charges writes to the execution's quota.
type quotaFile struct {
	experimentalsys.File
	q *tmpQuota
}

func (f quotaFile) charge(n int64) bool {
	if f.q.bytes.Add(-n) < 0 {
		f.q.bytes.Add(n)
		return false
	}
	return true
}

func (f quotaFile) Write(buf []byte) (int, experimentalsys.Errno) {
	if !f.charge(int64(len(buf))) {
		return 0, experimentalsys.EIO
	}
	return f.File.Write(buf)
}

func (f quotaFile) Pwrite(buf []byte, off int64) (int, experimentalsys.Errno) {
	if !f.charge(int64(len(buf))) {
		return 0, experimentalsys.EIO
	}
	return f.File.Pwrite(buf, off)
}

func (f quotaFile) Truncate(size int64) experimentalsys.Errno {
	st, errno := f.File.Stat()
	if errno != 0 {
		return errno
	}
	if grow := size - st.Size; grow > 0 && !f.charge(grow) {
		return experimentalsys.EIO
	}
	return f.File.Truncate(size)
}

// Module-shape limits checked before compilation: wazero allocates tables
// as Go slices outside the memory allocator hook, and an internal (not
// exported) memory is sized before the hook can refuse it.
const (
	maxTableEntries = 1 << 20 // ~8 MiB of table per instance
	maxMemories     = 1
	maxTables       = 16
)

// moduleLimits are what the module's memory and table sections declare.
type moduleLimits struct {
	memMinPages uint32
	memories    int
}

// inspect reads the parts of a module's binary the runtime sizes before
// the allocator hook sees them: the memory section (count and minimum
// pages) and the table section (initial entries).
func inspect(b []byte) (moduleLimits, string) {
	var lim moduleLimits
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return lim, "not a WebAssembly module"
	}
	p := 8
	var seen [2]bool // table, memory
	for p < len(b) {
		id := b[p]
		p++
		size, n := uleb(b[p:])
		// Compared with what is left rather than as p+n+size, which could
		// wrap for a length near 2^64 before uleb was bounded to 32 bits.
		if n == 0 || size > uint64(len(b)-p-n) {
			return lim, "malformed section"
		}
		p += n
		sec := b[p : p+int(size)]
		p += int(size)
		if id == 4 || id == 5 {
			// A second table or memory section would replace what was
			// read from the first (the compiler refuses it, but only
			// after the shape was checked).
			if seen[id-4] {
				return lim, "malformed section"
			}
			seen[id-4] = true
		}
		switch id {
		case 4: // table
			count, k := uleb(sec)
			if k == 0 || count > maxTables {
				return lim, "too many tables"
			}
			q := k
			for range count {
				if q >= len(sec) {
					return lim, "malformed table section"
				}
				q++ // element type
				min, _, _, k := limits(sec[q:])
				if k == 0 {
					return lim, "malformed table section"
				}
				q += k
				// With reference types off no instruction grows a table, so
				// its initial size is all it ever takes.
				if min > maxTableEntries {
					return lim, "tables may hold at most 1,048,576 entries"
				}
			}
		case 5: // memory
			count, k := uleb(sec)
			if k == 0 || count > maxMemories {
				return lim, "at most one memory"
			}
			lim.memories = int(count)
			if count == 1 {
				if len(sec) <= k || sec[k]&0x04 != 0 {
					return lim, "64-bit memories are not supported"
				}
				min, _, _, k2 := limits(sec[k:])
				if k2 == 0 || min > 65536 {
					return lim, "malformed memory section"
				}
				lim.memMinPages = uint32(min)
			}
		}
	}
	return lim, ""
}

// limits reads a limits structure: flags, min and, when flagged, max.
func limits(b []byte) (min, max uint64, hasMax bool, n int) {
	if len(b) == 0 {
		return 0, 0, false, 0
	}
	flags := b[0]
	n = 1
	v, k := uleb(b[n:])
	if k == 0 {
		return 0, 0, false, 0
	}
	min, n = v, n+k
	if flags&0x01 != 0 {
		v, k = uleb(b[n:])
		if k == 0 {
			return 0, 0, false, 0
		}
		max, hasMax, n = v, true, n+k
	}
	return min, max, hasMax, n
}

// uleb decodes an unsigned LEB128 u32, the type of every length, count
// and (32-bit) limit the binary format has: at most 5 bytes, the last
// carrying at most 4 bits. n is 0 when it is malformed (truncated, too
// long or over 2^32-1).
func uleb(b []byte) (v uint64, n int) {
	var shift uint
	for i := 0; i < len(b) && i < 5; i++ {
		if i == 4 && b[i] > 0x0f {
			return 0, 0
		}
		v |= uint64(b[i]&0x7f) << shift
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
		shift += 7
	}
	return 0, 0
}
