package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const cols13 = "id, tenant_id, seq, action, actor_id, agent_id, session_id, skill_id, details, request_id, ts, prev_hash, hash"

var schemas = map[string]string{
	"A_current": `CREATE TABLE l (id TEXT NOT NULL PRIMARY KEY, tenant_id TEXT NOT NULL, seq INTEGER NOT NULL, action TEXT NOT NULL, actor_id TEXT NOT NULL, agent_id TEXT NOT NULL, session_id TEXT NOT NULL, skill_id TEXT NOT NULL, details TEXT NOT NULL, request_id TEXT NOT NULL, ts INTEGER NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, UNIQUE (tenant_id, seq)) STRICT;
CREATE INDEX l_ts ON l (tenant_id, ts); CREATE INDEX l_act ON l (tenant_id, action, seq);`,
	"B_worowid": `CREATE TABLE l (id TEXT NOT NULL UNIQUE, tenant_id TEXT NOT NULL, seq INTEGER NOT NULL, action TEXT NOT NULL, actor_id TEXT NOT NULL, agent_id TEXT NOT NULL, session_id TEXT NOT NULL, skill_id TEXT NOT NULL, details TEXT NOT NULL, request_id TEXT NOT NULL, ts INTEGER NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (tenant_id, seq)) STRICT, WITHOUT ROWID;
CREATE INDEX l_ts ON l (tenant_id, ts); CREATE INDEX l_act ON l (tenant_id, action, seq);`,
	"C_noid": `CREATE TABLE l (id TEXT NOT NULL, tenant_id TEXT NOT NULL, seq INTEGER NOT NULL, action TEXT NOT NULL, actor_id TEXT NOT NULL, agent_id TEXT NOT NULL, session_id TEXT NOT NULL, skill_id TEXT NOT NULL, details TEXT NOT NULL, request_id TEXT NOT NULL, ts INTEGER NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, UNIQUE (tenant_id, seq)) STRICT;
CREATE INDEX l_ts ON l (tenant_id, ts); CREATE INDEX l_act ON l (tenant_id, action, seq);`,
	"D_noidx": `CREATE TABLE l (id TEXT NOT NULL, tenant_id TEXT NOT NULL, seq INTEGER NOT NULL, action TEXT NOT NULL, actor_id TEXT NOT NULL, agent_id TEXT NOT NULL, session_id TEXT NOT NULL, skill_id TEXT NOT NULL, details TEXT NOT NULL, request_id TEXT NOT NULL, ts INTEGER NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL) STRICT;`,
}

func TestZZSchemas(t *testing.T) {
	tenants := []string{uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()}
	details := `{"skill":"web.search","query":"quarterly revenue","results":10,"latencyMs":412}`
	for _, v := range []struct{ name, extra string; v7 bool }{
		{"A_current", "", false},
		{"A_current", "", true},
		{"A_current", "&_pragma=cache_size(-65536)", true},
		{"A_current", "&_pragma=wal_autocheckpoint(10000)&_pragma=cache_size(-65536)", true},
		{"A_current", "&_pragma=wal_autocheckpoint(10000)&_pragma=cache_size(-65536)", false},
		{"C_noid", "", true},
	} {
		name := v.name
		for _, rowsPer := range []int{1} {
			db, _ := sql.Open("sqlite", filepath.Join(t.TempDir(), "y.db")+"?"+pragmas+"&_txlock=immediate"+v.extra)
			db.SetMaxOpenConns(1)
			if _, err := db.Exec(schemas[name]); err != nil {
				t.Fatal(err)
			}
			q := "INSERT INTO l (" + cols13 + ") VALUES " + strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?,?,?,?,?),", rowsPer), ",")
			seqs := make([]int, 4)
			const batches = 200
			c0, w0 := cpuNow(), time.Now()
			for b := 0; b < batches; b++ {
				tx, _ := db.Begin()
				st, err := tx.Prepare(q)
				if err != nil {
					t.Fatal(err)
				}
				args := make([]any, 0, 13*rowsPer)
				for i := 0; i < 500; i++ {
					tn := i % 4
					seqs[tn]++
					id := uuid.NewString()
					if v.v7 {
						id = uuid.Must(uuid.NewV7()).String()
					}
					args = append(args, id, tenants[tn], seqs[tn], "skill.invoke", "actor-0123456789", "support", "session-0123456789", "web.search", details, "req-0123456789abcdef", time.Now().UnixMicro(), "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
					if len(args) == 13*rowsPer {
						if _, err := st.Exec(args...); err != nil {
							t.Fatal(err)
						}
						args = args[:0]
					}
				}
				st.Close()
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			cpu, wall := cpuNow()-c0, time.Since(w0)
			t.Logf("%-10s v7=%v %s rows/stmt %2d: cpu %5.1fµs/entry wall %5.1fµs/entry (%s)", name, v.v7, v.extra, rowsPer, float64(cpu.Microseconds())/100000, float64(wall.Microseconds())/100000, fmt.Sprint(int(100000/wall.Seconds()))+"/s")
			db.Close()
		}
	}
}
