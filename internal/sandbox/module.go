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

// The module check: before wazero sees a module's bytes, every vector
// the binary format declares is walked and its count bounded. wazero's
// decoder allocates a vector's items (make([]T, count)) before reading
// them, so a 16-byte module declaring 2^32-1 imports was a Go fatal
// error ("out of memory") that no recover catches: the whole server, all
// tenants. The walk follows the decoder's grammar closely enough that
// every count and length wazero allocates by is one read and bounded
// here: by the bytes left (each item takes at least minimum bytes) and
// by the implementation limits of the WebAssembly JS API
// (https://webassembly.github.io/spec/js-api/#limits) or, where those
// would still let a 64 MiB module make gigabytes of decoder structures,
// tighter module-wide limits.

// Module-shape limits checked before compilation: wazero allocates tables
// as Go slices outside the memory allocator hook, and an internal (not
// exported) memory is sized before the hook can refuse it.
const (
	maxTableEntries = 1 << 20 // ~8 MiB of table per instance
	maxMemories     = 1
	maxTables       = 16
)

// Vector limits (JS API unless noted).
const (
	maxTypes         = 1_000_000
	maxFunctions     = 1_000_000
	maxImports       = 100_000
	maxExports       = 100_000
	maxGlobals       = 1_000_000
	maxDataSegments  = 100_000
	maxElemSegments  = 100_000 // the JS API bounds entries, not segments; ours
	maxElemEntries   = 1 << 20 // all segments' entries: no table holds more (maxTableEntries)
	maxParams        = 1_000
	maxResults       = 1_000
	maxBodyBytes     = 7_654_321 // one function body, locals included
	maxLocals        = 50_000    // declared locals of one function
	maxModuleLocals  = 4_000_000 // declared locals of all functions: wazero keeps one byte each and compiles them all; ours
	maxNameEntries   = 1_000_000 // entries of a name-section map (function names, local names)
	maxDecoderBudget = 256 << 20 // the decoder structures the counts imply, estimated below; ours
)

// Bytes of decoder and compiler structure per item, measured (peak RSS
// of compiling a module of a million of them, wazero v1.12, amd64): the
// second wall, so that the limits above cannot add up to gigabytes.
const (
	costType    = 256 // FunctionType: slices, cached string, counters
	costImport  = 256 // Import + per-module map entry
	costFunc    = 288 // type index, Code, compiled function
	costGlobal  = 144
	costExport  = 128 // Export + name map entry
	costElem    = 96
	costEntry   = 64 // ConstantExpression + its encoded index
	costData    = 96
	costLocal   = 1
	costName    = 40 // NameAssoc
	costNameMap = 64 // NameMapAssoc
)

// moduleLimits are what the module's memory and table sections declare.
type moduleLimits struct {
	memMinPages uint32
	memories    int
}

// checkErr is a refusal inside the walk; its text is the reason shown.
type checkErr string

// rd reads one section (or a part of it) the way wazero's decoder does.
type rd struct {
	b []byte
	p int
}

func (r *rd) left() int { return len(r.b) - r.p }

func (r *rd) fail(what string) { panic(checkErr(what)) }

func (r *rd) byte(what string) byte {
	if r.p >= len(r.b) {
		r.fail(what)
	}
	c := r.b[r.p]
	r.p++
	return c
}

func (r *rd) u32(what string) uint32 {
	v, n := uleb(r.b[r.p:])
	if n == 0 {
		r.fail(what)
	}
	r.p += n
	return uint32(v)
}

// sleb skips a signed LEB128 of at most max bytes.
func (r *rd) sleb(max int, what string) {
	for i := 0; i < max; i++ {
		if r.byte(what)&0x80 == 0 {
			return
		}
	}
	r.fail(what)
}

func (r *rd) skip(n int, what string) {
	if n < 0 || n > r.left() {
		r.fail(what)
	}
	r.p += n
}

// vec reads a vector's count and bounds it by limit and by the bytes
// left, each item taking at least minItem bytes.
func (r *rd) vec(minItem, limit int, what string) int {
	n := r.u32("malformed " + what)
	if uint64(n) > uint64(limit) {
		r.fail("too many " + what)
	}
	if uint64(n)*uint64(minItem) > uint64(r.left()) {
		r.fail("malformed " + what + " (count larger than the section)")
	}
	return int(n)
}

// name reads a length-prefixed name (wazero allocates the length first).
func (r *rd) name(what string) {
	n := r.u32("malformed " + what)
	if uint64(n) > uint64(r.left()) {
		r.fail("malformed " + what + " (length larger than the section)")
	}
	r.p += int(n)
}

// valType reads a value type the decoder takes as one byte: numbers,
// v128, funcref and externref (typed references are not enabled).
func (r *rd) valType(what string) {
	switch r.byte(what) {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
	default:
		r.fail(what)
	}
}

// limits reads a limits structure and returns min.
func (r *rd) limits(what string) uint64 {
	mn, _, _, n := limits(r.b[r.p:])
	if n == 0 {
		r.fail(what)
	}
	r.p += n
	return mn
}

// constExpr reads a constant expression up to its end opcode, the
// instructions wazero's decoder takes with the features we enable.
func (r *rd) constExpr(what string) {
	for {
		switch op := r.byte(what); op {
		case 0x0b: // end
			return
		case 0x41: // i32.const
			r.sleb(5, what)
		case 0x42: // i64.const
			r.sleb(10, what)
		case 0x43: // f32.const
			r.skip(4, what)
		case 0x44: // f64.const
			r.skip(8, what)
		case 0x23, 0xd2: // global.get, ref.func
			r.u32(what)
		case 0xd0: // ref.null
			switch r.byte(what) {
			case 0x70, 0x6f:
			default:
				r.fail(what)
			}
		case 0xfd: // v128.const
			if r.byte(what) != 0x0c {
				r.fail(what)
			}
			r.skip(16, what)
		default:
			r.fail(what)
		}
	}
}

// tableType reads a table type and returns its initial size.
func (r *rd) tableType(what string) uint64 {
	if r.byte(what) != 0x70 { // funcref (reference types are off)
		r.fail(what)
	}
	return r.limits(what)
}

// inspect checks a module before compilation: every vector bounded (see
// the top of this file), and the parts the runtime sizes before the
// allocator hook sees them read: the memory section (count and minimum
// pages) and the table section (initial entries). The reason is empty
// when the module may be given to the compiler.
func inspect(b []byte) (lim moduleLimits, reason string) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return lim, "not a WebAssembly module"
	}
	defer func() {
		if e := recover(); e != nil {
			ce, ok := e.(checkErr)
			if !ok {
				panic(e)
			}
			lim, reason = moduleLimits{}, string(ce)
		}
	}()
	c := checker{}
	p := 8
	var seen [13]bool
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
		if id > 12 {
			return lim, "malformed section"
		}
		if id != 0 {
			// A repeated section would replace what was read from the
			// first (the decoder refuses it, by order, only after
			// allocating it).
			if seen[id] {
				return lim, "malformed section"
			}
			seen[id] = true
		}
		r := &rd{b: sec}
		c.section(id, r, &lim)
		if id != 0 && r.left() != 0 {
			return lim, "malformed section (size does not match its contents)"
		}
	}
	if c.cost > maxDecoderBudget {
		return moduleLimits{}, "module too complex (its declared items would take more than 256 MiB to compile)"
	}
	return lim, ""
}

// checker accumulates module-wide counts across sections.
type checker struct {
	cost   int64 // estimated decoder bytes
	locals int64 // declared locals of all functions
	elems  int64 // element entries of all segments
}

func (c *checker) section(id byte, r *rd, lim *moduleLimits) {
	switch id {
	case 0:
		c.custom(r)
	case 1: // type
		n := r.vec(3, maxTypes, "types")
		c.cost += int64(n) * costType
		for range n {
			if r.byte("malformed type") != 0x60 {
				r.fail("malformed type")
			}
			for range r.vec(1, maxParams, "parameters") {
				r.valType("malformed parameter type")
			}
			for range r.vec(1, maxResults, "results") {
				r.valType("malformed result type")
			}
		}
	case 2: // import
		n := r.vec(4, maxImports, "imports")
		c.cost += int64(n) * costImport
		for range n {
			r.name("import module name")
			r.name("import name")
			switch r.byte("malformed import") {
			case 0: // function
				r.u32("malformed import")
			case 1: // table
				if r.tableType("malformed import") > maxTableEntries {
					r.fail("tables may hold at most 1,048,576 entries")
				}
			case 2: // memory
				r.limits("malformed import")
			case 3: // global
				r.valType("malformed import")
				r.byte("malformed import")
			default:
				r.fail("malformed import")
			}
		}
	case 3: // function
		n := r.vec(1, maxFunctions, "functions")
		c.cost += int64(n) * costFunc
		for range n {
			r.u32("malformed function section")
		}
	case 4: // table
		n := r.vec(2, maxTables, "tables")
		for range n {
			// With reference types off no instruction grows a table, so
			// its initial size is all it ever takes.
			if r.tableType("malformed table section") > maxTableEntries {
				r.fail("tables may hold at most 1,048,576 entries")
			}
		}
	case 5: // memory
		n := r.u32("malformed memory section")
		if n > maxMemories {
			r.fail("at most one memory")
		}
		lim.memories = int(n)
		if n == 1 {
			if r.left() == 0 || r.b[r.p]&0x04 != 0 {
				r.fail("64-bit memories are not supported")
			}
			mn := r.limits("malformed memory section")
			if mn > 65536 {
				r.fail("malformed memory section")
			}
			lim.memMinPages = uint32(mn)
		}
	case 6: // global
		n := r.vec(3, maxGlobals, "globals")
		c.cost += int64(n) * costGlobal
		for range n {
			r.valType("malformed global")
			r.byte("malformed global")
			r.constExpr("malformed global")
		}
	case 7: // export
		n := r.vec(3, maxExports, "exports")
		c.cost += int64(n) * costExport
		for range n {
			r.name("export name")
			r.byte("malformed export")
			r.u32("malformed export")
		}
	case 8: // start
		r.u32("malformed start section")
	case 9:
		c.elements(r)
	case 10:
		c.code(r)
	case 11: // data
		n := r.vec(2, maxDataSegments, "data segments")
		c.cost += int64(n) * costData
		for range n {
			switch r.u32("malformed data segment") {
			case 0:
				r.constExpr("malformed data segment")
			case 1:
			case 2:
				r.u32("malformed data segment")
				r.constExpr("malformed data segment")
			default:
				r.fail("malformed data segment")
			}
			r.name("data segment")
		}
	case 12: // data count
		if r.u32("malformed data count section") > maxDataSegments {
			r.fail("too many data segments")
		}
	}
}

func (c *checker) elements(r *rd) {
	n := r.vec(2, maxElemSegments, "element segments")
	c.cost += int64(n) * costElem
	for range n {
		prefix := r.u32("malformed element segment")
		indexes := true // a vector of function indexes, else of expressions
		switch prefix {
		case 0:
			r.constExpr("malformed element segment")
		case 1, 3:
			r.byte("malformed element segment") // element kind
		case 2:
			r.u32("malformed element segment") // table index
			r.constExpr("malformed element segment")
			r.byte("malformed element segment")
		case 4:
			r.constExpr("malformed element segment")
			indexes = false
		case 5, 7:
			r.byte("malformed element segment") // reference type
			indexes = false
		case 6:
			r.u32("malformed element segment")
			r.constExpr("malformed element segment")
			r.byte("malformed element segment")
			indexes = false
		default:
			r.fail("malformed element segment")
		}
		k := r.vec(1, maxElemEntries, "element entries")
		c.elems += int64(k)
		if c.elems > maxElemEntries {
			r.fail("too many element entries")
		}
		c.cost += int64(k) * costEntry
		for range k {
			if indexes {
				r.u32("malformed element segment")
			} else {
				r.constExpr("malformed element segment")
			}
		}
	}
}

func (c *checker) code(r *rd) {
	n := r.vec(3, maxFunctions, "function bodies")
	for range n {
		size := r.u32("malformed function body")
		if size > maxBodyBytes {
			r.fail("function body too large")
		}
		if int(size) > r.left() {
			r.fail("malformed function body (size larger than the section)")
		}
		body := &rd{b: r.b[r.p : r.p+int(size)]}
		r.p += int(size)
		var locals int64
		for range body.vec(2, maxLocals, "local declarations") {
			locals += int64(body.u32("malformed local declaration"))
			if locals > maxLocals {
				body.fail("too many locals")
			}
			body.valType("malformed local declaration")
		}
		if body.left() == 0 || body.b[len(body.b)-1] != 0x0b {
			body.fail("malformed function body")
		}
		c.locals += locals
		if c.locals > maxModuleLocals {
			r.fail("too many locals")
		}
		c.cost += locals * costLocal
	}
}

// custom checks a custom section's name (wazero allocates its length
// before reading it) and, for the "name" section, every map it decodes.
func (c *checker) custom(r *rd) {
	n := r.u32("malformed custom section")
	if uint64(n) > uint64(r.left()) {
		r.fail("malformed custom section")
	}
	name := string(r.b[r.p : r.p+int(n)])
	r.p += int(n)
	if name != "name" {
		return
	}
	// The decoder reads subsections 0-2 without bounding them by their
	// size and subtracts sizes from what is left without checking, so a
	// subsection that does not fill exactly its size puts it out of step
	// with this walk: such a name section is refused.
	for r.left() > 0 {
		id := r.byte("malformed name section")
		size := r.u32("malformed name section")
		if int64(size) > int64(r.left()) {
			r.fail("malformed name section")
		}
		sub := &rd{b: r.b[r.p : r.p+int(size)]}
		r.p += int(size)
		switch id {
		case 0:
			sub.name("module name")
		case 1:
			c.nameMap(sub)
		case 2:
			m := sub.vec(2, maxNameEntries, "local name maps")
			c.cost += int64(m) * costNameMap
			for range m {
				sub.u32("malformed name section")
				c.nameMap(sub)
			}
		default:
			continue
		}
		if sub.left() != 0 {
			r.fail("malformed name section")
		}
	}
}

func (c *checker) nameMap(r *rd) {
	m := r.vec(2, maxNameEntries, "names")
	c.cost += int64(m) * costName
	for range m {
		r.u32("malformed name section")
		r.name("name")
	}
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
