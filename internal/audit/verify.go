package audit

import (
	"context"
	"fmt"

	"github.com/komand-ai/komand/internal/store"
)

// VerifyResult reports the state of one tenant's chain.
type VerifyResult struct {
	TenantID string
	Entries  int64  // entries checked
	OK       bool   // the whole chain is intact
	BrokenAt int64  // seq of the first broken link (0 when OK)
	EntryID  string // ID of that entry, when it exists
	Reason   string // what is wrong there
}

// Verify walks a tenant's chain from the first entry and reports the first
// broken link: a gap or repeat in seq, a prev_hash that is not the previous
// entry's hash, a hash that does not match the entry's content, or a chain
// head that does not match the last entry (a deleted tail).
func Verify(ctx context.Context, st store.Audit, tenantID string) (VerifyResult, error) {
	res := VerifyResult{TenantID: tenantID}
	const page = 1000
	var lastSeq int64
	var lastHash string
	for {
		entries, err := st.ScanAudit(ctx, tenantID, lastSeq, page)
		if err != nil {
			return res, fmt.Errorf("audit: verify: %w", err)
		}
		for i := range entries {
			e := &entries[i]
			res.Entries++
			switch {
			case e.Seq != lastSeq+1:
				return broken(res, e, fmt.Sprintf("sequence jumps from %d to %d (entries missing or inserted)", lastSeq, e.Seq)), nil
			case e.PrevHash != lastHash:
				return broken(res, e, "prev_hash does not match the previous entry's hash"), nil
			case Seal(e) != e.Hash:
				return broken(res, e, "hash does not match the entry's content (entry modified)"), nil
			}
			lastSeq, lastHash = e.Seq, e.Hash
		}
		if len(entries) < page {
			break
		}
	}
	headSeq, headHash, err := st.AuditHead(ctx, tenantID)
	if err != nil {
		return res, fmt.Errorf("audit: verify: %w", err)
	}
	if headSeq != lastSeq || headHash != lastHash {
		res.BrokenAt = lastSeq + 1
		res.Reason = fmt.Sprintf("chain head is at seq %d but the log ends at seq %d (entries deleted or head altered)", headSeq, lastSeq)
		return res, nil
	}
	res.OK = true
	return res, nil
}

func broken(res VerifyResult, e *store.AuditEntry, reason string) VerifyResult {
	res.BrokenAt = e.Seq
	res.EntryID = e.ID
	res.Reason = reason
	return res
}
