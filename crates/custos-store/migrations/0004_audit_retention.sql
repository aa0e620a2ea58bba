CREATE TABLE audit_policy (
    id BIGINT PRIMARY KEY,
    retention_days BIGINT NOT NULL,
    legal_hold BIGINT NOT NULL,
    hold_reason TEXT,
    updated_at BIGINT NOT NULL
);
INSERT INTO audit_policy (id, retention_days, legal_hold, hold_reason, updated_at) VALUES (1, 2557, 0, NULL, 0);
CREATE TABLE audit_archives (
    first_seq BIGINT PRIMARY KEY,
    last_seq BIGINT NOT NULL,
    prev_hash TEXT NOT NULL,
    last_hash TEXT NOT NULL,
    records BIGINT NOT NULL,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
)
