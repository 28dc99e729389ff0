package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/komand-ai/komand/internal/store"
)

// sealDomain separates Komand audit hashes from any other SHA-256 use and
// versions the canonical form.
const sealDomain = "komand-audit-v1"

// Seal returns the hex SHA-256 of e's canonical content, which includes
// e.PrevHash: changing, inserting, reordering or deleting an entry breaks
// every later link of the tenant's chain.
//
// The canonical form is each field length-prefixed, in a fixed order, so no
// two different entries share an encoding (no delimiter ambiguity).
func Seal(e *store.AuditEntry) string {
	h := sha256.New()
	var buf [20]byte
	field := func(s []byte) {
		h.Write(strconv.AppendInt(buf[:0], int64(len(s)), 10))
		h.Write([]byte{':'})
		h.Write(s)
	}
	str := func(s string) { field([]byte(s)) }
	str(sealDomain)
	str(e.ID)
	str(e.TenantID)
	field(strconv.AppendInt(buf[:0:0], e.Seq, 10))
	str(e.Action)
	str(e.ActorID)
	str(e.AgentID)
	str(e.SessionID)
	str(e.SkillID)
	field(e.Details)
	str(e.RequestID)
	field(strconv.AppendInt(nil, e.Timestamp.UnixMicro(), 10))
	str(e.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
}
