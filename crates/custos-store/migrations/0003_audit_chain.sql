ALTER TABLE audit_log ADD COLUMN organization_id TEXT;
ALTER TABLE audit_log ADD COLUMN resource TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
--pg ALTER TABLE audit_log ALTER COLUMN log_type TYPE TEXT COLLATE "C", ALTER COLUMN description TYPE TEXT COLLATE "C", ALTER COLUMN client_id TYPE TEXT COLLATE "C", ALTER COLUMN client_name TYPE TEXT COLLATE "C", ALTER COLUMN user_id TYPE TEXT COLLATE "C", ALTER COLUMN user_name TYPE TEXT COLLATE "C", ALTER COLUMN connection TYPE TEXT COLLATE "C", ALTER COLUMN audience TYPE TEXT COLLATE "C", ALTER COLUMN scope TYPE TEXT COLLATE "C", ALTER COLUMN ip TYPE TEXT COLLATE "C", ALTER COLUMN user_agent TYPE TEXT COLLATE "C", ALTER COLUMN organization_id TYPE TEXT COLLATE "C", ALTER COLUMN resource TYPE TEXT COLLATE "C";
DROP INDEX audit_log_user;
DROP INDEX audit_log_date;
CREATE INDEX audit_log_date ON audit_log (date, seq);
CREATE INDEX audit_log_type ON audit_log (log_type, date, seq);
CREATE INDEX audit_log_user ON audit_log (user_id, date, seq) WHERE user_id IS NOT NULL;
CREATE INDEX audit_log_client ON audit_log (client_id, date, seq) WHERE client_id IS NOT NULL;
CREATE INDEX audit_log_org ON audit_log (organization_id, date, seq) WHERE organization_id IS NOT NULL;
CREATE INDEX audit_log_resource ON audit_log (resource, date, seq) WHERE resource IS NOT NULL;
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    date BIGINT NOT NULL,
    kid TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE TABLE audit_keys (
    kid TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    sealed_pkcs8 TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE TABLE log_streams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    stream_type TEXT NOT NULL,
    status TEXT NOT NULL,
    sealed_sink TEXT NOT NULL,
    filters TEXT NOT NULL,
    cursor_seq BIGINT NOT NULL,
    delivered BIGINT NOT NULL,
    last_error TEXT,
    last_error_at BIGINT,
    failing_since BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
)
