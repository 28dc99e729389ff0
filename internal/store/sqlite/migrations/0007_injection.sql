-- 0007_injection: prompt-injection screening — the flag on each turn, the
-- tenant's policy document, and the review queue of held turns.

-- flag is '' (clean or approved), 'warn', 'blocked', 'held', 'rejected' or
-- 'notice' (a reply Komand wrote itself).
ALTER TABLE komand_session_turns ADD COLUMN flag TEXT NOT NULL DEFAULT '';

-- The policy document is kept byte for byte as given; the injection
-- package validates it.
CREATE TABLE komand_injection_policies (
    tenant_id  TEXT    NOT NULL PRIMARY KEY REFERENCES komand_tenants (id),
    doc        TEXT    NOT NULL,
    updated_by TEXT    NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL
) STRICT;

-- categories is a JSON array of strings. A review is pending until
-- decided, and decided exactly when it has a decision time.
CREATE TABLE komand_injection_reviews (
    tenant_id  TEXT    NOT NULL REFERENCES komand_tenants (id),
    id         TEXT    NOT NULL CHECK (id <> ''),
    session_id TEXT    NOT NULL,
    agent_id   TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('message', 'tool_output', 'tool_call')),
    source     TEXT    NOT NULL,
    turn_seq   INTEGER NOT NULL CHECK (turn_seq > 0),
    tool_name  TEXT    NOT NULL DEFAULT '',
    excerpt    TEXT    NOT NULL DEFAULT '',
    score      REAL    NOT NULL DEFAULT 0,
    categories TEXT    NOT NULL DEFAULT '[]',
    status     TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    request_id TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    decided_by TEXT    NOT NULL DEFAULT '',
    decided_at INTEGER,
    PRIMARY KEY (tenant_id, id),
    CHECK ((status = 'pending') = (decided_at IS NULL))
) STRICT;

-- The queue listing: newest first, usually filtered by status.
CREATE INDEX komand_injection_reviews_list ON komand_injection_reviews (tenant_id, status, created_at DESC, id DESC);
