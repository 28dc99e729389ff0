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

