CREATE TABLE login_failures (
    user_id TEXT NOT NULL,
    ip TEXT NOT NULL,
    failures BIGINT NOT NULL,
    blocked_at BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, ip)
)
