CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    state TEXT NOT NULL,
    sealed_pkcs8 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    rotated_at BIGINT
);
CREATE TABLE clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    app_type TEXT NOT NULL,
    is_first_party BIGINT NOT NULL,
    auth_method TEXT NOT NULL,
    sealed_secret TEXT,
    grant_types TEXT NOT NULL,
    callbacks TEXT NOT NULL,
    allowed_logout_urls TEXT NOT NULL,
    id_token_alg TEXT NOT NULL,
    id_token_lifetime BIGINT NOT NULL,
    refresh_token TEXT NOT NULL,
    jwks TEXT NOT NULL,
    client_metadata TEXT NOT NULL,
    is_system BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE resource_servers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    identifier TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    signing_alg TEXT NOT NULL,
    token_lifetime BIGINT NOT NULL,
    allow_offline_access BIGINT NOT NULL,
    skip_consent BIGINT NOT NULL,
    is_system BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE client_grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    audience TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (client_id, audience)
);
CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    email_verified BIGINT NOT NULL,
    name TEXT,
    nickname TEXT,
    given_name TEXT,
    family_name TEXT,
    picture TEXT,
    password_hash TEXT,
    app_metadata TEXT NOT NULL,
    user_metadata TEXT NOT NULL,
    blocked BIGINT NOT NULL,
    logins_count BIGINT NOT NULL,
    last_login BIGINT,
    last_ip TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    auth_time BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE TABLE auth_codes (
    code_digest TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    session_id TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    grant_id TEXT,
    used BIGINT NOT NULL
);
CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    session_id TEXT,
    audience TEXT,
    scope TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL
);
CREATE INDEX grants_user ON grants (user_id);
CREATE INDEX grants_session ON grants (session_id);
CREATE TABLE refresh_tokens (
    digest TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT NOT NULL,
    rotated_at BIGINT,
    revoked BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE TABLE audit_log (
    seq {serial_pk},
    log_type TEXT NOT NULL,
    date BIGINT NOT NULL,
    description TEXT NOT NULL,
    client_id TEXT,
    client_name TEXT,
    user_id TEXT,
    user_name TEXT,
    connection TEXT,
    audience TEXT,
    scope TEXT,
    ip TEXT,
    user_agent TEXT,
    details TEXT NOT NULL
);
CREATE INDEX audit_log_user ON audit_log (user_id, seq);
CREATE INDEX audit_log_date ON audit_log (date)
