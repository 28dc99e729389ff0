//go:build !wasip1

package skill

// Outside the sandbox (go vet, unit tests of a skill's own logic) there is
// no platform: every call fails as denied.

func abiLog(level int, msg string)              {}
func abiConfig(key []byte) ([]byte, int32)      { return nil, codeDenied }
func abiCredential(name []byte) ([]byte, int32) { return nil, codeDenied }
func abiHTTP(req []byte) ([]byte, int32)        { return nil, codeDenied }
func abiTool(name, args []byte) ([]byte, int32) { return nil, codeDenied }
