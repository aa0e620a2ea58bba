CREATE TABLE rules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    script TEXT NOT NULL,
    rule_order BIGINT NOT NULL UNIQUE,
    enabled BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE rules_configs (
    config_key TEXT PRIMARY KEY,
    sealed_value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE actions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    supported_triggers TEXT NOT NULL,
    code TEXT NOT NULL,
    runtime TEXT NOT NULL,
    dependencies TEXT NOT NULL,
    secrets TEXT NOT NULL,
    deployed_version BIGINT,
    all_changes_deployed BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE action_versions (
    id TEXT PRIMARY KEY,
    action_id TEXT NOT NULL,
    number BIGINT NOT NULL,
    code TEXT NOT NULL,
    runtime TEXT NOT NULL,
    supported_triggers TEXT NOT NULL,
    dependencies TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (action_id, number)
);
CREATE TABLE trigger_bindings (
    id TEXT PRIMARY KEY,
    trigger_id TEXT NOT NULL,
    action_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    position BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (trigger_id, position)
);
CREATE INDEX trigger_bindings_action ON trigger_bindings (action_id);
ALTER TABLE auth_codes ADD COLUMN custom_claims TEXT;
ALTER TABLE grants ADD COLUMN custom_claims TEXT
