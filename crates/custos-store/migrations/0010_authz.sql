CREATE TABLE authz_models (
    id TEXT PRIMARY KEY,
    schema_version TEXT NOT NULL,
    model TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE authz_tuples (
    object TEXT NOT NULL,
    relation TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (object, relation, subject)
);
CREATE INDEX authz_tuples_subject ON authz_tuples (subject, relation, object)
