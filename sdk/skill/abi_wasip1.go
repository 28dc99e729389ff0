//go:build wasip1

package skill

import "unsafe"

//go:wasmimport komand log
func hostLog(level, ptr, n uint32)

//go:wasmimport komand config
func hostConfig(ptr, n uint32) int32

//go:wasmimport komand credential
func hostCredential(ptr, n uint32) int32

//go:wasmimport komand http_request
func hostHTTP(ptr, n uint32) int32

//go:wasmimport komand tool
func hostTool(namePtr, nameLen, argsPtr, argsLen uint32) int32

//go:wasmimport komand result
func hostResult(ptr, n uint32) int32

func ptrLen(b []byte) (uint32, uint32) {
	if len(b) == 0 {
		return 0, 0
	}
	return uint32(uintptr(unsafe.Pointer(&b[0]))), uint32(len(b))
}

func abiLog(level int, msg string) {
	b := []byte(msg)
	p, n := ptrLen(b)
	hostLog(uint32(level), p, n)
}

func abiCall1(f func(ptr, n uint32) int32, arg []byte) ([]byte, int32) {
	p, n := ptrLen(arg)
	return take(f(p, n))
}

func abiConfig(key []byte) ([]byte, int32)      { return abiCall1(hostConfig, key) }
func abiCredential(name []byte) ([]byte, int32) { return abiCall1(hostCredential, name) }
func abiHTTP(req []byte) ([]byte, int32)        { return abiCall1(hostHTTP, req) }

func abiTool(name, args []byte) ([]byte, int32) {
	np, nn := ptrLen(name)
	ap, an := ptrLen(args)
	return take(hostTool(np, nn, ap, an))
}

// take fetches the pending result of a call that returned rc.
func take(rc int32) ([]byte, int32) {
	n := rc
	if rc < 0 {
		n = hostResult(0, 0) // the error's length
		if n < 0 {
			return nil, rc
		}
	}
	buf := make([]byte, n)
	p, c := ptrLen(buf)
	hostResult(p, c)
	return buf, rc
}
