package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestZZExp(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tid := uuid.NewString()
	s.writer.Exec(`INSERT INTO komand_tenants VALUES (?, 'x', 'x', 0)`, tid)
	for round := 0; round < 5; round++ {
		t0 := time.Now()
		tx, _ := s.writer.BeginTx(ctx, nil)
		st, _ := tx.Prepare(`INSERT INTO komand_audit_log (` + auditCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		t1 := time.Now()
		for i := 0; i < 500; i++ {
			_, err := st.Exec(uuid.NewString(), tid, round*500+i+1, "a", "b", "c", "d", "e", "{}", "r", 1, "p", "h")
			if err != nil {
				t.Fatal(err)
			}
		}
		t2 := time.Now()
		st.Close()
		tx.Commit()
		t3 := time.Now()
		t.Logf("begin+prep %v inserts %v commit %v", t1.Sub(t0), t2.Sub(t1), t3.Sub(t2))
	}
}
